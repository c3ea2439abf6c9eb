"""工作台's "waiting for me" sections, the live-notification relay, the investment bars and the map's
base tiles, without a browser: the services are a stub transport answering like their REST APIs
(notify's SSE stream included)."""

from __future__ import annotations

import asyncio
import re
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from steward.console.app import CSP, build
from steward.console.session import User
from steward.console.settings import ConsoleSettings
from steward.console.views import home_items, live, maptiles

from .home_stub import (
    FEATURES,
    FULL,
    HELD,
    LEADER,
    LIGHTS,
    MINUTES,
    RECTIFICATIONS,
    SECRET,
    SEEN,
    STATIC,
    SUPERVISOR,
    SURVEYS,
    TOPICS,
    _app,
    _client,
)

# ------------------------------------------------------------------------ what waits for whom


def test_topics_waiting_for_my_signature_follow_the_meetings_rule() -> None:
    mine = home_items.topics_to_sign(LEADER, TOPICS)
    assert [(t["id"], t["my_roles"]) for t in mine] == [("t1", ["unit_head"]), ("t2", ["leader_in_charge"])]
    staff = User(token="t", sub="s", tenant="210112", roles=["dispatcher"], unit="unit-a")
    assert home_items.topics_to_sign(staff, TOPICS) == []  # only leaders sign


def test_minutes_waiting_for_my_acknowledgement() -> None:
    waiting = home_items.minutes_waiting(LEADER, HELD, [MINUTES["m1"], MINUTES["m2"]])
    assert [w["meeting"]["id"] for w in waiting] == ["m1"]
    draft = {**MINUTES["m1"], "status": "signed"}
    assert home_items.minutes_waiting(LEADER, HELD, [draft, None]) == []  # not issued, no minutes


def test_open_rectifications_overdue_first_and_unanswered_live_surveys() -> None:
    assert [r["id"] for r in home_items.open_rectifications(RECTIFICATIONS)] == ["r2", "r1"]
    now = datetime(2026, 11, 30, tzinfo=UTC)
    assert [s["id"] for s in home_items.unanswered_surveys(SURVEYS, now)] == ["s1"]


def test_investment_progress_is_exact_and_capped_for_the_bar() -> None:
    rows = home_items.investment_progress(LIGHTS)
    assert [r["code"] for r in rows] == ["210112-2026-00002", "210112-2026-00001"]  # largest plan first
    over, park = rows
    assert over["rate"] == Decimal("125") and over["width"] == 100  # the bar never overflows
    assert park["rate"] == Decimal("40") and park["done"] == Decimal("12000000.00")


# ---------------------------------------------------------------------------------- home page


async def test_home_shows_what_waits_for_a_leader() -> None:
    async with _client(_app(**FULL), LEADER) as client:
        page = (await client.get("/")).text
    assert 'id="to-sign"' in page and 'href="/topics/t1"' in page and 'href="/topics/t2"' in page
    assert "/topics/t3" not in page and "/topics/t4" not in page
    assert "待签：单位主要领导" in page and "待签：分管县级领导" in page
    assert 'href="/meetings/m1/minutes"' in page and "/meetings/m2/minutes" not in page
    procedures = page[page.index('id="unit-procedures"') :].split("</section>")[0]
    assert "施工许可证核发" in procedures and "施工用电未接入" not in procedures  # procedures only
    assert 'id="supervision"' not in page  # not a supervisor
    assert 'id="investment-progress"' in page and "综合管廊" in page and "125%" in page
    assert "无计划项目" not in page


async def test_home_shows_rectifications_and_surveys_to_a_supervisor() -> None:
    async with _client(_app(**FULL), SUPERVISOR) as client:
        page = (await client.get("/")).text
    section = page[page.index('id="supervision"') :]
    assert (
        "未办结的整改（2）" in section
        and "已逾期" in section
        and "agent-3" not in section.split("</section>")[0]
    )
    assert "待企业作答的测评（1）" in section
    assert 'id="to-sign"' not in page  # not a leader


async def test_home_leaves_out_the_sections_of_services_not_configured() -> None:
    SEEN.clear()
    async with _client(_app(), LEADER) as client:
        page = (await client.get("/")).text
    for section in ("to-sign", "to-ack", "supervision", "investment-progress"):
        assert f'id="{section}"' not in page, section
    assert 'id="unit-procedures"' in page  # the issues service is always there
    assert not [r for r in SEEN if r.url.host in ("meetings.test", "scoring.test")]


