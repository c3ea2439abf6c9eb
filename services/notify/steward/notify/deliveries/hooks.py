"""The fan-out's deliveries to endpoints rather than people: group robots (one message per
configured endpoint of the nearest tenant that has any, mentioning everyone) and agency webhook
subscriptions (the subtree check and the event type globs). Few per event: one row each."""

from __future__ import annotations

from datetime import datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.notify.deliveries.models import Delivery, Status
from steward.notify.deliveries.timing import SEVERITY_RANK, quiet_until
from steward.notify.routing.service import Plan, Target
from steward.notify.subscriptions.models import AgencySubscription

if TYPE_CHECKING:
    from steward.notify.deliveries.fanout import FanOutBatch, Renderer


async def insert_delivery(session: AsyncSession, **values: Any) -> bool:
    """Insert unless (event_id, recipient, channel) exists; ``True`` when this call created it."""
    row = Delivery(**values)  # applies the model defaults (a Core insert would not)
    stmt = (
        insert(Delivery)
        .values(**row.model_dump())
        .on_conflict_do_nothing(constraint="uq_deliveries_event_recipient_channel")
        .returning(col(Delivery.id))
    )
    return (await session.execute(stmt)).first() is not None


def subscription_matches(
    sub: AgencySubscription, *, short_type: str, ce_type: str, ancestry: list[str]
) -> bool:
    """The subtree check (the subscription's tenant is the event tenant or one of its ancestors)
    and the event type globs (short ``matter.*`` or full ``steward.matter.*``)."""
    if sub.tenant not in ancestry:
        return False
    return any(fnmatchcase(short_type, g) or fnmatchcase(ce_type, g) for g in sub.event_types)


async def robots(
    batch: FanOutBatch,
    plan: Plan,
    renderer: Renderer,
    common: dict[str, Any],
    channel: str,
    targets: list[Target],
    now: datetime,
) -> int:
    """One message per configured endpoint of the nearest tenant that has any, mentioning everyone."""
    rows = await batch.endpoints(plan.ancestry, channel)
    if not rows:
        return 0
    nearest = max(plan.ancestry.index(r.tenant) for r in rows)
    endpoints = [r for r in rows if plan.ancestry.index(r.tenant) == nearest]
    severity = max((t.severity for t in targets), key=lambda s: SEVERITY_RANK[s])
    template = targets[0].template
    mentions = {
        "wecom": sorted({t.contact.routes["wecom"] for t in targets if t.contact.routes.get("wecom")}),
        "sms": sorted({t.contact.routes["sms"] for t in targets if t.contact.routes.get("sms")}),
        "names": sorted({t.contact.name for t in targets if t.contact.name}),
    }
    count = 0
    for ep in endpoints:
        rendered = await renderer.render(template, "zh-CN", name=ep.name, role="group", severity=severity)
        until = quiet_until(
            plan.notify.quiet_hours, now=now, tz=renderer.tz, channel=channel, severity=severity
        )
        payload: dict[str, Any] = {"mentions": mentions}
        if channel == "webhook":
            payload["event"] = renderer.event
        if await insert_delivery(
            batch.session,
            **common,
            recipient=f"endpoint:{ep.id}",
            recipient_name=ep.name,
            channel=channel,
            address=ep.url,
            severity=severity,
            title=rendered.subject,
            body=rendered.body,
            payload=payload,
            endpoint_id=ep.id,
            status=Status.PENDING.value,
            due_at=until or now,
            deferred_reason="quiet_hours" if until else None,
        ):
            count += 1
    return count


async def subscriptions(
    batch: FanOutBatch, plan: Plan, renderer: Renderer, common: dict[str, Any], now: datetime
) -> int:
    subs = await batch.subscriptions(plan.ancestry)
    count = 0
    for sub in subs:
        if not subscription_matches(
            sub, short_type=plan.short_type, ce_type=plan.event.type, ancestry=plan.ancestry
        ):
            continue
        if await insert_delivery(
            batch.session,
            **common,
            recipient=f"subscription:{sub.id}",
            recipient_name=sub.name,
            channel="webhook",
            address=sub.url,
            severity="info",
            title=plan.event.type,
            body="",
            payload={"event": renderer.event},
            subscription_id=sub.id,
            status=Status.PENDING.value,
            due_at=now,
        ):
            count += 1
    return count
