"""What every view, servicer, subscriber and timer handler of the issues service shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends

from steward.issues.settings import IssuesSettings
from steward.kit.clients.registry import RegistryClient
from steward.kit.context import BearerDep, app_context
from steward.kit.db import Database


@dataclass
class IssuesContext:
    settings: IssuesSettings
    db: Database
    registry: RegistryClient
    clock: Callable[[], datetime]


CtxDep = Annotated[IssuesContext, Depends(app_context)]
TokenDep = BearerDep
