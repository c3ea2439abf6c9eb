"""Browser journey for the service log (服务台账): a district steward logs a visit to a demo project
and the district's business-environment bureau (营商环境建设局, the approver the Fuxin rules name)
approves it; a bureau-less supervisor is refused by the registry."""

from __future__ import annotations

import uuid

from steward.console.testing import Platform, Session

HUNNAN = "210112"
STEWARD = "demo-210112-staff0"  # 发展和改革局
BUREAU = "demo-210112-staff4"  # 营商环境建设局
OTHER = "demo-210112-staff1"  # 自然资源局


async def test_steward_logs_a_visit_and_the_bureau_approves_it(session: Session, platform: Platform) -> None:
    page = session.page
    await session.sign_in(STEWARD, "steward")
    await page.click("nav a[href='/service-log']")
    await page.wait_for_url(f"{session.base}/service-log")
    code = await page.locator("#project").input_value()
    assert code.startswith(HUNNAN), code  # a project of the district or its townships
    solved = f"协调临时用电接入 {uuid.uuid4().hex[:6]}"
    await page.fill("#visited_at", "2026-11-27T09:30")
    await page.select_option("#kind", "visit")
    await page.fill("#place", "项目现场")
    await page.fill("#participants", "李强｜浑南区发展和改革局｜leader")
    await page.fill("#problems_solved", solved)
    await page.click("#service-log-form button[type=submit]")
    await page.wait_for_url(f"{session.base}/service-log?project={code}")
    assert "已登记" in await page.inner_text(".flash")
    mine = page.locator("article.entry", has_text=solved)
    assert "待审核" in await mine.inner_text()
    assert "2026年11月27日 09:30" in await mine.inner_text()
    assert await mine.locator("button", has_text="审核通过").count() == 0  # the author does not review

    # a supervisor of another department sees the button, but the registry refuses: 营商局 reviews
    await session.sign_in(OTHER, "supervisor")
    await session.goto(f"/service-log?project={code}&status=submitted")
    await page.locator("article.entry", has_text=solved).locator("button", has_text="审核通过").click()
    assert "无权访问" in await page.inner_text("main")

    await session.sign_in(BUREAU, "supervisor")
    await session.goto(f"/service-log?project={code}&status=submitted")
    mine = page.locator("article.entry", has_text=solved)
    await mine.locator("button", has_text="审核通过").click()
    await page.wait_for_url(f"{session.base}/service-log")
    assert "已审核通过" in await page.inner_text(".flash")
    found = await platform.get(
        f"{platform.registry}/v1/service-log", tenant=HUNNAN, role="supervisor", project=code
    )
    approved = [e for e in found["items"] if e["problems_solved"] == solved]
    assert [e["status"] for e in approved] == ["approved"]
    assert approved[0]["reviewed_by"] == BUREAU
