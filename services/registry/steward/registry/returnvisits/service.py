"""Return visits (回访): pick service records, record the call, list the unvisited, monthly statistics
per specialist and per unit (docs/reports.md "Return visits")."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry_office import ReturnVisitRecorded
from steward.kit.auth import Principal, Role
from steward.kit.calendar import DEFAULT_TZ
from steward.kit.changes import record_change
from steward.kit.db import utcnow
from steward.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from steward.kit.paging import scoped
from steward.kit.tenancy import ancestry_of, ensure_visible, ensure_writable
from steward.registry.returnvisits.models import ReturnVisit
from steward.registry.returnvisits.schemas import (
    SATISFACTION_ZH,
    PickIn,
    RecordIn,
    ReturnVisitOut,
    StatsOut,
    StatsRow,
)
from steward.registry.servicelog.models import ServiceLogEntry
from steward.registry.settings import SOURCE
from steward.registry.tenants.service import get_visible_tenant
from steward.registry.units.models import Person, Unit

SERVICE_ROOM = (Role.PLATFORM_ADMIN, Role.TENANT_ADMIN, Role.DISPATCHER)  # 项目服务室
SATISFIED = ("very_satisfied", "satisfied")


def month_of(at: datetime) -> str:
    local = at.astimezone(DEFAULT_TZ)
    return f"{local.year}-{local.month:02d}"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    y, m = int(month[:4]), int(month[5:7])
    if not 1 <= m <= 12:
        raise ValidationFailed(f"month {month!r} is not like 2026-10", code="invalid_month")
    start = datetime.combine(date(y, m, 1), time(0), tzinfo=DEFAULT_TZ)
    end = datetime.combine(date(y + (m == 12), m % 12 + 1, 1), time(0), tzinfo=DEFAULT_TZ)
    return start, end


def _room(principal: Principal) -> None:
    if principal.is_enterprise:
        raise Forbidden("return visits are the service room's")
    principal.require(*SERVICE_ROOM)


async def pick(session: AsyncSession, *, principal: Principal, data: PickIn) -> list[ReturnVisit]:
    _room(principal)
    entries = (
        await session.exec(select(ServiceLogEntry).where(col(ServiceLogEntry.id).in_(data.entry_ids)))
    ).all()
    found = {e.id: e for e in entries}
    for eid in data.entry_ids:
        e = found.get(eid)
        if e is None:
            raise NotFound(f"service record {eid} not found")
        ensure_writable(principal, ancestry_of(e.tenant_path))
        if e.status == "returned":
            raise ValidationFailed("a returned service record is not called back", code="entry_returned")
    taken = set(
        (
            await session.exec(
                select(ReturnVisit.entry_id).where(col(ReturnVisit.entry_id).in_(data.entry_ids))
            )
        ).all()
    )
    if taken:
        raise Conflict(f"already picked: {sorted(str(t) for t in taken)}", code="already_picked")
    out = []
    for eid in dict.fromkeys(data.entry_ids):
        e = found[eid]
        rv = ReturnVisit(
            entry_id=e.id,
            tenant_code=e.tenant_code,
            tenant_path=e.tenant_path,
            month=month_of(e.visited_at),
            picked_by=principal.subject,
        )
        session.add(rv)
        out.append(rv)
    await session.flush()
    return out


async def record(
    session: AsyncSession, *, principal: Principal, visit_id: uuid.UUID, data: RecordIn
) -> ReturnVisit:
    _room(principal)
    rv = (await session.exec(select(ReturnVisit).where(ReturnVisit.id == visit_id).with_for_update())).first()
    if rv is None:
        raise NotFound("return visit not found")
    ensure_visible(principal, ancestry_of(rv.tenant_path), what="return visit")
    ensure_writable(principal, ancestry_of(rv.tenant_path))
    if rv.called_at is not None:
        raise Conflict("the return visit was already recorded", code="already_recorded")
    if data.called_at > utcnow():
        raise ValidationFailed("called_at lies in the future", code="invalid_called_at")
    rv.called_by, rv.called_at, rv.answer, rv.satisfaction = (
        data.called_by,
        data.called_at,
        data.answer,
        data.satisfaction,
    )
    rv.recorded_by = principal.subject
    entry = await session.get(ServiceLogEntry, rv.entry_id)
    assert entry is not None
    await record_change(
        session,
        actor=principal.subject,
        tenant=rv.tenant_code,
        action="return_visit.record",
        entity="return_visit",
        entity_id=str(rv.id),
        changes={"satisfaction": data.satisfaction, "called_by": data.called_by},
        event=ReturnVisitRecorded(
            return_visit_id=str(rv.id),
            entry_id=str(rv.entry_id),
            project_id=str(entry.project_id),
            month=rv.month,
            satisfaction=data.satisfaction,
            specialist=entry.submitted_by,
        ),
        source=SOURCE,
        subject=str(entry.project_id),
    )
    return rv


async def _people(session: AsyncSession, subjects: set[str]) -> dict[str, Person]:
    if not subjects:
        return {}
    rows = (await session.exec(select(Person).where(col(Person.subject).in_(list(subjects))))).all()
    return {p.subject: p for p in rows if p.subject}


async def list_visits(
    session: AsyncSession, *, principal: Principal, tenant: str | None, month: str, unvisited: bool
) -> list[ReturnVisitOut]:
    if principal.is_enterprise:
        raise Forbidden("return visits are the service room's")
    principal.require(*SERVICE_ROOM, Role.SUPERVISOR, Role.LEADER)
    base = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
    month_bounds(month)
    stmt = scoped(select(ReturnVisit, ServiceLogEntry), ReturnVisit.tenant_path, base.path).where(
        ReturnVisit.month == month, col(ReturnVisit.entry_id) == col(ServiceLogEntry.id)
    )
    if unvisited:
        stmt = stmt.where(col(ReturnVisit.called_at).is_(None))
    rows = (await session.exec(stmt.order_by(col(ServiceLogEntry.visited_at), col(ReturnVisit.id)))).all()
    people = await _people(session, {e.submitted_by for _, e in rows})
    return [
        ReturnVisitOut(
            id=rv.id,
            entry_id=e.id,
            project_id=e.project_id,
            tenant=rv.tenant_code,
            month=rv.month,
            specialist=people[e.submitted_by].name if e.submitted_by in people else e.submitted_by,
            visited_at=e.visited_at,
            picked_by=rv.picked_by,
            picked_at=rv.picked_at,
            status="done" if rv.called_at else "picked",
            called_by=rv.called_by,
            called_at=rv.called_at,
            answer=rv.answer,
            satisfaction=rv.satisfaction,  # type: ignore[arg-type]
        )
        for rv, e in rows
    ]


def _row(
    key: str, name: str, entries: list[ServiceLogEntry], visits: dict[uuid.UUID, ReturnVisit]
) -> StatsRow:
    mine = [visits[e.id] for e in entries if e.id in visits]
    done = [v for v in mine if v.called_at is not None]
    by = Counter(v.satisfaction or "" for v in done)
    satisfied = sum(by[s] for s in SATISFIED)
    pct = (
        (Decimal(satisfied) * 100 / Decimal(len(done))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        if done
        else None
    )
    return StatsRow(
        key=key,
        name=name,
        records=len(entries),
        picked=len(mine),
        visited=len(done),
        unvisited=len(mine) - len(done),
        by_satisfaction={s: by[s] for s in SATISFACTION_ZH},
        satisfied_percent=pct,
    )


async def stats(session: AsyncSession, *, principal: Principal, tenant: str | None, month: str) -> StatsOut:
    """The month's service records per specialist (who logged them) and per unit (the specialist's)."""
    if principal.is_enterprise:
        raise Forbidden("return visits are the service room's")
    base = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
    start, end = month_bounds(month)
    stmt = scoped(select(ServiceLogEntry), ServiceLogEntry.tenant_path, base.path).where(
        col(ServiceLogEntry.visited_at) >= start,
        col(ServiceLogEntry.visited_at) < end,
        ServiceLogEntry.status != "returned",
    )
    entries = list((await session.exec(stmt)).all())
    visits = {
        v.entry_id: v
        for v in (
            await session.exec(
                select(ReturnVisit).where(col(ReturnVisit.entry_id).in_([e.id for e in entries]))
            )
        ).all()
    }
    people = await _people(session, {e.submitted_by for e in entries})
    unit_ids = {p.unit_id for p in people.values() if p.unit_id}
    units = (
        {
            u.id: u.name
            for u in (await session.exec(select(Unit).where(col(Unit.id).in_(list(unit_ids))))).all()
        }
        if unit_ids
        else {}
    )
    by_specialist: dict[str, list[ServiceLogEntry]] = defaultdict(list)
    by_unit: dict[str, list[ServiceLogEntry]] = defaultdict(list)
    unit_names: dict[str, str] = {}
    for e in entries:
        by_specialist[e.submitted_by].append(e)
        person = people.get(e.submitted_by)
        uid = str(person.unit_id) if person and person.unit_id else ""
        unit_names[uid] = units.get(person.unit_id, "") if person and person.unit_id else "（未登记单位）"
        by_unit[uid].append(e)
    return StatsOut(
        tenant=base.code,
        month=month,
        specialists=[
            _row(s, people[s].name if s in people else s, rows, visits)
            for s, rows in sorted(by_specialist.items())
        ],
        units=[_row(u, unit_names[u], rows, visits) for u, rows in sorted(by_unit.items())],
        totals=_row(base.code, base.name, entries, visits),
    )


STATS_HEADERS = [
    "类别",
    "名称",
    "服务记录",
    "抽取回访",
    "已回访",
    "未回访",
    *SATISFACTION_ZH.values(),
    "满意率(%)",
]


def stats_csv(s: StatsOut) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(STATS_HEADERS)
    for kind, rows in (("专员", s.specialists), ("单位", s.units), ("合计", [s.totals])):
        for r in rows:
            w.writerow(
                [
                    kind,
                    r.name,
                    r.records,
                    r.picked,
                    r.visited,
                    r.unvisited,
                    *(r.by_satisfaction[k] for k in SATISFACTION_ZH),
                    "" if r.satisfied_percent is None else r.satisfied_percent,
                ]
            )
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
