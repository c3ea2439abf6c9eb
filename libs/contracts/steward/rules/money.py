"""Money: one grammar for every amount a person writes, exact decimal arithmetic, never a float.

:func:`parse_amount` is the grammar — the kit's ``Money`` (``Decimal`` 元 with two decimals, in every
API) and the rules' :data:`Yuan` (integer 元, in rules documents) are both built on it, so the same
text gives the same answer in both. Accepted:

* integers (``30000000``), whole floats (``2.0e7`` from a YAML/JSON encoder), finite ``Decimal``;
* text: a plain decimal (``"1234.50"``), optionally with thousands separators (``"3,000"``,
  ``"1，234.5"``), then an optional unit 万 (10_000) or 亿 (100_000_000), then an optional 元:
  ``"2500万"``, ``"1.5亿"``, ``"500万元"``, ``"100元"``; white space around the parts is ignored.

The amount is at most two decimals of a yuan (fen): ``"1.234567万"`` is 12345.67, ``"1.234"`` is
refused. Negative, non-finite and implausibly large (over 1000万亿) amounts, booleans, floats with a
fraction and anything else are refused with a ``ValueError`` whose text says why. ``Yuan`` also
refuses a fraction of a yuan (thresholds are whole yuan).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

__all__ = [
    "MAX_AMOUNT",
    "MONEY_TEXT_PATTERN",
    "UNITS",
    "Yuan",
    "format_yuan",
    "parse_amount",
    "parse_yuan",
]

UNITS: dict[str, int] = {"万": 10_000, "亿": 100_000_000}
MAX_AMOUNT = 10**15  # 1000万亿 — far above any project, and within a signed 64-bit column
MAX_YUAN = MAX_AMOUNT
CENT = Decimal("0.01")
_MAX_TEXT = 64

_NUMBER = r"(?:[0-9]{1,3}(?:[,，][0-9]{3})+|[0-9]+)(?:\.[0-9]+)?"
_TEXT = re.compile(rf"^\s*(?P<number>{_NUMBER})\s*(?P<unit>万|亿)?\s*元?\s*$")
MONEY_TEXT_PATTERN = rf"^\s*{_NUMBER}\s*(万|亿)?\s*元?\s*$"
"""The text grammar as a JSON-schema pattern (documentation of what :func:`parse_amount` reads)."""

_HINT = 'must look like 25000000, "1234.50", "3,000", "2500万", "1.2亿" or "500万元"'
NOT_NEGATIVE = "money must not be negative"
TWO_DECIMALS = "money has at most two decimals (fen), no smaller fraction of a yuan"


def parse_amount(value: Any) -> Decimal:
    """The grammar: an amount in 元 as a ``Decimal`` with exactly two decimals, or ``ValueError``."""
    if isinstance(value, bool):
        raise ValueError("money must be a number of yuan, not a boolean")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError('send fractional money as a string (e.g. "1234.50"), never a float')
        amount = Decimal(int(value))
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("money must be finite")
        amount = value
    elif isinstance(value, str):
        amount = _parse_text(value)
    else:
        raise ValueError("money must be an integer or a decimal string such as '2000万'")
    if amount < 0:
        raise ValueError(NOT_NEGATIVE)
    if amount > MAX_AMOUNT:
        raise ValueError("amount is implausibly large (over 1000万亿 yuan)")
    if amount != amount.quantize(CENT):
        raise ValueError(TWO_DECIMALS)
    return amount.quantize(CENT)


def _parse_text(text: str) -> Decimal:
    match = _TEXT.match(text) if len(text) <= _MAX_TEXT else None
    if match is None:
        if text.strip().startswith("-") and _TEXT.match(text.strip()[1:]):
            raise ValueError(f"{NOT_NEGATIVE}: money {_HINT}")
        raise ValueError(f"money {_HINT}")
    digits = match.group("number").replace(",", "").replace("，", "")
    try:
        with localcontext() as ctx:
            ctx.prec = 2 * _MAX_TEXT  # exact: no rounding can make a fraction of a fen vanish
            return Decimal(digits) * UNITS.get(match.group("unit") or "", 1)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only plain decimals
        raise ValueError(f"money {_HINT}") from exc


def parse_yuan(value: Any) -> int:
    """The grammar of :func:`parse_amount`, in whole 元 (a fraction of a yuan is refused)."""
    amount = parse_amount(value)
    if amount != amount.to_integral_value():
        raise ValueError("money must be a whole number of yuan (no fractions of a yuan)")
    return int(amount)


def format_yuan(amount: int) -> str:
    """Human form used in reasons: 20000000 -> '2000万', 120000000 -> '1.2亿', 1234 -> '1234元'."""
    if amount >= UNITS["亿"] and amount % UNITS["万"] == 0:
        return f"{format((Decimal(amount) / UNITS['亿']).normalize(), 'f')}亿"
    if amount >= UNITS["万"] and amount % 100 == 0:
        return f"{format((Decimal(amount) / UNITS['万']).normalize(), 'f')}万"
    return f"{amount}元"


Yuan = Annotated[
    int,
    BeforeValidator(parse_yuan),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": MONEY_TEXT_PATTERN},
            ],
            "description": "Amount in integer yuan; strings like '2000万', '1.5亿' or '500万元' are accepted.",
        },
        mode="validation",
    ),
]
"""Integer yuan, parsed with :func:`parse_yuan`; serialised as ``int``."""
