"""Test support for notify: a real notify in-process (or as a subprocess, for kill -9 tests) on
loopback ports, a real SMTP server (aiosmtpd), a loopback HTTP receiver (SMS gateway, webhooks,
robots), a registry scenario with a project and roster, and realistic ``matter.*`` CloudEvents."""

from steward.devtools.procs import free_port
from steward.notify.testing.events import (
    MatterOverdue,
    Scenario,
    generic_event,
    matter_overdue,
    overdue_rules,
    publish,
    scenario,
    wait_for,
)
from steward.notify.testing.service import (
    MIGRATIONS,
    SECRET,
    Notify,
    NotifyProcess,
    auth,
    migrate,
    notify_settings,
    running_notify,
    token,
)
from steward.notify.testing.sinks import HttpSink, Received, SmtpSink, http_sink, serve_app

__all__ = [
    "MIGRATIONS",
    "SECRET",
    "HttpSink",
    "MatterOverdue",
    "Notify",
    "NotifyProcess",
    "Received",
    "Scenario",
    "SmtpSink",
    "auth",
    "free_port",
    "generic_event",
    "http_sink",
    "matter_overdue",
    "migrate",
    "notify_settings",
    "overdue_rules",
    "publish",
    "running_notify",
    "scenario",
    "serve_app",
    "token",
    "wait_for",
]
