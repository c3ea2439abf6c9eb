"""Steward meetings service: the weekly coordination meeting (周例会 / 联席会议) from agenda intake
(议题申报) to minutes (会议纪要), with every decision tracked in the issues service."""
