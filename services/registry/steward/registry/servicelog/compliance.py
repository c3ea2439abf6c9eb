"""Visit rules checked from the service log (rules ``service_log.rules``): e.g. the leader in charge
visits at least monthly (Huiji), the commander and HQ members are on site at least twice a week
(Anyang). Per project, role and period: a visit counts when it is on site (if the rule says so),
counts for review (approved, or the tenant needs no approval), and one of its participants is named
with that roster role or is a current holder of it on the project's roster.

A timer at each period's end (00:00 local after its last day) checks the tenant's projects and
publishes ``visit.compliance_missed`` once per project, role and period."""

from __future__ import annotations

import calendar as pycal
import re
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry_office import VisitComplianceMissed
from steward.kit import timers
from steward.kit.auth import Principal
from steward.kit.calendar import DEFAULT_TZ
from steward.kit.db import utcnow
from steward.kit.errors import ValidationFailed
from steward.kit.outbox import emit
from steward.kit.paging import scoped
from steward.registry.milestones.service import reached_keys
from steward.registry.projects.models import Project
from steward.registry.rosters.models import Assignment
from steward.registry.rosters.service import facts_of
from steward.registry.rules.service import rules_of
from steward.registry.servicelog.models import ComplianceNotice, ServiceLogEntry
from steward.registry.servicelog.schemas import ComplianceRow
from steward.registry.servicelog.service import counts
from steward.registry.settings import SOURCE
from steward.registry.tenants.service import get_visible_tenant
from steward.rules import RulesDocument

COMPLIANCE_TIMER = "visit.compliance"
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def per_of(key: str) -> str:
    if _WEEK.match(key):
        return "week"
    if _MONTH.match(key):
        return "month"
    if _QUARTER.match(key):
        return "quarter"
    raise ValidationFailed(f"period {key!r} is not like 2026-W47, 2026-11 or 2026-Q4", code="invalid_period")


def bounds(key: str) -> tuple[date, date]:
    """[first day, day after the last day) of a week / month / quarter key."""
    try:
        if m := _WEEK.match(key):
            start = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
            return start, start + timedelta(days=7)
        if m := _MONTH.match(key):
            y, mo = int(m.group(1)), int(m.group(2))
            start = date(y, mo, 1)
            return start, start + timedelta(days=pycal.monthrange(y, mo)[1])
        if m := _QUARTER.match(key):
            y, q = int(m.group(1)), int(m.group(2))
            start = date(y, 3 * q - 2, 1)
            end = date(y + 1, 1, 1) if q == 4 else date(y, 3 * q + 1, 1)
            return start, end
    except ValueError:
        pass
    raise ValidationFailed(f"period {key!r} does not exist", code="invalid_period")


def key_for(per: str, day: date) -> str:
    if per == "week":
        iso = day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if per == "month":
        return f"{day.year}-{day.month:02d}"
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _local(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=DEFAULT_TZ)


async def check_projects(
    session: AsyncSession,
    *,
    projects: list[Project],
    period: str,
    docs: dict[str, RulesDocument] | None = None,
) -> list[ComplianceRow]:
    per = per_of(period)
    start, end = bounds(period)
    docs = docs if docs is not None else {}
    ids = [p.id for p in projects]
    if not ids:
        return []
    entries: dict[uuid.UUID, list[ServiceLogEntry]] = defaultdict(list)
    holders: dict[tuple[uuid.UUID, str], set[str]] = defaultdict(set)
    reached = await reached_keys(session, project_ids=ids)
    for i in range(0, len(ids), 1000):
        chunk = ids[i : i + 1000]
        for e in (
            await session.exec(
                select(ServiceLogEntry).where(
                    col(ServiceLogEntry.project_id).in_(chunk),
                    col(ServiceLogEntry.visited_at) >= _local(start),
                    col(ServiceLogEntry.visited_at) < _local(end),
                )
            )
        ).all():
            entries[e.project_id].append(e)
        for a in (
            await session.exec(
                select(Assignment).where(
                    col(Assignment.project_id).in_(chunk), col(Assignment.ended_at).is_(None)
                )
            )
        ).all():
            if a.person_id:
                holders[(a.project_id, a.role_key)].add(str(a.person_id))
    out: list[ComplianceRow] = []
    for p in projects:
        if p.tenant_code not in docs:
            docs[p.tenant_code] = await rules_of(session, p.tenant_code)
        doc = docs[p.tenant_code]
        facts = facts_of(p).model_copy(update={"milestones": reached.get(p.id, set())})
        for rule in doc.service_log.rules:
            if rule.per != per or not rule.applies_when.matches(facts):
                continue
            who = holders.get((p.id, rule.role), set())
            counted = 0
            for e in entries.get(p.id, []):
                if not counts(e, doc) or (rule.on_site and not e.on_site):
                    continue
                if any(
                    x.get("role_key") == rule.role or (x.get("person_id") and str(x["person_id"]) in who)
                    for x in e.participants
                ):
                    counted += 1
            out.append(
                ComplianceRow(
                    project_id=p.id,
                    project_code=p.code,
                    project_name=p.name,
                    tenant=p.tenant_code,
                    role=rule.role,
                    per=per,
                    period=period,
                    required=rule.min_visits,
                    counted=counted,
                    met=counted >= rule.min_visits,
                    description_zh=rule.description_zh,
                )
            )
    return out


