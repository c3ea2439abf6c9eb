"""The national investment project code (全国投资项目在线审批监管平台 项目代码, GB/T 40058-2021).

24 characters in five dash-joined segments: ``YYYY-RRRRRR-DD-TT-XXXXXX`` —
4-digit time code (year the code was given), 6-digit region code (行政区划代码, ``000000`` for
central projects), 2-digit central guiding department (before 2020: industry) code, 2-digit
project type (01 审批, 02 核准, 03 备案 …), and a 6-character tail (before 2020 a 6-digit
serial; since the 2020 规范 5 random characters and 1 check character). Accepted with or without
dashes and in either case; stored normalised with dashes and upper case. The check character's
algorithm is not public, so it is not verified: the structure is.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

_BARE = re.compile(r"(\d{4})(\d{6})(\d{2})(\d{2})([0-9A-Z]{6})")
MIN_YEAR = 1990  # the platform's codes start in 2015; older projects were coded retroactively


def normalise(raw: str) -> str:
    """``2020-510107-47-03-00012X`` from any accepted spelling; ValueError says what is wrong."""
    text = raw.strip().upper()
    dashed = text.count("-")
    bare = text.replace("-", "")
    if dashed not in (0, 4) or (dashed == 4 and len(text) != 24):
        raise ValueError(
            "a national project code is 24 characters YYYY-RRRRRR-DD-TT-XXXXXX (or 20 without dashes)"
        )
    if dashed == 4 and [len(s) for s in text.split("-")] != [4, 6, 2, 2, 6]:
        raise ValueError("national project code segments must be 4-6-2-2-6 characters")
    m = _BARE.fullmatch(bare)
    if m is None:
        raise ValueError("national project code: digits in the first four segments, 6 digits/letters last")
    year, region, dept, kind, tail = m.groups()
    if not MIN_YEAR <= int(year) <= 2099:
        raise ValueError(f"national project code: year {year} is out of range")
    if region != "000000" and not 11 <= int(region[:2]) <= 82:
        raise ValueError(f"national project code: {region} is not a region code")
    if kind == "00":
        raise ValueError("national project code: project type 00 does not exist")
    return f"{year}-{region}-{dept}-{kind}-{tail}"


def looks_like(text: str) -> str | None:
    """The normalised code when ``text`` is one (used by list search), else None."""
    try:
        return normalise(text)
    except ValueError:
        return None


NationalCode = Annotated[
    str,
    Field(
        min_length=20,
        max_length=24,
        description="全国投资项目代码, e.g. 2020-510107-47-03-000123; with or without dashes",
        examples=["2020-510107-47-03-000123"],
    ),
    AfterValidator(normalise),
]