def test_each_page_stays_within_the_javascript_budget() -> None:
    """htmx, its SSE extension and the console's glue on the home and inbox pages: under 150 KiB."""
    scripts = ["vendor/htmx-1.9.12.min.js", "vendor/htmx-ext-sse-1.9.12.js", "live.js"]
    size = sum((STATIC / s).stat().st_size for s in scripts)
    assert size < 150 * 1024, size


def test_the_live_scripts_are_es5_for_chrome_85_era_engines() -> None:
    """No ES2015+ syntax (arrow functions, let/const, classes, template literals) nor eval-like calls
    the CSP would block."""
    newer = re.compile(r"=>|\b(?:let|const|class)\s|`|\beval\(|new Function\b")
    for name in ("vendor/htmx-ext-sse-1.9.12.js", "live.js"):
        code = re.sub(r"/\*.*?\*/|//[^\n]*", "", (STATIC / name).read_text(encoding="utf-8"), flags=re.S)
        assert not newer.search(code), (name, newer.search(code))


async def test_home_and_inbox_load_the_live_scripts_and_connect_to_the_relay() -> None:
    async with _client(_app(), LEADER) as client:
        home, inbox, later = [await client.get(p) for p in ("/", "/inbox", "/inbox?cursor=abc")]
    for page in (home, inbox):
        srcs = re.findall(r'<script src="([^"]+)"', page.text)
        assert srcs == [
            "/static/vendor/htmx-1.9.12.min.js",
            "/static/vendor/htmx-ext-sse-1.9.12.js",
            "/static/live.js",
        ]
        assert 'sse-connect="/live/inbox"' in page.text
        total = sum((STATIC / s.removeprefix("/static/")).stat().st_size for s in srcs)
        assert total < 150 * 1024
    assert 'sse-swap="notification"' in home.text and 'data-live-poll hx-get="/inbox/recent"' in home.text
    assert 'sse-swap="inbox-row"' in inbox.text
    assert "sse-connect" not in later.text  # only the first page takes new messages


# ------------------------------------------------------------------------------ the SSE relay


async def test_the_relay_streams_notify_events_as_escaped_fragments_with_the_users_token() -> None:
    SEEN.clear()
    async with _client(_app(), LEADER) as client:
        resp = await client.get("/live/inbox")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    upstream = [r for r in SEEN if r.url.path == "/v1/inbox/stream"]
    assert len(upstream) == 1 and upstream[0].headers["authorization"] == "Bearer tok-leader"
    events = [block for block in resp.text.replace("\r\n", "\n").split("\n\n") if block.strip()]
    assert "retry: 3000" in events[0]
    names = [
        line.split(": ", 1)[1] for block in events for line in block.splitlines() if line.startswith("event:")
    ]
    assert names == ["notification", "inbox-row"]  # notify's "ready" is not relayed
    assert "新事项：&lt;b&gt;排水&lt;/b&gt;管网" in resp.text and "<b>" not in resp.text
    assert '<li class="unread">' in resp.text and 'id="msg-n1"' in resp.text
    assert f'value="{LEADER.csrf}"' in resp.text  # the row's mark-read form works


async def test_the_relay_answers_204_without_a_session_or_with_a_refused_token() -> None:
    async with _client(_app(), None) as client:
        assert (await client.get("/live/inbox")).status_code == 204
    expired = User(token="expired", sub="x", tenant="210112", roles=["dispatcher"])
    async with _client(_app(), expired) as client:
        assert (await client.get("/live/inbox")).status_code == 204


async def test_the_relay_sends_a_heartbeat_while_notify_is_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    async def quiet() -> Any:
        yield b"event: ready\ndata: {}\n\n"
        await asyncio.sleep(1.5)

    class Slow(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Stream(quiet()))

    monkeypatch.setattr(live, "HEARTBEAT_SECONDS", 0.1)
    app = build(ConsoleSettings(environment="dev", jwt_dev_secret=SECRET, log_json=False), transport=Slow())
    async with _client(app, LEADER) as client:
        resp = await client.get("/live/inbox")
    assert ": ping" in resp.text


