"""Fan-out of one event's plan into deliveries, in the consumer's transaction.

* inbox messages are written here, in the same transaction as the consumer's inbox row — a
  redelivered event can never show twice, a crash can never show half;
* every other (recipient, channel) becomes one ``deliveries`` row (``INSERT … ON CONFLICT DO
  NOTHING`` on ``(event_id, recipient, channel)``) that the worker sends;
* opt-outs (non-critical), missing addresses → ``skipped``; digest channels → ``held``; quiet
  hours → ``pending`` due at the window's end;
* agency subscriptions whose tenant is on the event tenant's ancestry (subtree check) and whose
  globs match get the CloudEvent as a signed webhook."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.notify import DeliverySucceeded
from steward.kit.ids import new_id
from steward.kit.outbox import emit
from steward.kit.timers import schedule
from steward.notify import metrics
from steward.notify.channels.dispatch import ROBOTS
from steward.notify.channels.models import ChannelEndpoint
from steward.notify.deliveries.models import Delivery, Status
from steward.notify.deliveries.timing import SEVERITY_RANK, digests, next_digest, quiet_until, quiet_window
from steward.notify.inbox.models import InboxMessage
from steward.notify.preferences.models import Preference
from steward.notify.routing.service import Plan, Target
from steward.notify.settings import SOURCE, NotifySettings
from steward.notify.subscriptions.models import AgencySubscription
from steward.notify.templates import service as templates

DIGEST_TIMER = "notify.digest"
DELIVERY_CHANNEL = "steward_notify_delivery"
INBOX_CHANNEL = "steward_notify_inbox"


@dataclass
class FanOut:
    inbox: list[InboxMessage] = field(default_factory=list)
    queued: int = 0
    held: int = 0
    skipped: int = 0
    subscriptions: int = 0


def subscription_matches(
    sub: AgencySubscription, *, short_type: str, ce_type: str, ancestry: list[str]
) -> bool:
    """The subtree check (the subscription's tenant is the event tenant or one of its ancestors)
    and the event type globs (short ``matter.*`` or full ``steward.matter.*``)."""
    if sub.tenant not in ancestry:
        return False
    return any(fnmatchcase(short_type, g) or fnmatchcase(ce_type, g) for g in sub.event_types)


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


class Renderer:
    """Renders per (template key, locale), caching the resolved template for the event."""

    def __init__(self, session: AsyncSession, plan: Plan, settings: NotifySettings) -> None:
        self.session = session
        self.plan = plan
        self.event = plan.event.model_dump(mode="json", exclude_none=True)
        self.base = templates.base_context(self.event, short_type=plan.short_type)
        self.base["project"] = plan.project
        self.base["link"] = f"{settings.public_base_url.rstrip('/')}/v1/inbox"
        self._cache: dict[tuple[str, str], templates.Template] = {}
        self.tz = ZoneInfo(settings.notify_timezone)

    async def render(
        self, key: str, locale: str, *, name: str, role: str, severity: str
    ) -> templates.Rendered:
        locale = templates.normalise_locale(locale)
        if (key, locale) not in self._cache:
            self._cache[(key, locale)] = await templates.resolve(
                self.session, ancestry=self.plan.ancestry, key=key, locale=locale
            )
        ctx = {**self.base, "recipient": {"name": name, "role": role}, "severity": severity}
        return templates.render_or_shipped(self._cache[(key, locale)], ctx, key=key, locale=locale)


async def fan_out(session: AsyncSession, *, plan: Plan, settings: NotifySettings, now: datetime) -> FanOut:
    event = plan.event
    out = FanOut()
    renderer = Renderer(session, plan, settings)
    tz = renderer.tz
    common = {
        "tenant": event.tenant,
        "tenant_path": "/".join(plan.ancestry),
        "event_id": event.id,
        "event_type": plan.short_type,
        "event_time": event.time,
        "project_id": plan.project.get("id") or None,
        "max_attempts": settings.delivery_max_attempts,
    }
    subjects = [t.contact.subject for t in plan.targets if t.contact.subject]
    prefs = (
        {
            p.subject: p
            for p in (
                await session.exec(select(Preference).where(col(Preference.subject).in_(subjects)))
            ).all()
        }
        if subjects
        else {}
    )
    robots: dict[str, list[Target]] = {}
    for target in plan.targets:
        c = target.contact
        if target.channel in (*ROBOTS, "webhook"):
            robots.setdefault(target.channel, []).append(target)
            continue
        pref = prefs.get(c.subject or "")
        locale = pref.locale if pref else "zh-CN"
        role = ",".join(sorted(c.roles))
        rendered = await renderer.render(
            target.template, locale, name=c.name, role=role, severity=target.severity
        )
        values: dict[str, Any] = {
            **common,
            "recipient": c.key,
            "recipient_name": c.name,
            "recipient_subject": c.subject,
            "channel": target.channel,
            "severity": target.severity,
            "locale": locale,
            "title": rendered.subject,
            "body": rendered.body,
        }
        if target.channel == "inbox":
            if not c.subject:
                await insert_delivery(
                    session, **values, status=Status.SKIPPED.value, last_error="no login subject"
                )
                out.skipped += 1
                continue
            msg = InboxMessage(
                tenant=event.tenant,
                tenant_path="/".join(plan.ancestry),
                recipient_subject=c.subject,
                event_id=event.id,
                event_type=plan.short_type,
                severity=target.severity,
                title=rendered.subject,
                body=rendered.body,
                link=renderer.base["link"],
                project_id=values["project_id"],
                created_at=now,
            )
            stmt = (
                insert(InboxMessage)
                .values(**msg.model_dump())
                .on_conflict_do_nothing(constraint="uq_inbox_event_recipient")
                .returning(col(InboxMessage.id))
            )
            if (await session.execute(stmt)).first() is None:
                continue
            delivery_id = new_id()
            await insert_delivery(
                session,
                **values,
                id=delivery_id,
                address=c.subject,
                status=Status.SENT.value,
                attempts=1,
                sent_at=now,
            )
            await emit(
                session,
                DeliverySucceeded(
                    delivery_id=str(delivery_id),
                    event_id=event.id,
                    event_type=plan.short_type,
                    channel="inbox",
                    recipient=c.key,
                    attempts=1,
                    sent_at=now,
                    latency_seconds=max(0.0, (now - event.time).total_seconds()),
                ),
                tenant=event.tenant,
                source=SOURCE,
                subject=str(delivery_id),
            )
            metrics.DELIVERIES.labels("inbox", "sent").inc()
            metrics.LATENCY.labels("inbox").observe(max(0.0, (now - event.time).total_seconds()))
            out.inbox.append(msg)
            continue
        address = c.routes.get(target.channel, "")
        if target.channel == "email":
            values["payload"] = {"html": rendered.html}
        critical = SEVERITY_RANK[target.severity] >= SEVERITY_RANK["critical"]
        if not address:
            status, reason = Status.SKIPPED, f"no {target.channel} address"
        elif pref is not None and target.channel in pref.opt_out_channels and not critical:
            status, reason = Status.SKIPPED, "opted out"
        else:
            status, reason = Status.PENDING, None
        values["address"] = address
        if status is Status.SKIPPED:
            await insert_delivery(session, **values, status=status.value, last_error=reason)
            metrics.DELIVERIES.labels(target.channel, "skipped").inc()
            out.skipped += 1
            continue
        if digests(plan.notify.digest, channel=target.channel, severity=target.severity) and (
            pref is None or pref.digest
        ):
            due = next_digest(plan.notify.digest, now=now, tz=tz)
            if await insert_delivery(
                session, **values, status=Status.HELD.value, due_at=due, deferred_reason="digest"
            ):
                await schedule(
                    session,
                    kind=DIGEST_TIMER,
                    key=f"{c.key}|{target.channel}",
                    tenant=event.tenant,
                    due_at=due,
                    payload={
                        "recipient": c.key,
                        "channel": target.channel,
                        "address": address,
                        "name": c.name,
                        "subject": c.subject,
                        "locale": locale,
                        "tenant_path": common["tenant_path"],
                    },
                )
                metrics.DELIVERIES.labels(target.channel, "held").inc()
                out.held += 1
            continue
        window = quiet_window(
            plan.notify.quiet_hours,
            pref.quiet_start if pref else None,
            pref.quiet_end if pref else None,
        )
        until = quiet_until(window, now=now, tz=tz, channel=target.channel, severity=target.severity)
        if await insert_delivery(
            session,
            **values,
            status=Status.PENDING.value,
            due_at=until or now,
            deferred_reason="quiet_hours" if until else None,
        ):
            out.queued += 1
            if until:
                metrics.DELIVERIES.labels(target.channel, "deferred").inc()
    for channel, targets in robots.items():
        out.queued += await _robots(session, plan, renderer, common, channel, targets, now)
    out.subscriptions = await _subscriptions(session, plan, renderer, common, now)
    out.queued += out.subscriptions
    if out.queued:
        await session.execute(sa.text("SELECT pg_notify(:ch, '')"), {"ch": DELIVERY_CHANNEL})
    for msg in out.inbox:
        await session.execute(
            sa.text("SELECT pg_notify(:ch, :p)"), {"ch": INBOX_CHANNEL, "p": msg.recipient_subject}
        )
    return out


async def _robots(
    session: AsyncSession,
    plan: Plan,
    renderer: Renderer,
    common: dict[str, Any],
    channel: str,
    targets: list[Target],
    now: datetime,
) -> int:
    """One message per configured endpoint of the nearest tenant that has any, mentioning everyone."""
    rows = (
        await session.exec(
            select(ChannelEndpoint).where(
                col(ChannelEndpoint.tenant).in_(plan.ancestry),
                col(ChannelEndpoint.channel) == channel,
                col(ChannelEndpoint.enabled).is_(True),
            )
        )
    ).all()
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
            session,
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


async def _subscriptions(
    session: AsyncSession, plan: Plan, renderer: Renderer, common: dict[str, Any], now: datetime
) -> int:
    subs = (
        await session.exec(
            select(AgencySubscription).where(
                col(AgencySubscription.tenant).in_(plan.ancestry), col(AgencySubscription.enabled).is_(True)
            )
        )
    ).all()
    count = 0
    for sub in subs:
        if not subscription_matches(
            sub, short_type=plan.short_type, ce_type=plan.event.type, ancestry=plan.ancestry
        ):
            continue
        if await insert_delivery(
            session,
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
