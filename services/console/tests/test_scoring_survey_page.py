"""The enterprise's one-time survey page without a browser (the phone journey is in
``test_journey_scoring.py``): no session needed, labelled radio groups, every item required,
answered once, Chinese pages for a bad, expired or used link. The scoring service is a stub
answering like its public answer endpoint."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from steward.console.app import build
from steward.console.settings import ConsoleSettings
from steward.console.views.scoring_common import LEVELS_ZH

TOKEN = "3f8a1c52-9d1e-4f7a-8b7e-2c1d4e5f6a7b.c2lnbmF0dXJlLW9mLXRoZS1saW5r"
FORM = {
    "survey_id": "3f8a1c52-9d1e-4f7a-8b7e-2c1d4e5f6a7b",
    "name_zh": "代办员满意度测评",
    "subject_id": "agent-liu",
    "project_code": "210106-2026-00001",
    "items": [{"key": "attitude", "name_zh": "服务态度"}, {"key": "efficiency", "name_zh": "办事效率"}],
    "levels": [{"key": k, "name_zh": v} for k, v in LEVELS_ZH.items()],
    "answered": False,
    "expires_at": "2099-12-31T00:00:00Z",
}


@dataclass
class SurveyService:
    """The scoring service's answer endpoint: GET the form, POST the answer once."""

    calls: list[httpx.Request] = field(default_factory=list)
    answered: bool = False
    form: dict[str, Any] = field(default_factory=lambda: dict(FORM))
    # the form still offered after answering (an old tab): the POST then meets the service's 409
    stale_form: bool = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if not request.url.path.startswith("/v1/scoring/surveys/answer/") or TOKEN not in request.url.path:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "survey not found"}})
        if request.method == "GET":
            return httpx.Response(200, json={**self.form, "answered": self.answered and not self.stale_form})
        if self.answered:
            msg = {"code": "already_answered", "message": "this survey was already answered"}
            return httpx.Response(409, json={"error": msg})
        self.answered = True
        return httpx.Response(201, json={"id": FORM["survey_id"], "overall": "satisfied"})


def _client(stub: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    settings = ConsoleSettings(
        environment="dev",
        jwt_dev_secret="unit-test-secret-0123456789abcdef",
        log_json=False,
        scoring_url="http://scoring.test",
    )
    app = build(settings, transport=httpx.MockTransport(stub))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test")


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def test_survey_link_needs_no_session_and_answers_once() -> None:
    stub = SurveyService()
    async with _client(stub) as client:
        early = await client.get(f"/survey/{TOKEN}/done")  # not answered yet: back to the form
        assert early.status_code == 303 and early.headers["location"] == f"/survey/{TOKEN}"
        page = await client.get(f"/survey/{TOKEN}")
        assert page.status_code == 200 and "代办员满意度测评" in page.text
        # labelled radio groups: one fieldset per item, every level a labelled radio
        assert page.text.count("<fieldset") == 2 and "<legend>1. 服务态度</legend>" in page.text
        assert '<label class="opt" for="a-attitude-very_dissatisfied">' in page.text
        assert 'name="viewport" content="width=device-width' in page.text
        csrf = _csrf(page.text)
        refused = await client.post(f"/survey/{TOKEN}", data={"item-attitude": "satisfied"})
        assert refused.status_code == 403 and "表单已失效" in refused.text
        partial = await client.post(f"/survey/{TOKEN}", data={"csrf": csrf, "item-attitude": "satisfied"})
        assert partial.status_code == 422 and "尚未选择：办事效率" in partial.text
        assert 'value="satisfied" required checked' in partial.text  # the chosen answer is kept
        answer = {"csrf": csrf, "item-attitude": "satisfied", "item-efficiency": "neutral", "comment": "好"}
        done = await client.post(f"/survey/{TOKEN}", data=answer)
        assert done.status_code == 303 and done.headers["location"] == f"/survey/{TOKEN}/done"
        thanks = await client.get(done.headers["location"])
        assert "提交成功，感谢您的评价！总体评价：满意。" in thanks.text
        # the same link again: the service says answered, the page says so in Chinese
        second = await client.get(f"/survey/{TOKEN}")
        assert "本次测评已经提交过了，每个链接只能提交一次" in second.text and "<fieldset" not in second.text
    posted = [c for c in stub.calls if c.method == "POST"]
    assert len(posted) == 1 and "authorization" not in posted[0].headers
    assert json.loads(posted[0].content) == {
        "answers": {"attitude": "satisfied", "efficiency": "neutral"},
        "comment": "好",
    }


async def test_a_second_answer_from_an_old_tab_gets_a_clear_message() -> None:
    stub = SurveyService()
    async with _client(stub) as client:
        page = await client.get(f"/v1/scoring/surveys/answer/{TOKEN}")  # the service's own link path
        assert f'action="/v1/scoring/surveys/answer/{TOKEN}"' in page.text
        answer = {"csrf": _csrf(page.text), "item-attitude": "satisfied", "item-efficiency": "satisfied"}
        first = await client.post(f"/v1/scoring/surveys/answer/{TOKEN}", data=answer)
        assert first.status_code == 303
        stub.stale_form = True
        again = await client.post(f"/v1/scoring/surveys/answer/{TOKEN}", data=answer)
    assert again.status_code == 409 and "本次测评已经提交过了" in again.text
    assert len([c for c in stub.calls if c.method == "POST"]) == 2  # the service refused the second


async def test_a_bad_or_expired_link_gets_a_chinese_page() -> None:
    stub = SurveyService()
    async with _client(stub) as client:
        bad = await client.get("/survey/not-a-real-link-at-all")
        short = await client.get("/survey/x")
        stub.form["expires_at"] = "2020-01-01T00:00:00Z"
        expired = await client.get(f"/survey/{TOKEN}")
    assert bad.status_code == 404 and "链接无效" in bad.text
    assert short.status_code == 404 and "链接无效" in short.text
    assert expired.status_code == 410 and "已过期" in expired.text
    assert not [c for c in stub.calls if c.url.path.endswith("/x")]  # refused before any call


async def test_the_service_away_is_a_chinese_503() -> None:
    def away(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with _client(away) as client:
        page = await client.get(f"/survey/{TOKEN}")
    assert page.status_code == 503 and "暂时无法访问" in page.text
