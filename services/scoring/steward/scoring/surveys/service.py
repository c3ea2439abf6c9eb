"""Satisfaction surveys (满意度测评): sent after a procedure file is handed over, answered once by
the enterprise contact through a signed link; the result feeds the agent's scorecard (民主评议),
consecutive "very dissatisfied" results trigger consequences (first → 警告, two in a row → 诫勉谈话
and 书面检查), and a bad result opens a rectification (整改) with a working-day deadline."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.envelope import CloudEvent
from steward.events.scoring import (
    RectificationClosed,
    RectificationOpened,
    SurveyAnswered,
    SurveySent,
)
from steward.kit import writes
from steward.kit.auth import Principal, Role
from steward.kit.calendar import default_calendar
from steward.kit.changes import record_change
from steward.kit.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from steward.kit.ids import new_id
from steward.kit.outbox import emit
from steward.kit.tenancy import ancestry_of, ensure_writable
from steward.kit.timers import cancel, schedule
from steward.rules import RulesDocument
from steward.rules.scoring import SurveyDef
from steward.scoring.context import ScoringContext
from steward.scoring.rankings.models import Consequence
from steward.scoring.rankings.service import ACTION_ZH, counted, queue_trigger
from steward.scoring.rules.engine import entries_for, queue_entries
from steward.scoring.settings import SOURCE
from steward.scoring.surveys import links
from steward.scoring.surveys.models import Rectification, Survey
from steward.scoring.surveys.schemas import LEVEL_ZH, AnswerIn
from steward.scoring.surveys.timers import RECTIFICATION_DUE


def _text(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def overall_level(definition: SurveyDef, answers: dict[str, str]) -> str:
    """The mean of the item levels, rounded half towards the worse level."""
    order: list[str] = list(definition.levels)
    mean = sum(order.index(v) for v in answers.values()) / len(answers)
    return order[min(len(order) - 1, math.floor(mean + 0.5))]


_SURVEYS: sa.Table = Survey.__table__  # type: ignore[attr-defined]
_ONCE_PER_EVENT = "ON CONFLICT ON CONSTRAINT uq_scoring_surveys_source DO NOTHING"


async def on_event(
    session: AsyncSession,
    *,
    ctx: ScoringContext,
    event: CloudEvent,
    rules: RulesDocument,
    path: str,
    now: datetime,
) -> list[Survey]:
    """The surveys the event sends (one per definition and event), each announced (``survey.sent``)."""
    async with writes.batched(session) as batch:
        queued = await queue_sent(session, batch, ctx=ctx, event=event, rules=rules, path=path, now=now)
    return [survey for survey, key in queued if batch.wrote(key)]


def triggered_by(short_type: str, rules: RulesDocument) -> bool:
    """Some survey of the tenant is sent on this event type."""
    return any(fnmatchcase(short_type, d.trigger_event) for d in rules.scorecards.surveys)


async def queue_sent(
    session: AsyncSession,
    batch: writes.WriteBatch,
    *,
    ctx: ScoringContext,
    event: CloudEvent,
    rules: RulesDocument,
    path: str,
    now: datetime,
) -> list[tuple[Survey, Any]]:
    """:func:`on_event` in a ``writes.batched`` block: each survey (nothing if the event sent it
    before) with its ``survey.sent`` event if new; ``batch.wrote(key)`` says which, after it."""
    queued: list[tuple[Survey, Any]] = []
    data = event.data
    for definition in rules.scorecards.surveys:
        if not fnmatchcase(event.short_type, definition.trigger_event):
            continue
        agent = data.get("level1_agent") or data.get("agent")
        contact = data.get("received_by") or data.get("contact")
        if not isinstance(agent, str) or not agent or not isinstance(contact, str) or not contact:
            continue
        survey = Survey(
            tenant=event.tenant,
            tenant_path=path,
            survey=definition.key,
            subject_kind=definition.subject_kind,
            subject_id=agent[:64],
            project_id=_text(data.get("project_id"), 64),
            project_code=_text(data.get("project_code"), 40),
            file_id=_text(data.get("file_id"), 64),
            contact=contact[:200],
            source_event=event.id[:80],
            sent_at=now,
            expires_at=now + timedelta(days=definition.link_days),
        )
        values = {c.name: getattr(survey, c.key) for c in _SURVEYS.columns}
        key = batch.insert(_SURVEYS, values, on_conflict=_ONCE_PER_EVENT, report=True)
        link = (
            f"{ctx.settings.public_base_url}/v1/scoring/surveys/answer/{links.sign(ctx.settings, survey.id)}"
        )
        with batch.only_if(key):
            await emit(
                session,
                SurveySent(
                    survey_id=str(survey.id),
                    survey=definition.key,
                    subject_id=survey.subject_id,
                    contact=survey.contact,
                    project_id=survey.project_id,
                    link=link,
                    expires_at=survey.expires_at,
                ),
                tenant=event.tenant,
                source=SOURCE,
                subject=str(survey.id),
            )
        queued.append((survey, key))
    return queued


async def by_token(session: AsyncSession, *, ctx: ScoringContext, token: str) -> Survey:
    survey_id = links.verify(ctx.settings, token)
    found = (await session.exec(select(Survey).where(Survey.id == survey_id))).first()
    if found is None:
        raise NotFound("survey not found")
    return found


async def answer(
    session: AsyncSession,
    *,
    ctx: ScoringContext,
    token: str,
    data: AnswerIn,
    definition: SurveyDef,
    rules: RulesDocument,
    now: datetime,
) -> Survey:
    """Round trips: the survey, the answer claimed (the row as written comes back), the recent
    results (consequences), then the ``survey.answered`` event, the ledger entries with theirs, the
    consequences and the rectification with its timer and event as one statement (steward.kit.writes)."""
    survey = await by_token(session, ctx=ctx, token=token)
    keys = [i.key for i in definition.items]
    if sorted(data.answers) != sorted(keys):
        raise ValidationFailed(
            f"answer every item exactly once: {', '.join(keys)}", code="incomplete_answers"
        )
    if now >= survey.expires_at:
        raise InvalidTransition("this survey link has expired", code="link_expired")
    overall = overall_level(definition, dict(data.answers))
    claimed = (
        await session.execute(
            sa.update(Survey)
            .where(col(Survey.id) == survey.id, col(Survey.answered_at).is_(None))
            .values(answered_at=now, answers=dict(data.answers), overall=overall, comment=data.comment)
            .returning(*_SURVEYS.columns)
        )
    ).first()
    if claimed is None:
        raise Conflict("this survey was already answered", code="already_answered")
    for column in _SURVEYS.columns:  # what refresh() would read back, without its round trip
        set_committed_value(survey, column.key, claimed._mapping[column])
    recent = await _recent(session, survey=survey, definition=definition)
    async with writes.batched(session) as batch:
        event = await emit(
            session,
            SurveyAnswered(
                survey_id=str(survey.id),
                survey=survey.survey,
                subject_id=survey.subject_id,
                project_id=survey.project_id,
                overall=overall,
                answers=dict(data.answers),
            ),
            tenant=survey.tenant,
            source=SOURCE,
            subject=str(survey.id),
        )
        # the result feeds the agent's scorecard (民主评议) now, in this transaction. A read inside a
        # batch (writes' rule: it would not see the queued rows): safe here, what it reads — the
        # scorecard, the people a rule names — is nothing this block queues
        entries = await entries_for(
            session,
            event=event,
            rules=rules,
            path=survey.tenant_path,
            now=now,
            occurred_at=now,
            actor=survey.contact,
        )
        await queue_entries(session, batch, entries)
        triggered = await _consequences(
            session, batch, survey=survey, definition=definition, recent=recent, now=now
        )
        if overall in definition.rectification_levels:
            await _open_rectification(session, survey=survey, definition=definition, now=now)
    for c, key in triggered:
        if batch.wrote(key):
            counted(c)
    return survey


async def _recent(session: AsyncSession, *, survey: Survey, definition: SurveyDef) -> list[str | None]:
    """The subject's latest results of this survey, newest first (this answer included)."""
    rows = await session.exec(
        select(Survey.overall)
        .where(Survey.subject_id == survey.subject_id, Survey.survey == survey.survey)
        .where(col(Survey.answered_at).is_not(None))
        .order_by(col(Survey.answered_at).desc(), col(Survey.id).desc())
        .limit(max((c.consecutive for c in definition.consequences), default=1) + 1)
    )
    return list(rows.all())


