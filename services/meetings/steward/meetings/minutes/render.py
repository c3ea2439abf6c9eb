"""The minutes as documents, in the usual layout of government meeting minutes (会议纪要):
title and number, date and place, chair, present / on leave / deputies / observers / absent,
the topics with reports and statements, the numbered decisions with unit and deadline (议定事项),
the chair's summary, and the distribution list. DOCX (python-docx) and printable HTML."""

from __future__ import annotations

import html
import io
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.calendar import DEFAULT_TZ
from steward.meetings.agenda.models import Topic
from steward.meetings.decisions import service as decisions
from steward.meetings.meetings import attendance
from steward.meetings.meetings.models import Meeting
from steward.meetings.minutes.models import Minutes

STATUS_LABELS = {
    "present": "出席",
    "late": "迟到",
    "deputy": "委托参会",
    "leave": "请假",
    "observer": "列席",
    "absent": "缺席",
}
NUMERALS = "一二三四五六七八九十"


@dataclass
class Record:
    meeting: Meeting
    minutes: Minutes
    people: dict[str, list[str]] = field(default_factory=dict)  # status -> lines
    topics: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)


async def record_of(session: AsyncSession, m: Meeting, mi: Minutes) -> Record:
    rec = Record(meeting=m, minutes=mi)
    for a in await attendance.of_meeting(session, m):
        who = f"{a.unit_name} {a.name}" if a.unit_name else a.name
        if a.status == "deputy":
            who += f"（委托 {a.deputy_name} 参会）"
        elif a.status == "leave" and a.reason:
            who += f"（{a.reason}）"
        rec.people.setdefault(a.status, []).append(who)
    statements = await decisions.statements_of(session, m)
    topics = (
        await session.exec(
            select(Topic)
            .where(Topic.meeting_id == m.id, col(Topic.status).in_(("compiled", "discussed")))
            .order_by(col(Topic.position), col(Topic.submitted_at))
        )
    ).all()
    for t in topics:
        rec.topics.append(
            {
                "title": t.title,
                "project": t.project_name,
                "unit": t.unit_name,
                "problem": t.problem,
                "statements": [f"{s.unit_name}：{s.text}" for s in statements if s.topic_id == t.id],
            }
        )
    for d in await decisions.of_meeting(session, m):
        owner = d.responsible_unit_name + (f"（{d.responsible_person}）" if d.responsible_person else "")
        rec.decisions.append(
            {
                "number": d.number,
                "text": d.text,
                "unit": owner,
                "due": f"{d.due_date.year}年{d.due_date.month}月{d.due_date.day}日前",
                "matter": d.matter_number or "",
            }
        )
    return rec


def _when(rec: Record) -> str:
    at = (rec.meeting.held_at or rec.meeting.starts_at).astimezone(DEFAULT_TZ)
    return f"{at.year}年{at.month}月{at.day}日"


def _lines(rec: Record) -> list[tuple[str, str]]:
    """(style, text) lines of the body, shared by both formats."""
    m, mi = rec.meeting, rec.minutes
    out: list[tuple[str, str]] = [
        ("title", mi.title),
        ("number", mi.number),
        (
            "p",
            f"{_when(rec)}，{m.chair_name or '会议主持人'}主持召开{m.title}"
            f"{'，地点：' + m.location if m.location else ''}。现将会议议定事项纪要如下：",
        ),
    ]
    for i, t in enumerate(rec.topics):
        out.append(("h", f"{NUMERALS[i % 10]}、{t['title']}"))
        out.append(("p", f"{t['unit']}汇报：{t['problem']}"))
        out.extend(("p", s) for s in t["statements"])
    out.append(("h", "会议议定事项"))
    for d in rec.decisions:
        out.append(("p", f"{d['number']}. {d['text']} 责任单位：{d['unit']}；完成时限：{d['due']}。"))
    if not rec.decisions:
        out.append(("p", "（本次会议无议定事项）"))
    if mi.summary:
        out.append(("h", "会议要求"))
        out.append(("p", mi.summary))
    out.append(("h", "参会人员"))
    for status in ("present", "late", "deputy", "observer", "leave", "absent"):
        names = rec.people.get(status)
        if names:
            out.append(("p", f"{STATUS_LABELS[status]}：{'，'.join(names)}"))
    recipients = "，".join(str(r.get("unit_name") or r.get("name")) for r in mi.recipients)
    if recipients:
        out.append(("small", f"分送：{recipients}"))
    return out


def docx_bytes(rec: Record) -> bytes:
    # imported here: python-docx and lxml cost ~20 MB of every replica's memory, used by exports only
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    doc = Document()
    style = doc.styles["Normal"]
    style.font.size = Pt(14)  # type: ignore[attr-defined]
    for kind, text in _lines(rec):
        if kind == "title":
            p = doc.add_heading(text, level=0)
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif kind == "number":
            p = doc.add_paragraph(text)
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif kind == "h":
            doc.add_heading(text, level=2)
        else:
            p = doc.add_paragraph(text)
            if kind == "small":
                for run in p.runs:
                    run.font.size = Pt(10)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def html_page(rec: Record) -> str:
    parts = []
    for kind, text in _lines(rec):
        t = html.escape(text)
        parts.append(
            {
                "title": f"<h1>{t}</h1>",
                "number": f'<p class="number">{t}</p>',
                "h": f"<h2>{t}</h2>",
                "small": f'<p class="small">{t}</p>',
            }.get(kind, f"<p>{t}</p>")
        )
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(rec.minutes.title)}</title><style>"
        "body{font-family:'FangSong','STFangsong',serif;font-size:16pt;max-width:42em;margin:2em auto;line-height:1.8}"
        "h1{text-align:center;color:#c00;font-family:'SimSun',serif}.number{text-align:center}"
        "h2{font-size:16pt;font-family:'SimHei',sans-serif}.small{font-size:12pt;border-top:1px solid #000}"
        "@media print{body{margin:0}}</style></head><body>\n" + body + "\n</body></html>"
    )
