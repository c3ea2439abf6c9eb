from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from steward.rules import ThresholdsSection, format_yuan, parse_yuan


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2000万", 20_000_000),
        ("1.5亿", 150_000_000),
        ("1亿", 100_000_000),
        ("30000000", 30_000_000),
        (30_000_000, 30_000_000),
        ("3,000万元", 30_000_000),
        (" 500万 ", 5_000_000),
        ("12.5万", 125_000),
        ("0", 0),
        (2.0e7, 20_000_000),
        (Decimal("1200"), 1200),
        ("12.00", 12),
    ],
)
def test_parse_yuan_accepts(raw: object, expected: int) -> None:
    value = parse_yuan(raw)
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize(
    "raw",
    [
        "-5",
        "-5万",
        -1,
        "12.345",
        "1.23456万",
        12.5,
        True,
        "abc",
        "万",
        "",
        "1e400亿",
        "nan",
        None,
        [1],
        "1e3",
        10**16,
        Decimal("NaN"),
        "1-2",
    ],
)
def test_parse_yuan_rejects(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_yuan(raw)


def test_money_field_error_has_path() -> None:
    with pytest.raises(ValidationError) as info:
        ThresholdsSection.model_validate({"platform_min": "12.345"})
    err = info.value.errors()[0]
    assert err["loc"] == ("platform_min",)
    assert "fraction" in err["msg"]


def test_money_serialises_as_int() -> None:
    t = ThresholdsSection.model_validate({"steward_required_min": "2000万"})
    assert t.model_dump(mode="json")["steward_required_min"] == 20_000_000


def test_format_yuan() -> None:
    assert format_yuan(20_000_000) == "2000万"
    assert format_yuan(120_000_000) == "1.2亿"
    assert format_yuan(1234) == "1234元"
