"""Browser journeys of the scoring pages against the real scoring service (see conftest.py): a
supervisor opens the overdue matters, the city's district ranking, a district's unit ranking and an
agent's scorecard with the ledger entries behind a deduction, and corrects one; an enterprise
contact answers the one-time survey link on a phone-sized screen, once."""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats

from steward.console.testing import Platform, Session
from steward.console.views.scoring_common import default_period

TIEXI = "210106"
ARTIFACTS = Path(os.environ.get("STEWARD_TEST_ARTIFACTS", ".steward/test-artifacts")) / "console"


def _inside(period: str, days: int) -> datetime:
    """A moment ``days`` into a quarter key such as ``2026-Q3`` (Beijing noon, in UTC)."""
    year, q = int(period[:4]), int(period[-1])
    start = datetime(year, 3 * (q - 1) + 1, 1, 4, tzinfo=UTC)
    return start + timedelta(days=days)


async def _fact(platform: Platform, kind: str, agent: str, at: datetime) -> list[dict[str, Any]]:
    """A fact posted to the scoring service's public API, scored by 铁西区's rules like an event."""
    resp = await platform.http.post(
        f"{platform.scoring}/v1/scoring/facts",
        json={
            "tenant": TIEXI,
            "type": kind,
            "id": f"journey-{uuid.uuid4().hex}",
            "occurred_at": at.isoformat(),
            "data": {"agent": agent, "agent_name": "周代办"},
        },
        headers=platform.auth(TIEXI, "supervisor"),
    )
    assert resp.status_code == 201, resp.text
    recorded: list[dict[str, Any]] = resp.json()["recorded"]
    return recorded


async def _choose(page: Any, ranking: str) -> None:
    """Pick a ranking in the filter (htmx swaps the ranking card in place)."""
    if await page.locator("#s-ranking").input_value() == ranking:
        return
    await page.select_option("#s-ranking", ranking)
    await page.click("#ranking-card form.filters button[type=submit]")
    await page.wait_for_function(
        "k => document.querySelector('#s-ranking') && document.querySelector('#s-ranking').value === k"
        " && document.querySelector('#ranking-state')",
        arg=ranking,
    )


async def test_supervisor_opens_overdue_matters_a_ranking_and_the_ledger_behind_a_deduction(
    session: Session, platform: Platform
) -> None:
    assert platform.scoring, "the console's test platform runs the scoring service"
    page = session.page
    quarter = default_period("quarter")
    agent = f"agent-j{uuid.uuid4().hex[:8]}"
    # 廉政建设 is worth 10: −2 then −10 floors it, so the second entry applies only −8
    assert await _fact(platform, "integrity.favouritism", agent, _inside(quarter, 20))
    bribe = await _fact(platform, "integrity.bribe", agent, _inside(quarter, 25))
    assert [Decimal(e["points"]) for e in bribe] == [Decimal(-10)], bribe

    await session.sign_in("", "supervisor", tenant="210100")
    assert int(await page.inner_text("#count-overdue")) > 0
    await page.click("a[href='/matters/queue/overdue']")
    await page.wait_for_url(re.compile("/matters/queue/overdue"))
    assert "已逾期" in await page.locator("#matter-list tbody tr").first.inner_text()

    # the city's monthly district ranking (published by the demo for last month)
    await page.click("nav a[href='/scoring']")
    await page.wait_for_url(re.compile("/scoring$"))
    await _choose(page, "district_monthly")
    assert "各地区项目工作月度排名" in await page.inner_text("#ranking-card h2")
    assert "已发布" in await page.inner_text("#ranking-state")
    ranking = await page.inner_text("#ranking")
    assert "先进 · 通报表扬" in ranking and "后进 · 通报批评" in ranking and "倒数第一" in ranking
    # 铁西区's row leads to its own rankings: the unit ranking, 住建局 last twice → 诫勉谈话
    await page.click("#ranking a[href='/scoring?tenant=210106']")
    await page.wait_for_url(re.compile(r"/scoring\?tenant=210106"))
    await _choose(page, "unit_quarterly")
    assert "重点项目任务单位综合考评排名" in await page.inner_text("#ranking-card h2")
    last = page.locator("#ranking tr[data-subject='u-zjj']")
    assert "倒数第一" in await last.inner_text()
    assert "诫勉谈话" in await page.inner_text("#consequences")
    async with page.expect_download() as download:
        await page.click("#ranking-state a:text('XLSX')")
    assert (await download.value).suggested_filename.endswith(".xlsx")

    # the agent scorecard: every subject of the ledger, then the agent's entries
    await page.click("#scorecards a:text('行政审批服务代办员考核')")
    await page.wait_for_url(re.compile(r"/scoring/scorecards/agent\?"))
    await page.click(f"#subjects a[href*='/scoring/scorecards/agent/{agent}?']")
    await page.wait_for_url(re.compile(f"/scoring/scorecards/agent/{agent}"))
    assert "周代办" in await page.inner_text("h1")
    integrity = page.locator("#dim-integrity")
    text = await integrity.inner_text()
    assert "0 / 10" in text, text
    assert "−10，实际 −8：扣完为止（已到0分）" in text, text
    assert "规则" in text and "journey-" in text  # the rule and the fact (source event) behind it
    total = await page.inner_text("#total")

    # the supervisor corrects the bribe finding: 廉政建设 back to 8, the entry kept and marked
    row = page.locator(f"#entry-{bribe[0]['id']}")
    await row.locator("summary").click()
    await row.locator("textarea").fill("经复核，索要财物情节不属实")
    await row.locator("button[type=submit]").click()
    await page.wait_for_url(re.compile(f"/scoring/scorecards/agent/{agent}"))
    assert "已更正" in await page.inner_text(".flash")
    text = await page.locator("#dim-integrity").inner_text()
    assert "8 / 10" in text and "已更正（本条不计分）" in text and "经复核，索要财物情节不属实" in text, text
    assert await page.inner_text("#total") != total
    assert all(urlsplit(u).netloc == urlsplit(platform.console).netloc for u in session.requests)


