"""Events the meetings service publishes: the weekly coordination meeting (周例会 / 联席会议) from
agenda intake (议题申报) to minutes (会议纪要). Subjects use the meeting's tenant:
``steward.events.<tenant>.<aggregate>.<event>`` with aggregates ``meeting``, ``agenda``,
``decision`` and ``minutes``.

Recipients travel with the data so notification routes need no call back: ``attendee_subjects``
(participants of a meeting), ``unit_subjects`` (units that usually submit topics),
``recipient_subjects`` (recipients of the minutes), ``submitter_subject`` (who submitted a topic).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import Field

from steward.events.envelope import EventData

MeetingKind = Literal["regular", "ad_hoc"]


class _MeetingEvent(EventData):
    aggregate: ClassVar[str] = "meeting"

    meeting_id: str
    series_key: str | None = None
    kind: MeetingKind = "regular"
    title: str
    starts_at: datetime
    location: str = ""


class MeetingScheduled(_MeetingEvent):
    event: ClassVar[str] = "scheduled"
    summary: ClassVar[str] = (
        "A meeting was put on the calendar: generated ahead from the series (moved when its day is a "
        "holiday, with the reason) or called ad hoc (临时协调会议) for an urgent matter."
    )

    regular_date: date | None = Field(None, description="the series' date before any holiday move")
    holiday_note: str | None = None
    agenda_deadline_at: datetime | None = None
    reason: str | None = None
    attendee_subjects: list[str] = Field(default_factory=list)


class MeetingSkipped(_MeetingEvent):
    event: ClassVar[str] = "skipped"
    summary: ClassVar[str] = "The series' meeting falls on a public holiday and the rules skip it."

    regular_date: date
    holiday_note: str


class MeetingNotice(_MeetingEvent):
    event: ClassVar[str] = "notice"
    summary: ClassVar[str] = "会议通知: sent to the participants ``notice_hours_before`` the start."

    agenda_items: int = 0
    attendee_subjects: list[str] = Field(default_factory=list)


class MeetingRescheduled(_MeetingEvent):
    event: ClassVar[str] = "rescheduled"
    summary: ClassVar[str] = "The meeting moved to another time (with the reason)."

    previous_starts_at: datetime
    reason: str
    attendee_subjects: list[str] = Field(default_factory=list)


class MeetingCancelled(_MeetingEvent):
    event: ClassVar[str] = "cancelled"
    summary: ClassVar[str] = "The meeting was cancelled (with the reason); its topics go to the next one."

    reason: str
    topics_carried: int = 0
    attendee_subjects: list[str] = Field(default_factory=list)


class MeetingHeld(_MeetingEvent):
    event: ClassVar[str] = "held"
    summary: ClassVar[str] = "The meeting took place: attendance, statements and decisions recorded."

    present: int = 0
    on_leave: int = 0
    deputies: int = 0
    absent: int = 0
    absent_subjects: list[str] = Field(default_factory=list, description="未按时参加或缺席 (scoring)")
    decisions: int = 0
    minutes_due_at: datetime | None = None


class _AgendaEvent(EventData):
    aggregate: ClassVar[str] = "agenda"

    meeting_id: str
    series_key: str | None = None


class _TopicEvent(_AgendaEvent):
    topic_id: str
    title: str
    project_id: str | None = None
    unit_name: str | None = None
    submitter_subject: str | None = None


class AgendaSubmitted(_TopicEvent):
    event: ClassVar[str] = "submitted"
    summary: ClassVar[str] = (
        "A topic (议题) was submitted for a meeting (or proposed from an escalated matter)."
    )

    late: bool = False
    source: Literal["submitted", "escalated"] = "submitted"
    matter_ids: list[str] = Field(default_factory=list)


class AgendaSigned(_TopicEvent):
    event: ClassVar[str] = "signed"
    summary: ClassVar[str] = "A required sign-off (单位主要领导 / 分管县级领导) was given to a topic."

    role: Literal["unit_head", "leader_in_charge"]
    signed_by: str
    complete: bool = Field(description="every required sign-off is now present")


class AgendaDeferred(_TopicEvent):
    event: ClassVar[str] = "deferred"
    summary: ClassVar[str] = (
        "A topic moved to a later meeting: submitted after the deadline, missing a sign-off at "
        "compilation, or its meeting cancelled. It stays in the series' backlog, never lost."
    )

    to_meeting_id: str
    reason: Literal["late", "unsigned", "cancelled", "not_discussed"]


class AgendaDeadlineReminder(_AgendaEvent):
    event: ClassVar[str] = "deadline_reminder"
    summary: ClassVar[str] = "议题申报截止提醒: the submission deadline of a meeting is near."

    deadline_at: datetime
    meeting_starts_at: datetime
    unit_subjects: list[str] = Field(default_factory=list, description="units that usually submit")


class AgendaCompiled(_AgendaEvent):
    event: ClassVar[str] = "compiled"
    summary: ClassVar[str] = "重点办汇总: the agenda was compiled in the series' fixed order and published."

    version: int
    topics: int
    deferred: int
    supervision_items: int
    supervision_overdue: int
    attendee_subjects: list[str] = Field(default_factory=list)


class DecisionRecorded(EventData):
    aggregate: ClassVar[str] = "decision"
    event: ClassVar[str] = "recorded"
    summary: ClassVar[str] = (
        "The chair settled a decision with a responsible unit and a deadline; it is filed as a "
        "``decision`` matter in the issues service (exactly once)."
    )

    decision_id: str
    meeting_id: str
    topic_id: str | None = None
    project_id: str | None = Field(None, description="the topic's project (notify resolves its roster)")
    number: int
    text: str
    responsible_unit_id: str | None = None
    responsible_unit_name: str
    responsible_person: str | None = None
    due_date: date
    deadline_source: Literal["chair", "default"]


class _MinutesEvent(EventData):
    aggregate: ClassVar[str] = "minutes"

    meeting_id: str
    number: str
    title: str


class MinutesIssued(_MinutesEvent):
    event: ClassVar[str] = "issued"
    summary: ClassVar[str] = "会议纪要 signed by the chair and issued to its recipients for 签收."

    issued_at: datetime
    due_at: datetime
    late: bool
    signed_by: str
    recipient_subjects: list[str] = Field(default_factory=list)


class MinutesOverdue(_MinutesEvent):
    event: ClassVar[str] = "overdue"
    summary: ClassVar[str] = "The minutes were not issued within ``minutes_due_working_days``."

    due_at: datetime
    organizer_subjects: list[str] = Field(default_factory=list)


class MinutesAcknowledged(_MinutesEvent):
    event: ClassVar[str] = "acknowledged"
    summary: ClassVar[str] = "A recipient acknowledged receipt of the minutes (签收)."

    recipient: str
    acknowledged_at: datetime
    outstanding: int


MEETINGS_EVENTS: tuple[type[EventData], ...] = (
    MeetingScheduled,
    MeetingSkipped,
    MeetingNotice,
    MeetingRescheduled,
    MeetingCancelled,
    MeetingHeld,
    AgendaSubmitted,
    AgendaSigned,
    AgendaDeferred,
    AgendaDeadlineReminder,
    AgendaCompiled,
    DecisionRecorded,
    MinutesIssued,
    MinutesOverdue,
    MinutesAcknowledged,
)
