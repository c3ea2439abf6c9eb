"""The typed context every view, servicer, subscriber and timer handler of a service shares.

Each service defines ``context.py`` with a dataclass (settings, db, clock, clients …) and
``CtxDep = Annotated[<Svc>Context, Depends(app_context)]``; its ``build()`` puts the context on
``runtime.ctx`` and the runtime's lifespan publishes it as ``app.state.ctx`` (docs/architecture.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request


async def app_context(request: Request) -> Any:
    """The service's context (FastAPI dependency; services annotate it with their own type).
    Async, like every dependency here: a plain ``def`` dependency runs in the thread pool."""
    return request.app.state.ctx


async def bearer_token(request: Request) -> str | None:
    """The caller's own bearer token, passed on to other services so they apply the caller's scope."""
    value = request.headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


BearerDep = Annotated[str | None, Depends(bearer_token)]
