"""Series: created and refreshed from the tenant's rules (section ``meetings``), and the meetings they
generate ahead (``generate_weeks_ahead``) by a timer per series, idempotently (one meeting per
series and regular date; a holiday date is skipped or moved, and says so)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit import timers
from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.errors import NotFound
from steward.kit.paging import scoped
from steward.meetings.access import ensure_visible
from steward.meetings.meetings import service as meetings
from steward.meetings.meetings.models import Meeting
from steward.meetings.meetings.schemas import Participant
from steward.meetings.series import schedule
from steward.meetings.series.models import Series
from steward.meetings.series.schemas import SeriesOut, SeriesUpdate
from steward.meetings.settings import SOURCE
from steward.rules import MeetingSeries, RulesDocument

GENERATE_TIMER = "series.generate"


def to_out(s: Series) -> SeriesOut:
    return SeriesOut(
        id=s.id,
        tenant=s.tenant_code,
        key=s.key,
        name=s.name,
        active=s.active,
        spec=s.spec,
        location=s.location,
        chair_subject=s.chair_subject,
        chair_name=s.chair_name,
        participants=[Participant.model_validate(p) for p in s.participants],
        meetings_count=s.meetings_count,
        updated_at=s.updated_at,
    )


async def get(
    session: AsyncSession, *, principal: Principal, series_id: str | uuid.UUID, lock: bool = False
) -> Series:
    stmt = select(Series).where(Series.id == meetings.parse_id(series_id, "series"))
    if lock:
        stmt = stmt.with_for_update()
    s = (await session.exec(stmt)).first()
    if s is None:
        raise NotFound("series not found")
    ensure_visible(principal, s.tenant_path, "series")
    return s


async def by_key(session: AsyncSession, *, tenant: str, key: str) -> Series | None:
    stmt = select(Series).where(Series.tenant_code == tenant, Series.key == key)
    return (await session.exec(stmt)).first()


async def list_series(session: AsyncSession, *, base_path: str | None) -> list[Series]:
    stmt = scoped(select(Series), Series.tenant_path, base_path).order_by(
        col(Series.tenant_code), col(Series.key)
    )
    return list((await session.exec(stmt)).all())


async def sync(
    session: AsyncSession,
    *,
    actor: str,
    tenant: str,
    path: str,
    rules: RulesDocument,
    now: datetime,
) -> list[Series]:
    """Upsert the tenant's series from its rules; series no longer in the rules become inactive
    (their meetings stay). Arms each active series' generation timer (due now)."""
    existing = {
        s.key: s
        for s in (
            await session.exec(select(Series).where(Series.tenant_code == tenant).with_for_update())
        ).all()
    }
    calendar = rules.calendar.model_dump(mode="json")
    out: list[Series] = []
    for spec in rules.meetings.series:
        s = existing.pop(spec.key, None)
        dumped = spec.model_dump(mode="json")
        if s is None:
            s = Series(tenant_code=tenant, tenant_path=path, key=spec.key, name=spec.name_zh, created_at=now)
            session.add(s)
            action = "create"
        else:
            action = "refresh"
        changed = s.spec != dumped or s.calendar != calendar or not s.active or s.name != spec.name_zh
        s.spec, s.calendar, s.name, s.active, s.updated_at = dumped, calendar, spec.name_zh, True, now
        await session.flush()
        if changed:
            await record_change(
                session,
                actor=actor,
                tenant=tenant,
                action=action,
                entity="series",
                entity_id=str(s.id),
                changes={"spec": dumped},
                source=SOURCE,
            )
        await timers.schedule(session, kind=GENERATE_TIMER, key=str(s.id), tenant=tenant, due_at=now)
        out.append(s)
    for s in existing.values():
        if s.active:
            s.active, s.updated_at = False, now
            await timers.cancel(session, kind=GENERATE_TIMER, key=str(s.id))
            await record_change(
                session,
                actor=actor,
                tenant=tenant,
                action="deactivate",
                entity="series",
                entity_id=str(s.id),
                source=SOURCE,
            )
    return out


async def update(
    session: AsyncSession, *, principal: Principal, s: Series, data: SeriesUpdate, now: datetime
) -> Series:
    changes = data.model_dump(exclude_unset=True, mode="json")
    if data.location is not None:
        s.location = data.location
    if "chair_subject" in data.model_fields_set:
        s.chair_subject = data.chair_subject
    if "chair_name" in data.model_fields_set:
        s.chair_name = data.chair_name
    if data.participants is not None:
        s.participants = [p.model_dump() for p in data.participants]
    s.updated_at = now
    # meetings not yet held take the new details
    for m in (
        await session.exec(
            select(Meeting).where(
                Meeting.series_id == s.id,
                col(Meeting.status).in_(("scheduled", "compiled")),
                Meeting.kind == "regular",
            )
        )
    ).all():
        m.location, m.chair_subject, m.chair_name = s.location, s.chair_subject, s.chair_name
        m.participants = list(s.participants)
    await record_change(
        session,
        actor=principal.subject,
        tenant=s.tenant_code,
        action="update",
        entity="series",
        entity_id=str(s.id),
        changes=changes,
        source=SOURCE,
    )
    return s


async def generate(session: AsyncSession, *, s: Series, now: datetime, weeks: int) -> tuple[int, int]:
    """Meetings for every regular date from today to ``weeks`` ahead that has none yet."""
    spec = MeetingSeries.model_validate(s.spec)
    cal = schedule.calendar_of(s.calendar)
    today = schedule.local_date(now)
    dates = schedule.regular_dates(spec, today, today + timedelta(days=7 * weeks))
    have = set(
        (
            await session.exec(
                select(col(Meeting.regular_date)).where(
                    Meeting.series_id == s.id, Meeting.kind == "regular", col(Meeting.regular_date).in_(dates)
                )
            )
        ).all()
    )
    created = skipped = 0
    for d in dates:
        if d in have:
            continue
        slot = schedule.slot(spec, cal, d)
        if slot.day is not None and schedule.local(slot.day, spec.time) <= now:
            continue  # today's meeting time has passed: nothing to announce
        await meetings.create_regular(session, series=s, slot=slot, now=now)
        if slot.skipped:
            skipped += 1
        else:
            created += 1
    return created, skipped
