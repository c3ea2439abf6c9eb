"""Per-project report status for a period, and the summary per tenant and over a subtree (情况通报):
the quarter's focus first (rules ``reports.quarter_focus``, seed 001 (八)), then reporting / late /
missing, investment completed vs the annual plan, counts by stage; the project rows in focus come
first, in the focus list's order."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.db import utcnow
from steward.kit.errors import ValidationFailed
from steward.kit.money import Money
from steward.kit.paging import scoped
from steward.registry.milestones import service as milestones
from steward.registry.projects.models import Project
from steward.registry.reports import schedule as sched
from steward.registry.reports.focus import FocusItem, focus
from steward.registry.reports.models import ProgressReport
from steward.registry.reports.schemas import StatusRow
from steward.registry.reports.service import applies
from steward.registry.rules.service import rules_of
from steward.registry.tenants.models import Tenant
from steward.registry.tenants.service import get_visible_tenant
from steward.rules import RulesDocument

ZERO = Decimal("0.00")


class TenantSummary(BaseModel):
    tenant: str
    tenant_name: str
    required: int = 0
    reported: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    pending: int = 0
    investment_period: Money = ZERO
    investment_ytd: Money = ZERO
    annual_plan: Money = ZERO
    plan_percent: Decimal | None = Field(default=None, description="investment_ytd / annual_plan × 100")
    by_stage: dict[str, int] = Field(default_factory=dict)


class SummaryFocus(BaseModel):
    quarter: str = Field(description="the quarter the period falls in (its Thursday for a week)")
    focus: str = Field(description="permits | starts | investment | completion")
    focus_zh: str
    items: list[FocusItem] = Field(description="the focus list (as GET /v1/reports/focus)")


class SummaryOut(BaseModel):
    tenant: str
    period: str
    schedule_key: str | None
    generated_at: datetime
    calendar_fallback: bool
    focus: SummaryFocus = Field(description="the quarter's focus, first; items in focus lead the rows")
    totals: TenantSummary
    tenants: list[TenantSummary]
    items: list[StatusRow]


async def status_rows(
    session: AsyncSession,
    *,
    principal: Principal,
    tenant: str | None,
    period: str,
    schedule_key: str | None = None,
    now: datetime | None = None,
) -> tuple[Tenant, list[StatusRow], bool]:
    """One row per (project, schedule) that must report for ``period`` in the subtree."""
    kind = sched.period_kind_of(period)
    base = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
    now = now or utcnow()
    stmt = scoped(select(Project), Project.tenant_path, base.path).where(Project.stage != "terminated")
    if principal.is_enterprise:
        stmt = stmt.where(Project.owner_unit_id == (uuid.UUID(principal.unit) if principal.unit else None))
    projects = list((await session.exec(stmt.order_by(col(Project.tenant_code), col(Project.code)))).all())
    ids = [p.id for p in projects]
    reached = await milestones.reached_keys(session, project_ids=ids)
    reports: dict[tuple[uuid.UUID, str], ProgressReport] = {}
    ytd_rows: list[ProgressReport] = []
    year = period[:4]
    for i in range(0, len(ids), 1000):
        chunk = ids[i : i + 1000]
        rows = (
            await session.exec(
                select(ProgressReport).where(
                    col(ProgressReport.project_id).in_(chunk),
                    col(ProgressReport.period_key).startswith(year),
                )
            )
        ).all()
        for row in rows:
            if row.period_key == period:
                reports[(row.project_id, row.schedule_key)] = row
            ytd_rows.append(row)
    docs: dict[str, RulesDocument] = {}
    out: list[StatusRow] = []
    fallback = False
    for p in projects:
        if p.tenant_code not in docs:
            docs[p.tenant_code] = await rules_of(session, p.tenant_code)
        doc = docs[p.tenant_code]
        cal = sched.calendar_for(doc)
        for s in doc.reports.schedules:
            if s.kind != kind or (schedule_key and s.key != schedule_key):
                continue
            if not applies(s, p, reached.get(p.id)):
                continue
            per = sched.period(s, cal, period)
            fallback = fallback or per.calendar_fallback
            r = reports.get((p.id, s.key))
            if r is None and p.created_at > per.due_at:
                continue  # registered after the due time: nothing was owed for this period
            status = (
                ("late" if r.late else "on_time") if r else ("missing" if now > per.due_at else "pending")
            )
            ytd = sum(
                (
                    x.investment_period
                    for x in ytd_rows
                    if x.project_id == p.id and x.schedule_key == s.key and x.due_at <= per.due_at
                ),
                ZERO,
            )
            out.append(
                StatusRow(
                    project_id=p.id,
                    project_code=p.code,
                    project_name=p.name,
                    tenant=p.tenant_code,
                    stage=p.stage,
                    schedule_key=s.key,
                    period=period,
                    due_at=per.due_at,
                    status=status,
                    delay_seconds=r.delay_seconds if r else 0,
                    report_id=r.id if r else None,
                    investment_period=r.investment_period if r else None,
                    investment_cumulative=r.investment_cumulative if r else None,
                    investment_ytd=ytd,
                    annual_plan_investment=p.annual_plan_investment,
                    signoff_missing=bool(r and s.paper_signoff_required and not r.signed_by),
                )
            )
    return base, out, fallback


def _aggregate(code: str, name: str, rows: list[StatusRow]) -> TenantSummary:
    s = TenantSummary(tenant=code, tenant_name=name)
    stages: Counter[str] = Counter()
    plans: dict[uuid.UUID, Decimal] = {}
    for r in rows:
        s.required += 1
        if r.status in ("on_time", "late"):
            s.reported += 1
        setattr(s, r.status, getattr(s, r.status) + 1)
        s.investment_period += r.investment_period or ZERO
        s.investment_ytd += r.investment_ytd
        if r.project_id not in plans:
            plans[r.project_id] = r.annual_plan_investment or ZERO
            stages[r.stage] += 1
    s.annual_plan = sum(plans.values(), ZERO)
    s.plan_percent = milestones.percent_decimal(s.investment_ytd, s.annual_plan)
    s.by_stage = dict(sorted(stages.items()))
    return s


def quarter_of(period: str) -> str:
    """``2026-W40`` (its Thursday), ``2026-11-H1`` or ``2026-11`` → ``2026-Q4``."""
    kind = sched.period_kind_of(period)
    try:
        if kind == "weekly":
            day = date.fromisocalendar(int(period[:4]), int(period[6:8]), 4)
        else:
            day = date(int(period[:4]), int(period[5:7]), 1)
    except ValueError:
        raise ValidationFailed(f"period {period!r} does not exist", code="invalid_period") from None
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def focus_first(rows: list[StatusRow], items: list[FocusItem]) -> list[StatusRow]:
    """The rows of projects in the focus list first, in its order; the others after, as they were."""
    rank: dict[uuid.UUID, int] = {}
    for i, item in enumerate(items):
        rank.setdefault(item.project_id, i)
    return sorted(rows, key=lambda r: rank.get(r.project_id, len(items)))


async def summary(
    session: AsyncSession,
    *,
    principal: Principal,
    tenant: str | None,
    period: str,
    schedule_key: str | None = None,
    now: datetime | None = None,
) -> SummaryOut:
    base, rows, fallback = await status_rows(
        session, principal=principal, tenant=tenant, period=period, schedule_key=schedule_key, now=now
    )
    by_tenant: dict[str, list[StatusRow]] = defaultdict(list)
    for r in rows:
        by_tenant[r.tenant].append(r)
    names = {
        t.code: t.name
        for t in (
            await session.exec(select(Tenant).where(col(Tenant.code).in_(list(by_tenant) or [base.code])))
        ).all()
    }
    f = await focus(session, principal=principal, tenant=base.code, quarter=quarter_of(period))
    return SummaryOut(
        tenant=base.code,
        period=period,
        schedule_key=schedule_key,
        generated_at=now or utcnow(),
        calendar_fallback=fallback,
        focus=SummaryFocus(quarter=f.quarter, focus=f.focus, focus_zh=f.focus_zh, items=f.items),
        totals=_aggregate(base.code, base.name, rows),
        tenants=[_aggregate(code, names.get(code, code), by_tenant[code]) for code in sorted(by_tenant)],
        items=focus_first(rows, f.items),
    )
