"""``POST /v1/projects/import``: the project sheet a district already keeps, registered all or nothing.

The header row is found among the first rows (a title row above it is fine); its columns are
matched by name (:data:`COLUMNS`, Chinese with common aliases; a unit in the header such as
``总投资（万元）`` applies to plain numbers below it). Every data row becomes the body of a
``POST /v1/projects`` and goes through the batch registration (``bulk``): the same validation, the
same checks, one transaction. Problems come back row by row (the sheet's row number, the column
header, the reason) and nothing is written when there is any; ``dry_run`` only validates.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.errors import ValidationFailed
from steward.kit.inputs import is_tenant_code
from steward.kit.tenancy import ALL_TENANTS, subtree_clause
from steward.registry.projects import bulk
from steward.registry.projects.import_columns import (
    COLUMNS,
    FUNDING,
    KEY_LEVELS,
    NO,
    STAGES,
    TOTALS,
    UNITS,
    YES,
)
from steward.registry.projects.schemas import ProjectCreate
from steward.registry.projects.service import WRITERS
from steward.registry.projects.sheets import Cell, Row, SheetTooLarge, read_rows
from steward.registry.tenants.models import Tenant

MAX_ROWS = 10_000  # data rows per file
MAX_BYTES = 8 * 1024 * 1024  # per file (the service's STEWARD_MAX_BODY_BYTES also bounds the request)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER_SCAN = 10  # the header row is looked for among the first rows

_BRACKET = re.compile(r"[（(]\s*([^）)]*)\s*[）)]\s*$")
_DATE = re.compile(r"^\s*(\d{4})\s*(?:[-/.年])\s*(\d{1,2})\s*(?:(?:[-/.月])\s*(?:(\d{1,2})\s*日?)?|月)?\s*$")
_ENUMS = {"funding_type": FUNDING, "key_level": KEY_LEVELS, "stage": STAGES}


def _key(header: str) -> tuple[str, str]:
    """``" 总投资（万元）*"`` → ``("总投资", "万")``: the bare name, lower case, and its money unit."""
    text = "".join(header.split()).replace("*", "").replace("＊", "")
    unit = ""
    m = _BRACKET.search(text)
    if m:
        unit = UNITS.get(m.group(1), "")
        text = text[: m.start()]
    return text.lower(), unit


_ALIASES = {alias.lower(): name for name, aliases in COLUMNS.items() for alias in aliases}


@dataclass
class Layout:
    header_row: int
    fields: dict[int, str]  # column index → field
    headers: dict[int, str]  # column index → header as written
    units: dict[int, str]
    ignored: list[str]

    def column(self, fld: str) -> str:
        for i, f in self.fields.items():
            if f == fld:
                return self.headers[i]
        return ""


def find_layout(rows: list[Row]) -> Layout:
    for row in rows[:HEADER_SCAN]:
        fields: dict[int, str] = {}
        headers: dict[int, str] = {}
        units: dict[int, str] = {}
        ignored: list[str] = []
        for i, cell in enumerate(row.cells):
            if not isinstance(cell, str) or not cell.strip():
                continue
            name, unit = _key(cell)
            fld = _ALIASES.get(name)
            if fld is None or fld in fields.values():
                ignored.append(cell.strip())
                continue
            fields[i], headers[i], units[i] = fld, cell.strip(), unit
        if "name" in fields.values() and "total_investment" in fields.values():
            return Layout(row.number, fields, headers, units, ignored)
    raise ValidationFailed(
        "no header row found: the first rows must name the columns, at least 项目名称 and 总投资",
        code="no_header",
        details=[
            {
                "loc": ["file"],
                "message": "accepted columns: " + ", ".join(a[0] for a in COLUMNS.values()),
                "type": "no_header",
            }
        ],
    )


def _plain(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, datetime | date):
        return cell.isoformat()
    if isinstance(cell, bool):
        return "1" if cell else "0"
    return cell.strip()


def _number_text(text: str) -> str:
    """Scientific notation as the file may store it (``1.2E7``) → plain decimal text, exactly."""
    if "e" in text.lower():
        try:
            return format(Decimal(text), "f")
        except InvalidOperation:
            return text
    return text


def _money(cell: Cell, unit: str) -> Any:
    text = _number_text(_plain(cell))
    if not text:
        return None
    if unit and not any(u in text for u in ("万", "亿", "元")):
        return f"{text}{unit}"
    return text


def _date(cell: Cell) -> Any:
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    text = _plain(cell)
    if not text:
        return None
    m = _DATE.match(text)
    if m:
        return f"{int(m.group(1)):04d}-{int(m.group(2)):02d}-{int(m.group(3) or 1):02d}"
    return text


@dataclass
class Parsed:
    layout: Layout
    raw: list[dict[str, Any]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # sheet row number of each raw item
    problems: list[bulk.Problem] = field(default_factory=list)
    warnings: list[tuple[int, str, str]] = field(default_factory=list)


def parse_sheet(rows: Iterable[Row], *, default_tenant: str | None) -> Parsed:
    """Rows → registration bodies (field names as in ``POST /v1/projects``), tenant names unresolved."""
    it = iter(rows)
    head: list[Row] = []
    for row in it:
        head.append(row)
        if len(head) >= HEADER_SCAN:
            break
    layout = find_layout(head)
    out = Parsed(layout)
    no_coords = 0
    for row in [r for r in head if r.number > layout.header_row] + list(it):
        values: dict[str, Cell] = {}
        for i, fld in layout.fields.items():
            if i < len(row.cells):
                values[fld] = row.cells[i]
        if all(_plain(v) == "" for v in values.values()):
            continue  # a blank row
        name = _plain(values.get("name"))
        if name in TOTALS:
            out.warnings.append((row.number, layout.column("name"), f"'{name}' row skipped"))
            continue
        if len(out.raw) >= MAX_ROWS:
            raise SheetTooLarge(f"the sheet has more than {MAX_ROWS} data rows", code="too_many_rows")
        index = len(out.raw)
        item: dict[str, Any] = {"name": name}
        tenant = _plain(values.get("tenant")) or default_tenant
        if tenant:
            item["tenant"] = tenant
        for fld in ("total_investment", "annual_plan_investment"):
            col_index = next((i for i, f in layout.fields.items() if f == fld), None)
            if col_index is not None:
                amount = _money(values.get(fld), layout.units.get(col_index, ""))
                if amount is not None:
                    item[fld] = amount
        for fld in ("national_code", "industry", "owner_unit_id"):
            text = _plain(values.get(fld))
            if text:
                item[fld] = text
        for fld, names in _ENUMS.items():
            text = _plain(values.get(fld))
            if text:
                item[fld] = names.get(text.lower(), text)
        major = _plain(values.get("major")).lower()
        if major in YES:
            item["major"] = True
        elif major not in NO:
            out.problems.append(bulk.Problem(index, "major", f"'{major}' is not 是 or 否", "invalid_boolean"))
        for fld in ("planned_start", "planned_completion"):
            when = _date(values.get(fld))
            if when is not None:
                item[fld] = when
        lat, lon, address = (_plain(values.get(k)) for k in ("lat", "lon", "address"))
        if lat or lon:
            item["location"] = {"lat": _coordinate(lat), "lon": _coordinate(lon), "address": address}
        elif address:
            no_coords += 1
        out.raw.append(item)
        out.rows.append(row.number)
    if no_coords:
        out.warnings.append(
            (
                layout.header_row,
                layout.column("address"),
                f"{no_coords} rows give an address without 经度/纬度: as in POST /v1/projects, an address "
                "is kept with its coordinates only",
            )
        )
    return out


def _parse_file(data: bytes, filename: str, default_tenant: str | None) -> Parsed:
    return parse_sheet(read_rows(data, filename, max_rows=MAX_ROWS + 1000), default_tenant=default_tenant)


def _coordinate(text: str) -> Any:
    try:
        return float(text)  # a coordinate, not money: a float is what the API takes
    except ValueError:
        return text  # reported by the registration's validation


async def resolve_tenants(session: AsyncSession, *, principal: Principal, parsed: Parsed) -> None:
    """A tenant given by name (浑南区) instead of its division code: the one tenant of that name in
    the caller's subtree. Unknown or ambiguous names stay as written and are reported."""
    names = {it["tenant"] for it in parsed.raw if "tenant" in it and not is_tenant_code(it["tenant"])}
    if not names:
        return
    stmt = select(Tenant.name, Tenant.code).where(col(Tenant.name).in_(names))
    if principal.tenant != ALL_TENANTS:
        base = await session.get(Tenant, principal.tenant)
        if base is None:
            return
        stmt = stmt.where(subtree_clause(Tenant.path, base.path))
    found: dict[str, list[str]] = {}
    for name, code in (await session.exec(stmt)).all():
        found.setdefault(name, []).append(code)
    for index, it in enumerate(parsed.raw):
        codes = found.get(it.get("tenant", ""))
        if codes and len(codes) == 1:
            it["tenant"] = codes[0]
        elif codes:
            parsed.problems.append(
                bulk.Problem(
                    index,
                    "tenant",
                    f"more than one tenant is named {it['tenant']}: give the code",
                    "ambiguous_tenant",
                )
            )


