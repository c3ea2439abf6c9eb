"""Timers of a meeting: the notice (会议通知) before the start and the agenda deadline reminder
(议题申报截止提醒) to the units that usually submit."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import meetings as ev
from steward.kit.outbox import emit
from steward.kit.timers import DueTimer, Rearm
from steward.meetings.access import subjects
from steward.meetings.agenda.models import Topic
from steward.meetings.context import MeetingsContext
from steward.meetings.meetings.models import OPEN_STATUSES, Meeting
from steward.meetings.meetings.service import NOTICE_TIMER, REMINDER_TIMER, parse_id
from steward.meetings.settings import SOURCE

USUAL_SUBMITTERS_DAYS = 90


async def _meeting(session: AsyncSession, key: str) -> Meeting | None:
    m = await session.get(Meeting, parse_id(key, "meeting"), with_for_update=True)
    return m if m is not None and m.status in OPEN_STATUSES else None


async def usual_submitters(session: AsyncSession, m: Meeting) -> list[str]:
    """Who submitted topics to this series lately (the units that usually submit)."""
    if m.series_id is None:
        return []
    since = m.starts_at - timedelta(days=USUAL_SUBMITTERS_DAYS)
    rows = await session.exec(
        select(Topic.submitter)
        .where(Topic.series_id == m.series_id, col(Topic.submitted_at) >= since, Topic.source == "submitted")
        .distinct()
    )
    return sorted(set(rows.all()))


def handlers(ctx: MeetingsContext):  # type: ignore[no-untyped-def]
    async def on_notice(session: AsyncSession, timer: DueTimer) -> Rearm | None:
        m = await _meeting(session, timer.key)
        if m is None:
            return None
        m.notice_sent_at = ctx.clock()
        items = (
            await session.execute(
                sa.select(sa.func.count()).select_from(Topic).where(col(Topic.meeting_id) == m.id)
            )
        ).scalar_one()
        await emit(
            session,
            ev.MeetingNotice(
                meeting_id=str(m.id),
                series_key=m.series_key,
                kind=m.kind,  # type: ignore[arg-type]
                title=m.title,
                starts_at=m.starts_at,
                location=m.location,
                agenda_items=int(items),
                attendee_subjects=subjects(m.participants),
            ),
            tenant=m.tenant_code,
            source=SOURCE,
            subject=str(m.id),
        )
        return None

    async def on_reminder(session: AsyncSession, timer: DueTimer) -> Rearm | None:
        m = await _meeting(session, timer.key)
        if m is None or m.agenda_deadline_at is None:
            return None
        await emit(
            session,
            ev.AgendaDeadlineReminder(
                meeting_id=str(m.id),
                series_key=m.series_key,
                deadline_at=m.agenda_deadline_at,
                meeting_starts_at=m.starts_at,
                unit_subjects=await usual_submitters(session, m),
            ),
            tenant=m.tenant_code,
            source=SOURCE,
            subject=str(m.id),
        )
        return None

    return {NOTICE_TIMER: on_notice, REMINDER_TIMER: on_reminder}
