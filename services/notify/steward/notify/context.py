"""What every view, subscriber, worker and timer handler of the notify service shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends

from steward.kit.clients.registry import RegistryClient
from steward.kit.context import app_context
from steward.kit.db import Database
from steward.notify.channels.dispatch import Channels
from steward.notify.deliveries.worker import DeliveryWorker
from steward.notify.inbox.hub import InboxHub
from steward.notify.settings import NotifySettings


@dataclass
class NotifyContext:
    settings: NotifySettings
    db: Database
    clock: Callable[[], datetime]
    registry: RegistryClient
    channels: Channels
    worker: DeliveryWorker
    hub: InboxHub


CtxDep = Annotated[NotifyContext, Depends(app_context)]