_LOCATION_COLUMNS = {
    "location.lat": "lat",
    "location.lon": "lon",
    "location.address": "address",
    "location": "lat",
}


def _column_of(layout: Layout, problem: bulk.Problem) -> str:
    fld = problem.field.split(".")[0] if problem.field else ""
    if problem.field in _LOCATION_COLUMNS:
        fld = _LOCATION_COLUMNS[problem.field]
    elif not fld:  # a problem of the whole row: the dates' order
        fld = "planned_completion" if "planned_completion" in problem.message else ""
    return layout.column(fld)


def _message(problem: bulk.Problem, item: dict[str, Any]) -> str:
    fld = problem.field.split(".")[0]
    if problem.type == "enum" and fld in _ENUMS:
        return f"'{item.get(fld)}' is not one of: " + ", ".join(
            sorted({k for k in _ENUMS[fld] if not k.isascii()})
        )
    if problem.type == "missing" and fld == "tenant":
        return "no tenant: add a 所属地区 column or pass ?tenant="
    return problem.message


def report(parsed: Parsed, problems: list[bulk.Problem]) -> list[dict[str, Any]]:
    out = []
    for p in sorted(problems, key=lambda p: p.index):
        row = parsed.rows[p.index]
        column = _column_of(parsed.layout, p)
        out.append(
            {
                "row": row,
                "column": column,
                "field": p.field,
                "loc": [f"row {row}", column or p.field],
                "message": _message(p, parsed.raw[p.index]),
                "type": p.type,
            }
        )
    return out


