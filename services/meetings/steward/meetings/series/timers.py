"""The series' generation timer: keeps ``generate_weeks_ahead`` weeks of meetings on the calendar,
re-armed every ``generate_every_hours``; several replicas never run one series twice at once (the
timer row is claimed with SKIP LOCKED and the series row is locked)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.timers import DueTimer, Rearm
from steward.meetings.context import MeetingsContext
from steward.meetings.meetings.service import parse_id
from steward.meetings.series import service
from steward.meetings.series.models import Series


def handler(ctx: MeetingsContext):  # type: ignore[no-untyped-def]
    async def on_generate(session: AsyncSession, timer: DueTimer) -> Rearm | None:
        s = (
            await session.exec(
                select(Series).where(Series.id == parse_id(timer.key, "series")).with_for_update()
            )
        ).first()
        if s is None or not s.active:
            return None
        now = ctx.clock()
        await service.generate(session, s=s, now=now, weeks=ctx.settings.generate_weeks_ahead)
        return Rearm(now + timedelta(hours=ctx.settings.generate_every_hours))

    return on_generate
