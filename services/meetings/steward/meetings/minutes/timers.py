"""``minutes.due``: the minutes were not issued within ``minutes_due_working_days`` of the meeting:
marked overdue and reported (``minutes.overdue``) once."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import meetings as ev
from steward.kit.outbox import emit
from steward.kit.timers import DueTimer, Rearm
from steward.meetings.context import MeetingsContext
from steward.meetings.meetings.attendance import MINUTES_TIMER
from steward.meetings.meetings.models import Meeting
from steward.meetings.meetings.service import parse_id
from steward.meetings.metrics import MINUTES_OVERDUE
from steward.meetings.minutes import service
from steward.meetings.minutes.models import Minutes
from steward.meetings.settings import SOURCE


def handlers(ctx: MeetingsContext):  # type: ignore[no-untyped-def]
    async def on_due(session: AsyncSession, timer: DueTimer) -> Rearm | None:
        m = await session.get(Meeting, parse_id(timer.key, "meeting"))
        if m is None:
            return None
        mi = await session.get(Minutes, m.id, with_for_update=True)
        if mi is not None and mi.status == "issued":
            return None
        if mi is not None:
            mi.overdue = True
        MINUTES_OVERDUE.inc()
        await emit(
            session,
            ev.MinutesOverdue(
                meeting_id=str(m.id),
                number=mi.number if mi else service.number_of(m),
                title=mi.title if mi else f"{m.title}纪要",
                due_at=timer.due_at,
                organizer_subjects=service.organizer_subjects(m),
            ),
            tenant=m.tenant_code,
            source=SOURCE,
            subject=str(m.id),
        )
        return None

    return {MINUTES_TIMER: on_due}