class _Stream(httpx.AsyncByteStream):
    def __init__(self, chunks: Any) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> Any:
        async for chunk in self.chunks:
            yield chunk


class _Source:
    """An upstream that stays open until cancelled (a quiet inbox)."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def aiter_sse(self) -> Any:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        yield  # pragma: no cover


async def test_the_relay_closes_the_upstream_when_the_browser_leaves_or_time_is_up() -> None:
    closed: list[str] = []
    for how in ("browser left", "time is up"):
        source, stack = _Source(), AsyncExitStack()
        stack.callback(closed.append, how)
        events = live.relay(LEADER, source, stack, seconds=0.2 if how == "time is up" else 3600)  # type: ignore[arg-type]
        first = await anext(events)
        assert first.retry == live.RETRY_MS
        await asyncio.sleep(0.05)  # the upstream reader is waiting for notify
        if how == "browser left":
            await events.aclose()  # what the server does when the connection drops
        else:
            assert [e async for e in events] == []  # ends by itself
        assert source.cancelled.is_set()
    assert closed == ["browser left", "time is up"]


# ------------------------------------------------------------------------------------ map tiles


def test_web_mercator_and_the_fitted_viewport() -> None:
    assert maptiles.world_px(0.0, 0.0, 0) == pytest.approx((128.0, 128.0))
    x, y = maptiles.world_px(123.43, 41.80, 10)
    assert (int(x // 256), int(y // 256)) == (863, 380)  # the slippy-map tile of 沈阳 at z10
    laid = maptiles.layout("/tiles/{z}/{x}/{y}.png", FEATURES)
    assert laid["zoom"] == 11  # 0.12° of latitude is ~466 px at z12: over 90% of 512
    for pt in laid["points"]:
        assert 5 <= pt["left"] <= 95 and 5 <= pt["top"] <= 95
    # the tiles cover the whole viewport
    assert (
        min(t["left"] for t in laid["tiles"]) <= 0
        and max(t["left"] + t["width"] for t in laid["tiles"]) >= 100
    )
    assert (
        min(t["top"] for t in laid["tiles"]) <= 0
        and max(t["top"] + t["height"] for t in laid["tiles"]) >= 100
    )
    assert all(re.fullmatch(r"/tiles/11/\d+/\d+\.png", t["src"]) for t in laid["tiles"])


async def test_the_map_draws_tiles_only_when_configured_and_the_csp_allows_that_host_only() -> None:
    async with _client(_app(), LEADER) as client:
        plain = await client.get("/projects/map")
    assert "<img" not in plain.text and 'class="pt"' in plain.text
    assert CSP in plain.headers["content-security-policy"]
    remote = _app(map_tile_url="https://tiles.intranet.test:8443/{z}/{x}/{y}.png")
    async with _client(remote, LEADER) as client:
        tiled = await client.get("/projects/map")
    assert re.search(r'<img class="tile" src="https://tiles.intranet.test:8443/11/\d+/\d+\.png"', tiled.text)
    assert tiled.text.count('class="pt"') == 3
    csp = tiled.headers["content-security-policy"]
    assert "img-src 'self' data: https://tiles.intranet.test:8443;" in csp
    assert "script-src 'self';" in csp and csp.count("tiles.intranet.test") == 1
    local = _app(map_tile_url="/tiles/{z}/{x}/{y}.png")
    async with _client(local, LEADER) as client:
        same = await client.get("/projects/map")
    assert '<img class="tile" src="/tiles/11/' in same.text and CSP in same.headers["content-security-policy"]


@pytest.mark.parametrize(
    "url",
    [
        "https://tiles.test/tile.png",  # no {z}/{x}/{y}
        "ftp://tiles.test/{z}/{x}/{y}.png",
        "https://tiles.test; script-src *;/{z}/{x}/{y}.png",  # no smuggling into the CSP
        "https://user:pw@tiles.test/{z}/{x}/{y}.png",
    ],
)
def test_a_bad_tile_template_is_refused_at_start(url: str) -> None:
    with pytest.raises(ValidationError):
        ConsoleSettings(environment="dev", jwt_dev_secret=SECRET, map_tile_url=url)
