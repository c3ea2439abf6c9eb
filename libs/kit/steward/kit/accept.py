"""Every waiting connection accepted in one turn of the event loop.

libuv (under uvloop) accepts one connection per turn of the loop and waits for the next turn for
the next one (libuv 1.45, "don't accept() connections in a loop"). A turn of a busy service's loop
runs everything that became ready since the last one: under load 5–10 ms. Measured on the issues
service under four times the rate it can serve (bench/README.md, ``processes``, the overload rows),
the 256 connections a load opened at once were accepted over 2.3 s — 145, 107, then 20 a second —
and a client that connected meanwhile waited up to 1.4 s before the service read its request, then
got its answer (a refusal in 0.1 ms) at once. The kernel had completed each handshake at once: the
connections waited in the listening socket's queue, not in any of the service's own accounting.

:class:`BatchAcceptServer` is uvicorn's server with the listening socket taken over once it
listens: a reader accepts up to :data:`BATCH` waiting connections each turn and hands each to the
loop (``connect_accepted_socket``: the same transport and protocol as before), as asyncio's own
loop does. Under that load, every connection is accepted within the turn it arrives in.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from typing import Any

import structlog
import uvicorn

log = structlog.get_logger(__name__)

BATCH = 128  # connections accepted in one turn at most (asyncio's loop takes up to the backlog)
PAUSE_SECONDS = 1.0  # out of descriptors or memory: accepting resumes after this (as asyncio's loop)
_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Acceptor:
    """Accepts on ``sock`` (listening, non-blocking) and serves each connection with ``factory``'s
    protocol; stands in for the loop's server object in uvicorn (``sockets``, ``close``,
    ``wait_closed``)."""

    def __init__(self, sock: socket.socket, factory: Any, loop: asyncio.AbstractEventLoop) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._factory = factory
        self._loop = loop
        self._pending: set[asyncio.Task[Any]] = set()
        self._resume: asyncio.TimerHandle | None = None
        self._closed = False
        loop.add_reader(sock.fileno(), self._accept)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._closed else (self._sock,)

    def is_serving(self) -> bool:
        return not self._closed

    def _accept(self) -> None:
        for _ in range(BATCH):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # gone before it was accepted
            except OSError as exc:
                self._pause(exc)
                return
            task = self._loop.create_task(self._serve(conn))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def _pause(self, exc: OSError) -> None:
        """The process is out of descriptors or memory (or the socket failed): stop accepting for
        a while rather than spin on a socket that stays readable."""
        level = log.warning if exc.errno in _RESOURCES else log.error
        level("http.accept_paused", error=str(exc), errno=exc.errno, seconds=PAUSE_SECONDS)
        self._loop.remove_reader(self._sock.fileno())
        self._resume = self._loop.call_later(PAUSE_SECONDS, self._resumed)

    def _resumed(self) -> None:
        self._resume = None
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    async def _serve(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except Exception as exc:  # reset before its transport was made: nothing to serve
            log.debug("http.accept_dropped", error=str(exc))
            conn.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._resume is not None:
            self._resume.cancel()
        else:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    async def wait_closed(self) -> None:
        """Connections are uvicorn's to wait for (its server state); the ones still being set up
        finish here."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


class BatchAcceptServer(uvicorn.Server):
    """uvicorn's server whose listening sockets are accepted from in batches (:class:`Acceptor`),
    taken over as soon as uvicorn listens (before the loop turns, so before any connection)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit or self.config.ssl is not None:
            return
        loop = asyncio.get_running_loop()
        config, state = self.config, self.server_state
        app_state = self.lifespan.state

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(config=config, server_state=state, app_state=app_state)  # type: ignore[call-arg]

        taken: list[Any] = []
        for server in self.servers:
            listening = list(server.sockets or ())
            if not listening or any(s.family not in (socket.AF_INET, socket.AF_INET6) for s in listening):
                taken.append(server)  # a Unix socket stays the loop's
                continue
            # the same listening sockets (second descriptors): the loop's server lets go of its own,
            # the queue of connections waiting to be accepted stays with each socket
            taken.extend(
                Acceptor(socket.socket(fileno=os.dup(s.fileno())), protocol, loop) for s in listening
            )
            server.close()
        self.servers = taken
