"""What every view, servicer, subscriber and timer handler of the issues service shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from steward.issues.settings import IssuesSettings
from steward.kit.db import Database
from steward.kit.registry_client import RegistryClient


@dataclass
class IssuesContext:
    settings: IssuesSettings
    db: Database
    registry: RegistryClient
    clock: Callable[[], datetime]


def _ctx(request: Request) -> IssuesContext:
    ctx: IssuesContext = request.app.state.ctx
    return ctx


def _token(request: Request) -> str | None:
    """The caller's own bearer token, passed on to the registry so it applies the caller's scope."""
    value = request.headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


CtxDep = Annotated[IssuesContext, Depends(_ctx)]
TokenDep = Annotated[str | None, Depends(_token)]
