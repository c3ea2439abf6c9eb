"""A real SMTP server (aiosmtpd) on loopback that accepts every message: the dev runner's mail server
(each message kept as an ``.eml`` file, so the e-mails the platform sends can be opened in any mail
program) and the tests' (each message kept in memory)."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from email import message_from_bytes
from email import policy as email_policy
from email.message import Message
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller

from steward.devtools.procs import free_port


class MailSink:
    """Accepts every message on ``127.0.0.1:port``; keeps it in :attr:`messages`, and as
    ``<directory>/<time>-<n>.eml`` when a directory is given (written whole, then renamed; then only
    the last 1,000 stay in memory)."""

    def __init__(self, directory: Path | None = None, *, port: int = 0) -> None:
        self.port = port or free_port()
        self.directory = directory
        # each message as it came, parsed when first read (:attr:`messages`): parsing with the
        # email package's default policy takes about 1.1 ms a message, which a mail relay does not
        # spend and which, in the server's thread, slowed whatever shared the process with it
        self._held: list[list[Any]] = []  # [the bytes, the parsed message or None]
        self.delay = 0.0  # seconds each message takes to be accepted (a slow mail server)
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        content: bytes = (
            envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        )
        if self.directory is not None:
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self._numbers):06d}.eml"
            partial = self.directory / f".{name}.part"
            partial.write_bytes(content)
            os.replace(partial, self.directory / name)
        with self._lock:
            self._held.append([content, None])
            if self.directory is not None:  # a long-running platform keeps the files, not every message
                del self._held[:-1_000]
        return "250 OK"

    @property
    def received(self) -> int:
        """How many messages it accepted (of those it keeps), without parsing them."""
        with self._lock:
            return len(self._held)

    @property
    def messages(self) -> list[Message]:
        """Every message it keeps, in the order accepted."""
        with self._lock:
            held = list(self._held)
        for entry in held:
            if entry[1] is None:
                entry[1] = message_from_bytes(entry[0], policy=email_policy.default)
        return [entry[1] for entry in held]

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in str(m.get("To", ""))]

    def start(self) -> Self:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
