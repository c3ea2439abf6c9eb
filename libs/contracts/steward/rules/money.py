"""Money in integer 元 (yuan) — never float.

Rules documents are written by people, so money fields accept the forms they write:

* integers: ``30000000``
* strings with an optional unit: ``"30000000"``, ``"3,000万"``, ``"2000万"``, ``"1.5亿"``, ``"500万元"``
  (万 = 10_000, 亿 = 100_000_000, exact decimal arithmetic, no float anywhere)
* floats only when they are whole numbers (``2.0e7`` from a YAML/JSON encoder); ``12.5`` is rejected.

Negative amounts and amounts with a fraction of a yuan (``"12.345"``, ``"1.23456万"``) are rejected.
Values are stored and serialised as plain ``int`` 元.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

__all__ = ["UNITS", "Yuan", "format_yuan", "parse_yuan"]

UNITS: dict[str, int] = {"万": 10_000, "亿": 100_000_000}
MAX_YUAN = 10**15  # 1000万亿 — far above any project, and within a signed 64-bit column
_NUMBER = re.compile(r"^[0-9]+(\.[0-9]+)?$")

_MONEY_PATTERN = r"^\s*[0-9][0-9,]*(\.[0-9]+)?\s*(万|亿)?\s*元?\s*$"


def parse_yuan(value: Any) -> int:
    """Convert an amount written as int / whole float / string with 万 or 亿 to integer 元.

    Raises ``ValueError`` (reported by pydantic as a validation error) for negatives, fractions
    of a yuan, booleans and anything unparsable.
    """
    if isinstance(value, bool):
        raise ValueError("money must be a number of yuan, not a boolean")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError("money must be a whole number of yuan (got a float with a fraction)")
        amount = Decimal(int(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("money must be a finite number of yuan")
        amount = value
    elif isinstance(value, str):
        amount = _parse_text(value)
    else:
        raise ValueError(f"money must be an integer number of yuan or a string like '2000万', got {value!r}")
    if amount < 0:
        raise ValueError("money must not be negative")
    if amount > MAX_YUAN:
        raise ValueError(f"money must not exceed {MAX_YUAN} yuan")
    if amount != amount.to_integral_value():
        raise ValueError("money must be a whole number of yuan (no fractions of a yuan)")
    return int(amount)


def _parse_text(text: str) -> Decimal:
    s = text.strip().replace(",", "").replace("，", "").replace(" ", "")
    if s.endswith("元"):
        s = s[:-1]
    multiplier = 1
    if s and s[-1] in UNITS:
        multiplier = UNITS[s[-1]]
        s = s[:-1]
    if s.startswith("+"):
        s = s[1:]
    if s.startswith("-") and _NUMBER.match(s[1:]):
        raise ValueError("money must not be negative")
    if not _NUMBER.match(s):
        raise ValueError(f"cannot read money amount {text!r}; use e.g. 30000000, '3000万' or '1.5亿'")
    try:
        number = Decimal(s)
    except InvalidOperation:
        raise ValueError(
            f"cannot read money amount {text!r}; use e.g. 30000000, '3000万' or '1.5亿'"
        ) from None
    if not number.is_finite():
        raise ValueError(f"cannot read money amount {text!r}")
    return number * multiplier


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
                {"type": "string", "pattern": _MONEY_PATTERN},
            ],
            "description": "Amount in integer yuan; strings like '2000万' or '1.5亿' are accepted.",
        },
        mode="validation",
    ),
]
"""Integer yuan, parsed with :func:`parse_yuan`; serialised as ``int``."""
