"""Live notifications in Debian's Chromium (see conftest.py): with the home page open, a matter filed
through the issues API on a project where the signed-in user is on the roster reaches notify, which
writes the user's inbox message; the console relays it from notify's SSE stream and htmx's SSE
extension prepends it, without a reload and without the fallback poll. The inbox page does the same
with a row whose 标为已读 works."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

from steward.console.testing import Platform, Session

HUNNAN = "210112"
LOGIN = "demo-210112-staff0"  # on every full roster of 浑南区 (steward, specialist…)
SHOTS = Path(os.environ.get("STEWARD_TEST_ARTIFACTS", ".steward/test-artifacts")) / "console"


async def _project_with_me_on_the_roster(platform: Platform) -> str:
    people = await platform.get(f"{platform.registry}/v1/people", tenant=HUNNAN, role="dispatcher", limit=200)
    me = next(p["id"] for p in people["items"] if p.get("subject") == LOGIN)
    projects = await platform.get(
        f"{platform.registry}/v1/projects", tenant=HUNNAN, role="dispatcher", limit=50
    )
    for project in projects["items"]:
        if project.get("tenant") != HUNNAN:
            continue
        roster = await platform.get(
            f"{platform.registry}/v1/projects/{project['code']}/roster", tenant=HUNNAN, role="dispatcher"
        )
        for role in roster["roles"]:
            if role["key"] == "steward" and any(
                a["holder"].get("person_id") == me for a in role.get("assignments", [])
            ):
                return str(project["code"])
    raise AssertionError("no 浑南区 project has the demo staff member as its steward")


async def _file_matter(platform: Platform, code: str, title: str) -> dict[str, Any]:
    rules = await platform.get(
        f"{platform.registry}/v1/rules/{HUNNAN}/effective", tenant=HUNNAN, role="dispatcher"
    )
    category = rules["document"]["matters"]["taxonomy"][0]
    resp = await platform.http.post(
        f"{platform.issues}/v1/matters",
        json={
            "kind": "obstacle",
            "title": title,
            "project_id": code,
            "category": category["code"],
            "sub_item": category["items"][0]["code"],
        },
        headers=platform.auth(HUNNAN, "dispatcher", sub="live-test-dispatcher"),
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_a_new_notification_appears_live_on_the_home_page_and_the_inbox(
    session: Session, platform: Platform
) -> None:
    page = session.page
    code = await _project_with_me_on_the_roster(platform)
    await session.sign_in(LOGIN, "dispatcher")
    # the stream is open before anything is filed (static/live.js marks it on htmx:sseOpen)
    await page.wait_for_selector("#recent-inbox[data-live=open]", state="attached")
    await page.evaluate("window.__steward_no_reload = 1")
    before = len(session.requests)

    title = f"塔吊基础施工受阻 {uuid.uuid4().hex[:6]}"
    await _file_matter(platform, code, title)
    item = page.locator("#inbox-recent-list li", has_text=title)
    await item.wait_for(timeout=20_000)
    assert await page.evaluate("window.__steward_no_reload") == 1  # the same page: no reload
    first = await page.locator("#inbox-recent-list li").first.inner_text()
    assert title in first  # prepended
    later = session.requests[before:]
    assert not [u for u in later if "/inbox/recent" in u]  # not the 30 s poll: the stream brought it
    assert any(u.endswith("/live/inbox") for u in session.requests)
    assert all(u.startswith(session.base) for u in session.requests)
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "live-home.png"), full_page=True)  # for the record

    await session.goto("/inbox")
    await page.wait_for_selector("#inbox[data-live=open]", state="attached")
    await page.evaluate("window.__steward_no_reload = 2")
    title2 = f"临时用电未接入 {uuid.uuid4().hex[:6]}"
    await _file_matter(platform, code, title2)
    row = page.locator("#inbox tbody tr", has_text=title2)
    await row.wait_for(timeout=20_000)
    assert await page.evaluate("window.__steward_no_reload") == 2
    assert title2 in await page.locator("#inbox tbody tr").first.inner_text()
    await row.locator("button", has_text="标为已读").click()  # htmx with the page's CSRF header
    await page.locator("#inbox tbody tr", has_text=title2).filter(has_text="已读").wait_for()
    assert re.search(r"/inbox$", page.url)
