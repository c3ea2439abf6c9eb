"""Money: exact ``Decimal`` yuan with at most two decimals; never a float.

Input may be an integer, a decimal string ("25000000", "1234.50") or a string with a Chinese unit
("2500万", "1.2亿"). JSON output is a string with two decimals.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"万": Decimal(10_000), "亿": Decimal(100_000_000), "元": Decimal(1)}
_PATTERN = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(万|亿|元)?\s*$")
MAX_MONEY = Decimal("1e15")
CENT = Decimal("0.01")


def parse_money(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("money must be a number of yuan, not a boolean")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError('send fractional money as a string (e.g. "1234.50"), never a float')
        value = int(value)
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        match = _PATTERN.match(value.replace(",", ""))
        if not match:
            raise ValueError('money must look like 25000000, "1234.50", "2500万" or "1.2亿"')
        try:
            amount = Decimal(match.group(1)) * _UNITS[match.group(2) or "元"]
        except InvalidOperation as exc:
            raise ValueError("not a decimal amount") from exc
    else:
        raise ValueError("money must be an integer or a decimal string")
    if not amount.is_finite():
        raise ValueError("money must be finite")
    if amount < 0:
        raise ValueError("money must not be negative")
    if amount > MAX_MONEY:
        raise ValueError("amount is implausibly large")
    if amount != amount.quantize(CENT):
        raise ValueError("money has at most two decimals (fen)")
    return amount.quantize(CENT)


def format_money(value: Decimal) -> str:
    return f"{value.quantize(CENT)}"


Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(format_money, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$", "examples": ["25000000.00"]}),
]