async def subtree_compliance(
    session: AsyncSession, *, principal: Principal, tenant: str | None, period: str
) -> tuple[str, list[ComplianceRow]]:
    base = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
    stmt = scoped(select(Project), Project.tenant_path, base.path).where(
        col(Project.stage).not_in(["terminated", "operating", "completed"]),
    )
    if principal.is_enterprise:
        stmt = stmt.where(Project.owner_unit_id == (uuid.UUID(principal.unit) if principal.unit else None))
    projects = list((await session.exec(stmt.order_by(col(Project.code)))).all())
    return base.code, await check_projects(session, projects=projects, period=period)


async def plan_tenant(session: AsyncSession, *, tenant: str, now: datetime) -> None:
    """Arm the end-of-period check of the current period (and of one that ended in the last 2 days)."""
    doc = await rules_of(session, tenant)
    today = now.astimezone(DEFAULT_TZ).date()
    for per in sorted({r.per for r in doc.service_log.rules}):
        for day in {today, today - timedelta(days=2)}:
            key = key_for(per, day)
            end = _local(bounds(key)[1])
            if end < now - timedelta(days=2):
                continue
            await timers.schedule(
                session,
                kind=COMPLIANCE_TIMER,
                key=f"{tenant}|{key}",
                tenant=tenant,
                due_at=end,
                payload={"period": key},
            )


async def run_check(session: AsyncSession, *, tenant: str, period: str) -> list[ComplianceRow]:
    """Check ``tenant``'s own projects for ``period`` and publish the misses not published yet."""
    projects = list(
        (
            await session.exec(
                select(Project).where(
                    Project.tenant_code == tenant,
                    col(Project.stage).not_in(["terminated", "operating", "completed"]),
                    col(Project.created_at) < _local(bounds(period)[0]),
                )
            )
        ).all()
    )
    rows = [r for r in await check_projects(session, projects=projects, period=period) if not r.met]
    if not rows:
        return []
    stmt = (
        insert(ComplianceNotice)
        .values(
            [{"project_id": r.project_id, "role": r.role, "period_key": period, "at": utcnow()} for r in rows]
        )
        .on_conflict_do_nothing()
        .returning(col(ComplianceNotice.project_id), col(ComplianceNotice.role))
    )
    fresh = {(pid, role) for pid, role in (await session.execute(stmt)).all()}
    published = []
    for r in rows:
        if (r.project_id, r.role) not in fresh:
            continue
        await emit(
            session,
            VisitComplianceMissed(
                project_id=str(r.project_id),
                code=r.project_code,
                role=r.role,
                per=r.per,
                period=period,
                required=r.required,
                counted=r.counted,
            ),
            tenant=r.tenant,
            source=SOURCE,
            subject=str(r.project_id),
        )
        published.append(r)
    return published


async def on_timer(session: AsyncSession, timer: timers.DueTimer) -> None:
    await run_check(session, tenant=timer.tenant, period=str(timer.payload["period"]))
    return None
