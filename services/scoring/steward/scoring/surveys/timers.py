"""The rectification deadline: a due timer per open rectification (kit timers, claimed with
``FOR UPDATE SKIP LOCKED``); when it fires on a still-open rectification, the rectification is marked
overdue and ``rectification.overdue`` is published, once."""

from __future__ import annotations

import uuid

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.scoring import RectificationOverdue
from steward.kit.outbox import emit
from steward.kit.timers import DueTimer, Rearm
from steward.scoring.settings import SOURCE
from steward.scoring.surveys.models import Rectification

RECTIFICATION_DUE = "scoring.rectification_due"


async def on_rectification_due(session: AsyncSession, timer: DueTimer) -> Rearm | None:
    r = (
        await session.exec(
            select(Rectification).where(Rectification.id == uuid.UUID(timer.key)).with_for_update()
        )
    ).first()
    if r is None or r.status != "open" or r.overdue:
        return None
    r.overdue = True
    session.add(r)
    await emit(
        session,
        RectificationOverdue(
            rectification_id=str(r.id), survey_id=str(r.survey_id), subject_id=r.subject_id, due_at=r.due_at
        ),
        tenant=r.tenant,
        source=SOURCE,
        subject=str(r.id),
    )
    return None
