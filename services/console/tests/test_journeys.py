"""Browser journeys, one per role, in Debian's Chromium (see conftest.py)."""

from __future__ import annotations

import asyncio
import re
import uuid
from decimal import Decimal
from urllib.parse import urlsplit

from steward.console.testing import Platform, Session

HUNNAN = "210112"
ZONE = "210171"


async def test_enterprise_contact_files_an_obstacle_and_submits_a_report(
    session: Session, platform: Platform
) -> None:
    page = session.page
    await session.sign_in("demo-enterprise-0", "enterprise_contact")
    await session.goto("/matters/new")
    options = await page.locator("#project_id option").all_inner_texts()
    assert options and all("210112-" in o for o in options), options  # only its own projects
    await page.select_option("#item", "utilities:power")
    title = f"施工用电迟迟未接入 {uuid.uuid4().hex[:6]}"
    await page.fill("#title", title)
    await page.fill("#description", "临时用电申请已提交一个月，供电公司未安排接入。")
    await page.click("form[action='/matters'] button[type=submit]")
    await page.wait_for_url(re.compile(r"/matters/210112-"))
    assert title in await page.inner_text("h1")
    assert "已提交" in await page.inner_text(".flash")
    assert "年" in await page.inner_text("#deadline")  # 2026年12月…日 with the working-day fact

    await session.goto("/reports")
    project_code = (await page.locator("#period").input_value()).split("|")[0]
    earlier = await platform.get(
        f"{platform.registry}/v1/reports", tenant=HUNNAN, role="dispatcher", project=project_code
    )
    cumulative = max([Decimal(r["investment_cumulative"]) for r in earlier["items"]] or [Decimal(0)])
    await page.fill("#investment_period", "300万")
    await page.fill("#investment_cumulative", str(cumulative + 3_000_000))
    await page.fill("#progress_text", "主体结构施工完成三层。")
    await page.click("#report-form button[type=submit]")
    flash = await page.inner_text(".flash")
    assert "已报送" in flash, flash


async def test_district_dispatcher_registers_a_project_and_assigns_a_matter(
    session: Session, platform: Platform
) -> None:
    page = session.page
    await session.sign_in("demo-210112-staff0", "dispatcher")
    await session.goto("/projects/new")
    name = f"工业机器人研发中心{uuid.uuid4().hex[:4]}"
    await page.fill("#name", name)
    await page.fill("#total_investment", "2500万")
    await page.click("form[action='/projects'] button[type=submit]")
    await page.wait_for_url(re.compile(r"/projects/210112-\d{4}-\d{5}(\?|$)"))
    assert name in await page.inner_text("h1")
    assert "2,500万元" in await page.inner_text("main")
    tier = await page.inner_text("#tier")
    assert tier.endswith("调度"), tier
    reasons = await page.inner_text("#dispatch-reasons")
    assert "2500万" in reasons, reasons  # the rule's reason names the amount
    assert "已登记" in await page.inner_text(".flash")
    code = urlsplit(page.url).path.rsplit("/", 1)[1]

    # a matter on the new project, filed through the API by the district's office
    rules = await platform.get(
        f"{platform.registry}/v1/rules/{HUNNAN}/effective", tenant=HUNNAN, role="dispatcher"
    )
    category = rules["document"]["matters"]["taxonomy"][0]
    resp = await platform.http.post(
        f"{platform.issues}/v1/matters",
        json={
            "kind": "obstacle",
            "title": "排水管网接驳方案未批复",
            "project_id": code,
            "category": category["code"],
            "sub_item": category["items"][0]["code"],
        },
        headers=platform.auth(HUNNAN, "dispatcher"),
    )
    assert resp.status_code == 201, resp.text
    number = resp.json()["number"]
    await session.goto(f"/projects/{code}")
    await page.click(f"a[href='/matters/{number}']")
    await page.wait_for_url(re.compile(number))
    unit = (await page.locator("#unit-accept option").all_inner_texts())[0]
    await page.fill("#note-accept", "请抓紧研究接驳方案")
    await page.click("#act-accept button[type=submit]")
    await page.wait_for_url(re.compile(number))
    assert "已分拣受理" in await page.inner_text(".flash")
    assert await page.inner_text("#matter-status") == "已受理"
    assert unit in await page.inner_text("#responsible")
    assert "分拣受理" in await page.inner_text("#timeline")


async def test_department_agent_answers_a_procedure_with_a_one_time_notice(
    session: Session, platform: Platform
) -> None:
    page = session.page
    procedures = await platform.get(
        f"{platform.issues}/v1/matters", tenant=ZONE, role="dispatcher", kind="procedure", status="accepted"
    )
    number = procedures["items"][0]["number"]
    resp = await platform.http.post(
        f"{platform.issues}/v1/matters/{number}/submissions",
        json={"materials": ["项目备案申请表", "企业营业执照"]},
        headers=platform.auth(ZONE, "agent", sub="demo-enterprise-agent"),
    )
    assert resp.status_code == 201, resp.text

    await session.sign_in("demo-210171-staff0", "agent")
    await session.goto(f"/matters/{number}")
    await page.wait_for_selector("#submissions textarea[name=items]")
    await page.fill(
        "#submissions textarea[name=items]", "项目备案申请表缺法定代表人签字\n缺少项目用地证明材料"
    )
    await page.click("#submissions form[action$='/notice'] button[type=submit]")
    await page.wait_for_url(re.compile(number))
    assert "一次性告知" in await page.inner_text(".flash")
    text = await page.inner_text("#submissions")
    assert "缺少项目用地证明材料" in text and "已一次性告知" in text


