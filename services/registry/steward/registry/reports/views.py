from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from steward.kit.calendar import DEFAULT_TZ
from steward.kit.db import utcnow
from steward.kit.errors import ValidationFailed
from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.registry.reports import export, focus, review, service, summary
from steward.registry.reports import schedule as sched
from steward.registry.reports.schemas import (
    CorrectionIn,
    CorrectionOut,
    PeriodOut,
    ReportIn,
    ReportList,
    ReportOut,
    ScheduleOut,
    SchedulesOut,
    SignoffIn,
    StatusOut,
)
from steward.registry.reports.summary import SummaryOut
from steward.registry.tenants.service import get_visible_tenant

router = APIRouter(prefix="/v1/reports", tags=["reports"], dependencies=[Depends(clean_request)])


def period_out(p: sched.Period) -> PeriodOut:
    return PeriodOut(
        schedule_key=p.schedule_key,
        kind=p.kind,
        period=p.key,
        start=p.start,
        end=p.end,
        nominal_due=p.nominal_due,
        due_date=p.due_date,
        due_at=p.due_at,
        shifted=p.shifted,
        shift_reason=p.shift_reason,
        summary_date=p.summary_date,
        calendar={str(y): k for y, k in p.coverage.items()},
        calendar_fallback=p.calendar_fallback,
    )


@router.get(
    "/schedules",
    response_model=SchedulesOut,
    summary="A tenant's report schedules with computed due and summary dates (working-day calendar)",
)
async def schedules(
    db: DatabaseDep,
    principal: PrincipalDep,
    tenant: str | None = None,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    schedule: str | None = None,
) -> SchedulesOut:
    first = start or utcnow().astimezone(DEFAULT_TZ).date()
    last = end or first + timedelta(days=62)
    if last < first or (last - first).days > 800:
        raise ValidationFailed("the window must run forward and span at most 800 days", code="invalid_window")
    async with db.read() as session:
        t = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
        doc = await service.rules_of(session, t.code)
    cal = sched.calendar_for(doc)
    out = []
    fallback: set[int] = set()
    for s in doc.reports.schedules:
        if schedule and s.key != schedule:
            continue
        periods = sched.periods_due_between(s, cal, first, last)
        for p in periods:
            fallback |= {y for y, k in p.coverage.items() if k == "fallback"}
        out.append(
            ScheduleOut(
                key=s.key,
                name_zh=s.name_zh,
                kind=s.kind,
                weekday=s.weekday,
                days=s.days,
                day=s.day,
                due_time=s.due_time.strftime("%H:%M"),
                holiday_shift=s.holiday_shift,
                summary_offset_days=s.summary_offset_days,
                paper_signoff_required=s.paper_signoff_required,
                paper_signoff_role=s.paper_signoff_role,
                applies_when=s.applies_when.model_dump(mode="json", exclude_defaults=True),
                periods=[period_out(p) for p in periods],
            )
        )
    if schedule and not out:
        service.find_schedule(doc, schedule)
    return SchedulesOut(
        tenant=t.code,
        window=(first, last),
        schedules=out,
        calendar_fallback=bool(fallback),
        fallback_years=sorted(fallback),
    )


@router.get("/schedules/{schedule_key}/periods/{period}", response_model=PeriodOut)
async def schedule_period(
    db: DatabaseDep, principal: PrincipalDep, schedule_key: str, period: str, tenant: str | None = None
) -> PeriodOut:
    async with db.read() as session:
        t = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
        doc = await service.rules_of(session, t.code)
    s = service.find_schedule(doc, schedule_key)
    return period_out(sched.period(s, sched.calendar_for(doc), period))


@router.post("", response_model=ReportOut, status_code=201, summary="Submit a progress report for a period")
async def submit(db: DatabaseDep, principal: PrincipalDep, body: ReportIn) -> ReportOut:
    async with db.transaction() as session:
        report, project, schedule = await service.submit(session, principal=principal, data=body)
        return service.to_out(report, project, schedule)


