"""Section ``notify``: routes from events to recipients (roster roles or system roles) and channels,
quiet hours and digests. Recipients that a project's roster lacks resolve to nobody; the notify
service reports such misses rather than failing."""

from __future__ import annotations

from datetime import time
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import Field, model_validator

from steward.rules.base import Key, StrictModel, TimeOfDay

__all__ = [
    "Channel",
    "DigestSettings",
    "NotifyFilter",
    "NotifyRoute",
    "NotifySection",
    "QuietHours",
    "Severity",
]

Channel = Literal["inbox", "email", "sms", "wecom", "dingtalk", "feishu", "webhook"]
Severity = Literal["info", "warning", "critical"]
_INBOX: tuple[Channel, ...] = ("inbox",)
_PUSH: tuple[Channel, ...] = ("sms", "wecom", "dingtalk", "feishu")
_EMAIL: tuple[Channel, ...] = ("email",)
_SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


class NotifyFilter(StrictModel):
    """Event attributes that must match; a list means any of; omitted means any."""

    kind: list[str] | None = None
    tier: list[str] | None = None
    level: list[str] | None = Field(None, description="key-project level of the project")
    category: list[str] | None = None

    def matches(self, attributes: dict[str, Any]) -> bool:
        for name in ("kind", "tier", "level", "category"):
            allowed = getattr(self, name)
            if allowed is not None and attributes.get(name) not in allowed:
                return False
        return True


class NotifyRoute(StrictModel):
    event_type: str = Field(min_length=1, description="glob on the event type, e.g. 'matter.*'")
    filter: NotifyFilter = Field(default_factory=NotifyFilter)
    recipients: list[Key] = Field(min_length=1, description="roster role keys or system roles")
    channels: list[Channel] = Field(default_factory=lambda: list(_INBOX), min_length=1)
    severity: Severity = "info"
    template: Key | None = Field(None, description="template key; default derives from the event type")

    def matches(self, event_type: str, attributes: dict[str, Any] | None = None) -> bool:
        return fnmatchcase(event_type, self.event_type) and self.filter.matches(attributes or {})


class QuietHours(StrictModel):
    """No SMS/robot pushes in this window (wrapping midnight allowed); inbox and email still land.
    ``bypass_severity`` and above are sent anyway."""

    enabled: bool = True
    start: TimeOfDay = time(22, 0)
    end: TimeOfDay = time(7, 30)
    held_channels: list[Channel] = Field(default_factory=lambda: list(_PUSH))
    bypass_severity: Severity = "critical"

    def holds(self, at: time, channel: Channel, severity: Severity) -> bool:
        if not self.enabled or channel not in self.held_channels:
            return False
        if _SEVERITY_RANK[severity] >= _SEVERITY_RANK[self.bypass_severity]:
            return False
        if self.start <= self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end


class DigestSettings(StrictModel):
    enabled: bool = True
    frequency: Literal["daily", "weekly"] = "daily"
    at: TimeOfDay = time(8, 30)
    weekday: int | None = Field(None, ge=0, le=6, description="weekly digests: Python weekday")
    max_severity: Severity = Field("info", description="deliveries up to this severity are batched")
    channels: list[Channel] = Field(default_factory=lambda: list(_EMAIL), min_length=1)


class NotifySection(StrictModel):
    routes: list[NotifyRoute] = Field(default_factory=lambda: default_routes())
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    digest: DigestSettings = Field(default_factory=DigestSettings)

    @model_validator(mode="after")
    def _weekly_digest(self) -> NotifySection:
        if self.digest.frequency == "weekly" and self.digest.weekday is None:
            raise ValueError("digest.weekday is required for weekly digests")
        return self

    def routes_for(self, event_type: str, attributes: dict[str, Any] | None = None) -> list[NotifyRoute]:
        return [r for r in self.routes if r.matches(event_type, attributes)]


def _r(
    event: str, recipients: list[str], channels: list[str], severity: str = "info", **flt: Any
) -> NotifyRoute:
    return NotifyRoute.model_validate(
        {
            "event_type": event,
            "recipients": recipients,
            "channels": channels,
            "severity": severity,
            "filter": flt,
        }
    )


def default_routes() -> list[NotifyRoute]:
    inbox = ["inbox"]
    push = ["inbox", "wecom"]
    urgent = ["inbox", "email", "sms", "wecom"]
    return [
        # registry
        _r("project.registered", ["dispatcher", "manager", "steward"], inbox),
        _r("project.stage_changed", ["dispatcher", "manager", "steward", "leader"], inbox),
        _r("roster.assigned", ["assignee"], push),
        _r("roster.role_missing", ["tenant_admin", "dispatcher"], push, "warning"),
        _r("report.due", ["enterprise_contact", "specialist"], push),
        _r("report.late", ["specialist", "supervisor"], push, "warning"),
        _r("rules.updated", ["tenant_admin"], inbox),
        # issues: matters
        _r("matter.filed", ["dispatcher", "steward", "specialist"], push),
        _r("matter.accepted", ["reporter"], inbox),
        _r("matter.assigned", ["assignee", "lead_unit"], push),
        _r("matter.reminder_due", ["assignee"], push, "warning"),
        _r("matter.overdue", ["assignee", "lead_unit", "supervisor"], urgent, "warning"),
        _r("matter.overdue", ["leader"], urgent, "critical", tier=["city", "government"]),
        _r("matter.escalated", ["escalation_dispatcher", "leader", "supervisor"], urgent, "critical"),
        _r("matter.resolved", ["reporter", "steward"], push),
        _r("matter.confirmed", ["assignee"], inbox),
        _r("matter.reopened", ["assignee", "supervisor"], push, "warning"),
        _r("matter.closed", ["reporter", "assignee"], inbox),
        _r("matter.rated", ["assignee", "supervisor"], inbox),
        # issues: procedures
        _r("procedure.notice_issued", ["enterprise_contact", "agent"], urgent, "warning"),
        _r("procedure.completed", ["enterprise_contact", "agent", "steward"], push),
        _r("procedure.handed_over", ["enterprise_contact", "steward"], push),
        # meetings / scoring
        _r("meeting.scheduled", ["attendee"], push),
        _r("meeting.notice", ["attendee"], push),
        _r("meeting.rescheduled", ["attendee"], push, "warning"),
        _r("meeting.cancelled", ["attendee"], push, "warning"),
        _r("agenda.deadline_reminder", ["unit"], push, "warning"),
        _r("agenda.deferred", ["submitter"], inbox),
        _r("decision.recorded", ["assignee", "supervisor"], push),
        _r("minutes.issued", ["recipient"], push),
        _r("minutes.overdue", ["organizer", "supervisor"], push, "warning"),
        _r("ranking.published", ["tenant_admin", "leader"], inbox),
        _r("consequence.triggered", ["subject", "supervisor"], urgent, "critical"),
        _r("survey.sent", ["enterprise_contact"], push),
        _r("rectification.opened", ["assignee", "supervisor"], push, "warning"),
        _r("rectification.overdue", ["assignee", "supervisor"], urgent, "warning"),
        _r("project.light_changed", ["steward", "dispatcher", "leader"], push, "warning"),
    ]
