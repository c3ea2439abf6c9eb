"""Channel dispatch: one entry point the delivery worker calls for every external channel."""

from __future__ import annotations

import httpx

from steward.notify.channels.base import ChannelError, Lease, Outgoing
from steward.notify.channels.email import SmtpPool, send_email
from steward.notify.channels.http import send_robot, send_sms, send_webhook
from steward.notify.settings import NotifySettings

EXTERNAL = ("email", "sms", "wecom", "dingtalk", "feishu", "webhook")
ROBOTS = ("wecom", "dingtalk", "feishu")


class Channels:
    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        # channel calls must finish well inside the claim lease (see settings.delivery_lease_seconds)
        self.timeout = min(settings.webhook_timeout_seconds, settings.delivery_lease_seconds / 3)
        self.client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        self.smtp = SmtpPool(settings)

    async def close(self) -> None:
        await self.client.aclose()
        await self.smtp.close()

    async def send(self, out: Outgoing, lease: Lease | None = None) -> None:
        """Send through the delivery's channel. With a ``lease``, nothing is handed over unless the
        send can end within it (:class:`~steward.notify.channels.base.LeaseLost` otherwise)."""
        if out.channel == "email":  # checked once an SMTP connection is free for it
            await send_email(out, self.settings, time_limit=self.timeout, connection=self.smtp, lease=lease)
            return
        if lease is not None:
            lease.check(self.timeout)
        if out.channel == "sms":
            await send_sms(out, self.settings, self.client, time_limit=self.timeout)
        elif out.channel in ROBOTS:
            await send_robot(out, self.settings, self.client, time_limit=self.timeout)
        elif out.channel == "webhook":
            await send_webhook(out, self.settings, self.client, time_limit=self.timeout)
        else:
            raise ChannelError(f"channel {out.channel!r} has no sender", permanent=True)
