"""Administration in Debian's Chromium (see conftest.py): a tenant admin adds a person and saves a
rules override after seeing its dry-run diff; a non-admin gets the refusal page. The admin works in
a street (浑南区李相街道) whose rules no other journey depends on."""

from __future__ import annotations

import json
import re
import uuid

from steward.console.testing import Platform, Session

STREET = "210112004"


async def test_tenant_admin_adds_a_person_and_saves_rules_after_the_diff(
    session: Session, platform: Platform
) -> None:
    page = session.page
    await session.sign_in("", "tenant_admin", tenant=STREET)
    await page.click("nav.nav a[href='/admin/rules']")
    await page.wait_for_url(re.compile("/admin/rules"))

    # a person
    await page.click("nav.subnav a[href='/admin/people']")
    await page.wait_for_url(re.compile("/admin/people"))
    name = f"赵{uuid.uuid4().hex[:4]}"
    await page.fill("#p-name", name)
    await page.fill("#p-title", "项目秘书")
    await page.fill("#p-phone", "13800138000")
    await page.click("#person-form button[type=submit]")
    await page.wait_for_url(re.compile(rf"/admin/people\?tenant={STREET}"))
    assert f"已新增人员 {name}" in await page.inner_text(".flash")
    assert name in await page.inner_text("#people-list")
    people = await platform.get(f"{platform.registry}/v1/people", tenant=STREET, role="tenant_admin", q=name)
    assert [p["title"] for p in people["items"]] == ["项目秘书"]

    # a rules override: dry run first, its diff shown, then saved
    await page.click("nav.subnav a[href='/admin/rules']")
    await page.wait_for_url(re.compile("/admin/rules"))
    assert await page.locator("#save-form").count() == 0  # nothing to save before a dry run
    override = {"thresholds": {"named_responsibility_min": "2亿"}}
    await page.fill("#document", json.dumps(override, ensure_ascii=False))
    await page.click("#dry-run-form button[type=submit]")
    await page.wait_for_selector("#rules-diff")
    diff = await page.inner_text("#rules-diff")
    assert "thresholds.named_responsibility_min" in diff, diff
    comment = f"包联门槛提高到2亿 {uuid.uuid4().hex[:4]}"
    await page.fill("#comment", comment)
    await page.click("#save-form button[type=submit]")
    await page.wait_for_url(re.compile(rf"/admin/rules\?tenant={STREET}"))
    assert "规则已保存" in await page.inner_text(".flash")
    assert comment in await page.inner_text("#rules-versions")
    versions = await platform.get(f"{platform.registry}/v1/rules/{STREET}/versions", tenant=STREET)
    (saved,) = [v for v in versions["items"] if v["comment"] == comment]
    assert saved["document"]["thresholds"]["named_responsibility_min"] in ("2亿", "200000000", "200000000.00")


async def test_a_non_admin_gets_the_refusal_page(session: Session) -> None:
    page = session.page
    await session.sign_in("demo-210112-staff0", "dispatcher")
    assert await page.locator("nav.nav a[href='/admin/rules']").count() == 0
    for path in ("/admin/people", "/admin/rules"):
        response = await session.goto(path)
        assert response.status == 403
        assert "无权访问" in await page.inner_text("h1")
        assert await page.locator("#person-form, #dry-run-form").count() == 0
