"""Receiving inbound messages (docs/inbound.md): the kit's receiver (``steward.kit.inbound_log``)
with this service's log table, message kinds and how each is applied."""

from __future__ import annotations

from steward.kit.inbound_log import Receiver, Refused
from steward.registry.inbound import apply as projects
from steward.registry.inbound.models import InboundMessage
from steward.registry.inbound.schemas import MESSAGE

__all__ = ["RECEIVER", "Refused", "log", "parse", "receive", "receive_bulk"]

RECEIVER = Receiver(InboundMessage, MESSAGE, projects.apply)
receive = RECEIVER.receive
receive_bulk = RECEIVER.receive_bulk
parse = RECEIVER.parse
log = RECEIVER.log
