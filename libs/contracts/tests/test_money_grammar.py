"""One money grammar: the same text gives the same answer in the kit (``Money``, Decimal with two
decimals) and in rules documents (``Yuan``, whole yuan) — the only difference allowed is that rules
refuse a fraction of a yuan."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from steward.kit.money import Money, parse_money
from steward.rules.money import MONEY_TEXT_PATTERN, Yuan, parse_amount, parse_yuan

TABLE: list[tuple[object, str | None, str]] = [
    # (input, the amount, or None when both refuse, why it is in the table)
    (0, "0.00", "zero"),
    (30_000_000, "30000000.00", "an integer"),
    (2.0e7, "20000000.00", "a whole float"),
    (Decimal("1200"), "1200.00", "a Decimal"),
    ("30000000", "30000000.00", "plain digits"),
    ("1234.50", "1234.50", "two decimals"),
    ("12.00", "12.00", "zero decimals written out"),
    ("1234.5", "1234.50", "one decimal"),
    ("2500万", "25000000.00", "万"),
    ("1.5亿", "150000000.00", "亿 with a decimal"),
    ("500万元", "5000000.00", "万元"),
    ("1亿元", "100000000.00", "亿元"),
    ("100元", "100.00", "元 alone"),
    ("12.5万", "125000.00", "a decimal of 万 that is whole yuan"),
    ("1.23456万", "12345.60", "a decimal of 万 with a fraction of a yuan"),
    ("1.234567万", "12345.67", "fen exactly"),
    ("3,000万元", "30000000.00", "thousands separators"),
    ("1,234,567.89", "1234567.89", "separators and fen"),
    ("1，234", "1234.00", "full-width separator"),
    ("  2,500 万 ", "25000000.00", "white space around the parts"),
    (" 500万 ", "5000000.00", "white space around"),
    ("1000000000000000", "1000000000000000.00", "the upper bound itself"),
    ("10000000亿", "1000000000000000.00", "the upper bound in 亿"),
    # refused by both
    ("1.234", None, "three decimals"),
    ("12.345", None, "three decimals"),
    ("1.2345678万", None, "below a fen"),
    ("1.00000000000000000000000000001万", None, "below a fen, past Decimal's default precision"),
    (Decimal("0.001"), None, "below a fen"),
    ("-5", None, "negative"),
    ("-5万", None, "negative with a unit"),
    (-1, None, "negative integer"),
    (Decimal("-0.01"), None, "negative Decimal"),
    (12.5, None, "a float with a fraction"),
    (float("nan"), None, "a NaN float"),
    (float("inf"), None, "an infinite float"),
    (Decimal("NaN"), None, "a NaN Decimal"),
    (True, None, "a boolean"),
    (None, None, "nothing"),
    ([1], None, "a list"),
    ("", None, "empty"),
    ("abc", None, "words"),
    ("万", None, "a unit alone"),
    ("nan", None, "NaN as text"),
    ("1e3", None, "an exponent"),
    ("1e400亿", None, "an exponent with a unit"),
    ("12.", None, "a dangling point"),
    (".5", None, "no integer part"),
    ("1-2", None, "a range"),
    ("+5", None, "a sign"),
    ("2500千", None, "an unknown unit"),
    ("元500", None, "the unit first"),
    ("500元万", None, "units in the wrong order"),
    ("5万亿元", None, "two units"),
    ("1,23", None, "a separator that does not group thousands"),
    ("12,3456", None, "a separator in the wrong place"),
    ("10000001亿", None, "over the upper bound"),
    (10**16, None, "over the upper bound"),
    ("1" * 100, None, "too long"),
]


class KitModel(BaseModel):
    amount: Money


class RulesModel(BaseModel):
    amount: Yuan


def _answer(parse: object, value: object) -> str | Exception:
    try:
        return str(parse(value))  # type: ignore[operator]
    except ValueError as exc:
        return exc


@pytest.mark.parametrize(
    ("value", "expected", "why"), TABLE, ids=[f"{i}-{t[2]}" for i, t in enumerate(TABLE)]
)
def test_the_kit_and_rules_give_the_same_answer(value: object, expected: str | None, why: str) -> None:
    kit = _answer(parse_money, value)
    rules = _answer(parse_yuan, value)
    grammar = _answer(parse_amount, value)
    if expected is None:
        assert isinstance(kit, ValueError) and isinstance(rules, ValueError), why
        assert str(kit) == str(rules) == str(grammar), f"{why}: the same reason in both"
        with pytest.raises(ValidationError):
            KitModel(amount=value)
        with pytest.raises(ValidationError):
            RulesModel(amount=value)
        return
    assert kit == grammar == expected, why
    amount = Decimal(expected)
    if amount == amount.to_integral_value():
        assert rules == str(int(amount)), f"{why}: rules read the same whole yuan"
        assert RulesModel(amount=value).amount == int(amount)
    else:
        assert isinstance(rules, ValueError) and "whole number of yuan" in str(rules), why
    assert KitModel(amount=value).amount == amount


def test_the_documented_pattern_matches_the_text_the_grammar_reads() -> None:
    for value, expected, why in TABLE:
        if not isinstance(value, str):
            continue
        readable = re.match(MONEY_TEXT_PATTERN, value) is not None
        parsed = not isinstance(_answer(parse_amount, value), ValueError)
        if parsed:
            assert readable, why
        elif readable:  # read by the grammar but refused for its value: precision, size
            assert expected is None
