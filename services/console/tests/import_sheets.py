"""Spreadsheets for the import tests, built with openpyxl the way a district keeps them: a title row
above the header, a 序号 column the registry ignores, investment in 万元."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook

HEADER = ["序号", "项目名称", "所属地区", "总投资（万元）", "行业", "计划开工"]


def sheet(rows: list[tuple[Any, ...]], title: str = "浑南区2026年重点项目表") -> bytes:
    """``rows`` are (项目名称, 所属地区, 总投资, 行业, 计划开工); the title is row 1, the header row 2,
    so the n-th data row is row n + 2 in the sheet."""
    wb = Workbook()
    ws = wb.active
    ws.append([title])
    ws.append(HEADER)
    for number, row in enumerate(rows, start=1):
        ws.append([number, *row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
