"""Connections accepted in batches (``kit.accept``): under uvloop, libuv accepts one connection per
turn of the loop, so a busy service let a burst of new connections wait many turns in the
listening socket's queue. Real uvicorn on uvloop, real sockets from a client thread."""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
import time
from typing import Any

import pytest
import uvicorn
import uvloop

from steward.kit import accept
from steward.kit.accept import Acceptor, BatchAcceptServer

BURST = 40


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def _serve(server_class: type[uvicorn.Server]) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    config = uvicorn.Config(_app, host="127.0.0.1", port=0, log_config=None, lifespan="on", loop="none")
    server = server_class(config)
    serving = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    return server, serving, server.servers[0].sockets[0].getsockname()[1]


async def _turns_to_take_a_burst(server_class: type[uvicorn.Server]) -> int:
    """Serves on the running loop; while the loop is held up by one long callback, a client thread
    opens BURST connections (the kernel completes each handshake); then counts the turns of the
    loop until the server has a protocol for every one of them."""
    server, serving, port = await _serve(server_class)
    clients: list[socket.socket] = []
    connected = threading.Event()

    def connect_all() -> None:
        for _ in range(BURST):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        connected.set()

    loop = asyncio.get_running_loop()
    turns = 0
    done = loop.create_future()

    def turn() -> None:
        nonlocal turns
        turns += 1
        if len(server.server_state.connections) >= BURST:
            done.set_result(turns)
        elif turns < 10 * BURST:
            loop.call_soon(turn)
        else:
            done.set_result(turns)

    def hold_the_loop() -> None:  # the loop is busy until every handshake is done
        threading.Thread(target=connect_all).start()
        assert connected.wait(10)
        loop.call_soon(turn)

    try:
        loop.call_soon(hold_the_loop)
        return await asyncio.wait_for(done, 20)
    finally:
        for c in clients:
            c.close()
        server.should_exit = True
        await serving


def test_a_burst_of_connections_is_taken_in_a_few_turns_of_the_loop() -> None:
    taken = uvloop.run(_turns_to_take_a_burst(BatchAcceptServer))
    assert taken <= 4, f"{BURST} waiting connections took {taken} turns of the loop"


def test_uvicorns_own_server_on_uvloop_takes_one_connection_a_turn() -> None:
    """What the batches are for: without them each waiting connection costs a turn of the loop."""
    taken = uvloop.run(_turns_to_take_a_burst(uvicorn.Server))
    assert taken >= BURST // 2


def test_the_served_sockets_answer_and_the_server_stops_listening_on_shutdown() -> None:
    async def scenario() -> None:
        server, serving, port = await _serve(BatchAcceptServer)
        assert all(isinstance(s, Acceptor) for s in server.servers)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200")
        writer.close()
        server.should_exit = True
        await serving
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)

    uvloop.run(scenario())


class _Exhausted(socket.socket):
    """A listening socket whose process is out of descriptors for its first accepts."""

    failures = 0

    def accept(self) -> tuple[socket.socket, Any]:
        if _Exhausted.failures:
            _Exhausted.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


async def test_out_of_descriptors_pauses_accepting_then_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A socket that stays readable while every accept fails must not spin the loop: accepting stops
    for a while, then the waiting connection is taken."""
    monkeypatch.setattr(accept, "PAUSE_SECONDS", 0.2)
    listening = _Exhausted(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen(8)
    made: list[float] = []

    class Recorded(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            made.append(time.monotonic())
            transport.close()

    _Exhausted.failures = 1
    acceptor = Acceptor(listening, Recorded, asyncio.get_running_loop())
    try:
        started = time.monotonic()
        client = socket.create_connection(listening.getsockname(), timeout=5)
        for _ in range(100):
            if made:
                break
            await asyncio.sleep(0.02)
        client.close()
        assert made, "the connection was taken once accepting resumed"
        assert made[0] - started >= 0.15, "accepting paused after the failure"
        assert _Exhausted.failures == 0
    finally:
        acceptor.close()
        await acceptor.wait_closed()
    assert acceptor.sockets == ()
