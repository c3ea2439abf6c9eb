"""Issue a circular (情况通报) from a semi-monthly period's report summary (seed 004: compiled on the
13th/26th, those who did not report on time criticised by name; seed 002: reported to the leadership)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry_office import CircularIssued
from steward.kit.auth import Principal, Role
from steward.kit.changes import record_change
from steward.kit.db import utcnow
from steward.kit.errors import Conflict, NotFound, ValidationFailed
from steward.kit.paging import keyset_page, scoped
from steward.kit.tenancy import ancestry_of, ensure_visible, ensure_writable
from steward.registry.circulars.models import Circular
from steward.registry.circulars.schemas import (
    CircularContent,
    CircularIn,
    CircularOut,
    CircularSummaryOut,
    ProjectLine,
    TenantLine,
)
from steward.registry.milestones.service import percent_decimal
from steward.registry.reports import summary as summaries
from steward.registry.reports.models import ProgressReport
from steward.registry.reports.schemas import StatusRow
from steward.registry.rules.service import rules_of
from steward.registry.settings import SOURCE
from steward.registry.tenants.service import get_visible_tenant

ISSUERS = (Role.PLATFORM_ADMIN, Role.TENANT_ADMIN, Role.DISPATCHER)  # the DRC's office


def _tenant_line(t: summaries.TenantSummary) -> TenantLine:
    return TenantLine(
        tenant=t.tenant,
        tenant_name=t.tenant_name,
        required=t.required,
        on_time=t.on_time,
        late=t.late,
        missing=t.missing,
        investment_period=t.investment_period,
        investment_ytd=t.investment_ytd,
        annual_plan=t.annual_plan,
        plan_percent=t.plan_percent,
    )


def _project_line(r: StatusRow, names: dict[str, str], progress: dict[uuid.UUID, str]) -> ProjectLine:
    return ProjectLine(
        code=r.project_code,
        name=r.project_name,
        tenant=r.tenant,
        tenant_name=names.get(r.tenant, r.tenant),
        stage=r.stage,
        status=r.status,
        delay_hours=r.delay_seconds // 3600,
        investment_period=r.investment_period,
        investment_ytd=r.investment_ytd,
        annual_plan=r.annual_plan_investment,
        plan_percent=percent_decimal(r.investment_ytd, r.annual_plan_investment or Decimal(0)),
        progress=progress.get(r.report_id, "") if r.report_id else "",
    )


async def issue(session: AsyncSession, *, principal: Principal, data: CircularIn) -> Circular:
    principal.require(*ISSUERS)
    tenant = await get_visible_tenant(session, principal=principal, code=data.tenant)
    ensure_writable(principal, ancestry_of(tenant.path))
    doc = await rules_of(session, tenant.code)
    # the issuing tenant's own semi-monthly schedule by default; a city may name its districts' one
    own = next((x.key for x in doc.reports.schedules if x.kind == "semi_monthly"), None)
    schedule_key = data.schedule_key or own
    if schedule_key is None:
        raise ValidationFailed(
            f"{tenant.code} has no semi-monthly report schedule; name one (schedule_key)",
            code="no_semi_monthly_schedule",
        )
    taken = (
        await session.exec(
            select(Circular.id).where(
                Circular.tenant_code == tenant.code,
                Circular.period == data.period,
                Circular.schedule_key == schedule_key,
            )
        )
    ).first()
    if taken is not None:
        raise Conflict(f"the circular for {data.period} was already issued", code="circular_exists")
    now = utcnow()
    s = await summaries.summary(
        session,
        principal=principal,
        tenant=tenant.code,
        period=data.period,
        schedule_key=schedule_key,
        now=now,
    )
    if not s.items:
        raise ValidationFailed(
            f"no project in {tenant.code} owes a {schedule_key} report for {data.period}",
            code="nothing_to_report",
        )
    if any(r.status == "pending" for r in s.items):
        raise ValidationFailed(
            f"reports for {data.period} are not due yet; a circular is compiled after the due time",
            code="period_not_due",
        )
    report_ids = [r.report_id for r in s.items if r.report_id]
    progress: dict[uuid.UUID, str] = {}
    if report_ids:
        rows = await session.exec(
            select(ProgressReport.id, ProgressReport.progress_text).where(
                col(ProgressReport.id).in_(report_ids)
            )
        )
        progress = {rid: (text or "")[:300] for rid, text in rows.all()}
    names = {t.tenant: t.tenant_name for t in s.tenants}
    lines = [_project_line(r, names, progress) for r in s.items]
    content = CircularContent(
        tenant_name=tenant.name,
        due_at=max((r.due_at for r in s.items), default=None),
        totals=_tenant_line(s.totals),
        tenants=[_tenant_line(t) for t in s.tenants],
        projects=lines,
        late=[x for x in lines if x.status == "late"],
        missing=[x for x in lines if x.status == "missing"],
    )
    year = int(data.period[:4])
    last = (
        await session.execute(
            sa.select(sa.func.max(Circular.number)).where(
                col(Circular.tenant_code) == tenant.code, col(Circular.year) == year
            )
        )
    ).scalar() or 0
    circular = Circular(
        tenant_code=tenant.code,
        tenant_path=tenant.path,
        period=data.period,
        schedule_key=schedule_key,
        year=year,
        number=last + 1,
        title=data.title or f"{tenant.name}重点项目建设进展情况通报（{data.period}）",
        remarks=data.remarks,
        issued_by=principal.subject,
        issued_at=now,
        content=content.model_dump(mode="json"),
    )
    session.add(circular)
    await session.flush()
    await record_change(
        session,
        actor=principal.subject,
        tenant=tenant.code,
        action="circular.issue",
        entity="circular",
        entity_id=str(circular.id),
        changes={"period": data.period, "schedule_key": schedule_key, "number": circular.number},
        event=CircularIssued(
            circular_id=str(circular.id),
            tenant=tenant.code,
            period=data.period,
            schedule_key=schedule_key,
            number=circular.number,
            title=circular.title,
            late_projects=[x.code for x in content.late],
            missing_projects=[x.code for x in content.missing],
        ),
        source=SOURCE,
        subject=str(circular.id),
    )
    return circular


async def get_circular(session: AsyncSession, *, principal: Principal, circular_id: uuid.UUID) -> Circular:
    c = await session.get(Circular, circular_id)
    if c is None or principal.is_enterprise:
        raise NotFound("circular not found")
    ensure_visible(principal, ancestry_of(c.tenant_path), what="circular")
    return c


async def list_circulars(
    session: AsyncSession, *, principal: Principal, tenant: str | None, limit: int, cursor: str | None
) -> tuple[list[Circular], str | None]:
    if principal.is_enterprise:
        return [], None
    base = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
    stmt = scoped(select(Circular), Circular.tenant_path, base.path)
    return await keyset_page(
        session, stmt, order=(Circular.issued_at, Circular.id), cursor=cursor, limit=limit
    )


def to_out(c: Circular) -> CircularOut:
    return CircularOut(
        id=c.id,
        tenant=c.tenant_code,
        period=c.period,
        schedule_key=c.schedule_key,
        number=c.number,
        year=c.year,
        title=c.title,
        remarks=c.remarks,
        issued_by=c.issued_by,
        issued_at=c.issued_at,
        content=CircularContent.model_validate(c.content),
    )


def to_summary(c: Circular) -> CircularSummaryOut:
    content = c.content or {}
    return CircularSummaryOut(
        id=c.id,
        tenant=c.tenant_code,
        period=c.period,
        number=c.number,
        title=c.title,
        issued_at=c.issued_at,
        late=len(content.get("late", [])),
        missing=len(content.get("missing", [])),
    )
