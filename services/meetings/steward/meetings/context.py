"""What every view, servicer, subscriber and timer handler of the meetings service shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends

from steward.kit.clients.issues import IssuesClient
from steward.kit.clients.registry import RegistryClient
from steward.kit.context import app_context
from steward.kit.db import Database
from steward.meetings.settings import MeetingsSettings


@dataclass
class MeetingsContext:
    settings: MeetingsSettings
    db: Database
    registry: RegistryClient
    issues: IssuesClient
    clock: Callable[[], datetime]


CtxDep = Annotated[MeetingsContext, Depends(app_context)]
