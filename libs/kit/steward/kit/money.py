"""Money: exact ``Decimal`` yuan with at most two decimals; never a float.

Input follows the one money grammar (:func:`steward.rules.money.parse_amount`, shared with rules
documents): an integer, a decimal string ("25000000", "1234.50", "1,234.50") or a string with a
Chinese unit ("2500万", "1.2亿", "500万元"). JSON output is a string with two decimals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from steward.rules.money import CENT, MAX_AMOUNT, MONEY_TEXT_PATTERN, parse_amount

MAX_MONEY = Decimal(MAX_AMOUNT)
OUTPUT_PATTERN = r"^[0-9]+\.[0-9]{2}$"


def parse_money(value: Any) -> Decimal:
    """An amount in 元, two decimals (``ValueError`` for anything the money grammar refuses)."""
    return parse_amount(value)


def format_money(value: Decimal) -> str:
    return f"{value.quantize(CENT)}"


Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(format_money, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_TEXT_PATTERN,
            "description": "Amount in yuan: a number, or text like '1234.50', '2500万', '1.2亿' or '500万元'.",
            "examples": ["25000000.00", "2500万"],
        },
        mode="validation",
    ),
    WithJsonSchema(
        {"type": "string", "pattern": OUTPUT_PATTERN, "examples": ["25000000.00"]},
        mode="serialization",
    ),
]
