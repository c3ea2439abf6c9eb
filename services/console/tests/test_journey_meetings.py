"""The meetings pages in Debian's Chromium against the real meetings service (registry, issues,
notify, meetings and scoring in-process with their demo data, see conftest.py): the organiser's
journey from calling a meeting to the signed minutes' Word document, the cut-off facts of the
demo's regular meeting, and a sibling district that cannot open a meeting."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from steward.console.fmt import SHANGHAI
from steward.console.testing import Platform, Session
from steward.console.views.meetings_common import cutoff_facts

TIEXI, HEPING = "210106", "210102"
ORGANISER = "demo-210106-staff0"  # 发展和改革局 (重点项目办), as a dispatcher
UNIT_HEAD = "demo-210106-staff1"  # 自然资源局: the submitting unit's leader
LEADER_IN_CHARGE = "demo-210106-staff2"  # a leader of another unit
CHAIR = "demo-210106-staff4"
NAMES = {
    "demo-210106-staff1": "自然106专员",
    "demo-210106-staff2": "生态106专员",
    "demo-210106-staff3": "住房106专员",
    "demo-210106-staff4": "营商106专员",
}


def test_cutoff_facts_say_why_a_deadline_moved() -> None:
    """Sat 10/10/2026: the Tuesday before is 国庆, so topics are due Wed 9/30 17:00 (docs/meetings.md)."""
    m = {
        "kind": "regular",
        "regular_date": "2026-10-10",
        "agenda_deadline_at": "2026-09-30T09:00:00Z",  # 17:00 in Beijing
        "compile_due": "2026-10-09",
    }
    spec = {"agenda_deadline": {"weekday": 1, "time": "17:00:00"}, "compile_weekday": 4}
    facts = cutoff_facts(m, spec)
    assert facts["deadline_rule"] == "会前周二 17:00前报送"
    assert facts["deadline_shift"] == "10月6日为法定节假日，提前至9月30日"
    assert "compile_shift" not in facts  # Fri 10/9 is a working day
    assert cutoff_facts({**m, "kind": "ad_hoc"}, spec) == {}


async def test_the_platform_runs_meetings_and_scoring_with_their_demo(platform: Platform) -> None:
    assert platform.meetings and platform.scoring
    assert "meetings demo" in platform.seeded["meetings"], platform.seeded
    assert "scoring demo" in platform.seeded["scoring"], platform.seeded
    page = await platform.get(f"{platform.meetings}/v1/meetings", tenant=TIEXI, role="dispatcher", limit=5)
    assert page["items"], "the demo series has meetings"
    lights = await platform.get(f"{platform.scoring}/v1/scoring/lights", tenant=TIEXI, role="supervisor")
    assert {x["light"] for x in lights} >= {"red", "yellow", "green"}, lights


async def _flash(page: Any) -> str:
    return str(await page.inner_text(".flash"))


async def _docx_text(path: str) -> str:
    from docx import Document

    doc = Document(path)
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        parts += [cell.text for row in table.rows for cell in row.cells]
    return "\n".join(parts)


async def test_organiser_runs_a_meeting_from_topic_to_signed_minutes(
    session: Session, platform: Platform
) -> None:
    page = session.page
    tag = uuid.uuid4().hex[:6]

    # the organiser calls an ad-hoc meeting on the district's series, chaired by a person who can sign in
    await session.sign_in(ORGANISER, "dispatcher")
    await session.goto("/meetings")
    await page.click("text=召集临时协调会议")
    await page.wait_for_url(re.compile(r"/meetings/new"))
    title = f"重大项目临时协调会议{tag}"
    await page.fill("#title", title)
    now = datetime.now(SHANGHAI)
    await page.fill("#date", now.date().isoformat())
    await page.fill("#time", "23:30")
    await page.fill("#location", "区政府三楼会议室")
    await page.fill("#reason", "装备制造产业园项目林地手续亟待协调")
    await page.select_option("#chair", CHAIR)
    for subject in NAMES:
        await page.check(f"input[name=participants][value='{subject}']")
    await page.click("form[action='/meetings'] button[type=submit]")
    await page.wait_for_url(re.compile(r"/meetings/[0-9a-f-]{36}$"))
    meeting_id = urlsplit(page.url).path.rsplit("/", 1)[1]
    assert title in await page.inner_text("h1")
    assert "营商106专员" in await page.inner_text("#meeting-facts")  # the chair

    # a topic for it: the sign-offs the rules require are listed as missing
    await page.click("text=申报议题")
    await page.wait_for_url(re.compile(r"/topics/new$"))
    assert "签字不全的议题不列入议程" in await page.inner_text("#cutoff")
    topic_title = f"装备制造产业园林地手续{tag}"
    await page.fill("#title", topic_title)
    await page.select_option("#unit", label="自然资源局")
    await page.fill("#problem", "10千伏线路迁改涉及林地，使用林地审核未批复")
    await page.fill("#request", "请自然资源局加快审核，生态环境局同步办理环评")
    await page.check("#departments input[value='生态环境局']")
    await page.check("#departments input[value='住房和城乡建设局']")
    await page.click(f"form[action='/meetings/{meeting_id}/topics'] button[type=submit]")
    await page.wait_for_url(re.compile(r"/topics/[0-9a-f-]{36}$"))
    topic_url = urlsplit(page.url).path
    assert "议题已申报" in await _flash(page)
    assert "尚缺：单位主要领导、分管县级领导" in await page.inner_text("#missing")

    # the submitting unit's leader signs as unit head, a leader of another unit as leader in charge
    await session.sign_in(UNIT_HEAD, "leader")
    await session.goto(topic_url)
    await page.select_option("#role", "unit_head")
    await page.click("#sign-form button[type=submit]")
    assert "尚缺：分管县级领导" in await _flash(page)
    await page.click("#sign-form button[type=submit]")  # the same unit's leader cannot sign for the county
    assert "分管县级领导须为其他单位的领导" in await _flash(page)
    await session.sign_in(LEADER_IN_CHARGE, "leader")
    await session.goto(topic_url)
    assert await page.locator("#role option").all_inner_texts() == ["分管县级领导"]
    await page.click("#sign-form button[type=submit]")
    assert "签字已齐全" in await _flash(page)
    assert "自然106专员 已签字" in await page.inner_text("#signoffs")

    # the organiser compiles: the fixed order with the supervision report of the last held meeting
    await session.sign_in(ORGANISER, "dispatcher")
    await session.goto(f"/meetings/{meeting_id}")
    await page.click("#compile-form button[type=submit]")
    assert "列入议题 1 项" in await _flash(page)
    headings = await page.locator("#agenda-document h3").all_inner_texts()
    assert headings == [
        "一、督查室汇报上次会议研究事项落实情况",
        "二、研究项目存在的困难和问题",
        "三、会议主持人总结讲话",
    ], headings
    assert topic_title in await page.inner_text("#agenda-topics")
    if "3 decisions" in platform.seeded["meetings"]:  # the demo held last week's meeting
        report = await page.inner_text("#supervision-report")
        assert "自然资源局出具用地预审意见" in report, report

    # run the meeting: attendance in the API's statuses, a decision that becomes a matter
    await page.click("text=会议记录（出席、决定）")
    await page.wait_for_url(re.compile(r"/run$"))
    for subject, status in zip(NAMES, ("present", "deputy", "absent", "present"), strict=True):
        await page.select_option(f"select[aria-label='{NAMES[subject]}的出席情况']", status)
    await page.fill("input[aria-label='生态106专员的代为参会人员']", "周副局长")
    await page.click("#attendance-form button[type=submit]")
    flash = await _flash(page)
    assert "出席 2 人" in flash and "委派代表参会 1 人" in flash and "缺席 1 人" in flash, flash
    decision = f"自然资源局10个工作日内完成使用林地审核{tag}"
    await page.select_option("#topic_id", label=f"1. {topic_title}")
    await page.fill("#text", decision)
    await page.select_option("#unit", label="自然资源局")
    await page.fill("#due_date", (now.date() + timedelta(days=14)).isoformat())
    await page.click("#decision-form button[type=submit]")
    assert "第1项决定已记录" in await _flash(page)
    link = page.locator("#decisions a.matter-link")
    await link.wait_for(timeout=30_000)  # htmx polls until the meetings service filed the matter
    number = (await link.inner_text()).split()[-1]
    await page.click("#hold-form button[type=submit]")
    await page.wait_for_url(re.compile(r"/minutes$"))
    assert "会议记录已结束" in await _flash(page)

    # the decision's matter in the issues service
    await session.goto(f"/matters/{number}")
    assert decision in await page.inner_text("main")
    await session.goto(f"/meetings/{meeting_id}/minutes")

    # minutes: drafted by the organiser, signed by the chair, issued, downloaded as DOCX
    await page.fill("#summary", "各责任单位要倒排工期，督查室跟踪落实。")
    await page.click("#draft-minutes button[type=submit]")
    assert "待主持人" in await page.inner_text("#minutes-status")
    await session.sign_in(CHAIR, "leader")
    await session.goto(f"/meetings/{meeting_id}/minutes")
    await page.click("#sign-minutes button[type=submit]")
    assert "主持人已签发" in await page.inner_text("#minutes-status")
    await session.sign_in(ORGANISER, "dispatcher")
    await session.goto(f"/meetings/{meeting_id}/minutes")
    await page.click("#issue-minutes button[type=submit]")
    assert "已下发" in await page.inner_text("#minutes-status")
    async with page.expect_download() as info:
        await page.click("#docx-link")
    download = await info.value
    name = download.suggested_filename
    assert name.startswith("会议纪要〔") and name.endswith(".docx"), name  # filename* = the minutes' number
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(base_url=session.base, cookies=cookies) as client:
        head = await client.get(f"/meetings/{meeting_id}/minutes.docx")
    assert head.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert head.headers["content-disposition"].startswith("attachment;"), head.headers
    text = await _docx_text(str(await download.path()))
    assert decision in text and "自然资源局" in text and title in text, text[:2000]
    printable = await session.goto(f"/meetings/{meeting_id}/minutes.html")
    assert printable.status == 200 and decision in await page.content()

    # 签收: a recipient acknowledges; the others are listed as not yet
    await session.sign_in(UNIT_HEAD, "leader")
    await session.goto(f"/meetings/{meeting_id}/minutes")
    await page.click("#ack-form button[type=submit]")
    assert "已签收" in await _flash(page)
    assert "自然106专员" in await page.inner_text("#acknowledged")
    waiting = await page.inner_text("#not-acknowledged")
    assert "自然106专员" not in waiting and "营商106专员" in waiting, waiting

    foreign = [u for u in session.requests if not u.startswith(session.base)]
    assert not foreign, foreign


async def test_the_topic_form_of_a_regular_meeting_shows_its_cut_off(
    session: Session, platform: Platform
) -> None:
    page = session.page
    upcoming = await platform.get(
        f"{platform.meetings}/v1/meetings", tenant=TIEXI, role="dispatcher", upcoming_first="true", limit=20
    )
    now = datetime.now(SHANGHAI)
    regular = next(
        m
        for m in upcoming["items"]
        if m["kind"] == "regular"
        and m["status"] in ("scheduled", "compiled")
        and datetime.fromisoformat(m["starts_at"]) > now
    )
    await session.sign_in(ORGANISER, "dispatcher")
    await session.goto(f"/meetings/{regular['id']}/topics/new")
    deadline = await page.inner_text("#deadline")
    assert "会前周二 17:00前报送" in deadline and "年" in deadline, deadline
    late = datetime.fromisoformat(regular["agenda_deadline_at"]) < now
    assert (await page.locator("#late-warning").count() == 1) == late


async def test_a_sibling_district_cannot_open_a_meeting(session: Session, platform: Platform) -> None:
    page = session.page
    held = await platform.get(f"{platform.meetings}/v1/meetings", tenant=TIEXI, role="dispatcher", limit=50)
    m = held["items"][0]
    topics = await platform.get(f"{platform.meetings}/v1/topics", tenant=TIEXI, role="dispatcher", limit=5)
    await session.sign_in("demo-210102-staff0", "dispatcher")  # 和平区
    listing = await session.goto("/meetings")
    assert listing.status == 200 and m["title"] not in await page.content()
    paths = [
        f"/meetings/{m['id']}",
        f"/meetings/{m['id']}/run",
        f"/meetings/{m['id']}/minutes",
        *(f"/topics/{t['id']}" for t in topics["items"][:1]),
    ]
    for path in paths:
        resp = await session.goto(path)
        assert resp.status in (403, 404), (path, resp.status)
        body = await page.content()
        assert m["title"] not in body and "铁西" not in body, path
    for path in (f"/meetings/{m['id']}/minutes.docx", f"/meetings/{m['id']}/minutes.html"):
        cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
        async with httpx.AsyncClient(base_url=session.base, cookies=cookies) as client:
            resp = await client.get(path)
        assert resp.status_code in (403, 404), (path, resp.status_code)
        assert "officedocument" not in resp.headers.get("content-type", "")
        assert m["title"] not in resp.text


async def test_organiser_keeps_a_late_topic_on_its_meeting_as_urgent(
    session: Session, platform: Platform
) -> None:
    """The demo's 商贸综合体 topic came after the deadline and went to the week after; the organiser
    keeps it on the meeting it was meant for, with the reason."""
    if "3 decisions" not in platform.seeded["meetings"]:
        assert "holiday" in platform.seeded["meetings"], platform.seeded  # no demo week to defer from
        return
    page = session.page
    backlog = await platform.get(
        f"{platform.meetings}/v1/topics", tenant=TIEXI, role="dispatcher", backlog="true", limit=200
    )
    late = next(t for t in backlog["items"] if t["late"] and not t["urgent"] and t["status"] == "submitted")
    await session.sign_in(ORGANISER, "dispatcher")
    await session.goto(f"/topics/{late['id']}")
    facts = await page.inner_text("#late")
    assert "逾期申报" in facts and "已顺延至本次会议" in facts, facts
    await page.fill("#reason", "管线迁改影响主体开工，需本周协调")
    await page.click("#urgent-form button[type=submit]")
    assert "已列为紧急议题" in await _flash(page)
    assert "管线迁改影响主体开工" in await page.inner_text("#urgent")
    await page.click(f"a[href='/meetings/{late['requested_meeting_id']}']")
    assert "紧急：管线迁改影响主体开工" in await page.inner_text("#topics")
