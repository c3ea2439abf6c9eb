"""Every table of the meetings service (imported so SQLModel's metadata knows them all, e.g. for Alembic)."""

from steward.kit.audit import AuditEntry
from steward.kit.dedup import ConsumedEvent
from steward.kit.outbox import OutboxEvent
from steward.kit.timers import DueTimer
from steward.meetings.agenda.models import Agenda, SignOff, Topic
from steward.meetings.decisions.models import Decision, Statement
from steward.meetings.meetings.models import Attendance, Meeting
from steward.meetings.minutes.models import Acknowledgement, Minutes
from steward.meetings.series.models import Series

__all__ = [
    "Acknowledgement",
    "Agenda",
    "Attendance",
    "AuditEntry",
    "ConsumedEvent",
    "Decision",
    "DueTimer",
    "Meeting",
    "Minutes",
    "OutboxEvent",
    "Series",
    "SignOff",
    "Statement",
    "Topic",
]
