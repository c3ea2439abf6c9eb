"""What every view, servicer, subscriber and timer handler of the scoring service shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends

from steward.kit.clients.registry import RegistryClient
from steward.kit.context import app_context
from steward.kit.db import Database
from steward.scoring.settings import ScoringSettings


@dataclass
class ScoringContext:
    settings: ScoringSettings
    db: Database
    registry: RegistryClient
    clock: Callable[[], datetime]


CtxDep = Annotated[ScoringContext, Depends(app_context)]
