"""Period keys of a scorecard or ranking, in the platform's time zone (Asia/Shanghai):
``2026-11`` (month), ``2026-Q4`` (quarter), ``2026-H2`` (half year), ``2026`` (year)."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from steward.kit.errors import ValidationFailed

TZ = ZoneInfo("Asia/Shanghai")
PERIOD_PATTERN = r"^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]|H[12]))?$"


def period_key(kind: str, at: datetime) -> str:
    local = at.astimezone(TZ)
    if kind == "month":
        return f"{local.year}-{local.month:02d}"
    if kind == "quarter":
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    if kind == "half_year":
        return f"{local.year}-H{1 if local.month <= 6 else 2}"
    return f"{local.year}"


def kind_of(key: str) -> str:
    if not re.fullmatch(PERIOD_PATTERN, key):
        raise ValidationFailed(
            f"not a period: {key!r} (2026-11, 2026-Q4, 2026-H2 or 2026)", code="invalid_period"
        )
    if "-Q" in key:
        return "quarter"
    if "-H" in key:
        return "half_year"
    if "-" in key:
        return "month"
    return "year"


def ensure_kind(key: str, kind: str) -> str:
    if kind_of(key) != kind:
        raise ValidationFailed(f"period {key!r} is not a {kind}", code="invalid_period")
    return key


def _first_month(key: str) -> tuple[int, int, int]:
    """(year, first month, number of months) of a period key."""
    year = int(key[:4])
    kind = kind_of(key)
    if kind == "month":
        return year, int(key[5:]), 1
    if kind == "quarter":
        return year, (int(key[-1]) - 1) * 3 + 1, 3
    if kind == "half_year":
        return year, 1 if key.endswith("1") else 7, 6
    return year, 1, 12


def bounds(key: str) -> tuple[datetime, datetime]:
    """[start, end) of the period in local time."""
    year, month, months = _first_month(key)
    start = datetime(year, month, 1, tzinfo=TZ)
    end_month = month + months
    end = datetime(year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1, tzinfo=TZ)
    return start, end


def previous(key: str) -> str:
    kind = kind_of(key)
    year, month, months = _first_month(key)
    month -= months
    if month < 1:
        month += 12
        year -= 1
    return period_key(kind, datetime(year, month, 1, tzinfo=TZ))
