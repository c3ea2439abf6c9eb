"""The stub services behind the home page's and live relay's tests: a transport answering like the
meetings, scoring, issues, registry and notify REST APIs (notify's SSE stream included), the console
app built on it, and a client signed in as a given user."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from steward.console.app import build
from steward.console.session import User
from steward.console.settings import ConsoleSettings

SECRET = "unit-test-secret-0123456789abcdef"
STATIC = Path(__file__).resolve().parents[1] / "steward" / "console" / "static"
LEADER = User(token="tok-leader", sub="lead-a", tenant="210112", roles=["leader"], unit="unit-a", name="甲")
SUPERVISOR = User(
    token="tok-sup", sub="sup-1", tenant="210112", roles=["supervisor"], unit="unit-s", name="督"
)

TOPICS = [
    {  # my unit's topic: I may sign as unit head
        "id": "t1",
        "title": "园区道路征地协调",
        "unit_id": "unit-a",
        "unit_name": "甲单位",
        "status": "submitted",
        "late": False,
        "urgent": False,
        "signoffs": [],
        "missing_signoffs": ["unit_head", "leader_in_charge"],
    },
    {  # another unit's topic: I may sign as leader in charge
        "id": "t2",
        "title": "供电线路迁改",
        "unit_id": "unit-b",
        "unit_name": "乙单位",
        "status": "compiled",
        "late": True,
        "urgent": False,
        "signoffs": [{"role": "unit_head", "subject": "lead-b"}],
        "missing_signoffs": ["leader_in_charge"],
    },
    {  # I signed it already: never both roles
        "id": "t3",
        "title": "已签过的议题",
        "unit_id": "unit-a",
        "unit_name": "甲单位",
        "status": "submitted",
        "signoffs": [{"role": "unit_head", "subject": "lead-a"}],
        "missing_signoffs": ["leader_in_charge"],
    },
    {  # discussed: nothing to sign
        "id": "t4",
        "title": "已研究的议题",
        "unit_id": "unit-b",
        "status": "discussed",
        "signoffs": [],
        "missing_signoffs": ["leader_in_charge"],
    },
]
HELD = [{"id": "m1", "title": "第12次周调度会"}, {"id": "m2", "title": "第11次周调度会"}]
MINUTES = {
    "m1": {
        "status": "issued",
        "number": "〔2026〕第12期",
        "title": "第12次周调度会纪要",
        "issued_at": "2026-11-20T02:00:00Z",
        "recipients": [
            {"subject": "lead-a", "acknowledged_at": None},
            {"subject": "x", "acknowledged_at": None},
        ],
    },
    "m2": {  # acknowledged already
        "status": "issued",
        "number": "〔2026〕第11期",
        "title": "第11次周调度会纪要",
        "issued_at": "2026-11-13T02:00:00Z",
        "recipients": [{"subject": "lead-a", "acknowledged_at": "2026-11-14T02:00:00Z"}],
    },
}
PROCEDURE = {
    "id": "p1",
    "number": "210112-2026-B-000007",
    "kind": "procedure",
    "title": "施工许可证核发",
    "status": "in_progress",
    "tier": "district",
    "due_date": "2026-12-20",
    "overdue": False,
}
OBSTACLE = {
    **PROCEDURE,
    "id": "o1",
    "number": "210112-2026-A-000009",
    "kind": "obstacle",
    "title": "施工用电未接入",
}
RECTIFICATIONS = [
    {"id": "r1", "subject_id": "agent-1", "status": "open", "overdue": False, "closed_at": None,
     "opened_at": "2026-11-20T02:00:00Z", "due_at": "2026-11-27T09:00:00Z", "callbacks": []},
    {"id": "r2", "subject_id": "agent-2", "status": "open", "overdue": True, "closed_at": None,
     "opened_at": "2026-11-01T02:00:00Z", "due_at": "2026-11-08T09:00:00Z", "callbacks": [{"note": "已回访"}]},
    {"id": "r3", "subject_id": "agent-3", "status": "closed", "overdue": False, "closed_at": "2026-11-10T02:00:00Z",
     "opened_at": "2026-11-01T02:00:00Z", "due_at": "2026-11-08T09:00:00Z", "callbacks": []},
]  # fmt: skip
SURVEYS = [
    {"id": "s1", "subject_id": "agent-1", "answered_at": None, "sent_at": "2026-11-20T02:00:00Z",
     "expires_at": "2099-01-01T00:00:00Z"},
    {"id": "s2", "subject_id": "agent-2", "answered_at": "2026-11-21T02:00:00Z", "sent_at": "2026-11-20T02:00:00Z",
     "expires_at": "2099-01-01T00:00:00Z"},
    {"id": "s3", "subject_id": "agent-3", "answered_at": None, "sent_at": "2026-01-20T02:00:00Z",
     "expires_at": "2026-02-20T00:00:00Z"},
]  # fmt: skip
LIGHTS = [
    {"code": "210112-2026-00001", "name": "机器人产业园", "light": "green",
     "annual_plan": "30000000.00", "investment_year": "12000000.00"},
    {"code": "210112-2026-00002", "name": "综合管廊", "light": "red",
     "annual_plan": "200000000.00", "investment_year": "250000000.00"},
    {"code": "210112-2026-00003", "name": "无计划项目", "light": "yellow", "annual_plan": None,
     "investment_year": "1.00"},
]  # fmt: skip
FEATURES = [
    {
        "geometry": {"type": "Point", "coordinates": [123.43, 41.80]},
        "properties": {"code": "P1", "name": "甲"},
    },
    {
        "geometry": {"type": "Point", "coordinates": [123.50, 41.74]},
        "properties": {"code": "P2", "name": "乙"},
    },
    {
        "geometry": {"type": "Point", "coordinates": [123.38, 41.86]},
        "properties": {"code": "P3", "name": "丙"},
    },
]


# ------------------------------------------------------------------------------ the pure parts


# ------------------------------------------------------------------------------------ stub API

SEEN: list[httpx.Request] = []


def _sse(*events: tuple[str, str]) -> bytes:
    return "".join(f"event: {e}\ndata: {d}\n\n" for e, d in events).encode()


def _stub(request: httpx.Request) -> httpx.Response:
    SEEN.append(request)
    path = request.url.path
    if path == "/v1/inbox/stream":
        if request.headers["authorization"] == "Bearer expired":
            return httpx.Response(401, json={"error": {"code": "invalid_token", "message": "expired"}})
        message = (
            '{"id": "n1", "title": "新事项：<b>排水</b>管网", "body": "请处理", "severity": "info", '
            '"created_at": "2026-11-30T02:00:00Z", "read_at": null}'
        )
        body = _sse(("ready", "{}"), ("message", message))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    if path == "/v1/topics":
        return httpx.Response(200, json={"items": TOPICS, "next_cursor": None})
    if path == "/v1/meetings":
        return httpx.Response(200, json={"items": HELD, "next_cursor": None})
    if m := re.fullmatch(r"/v1/meetings/(m\d)/minutes", path):
        return httpx.Response(200, json=MINUTES[m.group(1)])
    if path == "/v1/matters/queues/my-unit":
        return httpx.Response(200, json={"items": [PROCEDURE, OBSTACLE], "next_cursor": None})
    if path == "/v1/scoring/rectifications":
        return httpx.Response(200, json=RECTIFICATIONS)
    if path == "/v1/scoring/surveys":
        return httpx.Response(200, json=SURVEYS)
    if path == "/v1/scoring/lights":
        return httpx.Response(200, json=LIGHTS)
    if path == "/v1/map/projects":
        return httpx.Response(200, json={"type": "FeatureCollection", "features": FEATURES})
    if path == "/v1/inbox/unread-count":
        return httpx.Response(200, json={"unread": 1})
    if path in (
        "/v1/projects",
        "/v1/matters",
        "/v1/inbox",
        "/v1/matters/queues/overdue",
        "/v1/matters/queues/my-unit",
    ):
        return httpx.Response(200, json={"items": [], "next_cursor": None})
    return httpx.Response(404, json={"error": {"code": "not_found", "message": "not found"}})


def _app(**extra: Any) -> Any:
    values: dict[str, Any] = {"environment": "dev", "jwt_dev_secret": SECRET, "log_json": False}
    values.update(extra)
    return build(ConsoleSettings(**values), transport=httpx.MockTransport(_stub))


FULL = {"meetings_url": "http://meetings.test", "scoring_url": "http://scoring.test"}


def _client(app: Any, user: User | None) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test")
    if user is not None:
        cookie = app.state.sessions.serializer.dumps(asdict(user))
        client.cookies.set(app.state.settings.session_cookie, cookie)
    return client
