"""The series' backlog (议题 not yet discussed): topics move to the next scheduled meeting of the
same series — submitted late, missing a sign-off at compilation, their meeting cancelled, or not
reached at the meeting — and are never lost."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import meetings as ev
from steward.kit.changes import record_change
from steward.meetings.agenda.models import Topic
from steward.meetings.meetings.models import OPEN_STATUSES, Meeting
from steward.meetings.metrics import DEFERRED_TOPICS
from steward.meetings.settings import SOURCE


async def next_open_meeting(session: AsyncSession, m: Meeting) -> Meeting | None:
    """The next scheduled meeting of the same series after ``m`` (where deferred topics go)."""
    if m.series_id is None:
        return None
    stmt = (
        select(Meeting)
        .where(
            Meeting.series_id == m.series_id,
            col(Meeting.status).in_(OPEN_STATUSES),
            col(Meeting.starts_at) > m.starts_at,
            Meeting.id != m.id,
        )
        .order_by(col(Meeting.starts_at))
        .limit(1)
    )
    return (await session.exec(stmt)).first()


async def carry_topics(
    session: AsyncSession, *, m: Meeting, reason: str, topic_ids: list[uuid.UUID] | None = None
) -> int:
    """Move topics of ``m`` (all not yet discussed, or the given ones) to the series' next meeting:
    the backlog is carried forward, never lost (a meeting outside a series keeps its topics)."""
    target = await next_open_meeting(session, m)
    if target is None:
        return 0
    stmt = select(Topic).where(Topic.meeting_id == m.id, col(Topic.status).in_(("submitted", "compiled")))
    if topic_ids is not None:
        stmt = stmt.where(col(Topic.id).in_(topic_ids))
    topics = list((await session.exec(stmt)).all())
    for t in topics:
        t.meeting_id = target.id
        t.status = "submitted"
        t.position = None
        t.deferrals += 1
        await record_change(
            session,
            actor="system",
            tenant=t.tenant_code,
            action=f"deferred:{reason}",
            entity="topic",
            entity_id=str(t.id),
            changes={"from": str(m.id), "to": str(target.id)},
            event=ev.AgendaDeferred(
                meeting_id=str(m.id),
                series_key=m.series_key,
                topic_id=str(t.id),
                title=t.title,
                project_id=t.project_id,
                unit_name=t.unit_name,
                submitter_subject=t.submitter,
                to_meeting_id=str(target.id),
                reason=reason,  # type: ignore[arg-type]
            ),
            source=SOURCE,
            subject=str(t.id),
        )
    if topics:
        DEFERRED_TOPICS.labels(reason).inc(len(topics))
    return len(topics)
