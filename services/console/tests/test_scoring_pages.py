"""The console's scoring pages without a browser: rankings (published and preview, consequences,
exports, publishing, a city's drill-down into a district), scorecards with their ledger entries and
corrections, and the warning lights. The scoring service is a stub transport answering like its
REST API with the bodies of ``data/scoring_stub.json`` (the browser journeys in
``test_journey_scoring.py`` run against the real service; the survey page is in
``test_scoring_survey_page.py``)."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from steward.console.app import build
from steward.console.settings import ConsoleSettings
from steward.console.views.scoring_common import delta, percent, period_label, points, recent_periods

SECRET = "unit-test-secret-0123456789abcdef"
DATA = json.loads((Path(__file__).parent / "data" / "scoring_stub.json").read_text())
CARD, RANKINGS, PUBLISHED, SCORE = DATA["CARD"], DATA["RANKINGS"], DATA["PUBLISHED"], DATA["SCORE"]
LIGHT, HISTORY, RATES = DATA["LIGHT"], DATA["HISTORY"], DATA["RATES"]
E1, E2, E3, E4 = (e["id"] for e in SCORE["entries"])
LEDGER_CSV = "\ufeffid,tenant,subject_id,subject_name,dimension,points\r\n" + "".join(
    f"{e},210106,{s},{n},discipline,-1\r\n"
    for e, s, n in ((E1, "agent-sun", "孙代办"), (E2, "agent-sun", "孙代办"), (E3, "agent-liu", "刘代办"))
)
NAMES = {"agent-sun": "孙代办", "agent-liu": "刘代办"}
TOTALS = {"agent-sun": "45.0", "agent-liu": "96.7"}


def _row(rank: int, sid: str, name: str | None, total: str, **marks: Any) -> dict[str, Any]:
    return {"rank": rank, "subject_id": sid, "subject_name": name, "group": "", "total": total, **marks}


def _ranking(key: str, period: str) -> dict[str, Any]:
    """The unit ranking is published for 2026-Q3 (a preview otherwise); the others are previews."""
    if key == "unit_quarterly":
        if period == "2026-Q3":
            return PUBLISHED
        return {**PUBLISHED, "period": period, "published": False, "published_at": None, "consequences": []}
    rows = {
        "district_monthly": [
            _row(1, "210112", None, "95.4", top=True),
            _row(2, "210106", None, "91.2", last=True),
        ],
        "agent_quarterly": [
            _row(1, "agent-liu", "刘代办", "96.7", top=True),
            _row(2, "agent-sun", "孙代办", "45", last=True),
        ],
    }[key]
    return {
        **PUBLISHED,
        "ranking": key,
        "period": period,
        "published": False,
        "rows": rows,
        "consequences": [],
    }


def _error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})


@dataclass
class Scoring:
    """A stub of the scoring service (and the registry's tenants) that records what the console sent."""

    calls: list[httpx.Request] = field(default_factory=list)
    corrected: set[str] = field(default_factory=set)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        path = request.url.path
        if "authorization" not in request.headers:
            return _error(401, "missing_token", "missing")
        if path == "/v1/tenants":
            items = [{"code": "210100", "name": "沈阳市"}, {"code": "210106", "name": "铁西区"}]
            return httpx.Response(200, json={"items": items})
        if path in ("/v1/people", "/v1/units", "/v1/projects", "/v1/matters", "/v1/inbox"):
            return httpx.Response(200, json={"items": [], "next_cursor": None})
        if request.url.params.get("tenant") == "210112":
            return _error(403, "forbidden", "无权查看该地区")
        if path == "/v1/scoring/scorecards":
            return httpx.Response(200, json={"definitions": [CARD], "rankings": RANKINGS, "surveys": []})
        if path.startswith("/v1/scoring/rankings/"):
            return self.rankings(request)
        if path == "/v1/scoring/ledger/export":
            return httpx.Response(200, content=LEDGER_CSV.encode(), headers={"content-type": "text/csv"})
        if path.startswith("/v1/scoring/scores/agent/"):
            sid = path.rsplit("/", 1)[1]
            body = {
                **SCORE,
                "subject_id": sid,
                "subject_name": NAMES.get(sid),
                "total": TOTALS.get(sid, "100"),
            }
            return httpx.Response(200, json=body)
        if path.startswith("/v1/scoring/entries/") and path.endswith("/corrections"):
            eid = path.split("/")[4]
            if eid in self.corrected:
                return _error(409, "already_corrected", "this entry was already corrected")
            self.corrected.add(eid)
            return httpx.Response(201, json={**SCORE["entries"][3], "corrects": eid})
        lists: dict[str, Any] = {
            "/v1/scoring/consequences": [],
            "/v1/scoring/surveys": [],
            "/v1/scoring/lights": [LIGHT],
            "/v1/scoring/lights/rates": RATES,
            "/v1/scoring/lights/p-1": {**LIGHT, "history": HISTORY},
        }
        if path in lists:
            return httpx.Response(200, json=lists[path])
        return _error(404, "not_found", "not found")

    def rankings(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")  # /v1/scoring/rankings/{key}/{period}[/export|/publish]
        key, period, action = parts[4], parts[5], (parts[6] if len(parts) > 6 else "")
        if action == "export":
            kind = request.url.params.get("format")
            ctype = "text/csv; charset=utf-8" if kind == "csv" else "application/vnd.openxmlformats"
            disposition = f'attachment; filename="ranking-210106-{key}-{period}.{kind}"'
            headers = {"content-type": ctype, "content-disposition": disposition}
            return httpx.Response(200, content=b"PK-xlsx-bytes", headers=headers)
        if action == "publish":
            return httpx.Response(201, json=PUBLISHED)
        return httpx.Response(200, json=_ranking(key, period))


def _app(stub: Scoring) -> Any:
    settings = ConsoleSettings(
        environment="dev", jwt_dev_secret=SECRET, log_json=False, scoring_url="http://scoring.test"
    )
    return build(settings, transport=httpx.MockTransport(stub))


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test")


async def _sign_in(client: httpx.AsyncClient, role: str = "supervisor", tenant: str = "210106") -> str:
    page = await client.get("/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    resp = await client.post(
        "/signin/dev", data={"csrf": csrf.group(1), "person": "", "role": role, "tenant": tenant}
    )
    assert resp.status_code == 303, resp.text
    home = await client.get("/scoring")
    token = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert token is not None
    return token.group(1)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# ----------------------------------------------------------------------------------- formatting


def test_points_are_decimals_written_plainly_with_a_true_minus_sign() -> None:
    assert points("26.70") == "26.7" and points("100.00") == "100" and points(None) == "—"
    assert delta("-1.00") == "−1" and delta("0.2") == "+0.2" and delta("-0") == "0"
    assert delta(Decimal("-0.40")) == "−0.4"
    assert percent("0.8125") == "81.3%" and percent(None) == "—"
    with pytest.raises(TypeError):
        points(26.7)


def test_period_keys_as_the_scoring_api_writes_them() -> None:
    assert period_label("2026-Q3") == "2026年第3季度"
    assert period_label("2026-11") == "2026年11月"
    assert period_label("2026-H2") == "2026年下半年"
    assert period_label("2026") == "2026年度"
    quarters = recent_periods("quarter", 5)
    assert len(set(quarters)) == 5 and all(re.fullmatch(r"\d{4}-Q[1-4]", q) for q in quarters)
    assert quarters == sorted(quarters, reverse=True)
    months = recent_periods("month", 13)
    assert months[0][:4] != months[12][:4] and months[0][5:] == months[12][5:]


# ------------------------------------------------------------------------------------- rankings


async def test_published_ranking_marks_top_and_bottom_and_shows_consequences() -> None:
    stub = Scoring()
    async with _client(_app(stub)) as client:
        await _sign_in(client)
        page = await client.get("/scoring", params={"ranking": "unit_quarterly", "period": "2026-Q3"})
    assert page.status_code == 200
    text = _text(page.text)
    assert "已发布" in text and "2026年第3季度" in text
    assert re.search(r"发展和改革局 95 先进 · 通报表扬", text)
    assert re.search(r"住房和城乡建设局 84.5 后进 · 通报批评 倒数第一", text)
    assert "住房和城乡建设局 ： 诫勉谈话 （连续2期）" in text
    assert 'href="/scoring/rankings/unit_quarterly/2026-Q3/export?format=xlsx"' in page.text
    assert "发布2026年第3季度排名" not in text  # published once: no second publish button


async def test_preview_shows_the_rules_that_publishing_will_apply_and_publishing_needs_csrf() -> None:
    stub = Scoring()
    async with _client(_app(stub)) as client:
        csrf = await _sign_in(client)
        page = await client.get("/scoring", params={"ranking": "unit_quarterly", "period": "2026-Q2"})
        text = _text(page.text)
        assert "预览，尚未发布" in text
        assert "连续2期排名末位 → 诫勉谈话" in text and "连续3期排名末位 → 报请组织部门处理" in text
        assert 'action="/scoring/rankings/unit_quarterly/2026-Q2/publish"' in page.text
        refused = await client.post("/scoring/rankings/unit_quarterly/2026-Q2/publish", data={})
        assert refused.status_code == 403
        assert not [c for c in stub.calls if c.url.path.endswith("/publish")]
        done = await client.post("/scoring/rankings/unit_quarterly/2026-Q2/publish", data={"csrf": csrf})
        assert done.status_code == 303 and "period=2026-Q2" in done.headers["location"]
    sent = [c for c in stub.calls if c.url.path.endswith("/publish")]
    assert len(sent) == 1 and json.loads(sent[0].content) == {"tenant": "210106"}


async def test_a_dispatcher_sees_rankings_but_no_publish_button() -> None:
    async with _client(_app(Scoring())) as client:
        await _sign_in(client, role="dispatcher")
        page = await client.get("/scoring", params={"ranking": "unit_quarterly", "period": "2026-Q2"})
    assert "预览，尚未发布" in page.text and "/publish" not in page.text


async def test_scorecard_ranking_links_each_subject_to_its_scorecard() -> None:
    async with _client(_app(Scoring())) as client:
        await _sign_in(client)
        page = await client.get("/scoring", params={"ranking": "agent_quarterly", "period": "2026-Q3"})
    assert 'href="/scoring/scorecards/agent/agent-sun?period=2026-Q3"' in page.text
    assert 'href="/scoring/scorecards/agent?period=' in page.text  # the scorecard list


async def test_exports_are_proxied_with_the_users_token_and_file_name() -> None:
    stub = Scoring()
    async with _client(_app(stub)) as client:
        await _sign_in(client)
        resp = await client.get("/scoring/rankings/unit_quarterly/2026-Q3/export", params={"format": "xlsx"})
        csv_resp = await client.get(
            "/scoring/rankings/unit_quarterly/2026-Q3/export", params={"format": "csv"}
        )
        bad = await client.get("/scoring/rankings/unit_quarterly/2026-Q3/export", params={"format": "pdf"})
    assert resp.status_code == 200 and resp.content == b"PK-xlsx-bytes"
    assert resp.headers["content-disposition"].endswith('2026-Q3.xlsx"')
    assert csv_resp.headers["content-type"].startswith("text/csv")
    assert bad.status_code == 422
    sent = [c for c in stub.calls if c.url.path.endswith("/export")]
    assert [c.url.params["format"] for c in sent] == ["xlsx", "csv"]
    assert all(c.headers["authorization"].startswith("Bearer ") for c in sent)


async def test_a_city_office_follows_a_district_row_to_that_districts_rankings() -> None:
    stub = Scoring()
    async with _client(_app(stub)) as client:
        await _sign_in(client, tenant="210100")
        city = await client.get("/scoring", params={"ranking": "district_monthly"})
        assert '<a href="/scoring?tenant=210106">铁西区</a>' in city.text  # named from the registry
        district = await client.get("/scoring", params={"tenant": "210106", "ranking": "unit_quarterly"})
        assert district.status_code == 200 and "地区 210106" in district.text
        assert 'name="tenant" value="210106"' in district.text
        assert "export?format=xlsx&amp;tenant=210106" in district.text
        assert (
            'href="/scoring/scorecards/agent?period=' in district.text
            and "&amp;tenant=210106" in district.text
        )
        refused = await client.get("/scoring", params={"tenant": "210112"})
        assert refused.status_code == 403 and "无权查看该地区" in refused.text
    scoped = [
        c
        for c in stub.calls
        if c.url.path.startswith("/v1/scoring/") and c.url.params.get("tenant") == "210106"
    ]
    assert {c.url.path for c in scoped} >= {"/v1/scoring/scorecards", "/v1/scoring/lights"}
    assert any(c.url.path.startswith("/v1/scoring/rankings/unit_quarterly/") for c in scoped)


# ----------------------------------------------------------------------------------- scorecards


async def test_scorecard_shows_every_entry_behind_each_dimension() -> None:
    async with _client(_app(Scoring())) as client:
        await _sign_in(client)
        page = await client.get("/scoring/scorecards/agent/agent-sun", params={"period": "2026-Q3"})
    assert page.status_code == 200
    text = _text(page.text)
    assert "孙代办" in text and "45 满分 50" in text
    assert re.search(r"工作纪律 20 0 −20 2", text)  # max, value, lost, entries
    # the floor: asked −1, applied −0.4, with the service's note
    assert "−1，实际 −0.4：扣完为止（已到0分）" in text
    assert "2026年7月8日" in text and "期末手续未完成" in text and "规则 provincial_hard_incomplete" in text
    assert (
        "已更正（本条不计分）" in text and "更正记录：冲销 2026年7月8日 “省重点项目手续未完成（难）”" in text
    )
    # supervisors may correct the two live entries (not the corrected one, not the correction)
    assert page.text.count('action="/scoring/entries/') == 2
    assert f'action="/scoring/entries/{E1}/corrections"' not in page.text


async def test_scorecard_of_a_closed_period_or_for_a_dispatcher_offers_no_correction() -> None:
    async with _client(_app(Scoring())) as client:
        await _sign_in(client, role="dispatcher")
        page = await client.get("/scoring/scorecards/agent/agent-sun", params={"period": "2026-Q3"})
    assert "−1，实际 −0.4" in _text(page.text) and "/corrections" not in page.text


async def test_correction_posts_the_reason_and_says_when_it_was_already_done() -> None:
    stub = Scoring()
    async with _client(_app(stub)) as client:
        csrf = await _sign_in(client)
        back = "/scoring/scorecards/agent/agent-sun?period=2026-Q3"
        form = {"csrf": csrf, "reason_zh": "重复记录", "back": back}
        assert (
            await client.post(f"/scoring/entries/{E3}/corrections", data={**form, "csrf": "x"})
        ).status_code == 403
        first = await client.post(f"/scoring/entries/{E3}/corrections", data=form)
        assert first.status_code == 303 and first.headers["location"] == back
        shown = await client.get(back)
        assert "已更正：原记录作废" in shown.text
        again = await client.post(f"/scoring/entries/{E3}/corrections", data=form)
        assert again.status_code == 303
        assert "该记录已更正过，不能重复更正" in (await client.get(back)).text
        short = await client.post(f"/scoring/entries/{E2}/corrections", data={**form, "reason_zh": "x"})
        assert "请填写更正理由" in (await client.get(short.headers["location"])).text
        evil = await client.post(
            f"/scoring/entries/{E2}/corrections", data={**form, "back": "https://evil.test/"}
        )
        assert evil.headers["location"] == "/scoring"
    sent = [c for c in stub.calls if c.url.path.endswith("/corrections")]
    assert [json.loads(c.content) for c in sent] == [{"reason_zh": "重复记录"}] * 3
    assert sent[0].url.path == f"/v1/scoring/entries/{E3}/corrections"


async def test_scorecard_list_names_every_subject_of_the_ledger_with_its_total() -> None:
    stub = Scoring()
    async with _client(_app(stub)) as client:
        await _sign_in(client)
        page = await client.get("/scoring/scorecards/agent", params={"period": "2026-Q3"})
    text = _text(page.text)
    assert page.status_code == 200
    assert text.index("刘代办") < text.index("孙代办")  # highest total first
    assert "96.7 1 条" in text and "45 2 条" in text
    assert 'href="/scoring/scorecards/agent/agent-sun?period=2026-Q3"' in page.text
    export = next(c for c in stub.calls if c.url.path == "/v1/scoring/ledger/export")
    assert dict(export.url.params) == {"scorecard": "agent", "period": "2026-Q3", "format": "csv"}
    rows = list(csv.DictReader(io.StringIO(LEDGER_CSV.lstrip("\ufeff"))))
    assert {r["subject_id"] for r in rows} == {"agent-sun", "agent-liu"}


async def test_unknown_scorecard_is_a_chinese_404() -> None:
    async with _client(_app(Scoring())) as client:
        await _sign_in(client)
        page = await client.get("/scoring/scorecards/nope/agent-sun")
    assert page.status_code == 404 and "没有该考核表" in page.text


# --------------------------------------------------------------------------------------- lights


async def test_lights_link_to_projects_with_reasons_rates_and_history() -> None:
    async with _client(_app(Scoring())) as client:
        await _sign_in(client)
        page = await client.get("/scoring/lights", params={"light": "red"})
        detail = await client.get("/scoring/lights/p-1")
        summary = await client.get("/scoring")
    assert page.status_code == 200
    assert 'href="/projects/210106-2026-00003"' in page.text and "投资完成率低于序时进度70%" in page.text
    assert "81.3%" in page.text and "1.2亿元" in page.text and "3,000万元" in page.text
    assert 'href="/projects/210106-2026-00003"' in detail.text and "黄灯 → 红灯" in _text(detail.text)
    assert 'href="/projects/210106-2026-00003"' in summary.text and 'href="/scoring/lights"' in summary.text
