"""Corrections of submitted reports (with a reason; the only way cumulative investment goes down)
and the responsible leader's sign-off (Anyang: the paper version signed by the 指挥长)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry import ReportCorrected, ReportSignedOff
from steward.kit import audit
from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.db import utcnow
from steward.kit.errors import Conflict, Forbidden, ValidationFailed
from steward.kit.tenancy import ancestry_of, ensure_writable
from steward.registry.projects.models import Project
from steward.registry.reports.models import ProgressReport, ReportCorrection
from steward.registry.reports.schemas import CorrectionIn
from steward.registry.reports.service import (
    LEADER_ROLES,
    cumulative_error,
    cumulative_neighbours,
    ensure_reporter,
    get_report,
    roster_roles,
    schedule_of,
)
from steward.registry.settings import SOURCE
from steward.rules.reports import ReportSchedule


async def correct(
    session: AsyncSession, *, principal: Principal, report_id: uuid.UUID, data: CorrectionIn
) -> tuple[ProgressReport, Project]:
    report, project = await get_report(session, principal=principal, report_id=report_id, lock=True)
    ensure_writable(principal, ancestry_of(project.tenant_path))
    await ensure_reporter(session, principal, project)
    changes: dict[str, Any] = {}
    for attr in ("investment_period", "investment_cumulative", "progress_text"):
        value = getattr(data, attr)
        if value is not None and value != getattr(report, attr):
            old = getattr(report, attr)
            changes[attr] = [audit.plain(old), audit.plain(value)]
            setattr(report, attr, value)
    if not changes:
        raise ValidationFailed("the correction changes nothing", code="no_changes")
    if "investment_cumulative" in changes:
        before, after = await cumulative_neighbours(session, project_id=project.id, due_at=report.due_at)
        problem = cumulative_error(report.investment_cumulative, before, after)
        if problem:
            changes["note"] = problem  # allowed: this is a correction record with its reason
    now = utcnow()
    report.updated_at = now
    report.row_version += 1
    session.add(
        ReportCorrection(
            report_id=report.id, changes=changes, reason=data.reason, actor=principal.subject, at=now
        )
    )
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="report.correct",
        entity="report",
        entity_id=str(report.id),
        changes={**changes, "reason": data.reason},
        event=ReportCorrected(
            report_id=str(report.id),
            project_id=str(project.id),
            code=project.code,
            schedule_key=report.schedule_key,
            period=report.period_key,
            reason=data.reason,
            changes={k: v for k, v in changes.items() if isinstance(v, list)},
        ),
        source=SOURCE,
        subject=str(project.id),
    )
    return report, project


async def corrections(session: AsyncSession, *, report_id: uuid.UUID) -> list[ReportCorrection]:
    stmt = (
        select(ReportCorrection)
        .where(ReportCorrection.report_id == report_id)
        .order_by(col(ReportCorrection.at), col(ReportCorrection.id))
    )
    return list((await session.exec(stmt)).all())


async def signoff(
    session: AsyncSession, *, principal: Principal, report_id: uuid.UUID, paper: bool
) -> tuple[ProgressReport, Project, ReportSchedule | None]:
    report, project = await get_report(session, principal=principal, report_id=report_id, lock=True)
    ensure_writable(principal, ancestry_of(project.tenant_path))
    schedule = await schedule_of(session, report)
    allowed = {schedule.paper_signoff_role} if schedule and schedule.paper_signoff_role else set(LEADER_ROLES)
    held = await roster_roles(session, subject=principal.subject, project_id=project.id)
    if principal.is_enterprise or not held & allowed:
        raise Forbidden(
            f"only the project's {' / '.join(sorted(allowed))} may sign this report", code="not_the_signer"
        )
    if report.signed_by is not None:
        raise Conflict("the report is already signed", code="already_signed")
    report.signed_by = principal.subject
    report.signed_at = utcnow()
    report.paper_signed = paper
    report.row_version += 1
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="report.signoff",
        entity="report",
        entity_id=str(report.id),
        changes={"paper": paper},
        event=ReportSignedOff(
            report_id=str(report.id),
            project_id=str(project.id),
            code=project.code,
            period=report.period_key,
            signed_by=principal.subject,
            paper=paper,
        ),
        source=SOURCE,
        subject=str(project.id),
    )
    return report, project, schedule