@router.get("", response_model=ReportList, summary="Reports in a tenant subtree, latest due first")
async def list_reports(
    db: DatabaseDep,
    principal: PrincipalDep,
    tenant: str | None = None,
    project: str | None = None,
    schedule: str | None = None,
    period: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> ReportList:
    async with db.read() as session:
        rows, nxt = await service.list_reports(
            session,
            principal=principal,
            tenant=tenant,
            project=project,
            schedule_key=schedule,
            period=period,
            limit=limit,
            cursor=cursor,
        )
        # one rules look-up per tenant on the page, not one per report (a page is mostly one tenant)
        schedules: dict[tuple[str, str], Any] = {}
        items = []
        for r, p in rows:
            key = (r.tenant_code, r.schedule_key)
            if key not in schedules:
                schedules[key] = await service.schedule_of(session, r)
            items.append(service.to_out(r, p, schedules[key]))
        return ReportList(items=items, next_cursor=nxt)


@router.get(
    "/status",
    response_model=StatusOut,
    summary="Per project: on time / late / missing / pending for a period",
)
async def status(
    db: DatabaseDep,
    principal: PrincipalDep,
    period: str,
    tenant: str | None = None,
    schedule: str | None = None,
) -> StatusOut:
    async with db.read() as session:
        base, rows, _ = await summary.status_rows(
            session, principal=principal, tenant=tenant, period=period, schedule_key=schedule
        )
        return StatusOut(tenant=base.code, period=period, items=rows)


@router.get(
    "/summary",
    response_model=SummaryOut,
    summary="Summary (情况通报) per tenant and over the subtree for a period",
)
async def get_summary(
    db: DatabaseDep,
    principal: PrincipalDep,
    period: str,
    tenant: str | None = None,
    schedule: str | None = None,
) -> SummaryOut:
    async with db.read() as session:
        return await summary.summary(
            session, principal=principal, tenant=tenant, period=period, schedule_key=schedule
        )


@router.get(
    "/summary/export",
    summary="The summary as CSV (projects or tenants) or XLSX (both sheets)",
    responses={200: {"content": {"text/csv": {}, export.XLSX_TYPE: {}}}},
)
async def export_summary(
    db: DatabaseDep,
    principal: PrincipalDep,
    period: str,
    tenant: str | None = None,
    schedule: str | None = None,
    format: Literal["csv", "xlsx"] = "xlsx",
    sheet: Literal["projects", "tenants"] = "projects",
) -> Response:
    async with db.read() as session:
        s = await summary.summary(
            session, principal=principal, tenant=tenant, period=period, schedule_key=schedule
        )
    name = f"report-summary-{s.tenant}-{period}"
    if format == "csv":
        return Response(
            export.to_csv(s, sheet),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}-{sheet}.csv"'},
        )
    return Response(
        export.to_xlsx(s),
        media_type=export.XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )


@router.get(
    "/focus",
    response_model=focus.FocusOut,
    summary="The quarter's focus of the dispatch rhythm (rules reports.quarter_focus) and its project list",
)
async def quarter_focus(
    db: DatabaseDep,
    principal: PrincipalDep,
    quarter: Annotated[str, Query(pattern=r"^\d{4}-Q[1-4]$", description="e.g. 2026-Q3")],
    tenant: str | None = None,
) -> focus.FocusOut:
    async with db.read() as session:
        return await focus.focus(session, principal=principal, tenant=tenant, quarter=quarter)


@router.get("/{report_id}", response_model=ReportOut)
async def get_report(db: DatabaseDep, principal: PrincipalDep, report_id: uuid.UUID) -> ReportOut:
    async with db.read() as session:
        r, p = await service.get_report(session, principal=principal, report_id=report_id)
        return service.to_out(r, p, await service.schedule_of(session, r))


@router.post(
    "/{report_id}/corrections",
    response_model=ReportOut,
    summary="Correct a submitted report's figures (recorded with a reason)",
)
async def correct(
    db: DatabaseDep, principal: PrincipalDep, report_id: uuid.UUID, body: CorrectionIn
) -> ReportOut:
    async with db.transaction() as session:
        r, p = await review.correct(session, principal=principal, report_id=report_id, data=body)
        return service.to_out(r, p, await service.schedule_of(session, r))


@router.get("/{report_id}/corrections", response_model=list[CorrectionOut])
async def list_corrections(
    db: DatabaseDep, principal: PrincipalDep, report_id: uuid.UUID
) -> list[CorrectionOut]:
    async with db.read() as session:
        await service.get_report(session, principal=principal, report_id=report_id)
        return [
            CorrectionOut(id=c.id, changes=c.changes, reason=c.reason, actor=c.actor, at=c.at)
            for c in await review.corrections(session, report_id=report_id)
        ]


@router.post(
    "/{report_id}/signoff", response_model=ReportOut, summary="Leader sign-off (Anyang: 指挥长 signs)"
)
async def signoff(
    db: DatabaseDep, principal: PrincipalDep, report_id: uuid.UUID, body: SignoffIn
) -> ReportOut:
    async with db.transaction() as session:
        r, p, s = await review.signoff(session, principal=principal, report_id=report_id, paper=body.paper)
        return service.to_out(r, p, s)