async def test_supervisor_opens_overdue_matters(session: Session) -> None:
    page = session.page
    await session.sign_in("", "supervisor", tenant="210100")
    overdue = int(await page.inner_text("#count-overdue"))
    assert overdue > 0
    await page.click("a[href='/matters/queue/overdue']")
    await page.wait_for_url(re.compile("/matters/queue/overdue"))
    rows = page.locator("#matter-list tbody tr")
    assert await rows.count() > 0
    assert "已逾期" in await rows.first.inner_text()
    await rows.first.locator("a").click()
    await page.wait_for_url(re.compile(r"/matters/\d{6}"))
    assert await page.inner_text("#overdue-flag") == "已逾期"
    assert "工作日" in await page.inner_text("#deadline")


async def test_a_district_user_never_sees_another_districts_data(
    session: Session, platform: Platform
) -> None:
    page = session.page
    other = await platform.get(f"{platform.registry}/v1/projects", tenant="210106", role="dispatcher")
    foreign = other["items"][0]
    foreign_matters = await platform.get(f"{platform.issues}/v1/matters", tenant=ZONE, role="dispatcher")
    foreign_matter = foreign_matters["items"][0]

    await session.sign_in("demo-210112-staff0", "dispatcher")
    await session.goto("/projects")
    listed = await page.inner_text("#project-list")
    assert "210112-" in listed and "210106-" not in listed and "210171-" not in listed
    await session.goto("/projects?tenant=210106")
    assert foreign["name"] not in await page.inner_text("main")
    response = await session.goto(f"/projects/{foreign['code']}")
    assert response.status in (403, 404)
    assert foreign["name"] not in await page.content()
    response = await session.goto(f"/matters/{foreign_matter['number']}")
    assert response.status in (403, 404)
    assert foreign_matter["title"] not in await page.content()
    await session.goto("/matters")
    assert ZONE + "-" not in await page.inner_text("main")
    await session.goto("/")
    assert ZONE + "-" not in await page.inner_text("main")


async def test_pages_load_nothing_from_any_other_host(session: Session) -> None:
    page = session.page
    await session.sign_in("demo-210171-staff0", "dispatcher")
    for path in ("/", "/projects", "/projects/map", "/matters", "/matters/new", "/reports", "/inbox"):
        await session.goto(path)
        await page.wait_for_load_state("networkidle")
    hosts = {urlsplit(u).netloc for u in session.requests if not u.startswith(("data:", "about:"))}
    assert hosts == {urlsplit(session.base).netloc}, hosts
    assert any(u.endswith("/static/vendor/htmx-1.9.12.min.js") for u in session.requests)


async def test_htmx_filters_and_mark_read_work_in_the_browser(session: Session, platform: Platform) -> None:
    page = session.page
    # the demo's events reach the inbox through notify's consumer: wait until they have
    for _ in range(150):
        resp = await platform.http.get(
            f"{platform.notify}/v1/inbox",
            params={"unread": "true", "limit": 1},
            headers=platform.auth("210103", "dispatcher", sub="demo-210103-staff0"),
        )
        if resp.status_code == 200 and resp.json()["items"]:
            break
        await asyncio.sleep(0.2)
    await session.sign_in("demo-210103-staff0", "dispatcher")
    await session.goto("/projects")
    before = await page.locator("#project-list tbody tr").count()
    await page.select_option("#f-stage", "preparing")  # htmx swaps the list and pushes the URL
    await page.wait_for_url(re.compile(r"stage=preparing"))
    rows = page.locator("#project-list tbody tr")
    for i in range(await rows.count()):
        assert "前期" in await rows.nth(i).inner_text()
    assert await rows.count() < before

    await session.goto("/inbox?unread=true")
    unread = page.locator("#inbox tbody tr.unread")
    assert await unread.count() > 0
    first = unread.first
    row_id = await first.get_attribute("id")
    url_before = page.url
    await first.locator("button").click()  # htmx POST with the CSRF header, row swapped in place
    await page.wait_for_selector(f"#{row_id}:not(.unread)")
    assert "已读" in await page.inner_text(f"#{row_id}")
    assert page.url == url_before


async def test_notification_preferences_are_saved(session: Session) -> None:
    page = session.page
    await session.sign_in("demo-210106-staff1", "agent")
    await session.goto("/inbox/preferences")
    await page.check("input[name=off_sms]")
    await page.fill("#quiet_start", "22:00")
    await page.fill("#quiet_end", "07:30")
    await page.click("#preferences button[type=submit]")
    await page.wait_for_url(re.compile("/inbox/preferences"))
    assert "已保存" in await page.inner_text(".flash")
    await session.goto("/inbox/preferences")
    assert await page.is_checked("input[name=off_sms]")
    assert not await page.is_checked("input[name=off_email]")
    assert await page.input_value("#quiet_start") == "22:00"
    assert await page.input_value("#quiet_end") == "07:30"
