"""Money: exact Decimal yuan, Chinese units, never a float; JSON as a string."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from steward.kit.money import Money, format_money, parse_money


class Project(BaseModel):
    budget: Money


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0.00"),
        (25_000_000, "25000000.00"),
        (3.0, "3.00"),  # an integral float is exact
        (Decimal("1234.5"), "1234.50"),
        ("25000000", "25000000.00"),
        ("1234.50", "1234.50"),
        ("1234.5", "1234.50"),
        ("2500万", "25000000.00"),
        ("1.2亿", "120000000.00"),
        ("0.35万", "3500.00"),
        ("1.2345万", "12345.00"),
        ("1.234567万", "12345.67"),
        ("10000000亿", "1000000000000000.00"),
        ("100元", "100.00"),
        ("1,234,567.89", "1234567.89"),
        ("  2,500 万 ", "25000000.00"),
        ("1000000000000000", "1000000000000000.00"),  # the upper bound itself
    ],
)
def test_parse_money_accepts(value: object, expected: str) -> None:
    result = parse_money(value)
    assert isinstance(result, Decimal)
    assert str(result) == expected


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (-1, "negative"),
        ("-5", "must look like"),
        (Decimal("-0.01"), "negative"),
        (1.5, "never a float"),
        (0.1, "never a float"),
        (float("nan"), "never a float"),
        (float("inf"), "never a float"),
        (Decimal("NaN"), "finite"),
        (Decimal("Infinity"), "finite"),
        ("NaN", "must look like"),
        ("1.234", "two decimals"),
        (Decimal("0.001"), "two decimals"),
        ("1.2345678万", "two decimals"),
        (True, "boolean"),
        (False, "boolean"),
        ("", "must look like"),
        ("abc", "must look like"),
        ("1e5", "must look like"),
        ("12.", "must look like"),
        ("2500千", "must look like"),
        (None, "integer or a decimal string"),
        ([1], "integer or a decimal string"),
        ("10000001亿", "implausibly large"),
        (10**16, "implausibly large"),
    ],
)
def test_parse_money_rejects(value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_money(value)


def test_money_in_a_model_serialises_as_a_string() -> None:
    p = Project(budget="2500万")
    assert p.budget == Decimal("25000000.00")
    assert p.model_dump() == {"budget": Decimal("25000000.00")}
    assert p.model_dump_json() == '{"budget":"25000000.00"}'
    assert Project.model_validate_json('{"budget": "1.2亿"}').budget == Decimal("120000000")
    assert Project.model_validate_json('{"budget": 100}').budget == Decimal("100.00")


def test_money_validation_errors_surface_as_pydantic_errors() -> None:
    with pytest.raises(ValidationError) as info:
        Project.model_validate_json('{"budget": 12.5}')
    assert info.value.errors()[0]["loc"] == ("budget",)
    with pytest.raises(ValidationError):
        Project(budget=True)


def test_money_json_schema_is_a_string() -> None:
    schema = Project.model_json_schema()["properties"]["budget"]
    assert schema["type"] == "string"
    assert "pattern" in schema


def test_format_money() -> None:
    assert format_money(Decimal("5")) == "5.00"
    assert format_money(Decimal("25000000.1")) == "25000000.10"
