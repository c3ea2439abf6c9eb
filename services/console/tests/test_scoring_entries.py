"""Manual entries on a scorecard page without a browser: who sees the form, what the console sends
to ``POST /v1/scoring/entries`` (exact decimal points, a Beijing date inside the period, the form's
idempotency key) and what it refuses before calling. The scoring service is a small stub."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from steward.console.app import build
from steward.console.settings import ConsoleSettings
from steward.console.views.scoring_common import bounds

CARD = {
    "key": "agent",
    "name_zh": "行政审批服务代办员考核",
    "subject_kind": "agent",
    "period": "quarter",
    "dimensions": [{"key": "overall", "name_zh": "综合评价", "max_points": "10"}],
}
SCORE = {
    "tenant": "210106",
    "scorecard": "agent",
    "name_zh": "行政审批服务代办员考核",
    "period": "2026-Q3",
    "subject_kind": "agent",
    "subject_id": "agent-sun",
    "subject_name": "孙代办",
    "total": "10",
    "max_total": "10",
    "closed": False,
    "rules_version": None,
    "dimensions": [{"key": "overall", "name_zh": "综合评价", "max_points": "10", "value": "10"}],
    "entries": [],
}
PAGE = "/scoring/scorecards/agent/agent-sun?period=2026-Q3"
POST = "/scoring/scorecards/agent/agent-sun/entries?period=2026-Q3"


@dataclass
class Stub:
    sent: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/tenants":
            return httpx.Response(200, json={"items": [{"code": "210106", "name": "铁西区"}]})
        if path in ("/v1/people", "/v1/units"):
            return httpx.Response(200, json={"items": [], "next_cursor": None})
        if path == "/v1/scoring/scorecards":
            return httpx.Response(200, json={"definitions": [CARD], "rankings": [], "surveys": []})
        if path.startswith("/v1/scoring/scores/"):
            return httpx.Response(200, json={**SCORE, "closed": self.closed})
        if path == "/v1/scoring/entries":
            body = json.loads(request.content)
            self.sent.append(body)
            if body["dimension"] == "nope":
                msg = {"code": "unknown_dimension", "message": "scorecard agent has no dimension 'nope'"}
                return httpx.Response(422, json={"error": msg})
            return httpx.Response(201, json={"id": "00000000-0000-4000-8000-000000000009"})
        return httpx.Response(200, json=[])


@asynccontextmanager
async def _signed_in(stub: Stub, role: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    settings = ConsoleSettings(
        environment="dev",
        jwt_dev_secret="unit-test-secret-0123456789abcdef",
        log_json=False,
        scoring_url="http://scoring.test",
    )
    app = build(settings, transport=httpx.MockTransport(stub))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://console.test"
    ) as client:
        page = await client.get("/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        form = {"csrf": csrf.group(1), "person": "", "role": role, "tenant": "210106"}
        assert (await client.post("/signin/dev", data=form)).status_code == 303
        token = re.search(r'name="csrf" value="([^"]+)"', (await client.get(PAGE)).text)
        assert token is not None
        yield client, token.group(1)


def test_period_bounds() -> None:
    assert bounds("2026-Q3") == (date(2026, 7, 1), date(2026, 9, 30))
    assert bounds("2026-Q4") == (date(2026, 10, 1), date(2026, 12, 31))
    assert bounds("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
    assert bounds("2026-H1") == (date(2026, 1, 1), date(2026, 6, 30))
    assert bounds("2026") == (date(2026, 1, 1), date(2026, 12, 31))


async def test_an_evaluator_records_a_manual_entry_once_with_exact_points() -> None:
    stub = Stub()
    async with _signed_in(stub, "leader") as (client, csrf):
        page = await client.get(PAGE)
        assert 'id="manual-entry"' in page.text and 'min="2026-07-01" max="2026-09-30"' in page.text
        key = re.search(r'name="key" value="([0-9a-f]{32})"', page.text)
        assert key is not None
        form = {
            "csrf": csrf,
            "key": key.group(1),
            "subject_name": "孙代办",
            "dimension": "overall",
            "points": "−2.5",  # the minus sign offices type from Chinese input methods
            "date": "2026-08-15",
            "reason_zh": "不服从工作安排",
        }
        done = await client.post(POST, data=form)
        assert done.status_code == 303 and done.headers["location"] == PAGE
        assert "已记录" in (await client.get(PAGE)).text
        refused = await client.post(POST, data={**form, "dimension": "nope"})
        assert (
            "未记录：scorecard agent has no dimension" in (await client.get(refused.headers["location"])).text
        )
    assert stub.sent[0] == {
        "tenant": "210106",
        "scorecard": "agent",
        "subject_id": "agent-sun",
        "subject_name": "孙代办",
        "dimension": "overall",
        "points": "-2.5",
        "reason_zh": "不服从工作安排",
        "occurred_at": "2026-08-15T12:00:00+08:00",
        "key": key.group(1),
    }


async def test_bad_manual_entries_are_refused_before_the_service_is_called() -> None:
    stub = Stub()
    good = {
        "csrf": "",
        "dimension": "overall",
        "points": "1",
        "date": "2026-08-15",
        "reason_zh": "表现突出",
    }
    async with _signed_in(stub, "supervisor") as (client, csrf):
        good["csrf"] = csrf
        assert (await client.post(POST, data={**good, "csrf": "forged"})).status_code == 403
        for change, message in (
            ({"points": "0"}, "分值须为非零数字"),
            ({"points": "1.234"}, "最多两位小数"),
            ({"points": "abc"}, "分值须为非零数字"),
            ({"points": "NaN"}, "分值须为非零数字"),
            ({"points": "101"}, "分值须为非零数字"),
            ({"date": "2026-10-01"}, "发生日期须在本考核期内"),
            ({"date": ""}, "请填写发生日期"),
            ({"reason_zh": "x"}, "请填写事由"),
        ):
            resp = await client.post(POST, data={**good, **change})
            assert resp.status_code == 303, change
            assert message in (await client.get(resp.headers["location"])).text, change
    assert stub.sent == []


async def test_no_manual_entry_form_for_a_dispatcher_or_a_closed_period() -> None:
    stub = Stub()
    async with _signed_in(stub, "dispatcher") as (client, _):
        assert 'id="manual-entry"' not in (await client.get(PAGE)).text
    stub.closed = True
    async with _signed_in(stub, "supervisor") as (client, _):
        assert 'id="manual-entry"' not in (await client.get(PAGE)).text