async def _consequences(
    session: AsyncSession,
    batch: writes.WriteBatch,
    *,
    survey: Survey,
    definition: SurveyDef,
    recent: list[str | None],
    now: datetime,
) -> list[tuple[Consequence, Any]]:
    queued: list[tuple[Consequence, Any]] = []
    for cons in definition.consequences:
        streak = 0
        for level in recent:
            if level != cons.level:
                break
            streak += 1
        if streak != cons.consecutive:
            continue
        times = "第一次" if cons.consecutive == 1 else f"连续{cons.consecutive}次"
        for action in cons.actions:
            queued.append(
                await queue_trigger(
                    session,
                    batch,
                    tenant=survey.tenant,
                    path=survey.tenant_path,
                    source="survey",
                    definition=definition.key,
                    cause=str(survey.id),
                    subject_kind=survey.subject_kind,
                    subject_id=survey.subject_id,
                    subject_name=None,
                    action=action,
                    streak=streak,
                    reason_zh=f"{definition.name_zh}：{times}被评议为“{LEVEL_ZH[cons.level]}”，{ACTION_ZH[action]}",
                    now=now,
                )
            )
    return queued


async def _open_rectification(
    session: AsyncSession, *, survey: Survey, definition: SurveyDef, now: datetime
) -> None:
    due = default_calendar().deadline_end_of_day(now, definition.rectification_working_days)
    r = Rectification(
        id=new_id(),
        tenant=survey.tenant,
        tenant_path=survey.tenant_path,
        survey_id=survey.id,
        subject_id=survey.subject_id,
        opened_at=now,
        due_at=due,
    )
    writes.add(session, r)
    await schedule(session, kind=RECTIFICATION_DUE, key=str(r.id), tenant=r.tenant, due_at=due)
    await emit(
        session,
        RectificationOpened(
            rectification_id=str(r.id), survey_id=str(survey.id), subject_id=r.subject_id, due_at=due
        ),
        tenant=survey.tenant,
        source=SOURCE,
        subject=str(r.id),
    )


