"""``decision.file``: files a recorded decision in the issues service as a ``decision`` matter.

The timer row is written in the decision's own transaction (a transactional outbox for the gRPC
call). The sweeper claims it with SKIP LOCKED, calls ``CreateMatter`` with the idempotency key
``decision:<id>`` and, in the same transaction, stores the matter on the decision and deletes the
timer. Killed before the call, after it, or before the commit: the timer fires again after restart
and the issues service answers with the matter it created the first time — exactly one matter.
A failing call (issues down) leaves the timer armed with exponential backoff."""

from __future__ import annotations

import structlog
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.clients.issues import DecisionMatter
from steward.kit.errors import Forbidden, NotFound, ValidationFailed
from steward.kit.timers import DueTimer, Rearm
from steward.meetings.context import MeetingsContext
from steward.meetings.decisions.models import Decision
from steward.meetings.decisions.service import FILE_TIMER
from steward.meetings.meetings.models import Meeting
from steward.meetings.meetings.service import parse_id
from steward.meetings.metrics import DECISIONS_FILED

log = structlog.get_logger(__name__)


def handlers(ctx: MeetingsContext):  # type: ignore[no-untyped-def]
    async def on_file(session: AsyncSession, timer: DueTimer) -> Rearm | None:
        d = (
            await session.exec(
                select(Decision).where(Decision.id == parse_id(timer.key, "decision")).with_for_update()
            )
        ).first()
        if d is None or d.matter_id is not None:
            return None
        m = await session.get(Meeting, d.meeting_id)
        assert m is not None
        try:
            matter = await ctx.issues.create_decision(
                DecisionMatter(
                    tenant=d.tenant_code,
                    meeting_id=str(d.meeting_id),
                    decision_id=str(d.id),
                    title=f"{m.title} 议定事项{d.number}：{d.text}"[:200],
                    description=d.text,
                    responsible_unit_id=d.responsible_unit_id,
                    responsible_unit_name=d.responsible_unit_name,
                    responsible_person=d.responsible_person,
                    due_date=d.due_date,
                    project_id=d.project_id,
                    reporter=m.chair_subject,
                )
            )
        except (ValidationFailed, Forbidden, NotFound) as exc:
            # refused for good (not a transient failure): say so on the decision, stop retrying
            d.filing_error = f"{exc.code}: {exc.message}"[:500]
            log.warning("meetings.decision_refused", decision=str(d.id), error=d.filing_error)
            return None
        d.matter_id, d.matter_number, d.filed_at = matter.id, matter.number, ctx.clock()
        DECISIONS_FILED.inc()
        return None

    return {FILE_TIMER: on_file}
