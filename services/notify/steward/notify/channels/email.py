"""Email over SMTP (aiosmtplib). The Message-ID is derived from the delivery id, so a message
re-sent after a crash carries the same Message-ID and mail systems can fold the duplicate."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, formatdate

import aiosmtplib

from steward.notify.channels.base import ChannelError, Outgoing
from steward.notify.settings import NotifySettings


def message_id(delivery_id: str, settings: NotifySettings) -> str:
    return f"<{delivery_id}@{settings.smtp_message_id_domain}>"


def build_message(out: Outgoing, settings: NotifySettings) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = formataddr((out.recipient_name, out.address)) if out.recipient_name else out.address
    msg["Subject"] = out.title
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id(out.idempotency_key, settings)
    msg["X-Steward-Delivery-Id"] = out.idempotency_key
    msg["X-Steward-Event-Id"] = out.event_id
    msg["X-Steward-Event-Type"] = out.event_type
    msg.set_content(out.body)
    html = out.payload.get("html")
    if isinstance(html, str) and html:
        msg.add_alternative(html, subtype="html")
    return msg


async def send_email(out: Outgoing, settings: NotifySettings, *, time_limit: float) -> None:
    if "@" not in out.address:
        raise ChannelError(f"not an email address: {out.address!r}", permanent=True)
    try:
        await aiosmtplib.send(
            build_message(out, settings),
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_starttls,
            use_tls=settings.smtp_use_tls,
            timeout=time_limit,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise ChannelError(f"recipient refused: {exc}", permanent=True) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise ChannelError(f"smtp: {type(exc).__name__}: {exc}") from exc
