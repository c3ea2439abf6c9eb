"""The reporter's feedback on a matter: resolved → confirmed or reopened → closed, and the 5-level
evaluation (评价) on close or afterwards."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import issues as ev
from steward.issues.matters import timers
from steward.issues.matters.access import ensure_handler, ensure_reporter
from steward.issues.matters.events import matter_event, record
from steward.issues.matters.models import Matter
from steward.issues.matters.schemas import (
    RATING_LABELS,
    CloseIn,
    RateIn,
    Status,
)
from steward.issues.matters.service import get
from steward.issues.matters.workflow import apply_step, require_status
from steward.kit.auth import Principal
from steward.kit.errors import Forbidden, InvalidTransition


async def confirm(
    session: AsyncSession, *, principal: Principal, key: str, note: str, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_reporter(principal, m)
    require_status(m, [Status.RESOLVED], "confirm")
    return await apply_step(
        session,
        m,
        principal=principal,
        now=now,
        action="confirmed",
        to=Status.CONFIRMED,
        event=ev.MatterConfirmed,
        reason=note,
    )


async def reopen(
    session: AsyncSession, *, principal: Principal, key: str, reason: str, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_reporter(principal, m)
    require_status(m, [Status.RESOLVED], "reopen")
    m.resolved_at = None
    await apply_step(
        session,
        m,
        principal=principal,
        now=now,
        action="reopened",
        to=Status.IN_PROGRESS,
        event=ev.MatterReopened,
        reason=reason,
        data={"resolution": m.resolution},
    )
    await timers.arm(session, m, now=now)
    return m


async def _rate(
    session: AsyncSession, m: Matter, principal: Principal, rating: int, comment: str, now: datetime
) -> None:
    m.rating = rating
    m.rating_comment = comment or None
    await record(
        session,
        m,
        actor=principal.subject,
        action="rated",
        at=now,
        reason=comment,
        data={"rating": rating, "label": RATING_LABELS[rating]},
        event=matter_event(
            m,
            ev.MatterRated,
            rating=rating,
            rating_label=RATING_LABELS[rating],
            comment=comment,
            rated_by=principal.subject,
        ),
    )


async def close(
    session: AsyncSession, *, principal: Principal, key: str, body: CloseIn, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    if principal.subject == m.reporter:
        require_status(m, [Status.RESOLVED, Status.CONFIRMED], "close")
    elif m.status == Status.RESOLVED.value and not m.policy.get("feedback_by_reporter", True):
        ensure_handler(principal, m)
    else:
        ensure_reporter(principal, m)
        require_status(m, [Status.CONFIRMED], "close")
    if body.rating is not None and principal.subject != m.reporter:
        raise Forbidden("only the reporter rates the handling", code="not_reporter")
    m.closed_at = now
    await apply_step(
        session,
        m,
        principal=principal,
        now=now,
        action="closed",
        to=Status.CLOSED,
        event=ev.MatterClosed,
        reason=body.comment,
        overdue=m.ever_overdue,
        escalations=m.escalations,
    )
    if body.rating is not None:
        await _rate(session, m, principal, body.rating, body.comment, now)
    return m


async def rate(
    session: AsyncSession, *, principal: Principal, key: str, body: RateIn, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    if principal.subject != m.reporter:
        raise Forbidden("only the reporter rates the handling", code="not_reporter")
    require_status(m, [Status.CLOSED], "rate")
    if m.rating is not None:
        raise InvalidTransition("the matter was rated already", code="already_rated")
    m.row_version += 1
    await _rate(session, m, principal, body.rating, body.comment, now)
    return m
