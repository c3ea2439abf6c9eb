"""Email over SMTP (aiosmtplib), over a few connections reused for every message (``SmtpPool``). The
Message-ID is derived from the delivery id, so a message re-sent after a crash carries the same
Message-ID and mail systems can fold the duplicate."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from dataclasses import dataclass
from email.header import Header
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr

import aiosmtplib

from steward.notify.channels.base import ChannelError, Lease, Outgoing
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


@dataclass(frozen=True)
class Wire:
    """A message ready for the SMTP transaction: envelope sender, recipients and the bytes."""

    sender: str
    recipients: list[str]
    data: bytes


def _b64(text: str) -> bytes:
    return base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")


def wire_message(out: Outgoing, settings: NotifySettings) -> Wire | None:
    """The message of :func:`build_message`, written directly as MIME bytes (RFC 2047 encoded
    headers, base64 UTF-8 parts): ~20x cheaper than ``EmailMessage``'s header registry, which was
    most of an e-mail's CPU. ``None`` for a non-ASCII address (SMTPUTF8: :func:`build_message`)."""
    if not out.address.isascii():
        return None
    from_name, from_addr = parseaddr(settings.smtp_from)
    if not from_addr.isascii():
        return None
    key = out.idempotency_key
    to = formataddr((out.recipient_name, out.address), charset="utf-8") if out.recipient_name else out.address
    subject = Header(out.title, "utf-8", header_name="Subject").encode(linesep="\r\n") if out.title else ""
    head = [
        f"From: {formataddr((from_name, from_addr), charset='utf-8')}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {formatdate(localtime=False)}",
        f"Message-ID: {message_id(key, settings)}",
        f"X-Steward-Delivery-Id: {key}",
        f"X-Steward-Event-Id: {out.event_id}",
        f"X-Steward-Event-Type: {out.event_type}",
        "MIME-Version: 1.0",
    ]
    text = b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    html = out.payload.get("html")
    if isinstance(html, str) and html:
        boundary = f"=_steward_{uuid.UUID(key).hex if _is_uuid(key) else uuid.uuid4().hex}"
        head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        data = (
            "\r\n".join(head).encode("ascii")
            + f"\r\n\r\n--{boundary}\r\n".encode()
            + text
            + _b64(out.body)
            + f"--{boundary}\r\n".encode()
            + b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + _b64(html)
            + f"--{boundary}--\r\n".encode()
        )
    else:
        head.append('Content-Type: text/plain; charset="utf-8"')
        head.append("Content-Transfer-Encoding: base64")
        data = "\r\n".join(head).encode("ascii") + b"\r\n\r\n" + _b64(out.body)
    return Wire(from_addr, [out.address], data)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class SmtpConnection:
    """One SMTP connection, reused for every message (aiosmtplib): a message costs the SMTP
    transaction's round trips, not a TCP connect, greeting, EHLO (and TLS, login) each. Messages go
    one at a time over it; a connection that died (server restart, idle timeout) is replaced and the
    message tried once more on the new one (the Message-ID is the delivery's: a receiver can fold
    the rare duplicate). Closed when idle for ``idle_close`` seconds."""

    def __init__(self, settings: NotifySettings, *, idle_close: float = 60.0) -> None:
        self.settings = settings
        self.idle_close = idle_close
        self._client: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()
        self._last_used = 0.0
        self.connects = 0  # how many connections were opened (tests, the bench)

    async def _connect(self, time_limit: float) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            use_tls=s.smtp_use_tls,
            start_tls=s.smtp_starttls,
            timeout=time_limit,
        )
        await client.connect()
        if s.smtp_username:
            await client.login(s.smtp_username, s.smtp_password.get_secret_value() if s.smtp_password else "")
        self.connects += 1
        return client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    async def send(
        self, message: EmailMessage | Wire, *, time_limit: float, lease: Lease | None = None
    ) -> None:
        async with self._lock:
            loop = asyncio.get_running_loop()
            if self._client is not None and (
                not self._client.is_connected or loop.time() - self._last_used > self.idle_close
            ):
                await self._drop()
            for attempt in (1, 2):
                fresh = self._client is None
                if self._client is None:
                    self._client = await self._connect(time_limit)
                if lease is not None:  # after the wait for this connection: is there time to send?
                    lease.check(time_limit)
                try:
                    if isinstance(message, Wire):
                        await self._client.sendmail(
                            message.sender, message.recipients, message.data, timeout=time_limit
                        )
                    else:
                        await self._client.send_message(message, timeout=time_limit)
                    self._last_used = loop.time()
                    return
                except aiosmtplib.SMTPServerDisconnected:
                    await self._drop()
                    if fresh or attempt == 2:  # a new connection that drops: the server's problem
                        raise
                except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
                    self._last_used = loop.time()  # refused (aiosmtplib reset the envelope): still usable
                    raise
                except BaseException:
                    await self._drop()  # timeout or I/O error midway: the connection's state is unknown
                    raise

    async def close(self) -> None:
        async with self._lock:
            client, self._client = self._client, None
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.quit(), 2.0)
                with contextlib.suppress(Exception):
                    client.close()


class SmtpPool:
    """Up to ``STEWARD_SMTP_CONNECTIONS`` SMTP connections (:class:`SmtpConnection`), each opened
    when first needed and reused. A message takes the connection given back last, so a trickle of
    mail keeps to one connection and the others open only while messages wait for one. Over a
    single connection a message waits for the one before it, four round trips each (MAIL, RCPT,
    DATA, the message): on loopback that capped e-mail at 195/s (aiosmtplib alone: 334/s) while
    notify's CPU could have sent twice as many."""

    def __init__(self, settings: NotifySettings, *, idle_close: float = 60.0) -> None:
        self.connections = [
            SmtpConnection(settings, idle_close=idle_close) for _ in range(settings.smtp_connections)
        ]
        self._free: asyncio.LifoQueue[SmtpConnection] = asyncio.LifoQueue()
        for connection in reversed(self.connections):
            self._free.put_nowait(connection)

    @property
    def connects(self) -> int:
        """How many connections were opened, all of them together (tests, the bench)."""
        return sum(c.connects for c in self.connections)

    async def send(
        self, message: EmailMessage | Wire, *, time_limit: float, lease: Lease | None = None
    ) -> None:
        connection = await self._free.get()
        try:
            await connection.send(message, time_limit=time_limit, lease=lease)
        finally:
            self._free.put_nowait(connection)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.connections))


async def send_email(
    out: Outgoing,
    settings: NotifySettings,
    *,
    time_limit: float,
    connection: SmtpConnection | SmtpPool | None = None,
    lease: Lease | None = None,
) -> None:
    if "@" not in out.address:
        raise ChannelError(f"not an email address: {out.address!r}", permanent=True)
    try:
        if connection is not None:
            await connection.send(
                wire_message(out, settings) or build_message(out, settings),
                time_limit=time_limit,
                lease=lease,
            )
            return
        if lease is not None:
            lease.check(time_limit)
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
