"""CSV and XLSX exports (openpyxl), with cells that spreadsheets will not run as formulas."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.responses import Response

_RISKY = ("=", "+", "-", "@", "\t", "\r")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# what an export route answers, for its OpenAPI document (``responses=exports.RESPONSES``)
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file (`format`: csv or xlsx)", "content": {"text/csv": {}, XLSX_TYPE: {}}}
}


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_RISKY) and not _numeric(value):
        return "'" + value
    return value


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def respond(name: str, header: list[str], rows: list[list[Any]], fmt: str) -> Response:
    # imported here: openpyxl costs several MB of every replica's memory, used by exports only
    from openpyxl import Workbook

    if fmt == "xlsx":
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.append(header)
        for r in rows:
            ws.append([_safe(v) for v in r])
        buf = io.BytesIO()
        wb.save(buf)
        return Response(
            buf.getvalue(),
            media_type=XLSX_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows([[_safe(v) for v in r] for r in rows])
    return Response(
        "\ufeff" + text.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
