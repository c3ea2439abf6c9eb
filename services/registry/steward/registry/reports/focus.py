"""The dispatch rhythm's quarter focus (seed 001 (八)): rules ``reports.quarter_focus`` name each
quarter's focus, and the quarter's focus list puts it first — Q1 permits: open network-plan nodes
(procedures, in the registry's view) due by the quarter's end; Q2 starts: projects planned to start
by the quarter's end and not started; Q3 investment: year-to-date reported investment against the
annual plan; Q4 completion: projects planned to complete this year and not completed, and the
reserve list for next year."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.calendar import DEFAULT_TZ
from steward.kit.errors import ValidationFailed
from steward.kit.money import Money
from steward.kit.paging import scoped
from steward.registry.milestones.models import Milestone
from steward.registry.milestones.service import percent_decimal
from steward.registry.projects.models import Project
from steward.registry.reports.models import ProgressReport
from steward.registry.rules.service import rules_of
from steward.registry.tenants.service import get_visible_tenant

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
FOCUS_ZH = {
    "permits": "手续办理",
    "starts": "开工复工",
    "investment": "投资进度",
    "completion": "全年完成和来年储备",
}
NOT_STARTED = ("negotiating", "signed", "preparing", "suspended")
NOT_COMPLETED = ("negotiating", "signed", "preparing", "new_start", "continuing", "suspended")
RESERVE = ("negotiating", "signed", "preparing")


class FocusItem(BaseModel):
    project_id: uuid.UUID
    code: str
    name: str
    tenant: str
    stage: str
    category: str = Field(description="open_nodes | not_started | investment | not_completed | reserve")
    planned_start: date | None = None
    planned_completion: date | None = None
    open_nodes: list[str] = Field(default_factory=list, description="permits: open nodes due by quarter end")
    investment_ytd: Money | None = None
    annual_plan: Money | None = None
    plan_percent: Decimal | None = None


class FocusOut(BaseModel):
    tenant: str
    quarter: str
    focus: str
    focus_zh: str
    items: list[FocusItem]


def quarter_bounds(key: str) -> tuple[int, int, date, date]:
    m = _QUARTER.match(key)
    if m is None:
        raise ValidationFailed(f"quarter {key!r} is not like 2026-Q3", code="invalid_quarter")
    year, q = int(m.group(1)), int(m.group(2))
    try:  # 0000-Q1 or 9999-Q4 match the pattern but have no calendar dates
        start = date(year, 3 * q - 2, 1)
        end = date(year + (q == 4), (3 * q) % 12 + 1, 1)
    except ValueError:
        raise ValidationFailed(f"quarter {key!r} does not exist", code="invalid_quarter") from None
    return year, q, start, date.fromordinal(end.toordinal() - 1)


def _item(p: Project, kind: str, **extra: object) -> FocusItem:
    return FocusItem(
        project_id=p.id,
        code=p.code,
        name=p.name,
        tenant=p.tenant_code,
        stage=p.stage,
        category=kind,
        planned_start=p.planned_start,
        planned_completion=p.planned_completion,
        **extra,  # type: ignore[arg-type]
    )


async def focus(session: AsyncSession, *, principal: Principal, tenant: str | None, quarter: str) -> FocusOut:
    base = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
    year, q, _start, end = quarter_bounds(quarter)
    kind = (await rules_of(session, base.code)).reports.quarter_focus[f"Q{q}"]  # type: ignore[index]
    stmt = scoped(select(Project), Project.tenant_path, base.path).where(Project.stage != "terminated")
    if principal.is_enterprise:
        stmt = stmt.where(Project.owner_unit_id == (uuid.UUID(principal.unit) if principal.unit else None))
    projects = list((await session.exec(stmt.order_by(col(Project.tenant_code), col(Project.code)))).all())
    items: list[FocusItem] = []
    if kind == "permits":
        ids = [p.id for p in projects]
        nodes: dict[uuid.UUID, list[str]] = {}
        if ids:
            rows = await session.exec(
                select(Milestone)
                .where(
                    col(Milestone.project_id).in_(ids),
                    col(Milestone.actual_date).is_(None),
                    col(Milestone.planned_date) <= end,
                )
                .order_by(col(Milestone.seq))
            )
            for m in rows.all():
                nodes.setdefault(m.project_id, []).append(m.name)
        items = [_item(p, "open_nodes", open_nodes=nodes[p.id]) for p in projects if p.id in nodes]
    elif kind == "starts":
        items = [
            _item(p, "not_started")
            for p in projects
            if p.stage in NOT_STARTED and p.planned_start is not None and p.planned_start <= end
        ]
    elif kind == "investment":
        ids = [p.id for p in projects]
        ytd: dict[uuid.UUID, Decimal] = {}
        if ids:
            rows2 = await session.exec(
                select(ProgressReport.project_id, func.sum(ProgressReport.investment_period))
                .where(
                    col(ProgressReport.project_id).in_(ids),
                    col(ProgressReport.period_key).startswith(str(year)),
                    col(ProgressReport.due_at) <= _end_of(end),
                )
                .group_by(col(ProgressReport.project_id))
            )
            ytd = {pid: total for pid, total in rows2.all()}
        items = [
            _item(
                p,
                "investment",
                investment_ytd=ytd.get(p.id, Decimal("0.00")),
                annual_plan=p.annual_plan_investment,
                plan_percent=percent_decimal(
                    ytd.get(p.id, Decimal("0.00")), p.annual_plan_investment or Decimal(0)
                ),
            )
            for p in projects
            if p.annual_plan_investment or p.id in ytd
        ]
        items.sort(
            key=lambda x: (x.plan_percent is None, x.plan_percent or Decimal(0))
        )  # furthest behind first
    else:
        items = [
            _item(p, "not_completed")
            for p in projects
            if p.stage in NOT_COMPLETED
            and p.planned_completion is not None
            and p.planned_completion.year == year
        ] + [
            _item(p, "reserve")
            for p in projects
            if p.stage in RESERVE and p.planned_start is not None and p.planned_start.year == year + 1
        ]
    return FocusOut(tenant=base.code, quarter=quarter, focus=kind, focus_zh=FOCUS_ZH[kind], items=items)


def _end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=DEFAULT_TZ)
