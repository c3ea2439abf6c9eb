"""The dev platform clock (steward.kit.devclock): the registry moves it and announces it.

Refused outside dev mode (``STEWARD_ENVIRONMENT`` other than ``dev``) and to anyone but a platform
admin; every change is audited and published as ``platform.clock_changed`` through the outbox, which
every service's runtime follows. Moves are forward only (``reset`` goes back to the wall clock)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry import PlatformClockChanged
from steward.kit.auth import Principal, Role
from steward.kit.changes import record_change
from steward.kit.clock import Clock
from steward.kit.db import utcnow
from steward.kit.devclock import DEV
from steward.kit.errors import Forbidden, ValidationFailed
from steward.registry.devclock.schemas import ClockOut
from steward.registry.settings import SOURCE

MAX_OFFSET = timedelta(days=3660)
_DURATION = re.compile(r"^\+?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> timedelta:
    """'+3d', '12h', '1d6h30m', '90s' → timedelta; anything else (or nothing) is a 422."""
    match = _DURATION.match(text.strip().lower().replace(" ", ""))
    if not match or not any(match.groups()):
        raise ValidationFailed(
            f"cannot read duration {text!r}: use days/hours/minutes/seconds like '+3d', '12h' or '1d6h30m'",
            code="invalid_duration",
            details=[{"loc": ["body", "advance"], "message": "not a duration", "type": "value_error"}],
        )
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def human(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{days}d {hours}h {minutes}m {seconds}s"


def settable(environment: str, clock: Callable[[], datetime]) -> bool:
    return environment == DEV and isinstance(clock, Clock)


def state(environment: str, clock: Callable[[], datetime]) -> ClockOut:
    offset = clock.offset if isinstance(clock, Clock) else timedelta(0)
    return ClockOut(
        environment=environment,
        settable=settable(environment, clock),
        offset_seconds=offset.total_seconds(),
        offset=human(offset),
        now=clock(),
        wall=utcnow(),
    )


async def change(
    session: AsyncSession,
    *,
    principal: Principal,
    environment: str,
    clock: Callable[[], datetime],
    advance: timedelta | None,
) -> timedelta:
    """Record the move (audit + ``platform.clock_changed``) and return the new offset; the caller
    applies it to this replica's clock once the transaction committed. ``advance=None`` resets."""
    principal.require(Role.PLATFORM_ADMIN)
    if environment != DEV:
        raise Forbidden(
            f"the platform clock moves only in dev mode (STEWARD_ENVIRONMENT=dev, here {environment!r})",
            code="dev_only",
        )
    if not isinstance(clock, Clock):
        raise Forbidden("this service's clock cannot be moved", code="clock_not_settable")
    # one move at a time (replicas of the registry serialise on the lock)
    await session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('steward.platform_clock'))"))
    previous = clock.offset
    offset = timedelta(0) if advance is None else previous + advance
    if offset > MAX_OFFSET:
        raise ValidationFailed(
            f"the clock may run at most {MAX_OFFSET.days} days ahead", code="offset_too_large"
        )
    await record_change(
        session,
        actor=principal.subject,
        tenant=principal.tenant,
        action="platform.clock_changed",
        entity="platform_clock",
        entity_id="platform",
        changes={"offset_seconds": [previous.total_seconds(), offset.total_seconds()]},
        event=PlatformClockChanged(
            offset_seconds=offset.total_seconds(),
            previous_offset_seconds=previous.total_seconds(),
            platform_time=utcnow() + offset,
        ),
        source=SOURCE,
        subject="clock",
    )
    return offset
