"""Consumers of the meetings service.

* ``rules.updated`` (per replica): drop the registry client's cached rules of the tenant's subtree.
* ``rules.updated`` (shared, idempotent): refresh the series of the tenants at or below the tenant
  whose rules changed (meetings already generated keep their dates; later ones follow the rules).
* ``matter.escalated`` with ``to_meeting`` (shared, inbox): the matter arrives as a proposed topic
  on the next meeting of the handling tenant's series; it still needs its sign-offs.
"""

from __future__ import annotations

import structlog
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from steward.events import meetings as ev
from steward.events.envelope import CloudEvent
from steward.kit.bus import EventHandler
from steward.kit.changes import record_change
from steward.kit.dedup import first_delivery
from steward.meetings.agenda.models import Topic
from steward.meetings.context import MeetingsContext
from steward.meetings.meetings.models import OPEN_STATUSES, Meeting
from steward.meetings.series import service as series_service
from steward.meetings.series.models import Series
from steward.meetings.settings import SOURCE

log = structlog.get_logger(__name__)

RULES_SUBJECT = "steward.events.*.rules.updated"
RULES_CACHE_CONSUMER = "meetings-rules"  # per replica: steward.kit.clients.registry.follow_rules
RULES_SERIES_CONSUMER = "meetings-series"
ESCALATED_SUBJECT = "steward.events.*.matter.escalated"
ESCALATED_CONSUMER = "meetings-escalated"


def rules_series_handler(ctx: MeetingsContext) -> EventHandler:
    async def handle(event: CloudEvent) -> None:
        tenant = str(event.data.get("tenant") or event.tenant)
        ctx.registry.invalidate_rules(tenant)
        async with ctx.db.read() as session:
            rows = (await session.exec(select(Series.tenant_code, Series.tenant_path))).all()
        affected = sorted({code: path for code, path in rows if tenant in path.split("/")}.items())
        for code, path in affected:
            rules = await ctx.registry.rules(code)
            async with ctx.db.transaction() as session:
                await series_service.sync(
                    session, actor="system", tenant=code, path=path, rules=rules, now=ctx.clock()
                )
        log.info("meetings.series_refreshed", tenant=tenant, tenants=len(affected), event_id=event.id)

    return handle


def escalated_handler(ctx: MeetingsContext) -> EventHandler:
    async def handle(event: CloudEvent) -> None:
        data = event.data
        if not data.get("to_meeting"):
            return
        tenant = str(data.get("handling_tenant") or event.tenant)
        try:
            async with ctx.db.transaction() as session:
                if not await first_delivery(session, consumer=ESCALATED_CONSUMER, event_id=event.id):
                    return
                m = (
                    await session.exec(
                        select(Meeting)
                        .join(Series, col(Series.id) == col(Meeting.series_id))
                        .where(
                            Series.tenant_code == tenant,
                            Series.active,
                            col(Meeting.status).in_(OPEN_STATUSES),
                        )
                        .where(col(Meeting.starts_at) > ctx.clock())
                        .order_by(col(Meeting.starts_at))
                        .limit(1)
                    )
                ).first()
                if m is None:
                    log.warning(
                        "meetings.no_meeting_for_escalation", tenant=tenant, matter=data.get("matter_id")
                    )
                    return
                now = ctx.clock()
                t = Topic(
                    series_id=m.series_id,
                    meeting_id=m.id,
                    requested_meeting_id=m.id,
                    tenant_code=m.tenant_code,
                    tenant_path=m.tenant_path,
                    title=f"{data.get('number', '')} 升级上会研究"[:200],
                    problem=str(data.get("reason") or "")[:2000],
                    request="提请周例会协调解决",
                    project_id=data.get("project_id"),
                    unit_id=data.get("responsible_unit_id"),
                    unit_name="问题责任单位",
                    matter_ids=[str(data.get("matter_id"))],
                    submitter=event.actor or "system",
                    status="submitted",
                    source="escalated",
                    source_key=f"matter:{data.get('matter_id')}:{event.id}",
                    submitted_at=now,
                    updated_at=now,
                )
                session.add(t)
                await session.flush()
                await record_change(
                    session,
                    actor="system",
                    tenant=t.tenant_code,
                    action="propose",
                    entity="topic",
                    entity_id=str(t.id),
                    changes={"matter": data.get("matter_id")},
                    event=ev.AgendaSubmitted(
                        meeting_id=str(m.id),
                        series_key=m.series_key,
                        topic_id=str(t.id),
                        title=t.title,
                        project_id=t.project_id,
                        unit_name=t.unit_name,
                        submitter_subject=t.submitter,
                        source="escalated",
                        matter_ids=t.matter_ids,
                    ),
                    source=SOURCE,
                    subject=str(t.id),
                )
        except IntegrityError:
            log.info("meetings.escalation_duplicate", event_id=event.id)

    return handle
