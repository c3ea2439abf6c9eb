"""Daily (or weekly) digests: deliveries the rules batch are ``held``; a kit timer per
(recipient, channel) fires at the digest time and sends one message listing them all."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.db import utcnow
from steward.kit.ids import new_id
from steward.kit.timers import DueTimer, Rearm
from steward.notify.deliveries.fanout import DELIVERY_CHANNEL, insert_delivery
from steward.notify.deliveries.models import Delivery, Status
from steward.notify.settings import NotifySettings
from steward.notify.templates import service as templates


def digest_handler(settings: NotifySettings):  # type: ignore[no-untyped-def]
    async def on_digest(session: AsyncSession, timer: DueTimer) -> Rearm | None:
        p = timer.payload
        held = list(
            (
                await session.exec(
                    select(Delivery)
                    .where(
                        col(Delivery.recipient) == p["recipient"],
                        col(Delivery.channel) == p["channel"],
                        col(Delivery.status) == Status.HELD.value,
                    )
                    .order_by(col(Delivery.event_time))
                    .with_for_update(skip_locked=True)
                )
            ).all()
        )
        if not held:
            return None
        now = utcnow()
        ancestry = [c for c in str(p.get("tenant_path", timer.tenant)).split("/") if c]
        locale = templates.normalise_locale(p.get("locale"))
        template = await templates.resolve(session, ancestry=ancestry, key="digest", locale=locale)
        items = [
            {"title": d.title, "body": d.body, "event_type": d.event_type, "time": d.event_time.isoformat()}
            for d in held
        ]
        rendered = templates.render_or_shipped(
            template,
            {"items": items, "recipient": {"name": p.get("name", "")}, "tenant": timer.tenant},
            key="digest",
            locale=locale,
        )
        digest_id = new_id()
        await insert_delivery(
            session,
            id=digest_id,
            tenant=timer.tenant,
            tenant_path=p.get("tenant_path", timer.tenant),
            event_id=f"digest:{digest_id}",
            event_type="digest",
            event_time=now,
            recipient=p["recipient"],
            recipient_name=p.get("name", ""),
            recipient_subject=p.get("subject"),
            channel=p["channel"],
            address=p.get("address", ""),
            locale=locale,
            title=rendered.subject,
            body=rendered.body,
            payload={"html": rendered.html, "items": len(items)},
            max_attempts=settings.delivery_max_attempts,
            status=Status.PENDING.value,
            due_at=now,
        )
        for d in held:
            d.status = Status.DIGESTED.value
            d.digest_id = digest_id
            d.updated_at = now
        await session.execute(sa.text("SELECT pg_notify(:ch, '')"), {"ch": DELIVERY_CHANNEL})
        return None

    return on_digest
