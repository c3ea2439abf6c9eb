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
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.notify import DeliverySucceeded
from steward.kit.ids import new_id
from steward.kit.timers import schedule
from steward.notify import metrics
from steward.notify.channels.dispatch import ROBOTS
from steward.notify.channels.models import ChannelEndpoint
from steward.notify.deliveries import bulk
from steward.notify.deliveries.hooks import insert_delivery
from steward.notify.deliveries.hooks import robots as _robots
from steward.notify.deliveries.hooks import subscriptions as _subscriptions
from steward.notify.deliveries.models import Status
from steward.notify.deliveries.timing import SEVERITY_RANK, digests, next_digest, quiet_until, quiet_window
from steward.notify.preferences.models import Preference
from steward.notify.routing.service import Plan, Target
from steward.notify.settings import SOURCE, NotifySettings
from steward.notify.subscriptions.models import AgencySubscription
from steward.notify.templates import service as templates
from steward.notify.templates.models import TemplateOverride

if TYPE_CHECKING:
    from steward.notify.deliveries.lookups import Found

DIGEST_TIMER = "notify.digest"
DELIVERY_CHANNEL = "steward_notify_delivery"
INBOX_CHANNEL = "steward_notify_inbox"


@dataclass
class FanOut:
    inbox: list[dict[str, Any]] = field(default_factory=list)  # the inbox_messages rows written
    queued: int = 0
    held: int = 0
    skipped: int = 0
    subscriptions: int = 0


class Renderer:
    """Renders per (template key, locale); resolved templates are cached by the batch."""

    def __init__(self, batch: FanOutBatch, plan: Plan) -> None:
        self.batch = batch
        self.plan = plan
        settings = batch.settings
        self.event = plan.event.model_dump(mode="json", exclude_none=True)
        self.base = templates.base_context(self.event, short_type=plan.short_type)
        self.base["project"] = plan.project
        self.base["link"] = f"{settings.public_base_url.rstrip('/')}/v1/inbox"
        self.tz = batch.tz
        self._rendered: dict[tuple[Any, ...], templates.Rendered] = {}

    async def render(
        self, key: str, locale: str, *, name: str, role: str, severity: str
    ) -> templates.Rendered:
        locale = templates.normalise_locale(locale)
        template = await self.batch.template(self.plan.ancestry, key, locale)
        # a broadcast renders once per distinct message, not once per recipient: what the template
        # does not read (usually the recipient) does not make another rendering
        reads = templates.reads(template, key=key, locale=locale)
        cache_key = (
            key,
            locale,
            (name, role) if "recipient" in reads else None,
            severity if "severity" in reads else None,
        )
        rendered = self._rendered.get(cache_key)
        if rendered is None:
            ctx = {**self.base, "recipient": {"name": name, "role": role}, "severity": severity}
            rendered = templates.render_or_shipped(template, ctx, key=key, locale=locale)
            self._rendered[cache_key] = rendered
        return rendered


@dataclass
class _Inbox:
    message: dict[str, Any]
    delivery: dict[str, Any]
    result: FanOut
    recipient: str
    latency: float


