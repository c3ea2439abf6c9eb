"""Refusals under overload answered by the HTTP server itself.

Under overload most requests are refused (issue 15, goal 2: four times the sustainable rate
offered), and what refusing costs is taken from the requests being served. Refused in the
application (:class:`steward.kit.overload.OverloadMiddleware`), each still costs an ASGI task, the
request-response cycle, the middleware calls and two writes. Measured with wrk -c256 at 960/s
against an app of :func:`steward.kit.http.create_app` with its one slot held (CPU of the server
process): 110–117 µs a refusal in the application, 36–49 µs answered from the protocol (a bare
ASGI app answering 503 under the same uvicorn: 80 µs; its protocol: 25 µs). With a filing at
2–4 ms, a thousand refusals a second in the application took a sixth of the process or more.

:func:`protocol_for` gives uvicorn an HTTP protocol (httptools) that asks the application's gate as
soon as a request's headers are in: when it has no slot free and no room to wait — the request would
be refused at once anyway — the protocol writes the same 503 ``overloaded`` answer (``Retry-After``,
the caller's ``X-Request-ID`` or a new one, the JSON error) in one write, counts it, discards the
body as it arrives and keeps the connection for the next request (unless the client asked to close
it). A request it lets through has a place held at the gate until it gets there (marked in its
scope), so the requests read in one turn of the event loop count before any of them reaches the
gate. Everything else goes on to the application as before: a request that may wait for a slot, a
connection with an answer still pending (pipelining), ``Expect: 100-continue``, an upgrade, and the
paths that are never refused (health, readiness, metrics).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from steward.kit.overload import (
    EXEMPT_PATHS,
    OVERLOAD_REFUSED,
    REFUSAL_HEADERS,
    RESERVED,
    OverloadMiddleware,
    new_request_id,
    refusal_body,
)

_EXEMPT = frozenset(p.encode() for p in EXEMPT_PATHS)


_STATUS_TO_LENGTH = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: "
_LENGTH_TO_ID = b"".join(b"\r\n" + k + b": " + v for k, v in REFUSAL_HEADERS) + b"\r\nx-request-id: "


def refusal(request_id: str) -> bytes:
    """The whole HTTP/1.1 response of a refusal, as the application's refusal writes it."""
    body = refusal_body(request_id)
    return b"".join(
        (
            _STATUS_TO_LENGTH,
            str(len(body)).encode(),
            _LENGTH_TO_ID,
            request_id.encode("latin-1"),
            b"\r\n\r\n",
            body,
        )
    )


class _Answered:
    """Stands for the request-response cycle of a request answered by the protocol: complete, so
    uvicorn's body callbacks drop what still arrives of it."""

    __slots__ = ()
    response_complete = True


_ANSWERED = _Answered()


def _refuses_now(
    middleware: OverloadMiddleware, counted: Any, url: bytes, headers: Any, scope: Any
) -> bytes | None:
    """The refusal to write, or None: the request goes on to the application (with a place held
    at the gate, marked in its scope, when the gate was asked)."""
    if url.split(b"?", 1)[0] in _EXEMPT:
        return None
    gate = middleware._gate_for({})
    if gate is None:
        return None
    if gate.reserve():
        scope[RESERVED] = True
        return None
    counted.inc()
    return refusal(new_request_id(headers))


def protocol_for(app: FastAPI) -> Any:
    """uvicorn's ``http`` setting for ``app``: the refusing protocol for an app with the overload
    gate in front (:class:`steward.kit.overload.GatedFastAPI`), else ``"auto"``."""
    middleware = getattr(app, "overload_gate", None)
    if not isinstance(middleware, OverloadMiddleware):
        return "auto"
    gated: OverloadMiddleware = middleware  # narrowed for the class below
    counted = OVERLOAD_REFUSED.labels(middleware.service)
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools missing: the application refuses, as before
        return "auto"

    class RefusingHttpToolsProtocol(HttpToolsProtocol):
        def on_headers_complete(self) -> None:
            previous = self.cycle
            if (
                (previous is None or previous.response_complete)
                and not self.expect_100_continue
                and not self.parser.should_upgrade()
            ):
                answer = _refuses_now(gated, counted, self.url, self.headers, self.scope)
                if answer is not None:
                    self.cycle = _ANSWERED  # type: ignore[assignment]
                    self.transport.write(answer)
                    if self.parser.get_http_version() == "1.0" or not self.parser.should_keep_alive():
                        self.transport.close()
                    else:
                        self.on_response_complete()  # keep-alive timer, reading resumed
                    return
            super().on_headers_complete()

    return RefusingHttpToolsProtocol
