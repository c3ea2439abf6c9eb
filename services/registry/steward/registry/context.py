"""What every view, servicer and timer handler of the registry shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends

from steward.kit.clients.issues import IssuesClient
from steward.kit.context import app_context
from steward.kit.db import Database
from steward.registry.settings import RegistrySettings


@dataclass
class RegistryContext:
    settings: RegistrySettings
    db: Database
    clock: Callable[[], datetime]
    issues: IssuesClient | None = None  # None when no issues service is configured


CtxDep = Annotated[RegistryContext, Depends(app_context)]
