"""Receiving inbound messages (docs/inbound.md): the kit's receiver (``steward.kit.inbound_log``)
with this service's log table, message kinds and how each is applied."""

from __future__ import annotations

from steward.issues.inbound import apply as procedures
from steward.issues.inbound.models import InboundMessage
from steward.issues.inbound.schemas import MESSAGE
from steward.kit.inbound_log import Receiver, Refused

__all__ = ["RECEIVER", "Refused", "log", "parse", "receive", "receive_bulk"]

RECEIVER = Receiver(InboundMessage, MESSAGE, procedures.apply)
receive = RECEIVER.receive
receive_bulk = RECEIVER.receive_bulk
parse = RECEIVER.parse
log = RECEIVER.log