class FanOutBatch:
    """The fan-out of a batch of events' plans in one transaction: inbox messages, deliveries and
    ``delivery.succeeded`` events are collected by :meth:`add` and written by :meth:`flush`, one
    statement per table; the lookups (preferences, template overrides, agency subscriptions, robot
    endpoints) are read once per batch — in the same transaction, so never staler than it."""

    def __init__(self, session: AsyncSession, *, settings: NotifySettings, now: datetime) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self.tz = ZoneInfo(settings.notify_timezone)
        self._inbox: list[_Inbox] = []
        self._deliveries: list[tuple[dict[str, Any], FanOut, bool]] = []  # row, result, deferred
        self._prefs: dict[str, Preference | None] = {}
        self._templates: dict[tuple[tuple[str, ...], str, str], templates.Template] = {}
        self._subs: dict[tuple[str, ...], list[AgencySubscription]] = {}
        self._endpoints: dict[tuple[tuple[str, ...], str], list[ChannelEndpoint]] = {}
        # per ancestry: the template keys prefetched and the overrides found (deliveries.lookups)
        self._overrides: dict[tuple[str, ...], tuple[set[str], list[TemplateOverride]]] = {}
        self._queued_direct = 0  # robot and subscription deliveries, inserted by add()

    # -- cached lookups --------------------------------------------------------------------
    async def preferences(self, subjects: list[str]) -> dict[str, Preference]:
        missing = sorted({s for s in subjects if s not in self._prefs})
        if missing:
            rows = (
                await self.session.exec(select(Preference).where(col(Preference.subject).in_(missing)))
            ).all()
            found = {p.subject: p for p in rows}
            for s in missing:
                self._prefs[s] = found.get(s)
        return {s: p for s in subjects if (p := self._prefs.get(s)) is not None}

    def prefetched(
        self,
        found: Found,
        *,
        subjects: list[str],
        ancestries: set[tuple[str, ...]],
        keys: set[str],
        channels: list[str],
    ) -> None:
        """Take what :func:`lookups.prefetch` read for the batch's plans into the caches."""
        for s in subjects:
            self._prefs[s] = found.preferences.get(s)
        for a in ancestries:
            self._subs[a] = [x for x in found.subscriptions if x.tenant in a]
            for ch in channels:
                self._endpoints[(a, ch)] = [e for e in found.endpoints if e.tenant in a and e.channel == ch]
            self._overrides[a] = (keys, [o for o in found.templates if o.tenant in a])

    async def template(self, ancestry: list[str], key: str, locale: str) -> templates.Template:
        k = (tuple(ancestry), key, locale)
        if k not in self._templates:
            known = self._overrides.get(k[0])
            if known is not None and key in known[0]:
                self._templates[k] = templates.choose(known[1], ancestry=ancestry, key=key, locale=locale)
            else:
                self._templates[k] = await templates.resolve(
                    self.session, ancestry=ancestry, key=key, locale=locale
                )
        return self._templates[k]

    async def subscriptions(self, ancestry: list[str]) -> list[AgencySubscription]:
        k = tuple(ancestry)
        if k not in self._subs:
            self._subs[k] = list(
                (
                    await self.session.exec(
                        select(AgencySubscription).where(
                            col(AgencySubscription.tenant).in_(ancestry),
                            col(AgencySubscription.enabled).is_(True),
                        )
                    )
                ).all()
            )
        return self._subs[k]

    async def endpoints(self, ancestry: list[str], channel: str) -> list[ChannelEndpoint]:
        k = (tuple(ancestry), channel)
        if k not in self._endpoints:
            self._endpoints[k] = list(
                (
                    await self.session.exec(
                        select(ChannelEndpoint).where(
                            col(ChannelEndpoint.tenant).in_(ancestry),
                            col(ChannelEndpoint.channel) == channel,
                            col(ChannelEndpoint.enabled).is_(True),
                        )
                    )
                ).all()
            )
        return self._endpoints[k]

    # -- one event -------------------------------------------------------------------------
    async def add(self, plan: Plan) -> FanOut:
        event = plan.event
        now = self.now
        settings = self.settings
        out = FanOut()
        renderer = Renderer(self, plan)
        tz = renderer.tz
        tenant_path = "/".join(plan.ancestry)
        common = {
            "tenant": event.tenant,
            "tenant_path": tenant_path,
            "event_id": event.id,
            "event_type": plan.short_type,
            "event_time": event.time,
            "project_id": plan.project.get("id") or None,
            "max_attempts": settings.delivery_max_attempts,
        }
        prefs = await self.preferences([t.contact.subject for t in plan.targets if t.contact.subject])
        latency = max(0.0, (now - event.time).total_seconds())
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
                    row = bulk.delivery_row(
                        now=now, status=Status.SKIPPED.value, last_error="no login subject", **values
                    )
                    self._deliveries.append((row, out, False))
                    out.skipped += 1
                    continue
                message = {
                    "id": new_id(),
                    "tenant": event.tenant,
                    "tenant_path": tenant_path,
                    "recipient_subject": c.subject,
                    "event_id": event.id,
                    "event_type": plan.short_type,
                    "severity": target.severity,
                    "title": rendered.subject,
                    "body": rendered.body,
                    "link": renderer.base["link"],
                    "project_id": values["project_id"],
                    "created_at": now,
                }
                delivery = bulk.delivery_row(
                    now=now, status=Status.SENT.value, attempts=1, sent_at=now, address=c.subject, **values
                )
                self._inbox.append(_Inbox(message, delivery, out, c.key, latency))
                continue
            address = c.routes.get(target.channel, "")
            payload = {"html": rendered.html} if target.channel == "email" else {}
            critical = SEVERITY_RANK[target.severity] >= SEVERITY_RANK["critical"]
            if not address:
                status, reason = Status.SKIPPED, f"no {target.channel} address"
            elif pref is not None and target.channel in pref.opt_out_channels and not critical:
                status, reason = Status.SKIPPED, "opted out"
            else:
                status, reason = Status.PENDING, None
            values["address"] = address
            if status is Status.SKIPPED:
                row = bulk.delivery_row(
                    now=now, status=status.value, last_error=reason, payload=payload, **values
                )
                self._deliveries.append((row, out, False))
                metrics.DELIVERIES.labels(target.channel, "skipped").inc()
                out.skipped += 1
                continue
            if digests(plan.notify.digest, channel=target.channel, severity=target.severity) and (
                pref is None or pref.digest
            ):
                await self._hold(plan, values, payload, out, locale=locale, tz=tz)
                continue
            window = quiet_window(
                plan.notify.quiet_hours,
                pref.quiet_start if pref else None,
                pref.quiet_end if pref else None,
            )
            until = quiet_until(window, now=now, tz=tz, channel=target.channel, severity=target.severity)
            row = bulk.delivery_row(
                now=now,
                status=Status.PENDING.value,
                due_at=until or now,
                deferred_reason="quiet_hours" if until else None,
                payload=payload,
                **values,
            )
            self._deliveries.append((row, out, until is not None))
        for channel, targets in robots.items():
            out.queued += await _robots(self, plan, renderer, common, channel, targets, now)
        out.subscriptions = await _subscriptions(self, plan, renderer, common, now)
        out.queued += out.subscriptions
        self._queued_direct += out.queued
        return out

    async def _hold(
        self,
        plan: Plan,
        values: dict[str, Any],
        payload: dict[str, Any],
        out: FanOut,
        *,
        locale: str,
        tz: ZoneInfo,
    ) -> None:
        """A digest channel: the delivery is held and the recipient's digest timer armed."""
        due = next_digest(plan.notify.digest, now=self.now, tz=tz)
        if await insert_delivery(
            self.session,
            **values,
            payload=payload,
            status=Status.HELD.value,
            due_at=due,
            deferred_reason="digest",
        ):
            await schedule(
                self.session,
                kind=DIGEST_TIMER,
                key=f"{values['recipient']}|{values['channel']}",
                tenant=plan.event.tenant,
                due_at=due,
                payload={
                    "recipient": values["recipient"],
                    "channel": values["channel"],
                    "address": values["address"],
                    "name": values["recipient_name"],
                    "subject": values["recipient_subject"],
                    "locale": locale,
                    "tenant_path": values["tenant_path"],
                },
            )
            metrics.DELIVERIES.labels(values["channel"], "held").inc()
            out.held += 1

    # -- the writes ------------------------------------------------------------------------
    async def flush(self) -> None:
        """Write what :meth:`add` collected, in one round trip (:func:`bulk.write_fanout`); the
        per-event results are complete afterwards. A message already in the inbox (a redelivered
        event) writes neither its delivery row nor its ``delivery.succeeded`` event again."""
        reports = [
            (
                DeliverySucceeded(
                    delivery_id=str(i.delivery["id"]),
                    event_id=i.delivery["event_id"],
                    event_type=i.delivery["event_type"],
                    channel="inbox",
                    recipient=i.recipient,
                    attempts=1,
                    sent_at=self.now,
                    latency_seconds=i.latency,
                ),
                i.delivery["tenant"],
                str(i.delivery["id"]),
            )
            for i in self._inbox
        ]
        events = bulk.outbox_rows(reports, source=SOURCE, subject_prefix=self.settings.events_subject_prefix)
        created, inserted = await bulk.write_fanout(
            self.session,
            inbox=[i.message for i in self._inbox],
            deliveries=[(i.delivery, i.message["id"]) for i in self._inbox]
            + [(row, None) for row, _, _ in self._deliveries],
            events=[(e, i.delivery["id"]) for e, i in zip(events, self._inbox, strict=True)],
            channels=(INBOX_CHANNEL, DELIVERY_CHANNEL),
            wake=self._queued_direct > 0,
        )
        for i in self._inbox:
            if i.message["id"] not in created:
                continue
            i.result.inbox.append(i.message)
            if i.delivery["id"] in inserted:
                metrics.DELIVERIES.labels("inbox", "sent").inc()
                metrics.LATENCY.labels("inbox").observe(i.latency)
        for row, result, deferred in self._deliveries:
            if row["status"] == Status.PENDING.value and row["id"] in inserted:
                result.queued += 1
                if deferred:
                    metrics.DELIVERIES.labels(row["channel"], "deferred").inc()
        self._inbox.clear()
        self._deliveries.clear()
        self._queued_direct = 0
