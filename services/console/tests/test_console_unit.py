"""The console without a browser or services: formatting, sessions (cookie flags, idle timeout,
CSRF), the local-assets rule. The services are a stub transport answering like their REST APIs."""

from __future__ import annotations

import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.responses import Response

from steward.console import fmt
from steward.console.app import build
from steward.console.session import Sessions, User
from steward.console.settings import ConsoleSettings
from steward.console.views.reports import applies

SECRET = "unit-test-secret-0123456789abcdef"
PACKAGE = Path(__file__).resolve().parents[1] / "steward" / "console"


def test_money_as_offices_write_it() -> None:
    assert fmt.money("25000000.00") == "2,500万元"
    assert fmt.money(Decimal("120000000")) == "1.2亿元"
    assert fmt.money("8600.50") == "8,600.5元"
    assert fmt.money("1234567800") == "12.3457亿元"
    assert fmt.money(None) == "—"
    with pytest.raises(TypeError):
        fmt.money(2.5)


def test_dates_in_beijing_time() -> None:
    assert fmt.cn_date("2026-10-12") == "2026年10月12日"
    assert fmt.cn_date("2026-10-11T16:30:00Z") == "2026年10月12日"  # 00:30 in Beijing
    assert fmt.cn_datetime("2026-10-11T16:30:00Z") == "2026年10月12日 00:30"
    assert fmt.cn_weekday("2026-10-25") == "周日"


def test_holiday_shift_explained() -> None:
    period = {"shifted": True, "nominal_due": "2026-10-25", "due_date": "2026-10-23"}
    assert fmt.shift_fact(period) == "10月25日为周日，提前至10月23日"
    assert fmt.shift_fact({"shifted": True, "nominal_due": "2026-10-01", "due_date": "2026-10-09"}) == (
        "10月1日为法定节假日，顺延至10月9日"
    )
    assert fmt.shift_fact({"shifted": False}) == ""


def test_schedule_applicability_uses_the_rules() -> None:
    city = {"total_investment": "600000000.00", "dispatch": {"tier": "city"}, "stage": "preparing"}
    district = {"total_investment": "15000000.00", "dispatch": {"tier": "district"}, "stage": "preparing"}
    assert applies({"tiers": ["city"]}, city)
    assert not applies({"tiers": ["city"]}, district)
    assert applies({}, district)


# ---------------------------------------------------------------------------------- app level