async def read_file(*, principal: Principal, data: bytes, filename: str, tenant: str | None) -> Parsed:
    """The upload's rows as registration bodies (no database: call it before the transaction)."""
    principal.require(*WRITERS)
    if len(data) > MAX_BYTES:
        raise bulk.TooLarge(f"the file is larger than {MAX_BYTES} bytes", code="payload_too_large")
    if not data:
        raise ValidationFailed("the file is empty", code="empty_file")
    default = tenant or (principal.tenant if principal.tenant != ALL_TENANTS else None)
    # reading and mapping the sheet is CPU work: off the event loop
    parsed = await asyncio.to_thread(_parse_file, data, filename, default)
    if not parsed.raw:
        raise ValidationFailed("the sheet has no data rows below its header", code="empty_sheet")
    return parsed


async def validate(parsed: Parsed) -> list[ProjectCreate | None]:
    """Every row validated as a ``POST /v1/projects`` body (after :func:`resolve_tenants`); the
    problems are added to ``parsed.problems``."""
    items, problems = await asyncio.to_thread(bulk.parse_items, parsed.raw)
    parsed.problems += problems
    return items


async def register_rows(
    session: AsyncSession,
    *,
    principal: Principal,
    parsed: Parsed,
    items: list[ProjectCreate | None],
    dry_run: bool,
) -> list[bulk.Created]:
    """The registration's checks for every row; all registered (unless ``dry_run``) or a
    row-by-row 422 and nothing written."""
    tenants, more = await bulk.check(session, principal=principal, items=items)
    problems = parsed.problems + more
    if problems:
        bad = len({p.index for p in problems})
        details = report(parsed, problems)
        raise bulk.BatchInvalid(
            f"{bad} of {len(parsed.raw)} rows cannot be registered ({len(problems)} problems); nothing was written",
            code="import_invalid",
            details=details[: bulk.MAX_REPORTED],
        )
    if dry_run:
        return []
    return await bulk.write(
        session, principal=principal, items=[it for it in items if it is not None], tenants=tenants
    )
