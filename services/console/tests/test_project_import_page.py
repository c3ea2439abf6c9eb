"""The spreadsheet import page without a browser, against the real registry (in-process, demo data):
who may import, CSRF, the dry run writing nothing, and every kind of bad upload answered with a
page (never a 5xx) and nothing registered."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from steward.console.fmt import TIERS
from steward.console.testing import Platform
from steward.console.views.projects_import import MAX_FILE_BYTES

from .admin_stub import sign_in
from .import_sheets import sheet

HUNNAN = "210112"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
async def console(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.console, timeout=60) as client:
        yield client


async def _registered(platform: Platform, tag: str) -> int:
    found = await platform.get(
        f"{platform.registry}/v1/projects", tenant=HUNNAN, role="dispatcher", q=tag, limit=50
    )
    return len(found["items"])


def _good(tag: str) -> bytes:
    return sheet(
        [
            (f"{tag} 新材料产业园", "浑南区", "5000", "新材料", "2026-03-01"),
            (f"{tag} 数据中心", "浑南区", "1.2亿", "信息技术", "2026年4月"),
        ]
    )


async def _upload(
    client: httpx.AsyncClient, csrf: str | None, name: str, content: bytes, *, dry_run: bool = False
) -> httpx.Response:
    data = {"csrf": csrf} if csrf else {}
    if dry_run:
        data["dry_run"] = "on"
    return await client.post("/projects/import", data=data, files={"file": (name, content, XLSX)})


async def test_only_users_who_may_register_see_and_use_the_import(
    console: httpx.AsyncClient, platform: Platform
) -> None:
    tag = f"无权{uuid.uuid4().hex[:6]}"
    csrf = await sign_in(console, "supervisor", HUNNAN)
    listing = await console.get("/projects")
    assert listing.status_code == 200
    assert 'href="/projects/import"' not in listing.text and 'href="/projects/new"' not in listing.text
    page = await console.get("/projects/import")
    assert page.status_code == 403 and "无权访问" in page.text
    refused = await _upload(console, csrf, "表.xlsx", _good(tag))
    assert refused.status_code == 403 and "无权访问" in refused.text
    assert await _registered(platform, tag) == 0

    await sign_in(console, "dispatcher", HUNNAN)
    listing = await console.get("/projects")
    assert 'href="/projects/import"' in listing.text and 'href="/projects/new"' in listing.text
    page = await console.get("/projects/import")
    assert page.status_code == 200
    assert '<label for="file">' in page.text and 'accept=".xlsx,.csv"' in page.text
    assert re.search(
        r'<label for="dry_run"><input type="checkbox" id="dry_run" name="dry_run"\s*> 仅校验，不导入</label>',
        page.text,
    )
    assert 'href="/projects/import/template.xlsx"' in page.text


async def test_dry_run_imports_nothing_and_csrf_is_required(
    console: httpx.AsyncClient, platform: Platform
) -> None:
    tag = f"试算{uuid.uuid4().hex[:6]}"
    csrf = await sign_in(console, "dispatcher", HUNNAN)

    forged = await _upload(console, "forged", "表.xlsx", _good(tag))
    assert forged.status_code == 403 and "CSRF" in forged.text
    missing = await _upload(console, None, "表.xlsx", _good(tag))
    assert missing.status_code == 403
    assert await _registered(platform, tag) == 0

    dry = await _upload(console, csrf, "表.xlsx", _good(tag), dry_run=True)
    assert dry.status_code == 200, dry.text
    assert "校验通过，共 2 行，可以导入" in dry.text
    assert 'id="imported"' not in dry.text
    assert await _registered(platform, tag) == 0

    done = await _upload(console, csrf, "表.xlsx", _good(tag))
    assert done.status_code == 200 and "已导入 2 个项目" in done.text
    codes = re.findall(r'<a href="/projects/(210112[^"]+)">', done.text)
    assert len(codes) == 2 and await _registered(platform, tag) == 2
    for code in codes:  # each row shows the tier the registry derived for that project
        project = await platform.get(
            f"{platform.registry}/v1/projects/{code}", tenant=HUNNAN, role="dispatcher"
        )
        row = re.search(rf'<a href="/projects/{code}">.*?</tr>', done.text, re.S)
        assert row is not None and TIERS[project["dispatch"]["tier"]] in row.group(0), code


async def test_the_template_is_proxied_with_the_users_token(console: httpx.AsyncClient) -> None:
    anonymous = await console.get("/projects/import/template.xlsx")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/signin")
    await sign_in(console, "dispatcher", HUNNAN)
    resp = await console.get("/projects/import/template.xlsx")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == XLSX
    assert resp.headers["content-disposition"].startswith("attachment;")
    assert resp.content[:2] == b"PK"  # a zip: the workbook the registry made


@pytest.mark.parametrize(
    ("name", "content", "status", "says"),
    [
        ("空表.xlsx", b"", 400, "文件是空的"),
        ("说明.txt", b"hello", 400, "请上传 .xlsx 或 .csv"),
        ("旧表.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100, 400, "请上传 .xlsx 或 .csv"),
        ("坏表.xlsx", b"not a zip at all", 422, "无法读取该文件"),
        ("无表头.csv", "序号,备注\n1,无\n".encode(), 422, "找不到表头"),
        ("仅表头.csv", "项目名称,总投资\n".encode(), 422, "没有数据行"),
    ],
)
async def test_bad_files_get_a_page_and_register_nothing(
    console: httpx.AsyncClient, platform: Platform, name: str, content: bytes, status: int, says: str
) -> None:
    csrf = await sign_in(console, "dispatcher", HUNNAN)
    resp = await _upload(console, csrf, name, content)
    assert resp.status_code == status, resp.text[:500]
    assert says in resp.text and "未导入任何项目" in resp.text
    assert '<form method="post" action="/projects/import"' in resp.text  # try again on the same page


async def test_a_file_with_no_file_part_is_refused(console: httpx.AsyncClient) -> None:
    csrf = await sign_in(console, "dispatcher", HUNNAN)
    resp = await console.post("/projects/import", data={"csrf": csrf})
    assert resp.status_code == 400 and "请选择要导入的表格文件" in resp.text


async def test_too_large_uploads_get_the_limits(console: httpx.AsyncClient, platform: Platform) -> None:
    tag = f"超大{uuid.uuid4().hex[:6]}"
    csrf = await sign_in(console, "dispatcher", HUNNAN)
    # over the registry's 8 MiB: the console answers before calling it
    line = f"{tag} 项目,100\n".encode()
    big = "项目名称,总投资\n".encode() + line * (MAX_FILE_BYTES // len(line) + 1)
    assert len(big) > MAX_FILE_BYTES
    resp = await _upload(console, csrf, "大表.csv", big)
    assert resp.status_code == 413 and "文件过大" in resp.text and "8 MB" in resp.text
    # far over the console's body limit for this form: its own page, not the kit's JSON
    huge = await _upload(console, csrf, "大表.csv", big * 3)
    assert huge.status_code == 413 and "文件过大" in huge.text and "8 MB" in huge.text
    assert huge.headers["content-type"].startswith("text/html")
    # more than 10,000 data rows: the registry's own 413
    rows = "项目名称,总投资\n".encode() + line * 10_001
    many = await _upload(console, csrf, "多行.csv", rows)
    assert many.status_code == 413 and "10,000 行" in many.text, many.text[:500]
    assert await _registered(platform, tag) == 0
    # the other forms keep the console's ordinary body limit
    other = await console.post("/projects", data={"csrf": csrf, "name": "x" * (2 * 1024 * 1024)})
    assert other.status_code == 413


async def test_every_bad_row_is_listed_and_nothing_is_imported(
    console: httpx.AsyncClient, platform: Platform
) -> None:
    tag = f"坏行{uuid.uuid4().hex[:6]}"
    csrf = await sign_in(console, "dispatcher", HUNNAN)
    bad = sheet(
        [
            (f"{tag} 一号", "浑南区", "5000", "物流", "2026-03-01"),
            (None, "浑南区", "3000", "物流", "2026-03-01"),
            (f"{tag} 三号", "浑南区", "很多", "物流", "2026-03-01"),
            (f"{tag} 四号", "不存在区", "100", "物流", "2026-03-01"),
        ]
    )
    resp = await _upload(console, csrf, "表.xlsx", bad)
    assert resp.status_code == 422
    assert "未导入任何项目" in resp.text and "3 处问题" in resp.text
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td><td>([^<]+)', resp.text)
    assert rows == [
        ("4", "项目名称", "项目名称未填写"),
        ("5", "总投资（万元）", "金额写法不对：应写作 2500万、1.2亿、25000000 或 1,234.50"),
        ("6", "所属地区", "所属地区不在本辖区内或无法识别：请填写区划代码或本辖区内的地区名称"),
    ], rows
    assert await _registered(platform, tag) == 0