def _stub(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if "authorization" not in request.headers:
        return httpx.Response(401, json={"error": {"code": "missing_token", "message": "missing"}})
    if path == "/v1/tenants":
        return httpx.Response(200, json={"items": [{"code": "210100", "name": "沈阳市"}]})
    if path in ("/v1/people", "/v1/units", "/v1/projects", "/v1/matters", "/v1/inbox", "/v1/reports"):
        return httpx.Response(200, json={"items": [], "next_cursor": None})
    if path == "/v1/inbox/unread-count":
        return httpx.Response(200, json={"unread": 3})
    if path == "/v1/inbox/read-all":
        return httpx.Response(200, json={"read": 3})
    return httpx.Response(404, json={"error": {"code": "not_found", "message": "not found"}})


def _app(**extra: Any) -> Any:
    values: dict[str, Any] = {"environment": "dev", "jwt_dev_secret": SECRET, "log_json": False}
    values.update(extra)
    return build(ConsoleSettings(**values), transport=httpx.MockTransport(_stub))


async def _client(app: Any, base: str = "http://console.test") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


async def _sign_in(client: httpx.AsyncClient) -> str:
    page = await client.get("/signin")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    resp = await client.post(
        "/signin/dev", data={"csrf": csrf.group(1), "person": "", "role": "dispatcher", "tenant": "210100"}
    )
    assert resp.status_code == 303, resp.text
    return resp.headers["set-cookie"]


async def test_session_cookie_is_httponly_lax_and_secure_outside_dev() -> None:
    async with await _client(_app()) as client:
        cookie = await _sign_in(client)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    sessions = Sessions(ConsoleSettings(environment="production", session_secret="x" * 32))
    out = Response()
    sessions.save(out, User(token="t", sub="s", tenant="210100", roles=["dispatcher"]))
    header = out.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=lax" in header and "Secure" in header


async def test_pages_need_a_session_and_forms_need_the_csrf_token() -> None:
    async with await _client(_app()) as client:
        resp = await client.get("/")
        assert resp.status_code == 303 and resp.headers["location"].startswith("/signin")
        await _sign_in(client)
        home = await client.get("/")
        assert home.status_code == 200 and "工作台" in home.text
        refused = await client.post("/inbox/read-all", data={})
        assert refused.status_code == 403 and "CSRF" in refused.text
        token = re.search(r'name="csrf" value="([^"]+)"', home.text)
        assert token is not None
        ok = await client.post("/inbox/read-all", data={"csrf": token.group(1)})
        assert ok.status_code == 303
        shown = await client.get(ok.headers["location"])
        assert "全部标为已读" in shown.text.split('class="flash"')[1][:80]  # once, from a cookie
        assert 'class="flash"' not in (await client.get("/inbox")).text
        assert "请拨打" not in (await client.get("/inbox?flash=请拨打12345")).text  # never from a link
        via_header = await client.post("/inbox/read-all", headers={"X-CSRF-Token": token.group(1)})
        assert via_header.status_code == 303
        out = await client.post("/signout", data={"csrf": token.group(1)})
        assert out.status_code == 303
        assert (await client.get("/")).status_code == 303


async def test_sign_in_form_refuses_a_missing_double_submit_token() -> None:
    async with await _client(_app()) as client:
        resp = await client.post(
            "/signin/dev", data={"csrf": "forged", "role": "dispatcher", "tenant": "210100"}
        )
        assert resp.status_code == 403


async def test_idle_session_expires() -> None:
    app = _app(session_idle_minutes=1)
    async with await _client(app) as client:
        await _sign_in(client)
        assert (await client.get("/")).status_code == 200
        sessions: Sessions = app.state.sessions
        raw = client.cookies.get(app.state.settings.session_cookie)
        data = sessions.serializer.loads(raw)
        data["seen"] = time.time() - 120
        client.cookies.set(app.state.settings.session_cookie, sessions.serializer.dumps(data))
        resp = await client.get("/")
        assert resp.status_code == 303 and "expired=1" in resp.headers["location"]


async def test_production_without_an_idp_does_not_offer_dev_sign_in() -> None:
    app = _app(environment="production", session_secret="s" * 32)
    async with await _client(app) as client:
        assert (await client.get("/signin")).status_code == 503
        assert (await client.post("/signin/dev", data={"role": "platform_admin"})).status_code == 404


def test_no_template_or_asset_names_an_external_host() -> None:
    external = re.compile(r"""(?:src|href|action)\s*=\s*["'](?:https?:)?//""", re.I)
    for path in [*PACKAGE.joinpath("templates").glob("*.html"), PACKAGE / "static" / "console.css"]:
        text = path.read_text(encoding="utf-8")
        assert not external.search(text), path
        assert "url(http" not in text and "@import" not in text, path
    vendor = sorted(p.name for p in PACKAGE.joinpath("static", "vendor").iterdir())
    # htmx and its SSE extension, both from the npm package htmx.org@1.9.12 (dist/ext/sse.js)
    assert vendor == ["htmx-1.9.12.min.js", "htmx-ext-sse-1.9.12.js"]


async def test_every_page_sends_a_same_origin_content_security_policy() -> None:
    async with await _client(_app()) as client:
        await _sign_in(client)
        for path in ("/", "/inbox", "/signin"):
            resp = await client.get(path)
            csp = resp.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "script-src 'self'" in csp, path
            for src in re.findall(r"""(?:src|href)="([^"]+)""", resp.text):
                assert src.startswith(("/", "#", "javascript:history")), (path, src)


def test_javascript_stays_small() -> None:
    size = sum(p.stat().st_size for p in PACKAGE.joinpath("static").rglob("*.js"))
    assert size < 150 * 1024, size


# ------------------------------------------------------------------ meetings and scoring pages

MEETING = {
    "id": "m1",
    "title": "浑南区重点项目周调度会（第12次）",
    "kind": "regular",
    "status": "scheduled",
    "starts_at": "2026-12-03T01:30:00Z",
    "location": "区政府3楼会议室",
    "holiday_note": None,
    "chair_name": "王区长",
    "agenda_deadline_at": "2026-12-01T10:00:00Z",
    "tenant": "210112",
    "seq": 12,
    "participants": [],
}
TOPIC = {
    "id": "t1",
    "title": "供电线路接入",
    "unit_name": "发展和改革局",
    "project_name": "浑南数据中心",
    "status": "submitted",
    "late": False,
    "missing_signoffs": ["区发改局局长"],
    "problem": "10千伏线路接入未落实",
}
RANKING = {
    "ranking": "district_quarterly",
    "name_zh": "区县季度排名",
    "period": "2026-Q4",
    "published": False,
    "published_at": None,
    "consequences": [],
    "rows": [
        {
            "rank": 1,
            "subject_id": "210112",
            "subject_name": "浑南区",
            "total": "96.50",
            "top": True,
            "bottom": False,
            "last": False,
            "exempt": False,
        },
        {
            "rank": 2,
            "subject_id": "210106",
            "subject_name": "铁西区",
            "total": "81.00",
            "top": False,
            "bottom": True,
            "last": True,
            "exempt": False,
        },
    ],
}


def _stub_more(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/v1/meetings":
        return httpx.Response(200, json={"items": [MEETING], "next_cursor": None})
    if path == "/v1/meetings/m1":
        return httpx.Response(200, json=MEETING)
    if path == "/v1/topics":
        return httpx.Response(200, json={"items": [TOPIC], "next_cursor": None})
    if path == "/v1/meetings/m1/decisions":
        return httpx.Response(
            200,
            json={
                "items": [
                    {
                        "text": "一周内完成线路接入",
                        "responsible_unit_name": "区供电公司",
                        "responsible_person": None,
                        "due_date": "2026-12-10",
                        "matter_number": "210112-2026-H-000001",
                    }
                ]
            },
        )
    if path == "/v1/scoring/lights":
        return httpx.Response(
            200,
            json=[
                {
                    "code": "210112-2026-00004",
                    "name": "浑南数据中心",
                    "light": "red",
                    "reasons": ["投资完成严重滞后于序时进度"],
                }
            ],
        )
    if path == "/v1/scoring/scorecards":
        return httpx.Response(
            200,
            json={
                "rankings": [{"key": "district_quarterly", "name_zh": "区县季度排名", "period": "quarter"}]
            },
        )
    if path.startswith("/v1/scoring/rankings/district_quarterly/"):
        return httpx.Response(200, json=RANKING)
    return _stub(request)


async def test_meetings_and_scoring_pages_when_those_services_are_configured() -> None:
    app = build(
        ConsoleSettings(
            environment="dev",
            jwt_dev_secret=SECRET,
            log_json=False,
            meetings_url="http://meetings.test",
            scoring_url="http://scoring.test",
        ),
        transport=httpx.MockTransport(_stub_more),
    )
    async with await _client(app) as client:
        await _sign_in(client)
        home = await client.get("/")
        assert 'href="/meetings"' in home.text and 'href="/scoring"' in home.text
        page = await client.get("/meetings")
        assert (
            page.status_code == 200
            and "浑南区重点项目周调度会" in page.text
            and "待签字：区发改局局长" in page.text
        )
        assert "2026年12月3日 09:30" in page.text  # Beijing time
        detail = await client.get("/meetings/m1")
        assert "一周内完成线路接入" in detail.text and "/matters/210112-2026-H-000001" in detail.text
        scoring = await client.get("/scoring")
        assert scoring.status_code == 200 and "铁西区" in scoring.text and "后进" in scoring.text
        assert "红灯" in scoring.text and "预览，尚未发布" in scoring.text
    async with await _client(_app()) as client:  # not configured: no pages, no links
        await _sign_in(client)
        assert 'href="/meetings"' not in (await client.get("/")).text
        assert (await client.get("/meetings")).status_code == 404