async def get_rectification(
    session: AsyncSession, *, rect_id: uuid.UUID, principal: Principal
) -> Rectification:
    r = (
        await session.exec(select(Rectification).where(Rectification.id == rect_id).with_for_update())
    ).first()
    if r is None:
        raise NotFound("rectification not found")
    ensure_writable(principal, ancestry_of(r.tenant_path))
    return r


async def add_callback(
    session: AsyncSession, *, principal: Principal, rect_id: uuid.UUID, note: str, now: datetime
) -> Rectification:
    principal.require(Role.SUPERVISOR, Role.AGENT, Role.TENANT_ADMIN, Role.STEWARD)
    r = await get_rectification(session, rect_id=rect_id, principal=principal)
    if r.status != "open":
        raise InvalidTransition("the rectification is closed", code="rectification_closed")
    r.callbacks = [*r.callbacks, {"at": now.isoformat(), "by": principal.subject, "note": note}]
    session.add(r)
    await record_change(
        session,
        actor=principal.subject,
        tenant=r.tenant,
        action="rectification.callback",
        entity="rectification",
        entity_id=str(r.id),
        changes={"note": note},
        source=SOURCE,
    )
    return r


async def close_rectification(
    session: AsyncSession,
    *,
    principal: Principal,
    rect_id: uuid.UUID,
    confirmed: bool,
    reason: str | None,
    now: datetime,
) -> Rectification:
    """Closed when the enterprise confirms, or by a supervisor with a reason, after a call-back."""
    r = await get_rectification(session, rect_id=rect_id, principal=principal)
    if r.status != "open":
        raise InvalidTransition("the rectification is already closed", code="rectification_closed")
    if confirmed:
        principal.require(Role.ENTERPRISE_CONTACT, Role.SUPERVISOR)
    else:
        principal.require(Role.SUPERVISOR, Role.TENANT_ADMIN)
        if not reason:
            raise ValidationFailed(
                "a supervisor closes a rectification with a reason", code="reason_required"
            )
    if not r.callbacks:
        raise InvalidTransition("record the call-back to the enterprise first", code="callback_required")
    r.status, r.closed_at, r.closed_by = "closed", now, principal.subject
    await cancel(session, kind=RECTIFICATION_DUE, key=str(r.id))
    r.close_reason, r.confirmed_by_enterprise = reason, confirmed
    session.add(r)
    await record_change(
        session,
        actor=principal.subject,
        tenant=r.tenant,
        action="rectification.closed",
        entity="rectification",
        entity_id=str(r.id),
        changes={"confirmed_by_enterprise": confirmed, "reason": reason},
        event=RectificationClosed(
            rectification_id=str(r.id),
            survey_id=str(r.survey_id),
            subject_id=r.subject_id,
            confirmed_by_enterprise=confirmed,
            closed_by=principal.subject,
            reason=reason,
        ),
        source=SOURCE,
        subject=str(r.id),
    )
    return r