# ---------------------------------------------------------------------------------- the phone


@asynccontextmanager
async def _survey_link(nats_url: str, agent: str) -> AsyncIterator[asyncio.Future[str]]:
    """The link of the survey the scoring service sends for ``agent`` (read off ``survey.sent``)."""
    nc = await nats.connect(nats_url)
    found: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def seen(msg: Any) -> None:
        event = json.loads(msg.data)
        data = event.get("data") or {}
        if "survey.sent" in event.get("type", "") and data.get("subject_id") == agent and not found.done():
            found.set_result(str(data["link"]))

    sub = await nc.subscribe("steward.events.>", cb=seen)
    try:
        yield found
    finally:
        await sub.unsubscribe()
        await nc.close()


async def _handed_over(nats_url: str, agent: str) -> None:
    """A procedure handed over to the enterprise (the event the issues service publishes)."""
    from steward.scoring.testing import cloud_event, publish

    event = cloud_event(
        "procedure.handed_over",
        TIEXI,
        {
            "file_id": f"journey-file-{agent}",
            "project_id": f"journey-project-{agent}",
            "project_code": "210106-2026-09999",
            "level1_agent": agent,
            "received_by": "企业联系人",
        },
        at=datetime.now(UTC),
    )
    await publish(nats_url, event)


async def test_enterprise_answers_the_survey_link_once_on_a_phone(
    browser: Any, platform: Platform, console_nats: str
) -> None:
    agent = f"agent-s{uuid.uuid4().hex[:8]}"
    async with _survey_link(console_nats, agent) as link:
        await _handed_over(console_nats, agent)
        url = await asyncio.wait_for(link, timeout=30)
    # the link's path is the scoring API's; the console answers the same path with a page
    path = urlsplit(url).path
    assert path.startswith("/v1/scoring/surveys/answer/")
    context = await browser.new_context(
        locale="zh-CN", viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    page.set_default_timeout(15_000)
    try:
        await page.goto(f"{platform.console}{path}")  # no sign-in: the signed link is the credential
        assert "代办员满意度测评" in await page.inner_text("h1")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways on a phone: {width}px"
        groups = page.locator("fieldset.q")
        assert await groups.count() == 7  # seed 004's form: seven rows × five levels
        radios = page.locator("fieldset.q input[type=radio]")
        assert await radios.count() == 35
        for box in [await o.bounding_box() for o in await page.locator("label.opt").all()]:
            assert box is not None and box["height"] >= 44 and box["width"] >= 120, box  # thumb-sized
        for n in range(await groups.count()):
            group = groups.nth(n)
            assert (await group.locator("legend").inner_text()).strip()
            await group.locator("label.opt").nth(1 if n else 0).tap()  # 满意, the first 非常满意
        await page.fill("#comment", "代办员很负责。")
        await page.click("#survey-form button[type=submit]")
        await page.wait_for_url(re.compile(r"/done$"))
        assert "提交成功，感谢您的评价" in await page.inner_text(".flash")

        answered = await platform.get(
            f"{platform.scoring}/v1/scoring/surveys", tenant=TIEXI, role="supervisor", subject_id=agent
        )
        assert answered and answered[0]["answered_at"] and answered[0]["overall"] == "satisfied"
        assert answered[0]["comment"] == "代办员很负责。"

        await page.goto(f"{platform.console}{path}")  # the same link again
        message = await page.inner_text("#survey-closed")
        assert "已经提交过了" in message and "只能提交一次" in message
        assert await page.locator("fieldset").count() == 0
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "survey-phone.png"), full_page=True)
        (ARTIFACTS / "survey-phone.html").write_text(await page.content())
        raise
    finally:
        await context.close()
