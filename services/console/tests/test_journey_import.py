"""Browser journey for the spreadsheet import: a 浑南区 dispatcher registers the projects of the
district's own sheet — first with a bad row (the problems listed by the sheet's row number, nothing
imported), then the corrected sheet (imported, each project linked)."""

from __future__ import annotations

import asyncio
import io
import uuid
from pathlib import Path

from openpyxl import load_workbook

from steward.console.testing import Platform, Session

from .import_sheets import sheet

HUNNAN = "210112"
DISPATCHER = "demo-210112-staff0"


async def _registered(platform: Platform, tag: str) -> list[dict[str, object]]:
    found = await platform.get(
        f"{platform.registry}/v1/projects", tenant=HUNNAN, role="dispatcher", q=tag, limit=50
    )
    return list(found["items"])


async def test_dispatcher_imports_the_districts_sheet(
    session: Session, platform: Platform, tmp_path: Path
) -> None:
    page = session.page
    tag = f"导入{uuid.uuid4().hex[:6]}"
    await session.sign_in(DISPATCHER, "dispatcher")
    await session.goto("/projects")
    await page.click("#import-link")
    await page.wait_for_url(f"{session.base}/projects/import")
    assert await page.locator("label[for=file]").count() == 1
    assert await page.get_attribute("#file", "accept") == ".xlsx,.csv"
    assert "仅校验，不导入" in await page.inner_text("label[for=dry_run]")
    assert "项目名称" in await page.inner_text("#import-columns")

    # the template comes through the console with the user's token
    async with page.expect_download() as info:
        await page.click("#template-link")
    download = await info.value
    assert download.suggested_filename == "项目导入模板.xlsx", download.suggested_filename
    saved = await asyncio.to_thread(Path(str(await download.path())).read_bytes)
    template = load_workbook(io.BytesIO(saved), read_only=True)
    first = next(template.worksheets[0].iter_rows(values_only=True))
    assert "项目名称" in [str(c) for c in first if c], first

    # row 4 has no name, row 5 an amount that is no amount: nothing is imported
    bad = tmp_path / "浑南区项目表.xlsx"
    bad.write_bytes(
        sheet(
            [
                (f"{tag} 智能制造产业园", "浑南区", "5000", "装备制造", "2026-03-01"),
                (None, "浑南区", "3000", "物流", "2026-04-01"),
                (f"{tag} 冷链物流中心", "浑南区", "很多", "物流", "2026-05-01"),
            ]
        )
    )
    await page.set_input_files("#file", str(bad))
    await page.click("#import-form button[type=submit]")
    await page.wait_for_selector("#import-problems")
    problems = await page.inner_text("#import-problems")
    assert "未导入任何项目" in problems
    rows = [
        [c.strip() for c in (await r.inner_text()).split("\t")]
        for r in await page.locator("#import-problems tbody tr").all()
    ]
    assert [r[:2] for r in rows] == [["4", "项目名称"], ["5", "总投资（万元）"]], rows
    assert rows[0][2].startswith("项目名称未填写") and rows[1][2].startswith("金额写法不对"), rows
    assert await _registered(platform, tag) == []

    # the corrected sheet
    good = tmp_path / "浑南区项目表（改）.xlsx"
    good.write_bytes(
        sheet(
            [
                (f"{tag} 智能制造产业园", "浑南区", "5000", "装备制造", "2026-03-01"),
                (f"{tag} 物流分拨中心", "浑南区", "3000", "物流", "2026-04-01"),
                (f"{tag} 冷链物流中心", "浑南区", "1.2亿", "物流", "2026-05-01"),
            ]
        )
    )
    await page.set_input_files("#file", str(good))
    await page.click("#import-form button[type=submit]")
    await page.wait_for_selector("#imported")
    assert "已导入 3 个项目" in await page.inner_text("#import-summary")
    made = await _registered(platform, tag)
    assert len(made) == 3, made
    link = page.locator("#imported a", has_text=HUNNAN).first
    code = (await link.inner_text()).strip()
    assert code in {p["code"] for p in made}
    name = next(p["name"] for p in made if p["code"] == code)
    await link.click()
    await page.wait_for_url(f"{session.base}/projects/{code}")
    assert name in await page.inner_text("main")

    # no page of the journey asked any host but the console's
    assert all(u.startswith(session.base) for u in session.requests), [
        u for u in session.requests if not u.startswith(session.base)
    ]
