"""POST /v1/projects/import: a district's .xlsx/.csv, validated row by row, registered all or nothing."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from steward.registry.projects import import_columns, importer, sheets
from steward.registry.testing import Registry, Tree, make_tree, project_count

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADERS = [
    "序号",
    "项目名称",
    "所属地区",
    "总投资（万元）",
    "资金来源",
    "行业",
    "重点级别",
    "重大项目",
    "项目阶段",
    "建设地点",
    "经度",
    "纬度",
    "计划开工",
    "计划竣工",
    "备注",
]


def xlsx(rows: list[list[Any]], *, title: str | None = "2026年重点项目清单") -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    if title:
        ws.append([title])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_bytes(rows: list[list[Any]], *, bom: bool) -> bytes:
    text = "\r\n".join(",".join(str(c) for c in row) for row in rows) + "\r\n"
    return ("\ufeff" if bom else "").encode() + text.encode()


async def upload(
    reg: Registry,
    token_tenant: str,
    data: bytes,
    name: str = "项目.xlsx",
    *,
    role: str = "dispatcher",
    **params: Any,
) -> Any:
    mime = XLSX if name.endswith(".xlsx") else "text/csv"
    return await reg.http.post(
        "/v1/projects/import",
        files={"file": (name, data, mime)},
        params=params,
        headers=reg.auth(token_tenant, role),
    )


async def projects_named(reg: Registry, prefix: str) -> list[dict[str, Any]]:
    async with reg.db.read() as session:
        rows = (
            (
                await session.execute(
                    sa.text(
                        "SELECT name, tenant_code, total_investment, annual_plan_investment, funding_type, "
                        "key_level, major, stage, lat, lon, address, planned_start, planned_completion, tier "
                        "FROM projects WHERE name LIKE :p ORDER BY code"
                    ),
                    {"p": prefix + "%"},
                )
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


async def test_an_office_xlsx_is_imported_with_exact_money_and_row_numbers(registry: Registry) -> None:
    tree = await make_tree(registry)
    d0, d2 = tree.districts[0], tree.districts[2]
    d2_name = f"测试{d2}"  # make_tree names tenants 测试<code>
    tag = f"导入{tree.city}"
    rows = [
        HEADERS,
        [
            1,
            f"{tag}甲",
            d0,
            5000,
            "企业投资",
            "先进制造",
            "区级",
            "否",
            "签约",
            "创新路1号",
            123.45,
            41.73,
            date(2026, 3, 1),
            date(2027, 12, 31),
            "x",
        ],
        [
            2,
            f"{tag}乙",
            d2_name,
            "1.2亿",
            "政府投资",
            "基础设施",
            "市级",
            "是",
            "新开工",
            "",
            "",
            "",
            "2026年5月",
            "2028/6/30",
            "",
        ],
        [None] * 5,  # a blank row
        [3, f"{tag}丙", d0, "1234.56", "PPP", "", "", "", "", "浑南大道", "", "", "", "", ""],
        ["", "合计", "", 99999, "", "", "", "", "", "", "", "", "", "", ""],
    ]
    before = await project_count(registry, tree.city[:4])
    r = await upload(registry, tree.city, xlsx(rows))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["rows"], body["header_row"], body["dry_run"]) == (3, 3, 2, False)
    assert [it["index"] for it in body["items"]] == [3, 4, 6]  # the sheet's own row numbers
    assert body["columns"]["总投资（万元）"] == "total_investment" and "备注" in body["ignored_columns"]
    assert {w["row"] for w in body["warnings"]} >= {7}  # the 合计 row, skipped and said so
    assert await project_count(registry, tree.city[:4]) == before + 3
    got = await projects_named(registry, tag)
    by_name = {p["name"]: p for p in got}
    a, b, c = by_name[f"{tag}甲"], by_name[f"{tag}乙"], by_name[f"{tag}丙"]
    assert str(a["total_investment"]) == "50000000.00"  # 5000 under a 万元 header
    assert str(b["total_investment"]) == "120000000.00"  # 1.2亿 as written
    assert str(c["total_investment"]) == "12345600.00"  # 1234.56万, exactly
    assert (a["funding_type"], a["key_level"], a["major"], a["stage"]) == (
        "enterprise",
        "district",
        False,
        "signed",
    )
    assert (b["funding_type"], b["key_level"], b["major"], b["stage"]) == (
        "government",
        "city",
        True,
        "new_start",
    )
    assert c["funding_type"] == "ppp" and c["stage"] == "negotiating"
    assert b["tenant_code"] == d2  # given by its name
    assert (a["lat"], a["lon"], a["address"]) == (41.73, 123.45, "创新路1号")
    assert a["planned_start"] == date(2026, 3, 1) and b["planned_start"] == date(2026, 5, 1)
    assert b["planned_completion"] == date(2028, 6, 30)
    assert c["address"] == "" and any("经度" in w["message"] for w in body["warnings"])
    assert b["tier"] == "city"  # the same derivation as a single registration of 1.2亿


@pytest.mark.parametrize("bom", [True, False])
async def test_a_csv_with_or_without_bom_is_imported(registry: Registry, bom: bool) -> None:
    tree = await make_tree(registry)
    tag = f"CSV{tree.city}{int(bom)}"
    rows = [["项目名称", "总投资", "项目阶段"], [f"{tag}一", "2500万", "前期"], [f"{tag}二", "800万", ""]]
    before = await project_count(registry, tree.city[:4])
    r = await upload(registry, tree.districts[1], csv_bytes(rows, bom=bom), "项目.csv")  # tenant: the token's
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2
    got = await projects_named(registry, tag)
    assert [(p["tenant_code"], str(p["total_investment"]), p["stage"]) for p in got] == [
        (tree.districts[1], "25000000.00", "preparing"),
        (tree.districts[1], "8000000.00", "negotiating"),
    ]
    assert await project_count(registry, tree.city[:4]) == before + 2
    gbk = csv_bytes([["项目名称", "总投资"], [f"{tag}三", "100万"]], bom=False).decode().encode("gb18030")
    r = await upload(registry, tree.districts[1], gbk, "项目.csv")
    assert r.status_code == 200 and r.json()["created"] == 1, r.text


async def test_bad_rows_are_reported_by_row_and_column_and_nothing_is_written(
    registry: Registry, tree: Tree
) -> None:
    d0 = tree.districts[0]
    other_city = (await make_tree(registry)).districts[0]
    rows = [
        [*HEADERS[:5], "计划开工", "计划竣工"],
        [1, "好项目", d0, 100, "企业投资", "", ""],
        [2, "坏金额", d0, "0.0000001", "企业投资", "", ""],  # 0.001 yuan
        [3, "", d0, "abc", "外资", "", ""],
        [4, "别的城市", other_city, 100, "", "", ""],
        [5, "日期反了", d0, 100, "", "2027-01-01", "2026-01-01"],
    ]
    before = await project_count(registry, tree.city[:4])
    before_all = await project_count(registry, "")
    r = await upload(registry, tree.city, xlsx(rows, title=None))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "import_invalid" and "nothing was written" in err["message"]
    got = {(d["row"], d["column"]) for d in err["details"]}
    assert (3, "总投资（万元）") in got
    assert {(4, "项目名称"), (4, "总投资（万元）"), (4, "资金来源")} <= got
    assert (5, "所属地区") in got  # another city's tenant: refused, never written there
    assert (6, "计划竣工") in got
    assert 2 not in {row for row, _ in got}
    funding = next(d for d in err["details"] if d["column"] == "资金来源")
    assert "外资" in funding["message"] and "企业投资" in funding["message"]
    assert await project_count(registry, tree.city[:4]) == before
    assert await project_count(registry, "") == before_all


async def test_another_tenants_row_is_refused(registry: Registry, tree: Tree) -> None:
    d0, d1 = tree.districts[:2]
    rows = [["项目名称", "所属地区", "总投资"], ["本区", d0, "100万"], ["邻区", d1, "100万"]]
    before = await project_count(registry, tree.city[:4])
    r = await upload(registry, d0, xlsx(rows))  # a district's dispatcher: its sibling is out of scope
    assert r.status_code == 422, r.text
    assert [(d["row"], d["type"]) for d in r.json()["error"]["details"]] == [(4, "unknown_tenant")]
    assert await project_count(registry, tree.city[:4]) == before
    r = await upload(registry, d0, xlsx(rows[:2]), role="leader")
    assert r.status_code == 403
    assert await project_count(registry, tree.city[:4]) == before


async def test_dry_run_validates_and_writes_nothing(registry: Registry, tree: Tree) -> None:
    rows = [["项目名称", "总投资（亿元）"], ["试算一", 1.5], ["试算二", "2"]]
    before = await project_count(registry, tree.city[:4])
    r = await upload(registry, tree.districts[0], xlsx(rows), dry_run="true")
    assert r.status_code == 200, r.text
    assert (r.json()["dry_run"], r.json()["rows"], r.json()["created"], r.json()["items"]) == (True, 2, 0, [])
    assert await project_count(registry, tree.city[:4]) == before
    r = await upload(registry, tree.districts[0], xlsx([*rows, ["坏", "-1"]]), dry_run="true")
    assert r.status_code == 422 and r.json()["error"]["details"][0]["row"] == 5
    r = await upload(registry, tree.districts[0], xlsx(rows))
    assert r.status_code == 200 and r.json()["created"] == 2
    assert await project_count(registry, tree.city[:4]) == before + 2


async def test_size_limits_and_unreadable_files(
    registry: Registry, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    d0 = tree.districts[0]
    before = await project_count(registry, tree.city[:4])
    monkeypatch.setattr(importer, "MAX_ROWS", 5)
    rows = [["项目名称", "总投资"]] + [[f"超限{i}", "1"] for i in range(6)]
    for data, name in ((xlsx(rows), "x.xlsx"), (csv_bytes(rows, bom=False), "x.csv")):
        r = await upload(registry, d0, data, name)
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "too_many_rows"
    monkeypatch.setattr(importer, "MAX_BYTES", 2000)  # below the service's body limit, which the kit enforces
    big = csv_bytes([["项目名称", "总投资"]] + [[f"大文件{i}", "1"] for i in range(200)], bom=True)
    r = await upload(registry, d0, big, "big.csv")
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    monkeypatch.undo()
    for data, name, code in (
        (b"\xd0\xcf\x11\xe0old xls", "x.xls", "unreadable_file"),
        (b"PK\x03\x04broken", "x.xlsx", "unreadable_file"),
        (b"", "x.csv", "empty_file"),
        (csv_bytes([["名字", "金额"], ["a", "1"]], bom=True), "x.csv", "no_header"),
        (csv_bytes([["项目名称", "总投资"]], bom=True), "x.csv", "empty_sheet"),
    ):
        r = await upload(registry, d0, data, name)
        assert r.status_code == 422, (name, r.text)
        assert r.json()["error"]["code"] == code
    assert await project_count(registry, tree.city[:4]) == before


async def test_the_template_is_an_importable_sheet(registry: Registry, tree: Tree) -> None:
    r = await registry.http.get("/v1/projects/import/template.xlsx", headers=registry.auth(tree.city))
    assert r.status_code == 200 and r.headers["content-type"].startswith(XLSX)
    wb = load_workbook(io.BytesIO(r.content))
    headers = [c.value for c in wb.worksheets[0][1]]
    assert headers == list(import_columns.TEMPLATE_HEADERS)
    layout = importer.find_layout(list(sheets.read_rows(r.content, "t.xlsx", max_rows=10)))
    assert set(layout.fields.values()) >= {
        "name",
        "tenant",
        "total_investment",
        "planned_start",
        "lat",
        "lon",
    }
    assert not layout.ignored
    filled = io.BytesIO()
    ws = wb.worksheets[0]
    ws.append(
        [
            f"模板{tree.city}",
            tree.districts[0],
            "300",
            "",
            "",
            "企业投资",
            "",
            "无",
            "否",
            "签约",
            "",
            "",
            "",
            "2026-01-01",
            "",
        ]
    )
    wb.save(filled)
    r = await upload(registry, tree.city, filled.getvalue())
    assert r.status_code == 200 and r.json()["created"] == 1, r.text


def test_the_xlsx_reader_keeps_numbers_as_written_text() -> None:
    data = xlsx(
        [
            ["项目名称", "总投资"],
            ["a & <b> &lt; &#38; 中文", 1234.56],
            ["c", 5000],
            ["d", 0.1],
            ["e", date(2026, 3, 1)],
        ],
        title=None,
    )
    rows = list(sheets.read_rows(data, "x.xlsx", max_rows=100))
    assert [r.number for r in rows] == [1, 2, 3, 4, 5]
    assert [r.cells[1] for r in rows[1:]] == ["1234.56", "5000", "0.1", date(2026, 3, 1)]
    assert rows[1].cells[0] == "a & <b> &lt; &#38; 中文"


async def test_odd_files_are_refused_cleanly(registry: Registry, tree: Tree) -> None:
    d0 = tree.districts[0]
    before = await project_count(registry, tree.city[:4])
    good = xlsx([["项目名称", "总投资"], ["甲", "1"]], title=None)
    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = body.replace(b"</sheetData>", b"<row r='9'><c r='A9'><v>1</v></row></sheetData>")
            dst.writestr(info, body)
    cases = [
        (broken.getvalue(), "x.xlsx", 422),
        (bytes(range(256)) * 8, "x.csv", 422),
        ("项目名称,总投资\n坏\x07字,1\n".encode(), "x.csv", 422),
        ('项目名称,总投资\n"未闭合,1\n'.encode(), "x.csv", 422),
    ]
    for data, name, status in cases:
        r = await upload(registry, d0, data, name)
        assert r.status_code == status, (name, r.text)
        assert r.json()["error"]["code"] and r.json()["error"]["request_id"]
    r = await registry.http.post(
        "/v1/projects/import", data={"file": "not a file"}, headers=registry.auth(d0, "dispatcher")
    )
    assert r.status_code == 422, r.text
    assert await project_count(registry, tree.city[:4]) == before


def test_xml_references_are_decoded_once() -> None:
    cases = {
        "a&#20013;b": "a中b",
        "&#x4E2D;&#X4e2d;": "中中",
        "&#38;lt;": "&lt;",
        "&amp;#123;": "&#123;",
        "&lt;&amp;lt;": "<&lt;",
        "plain": "plain",
    }
    assert {raw: sheets._unescape(raw) for raw in cases} == cases


async def test_a_csv_larger_than_the_default_request_limit_is_accepted(
    registry: Registry, tree: Tree
) -> None:
    # the same 10,000-row sheet is 0.7 MB as .xlsx and about 1.5 MB as .csv: the import path takes
    # bodies up to its own file limit, every other path keeps STEWARD_MAX_BODY_BYTES (1 MiB)
    tag = f"大表{uuid.uuid4().hex[:6]}"
    rows = [["项目名称", "总投资", "建设地点"]] + [
        [f"{tag}第{i:05d}号项目", "1234.56万", "某某经济技术开发区创新大道以北科技路以东地块" * 2]
        for i in range(10_000)
    ]
    data = csv_bytes(rows, bom=True)
    assert 1024 * 1024 < len(data) < importer.MAX_BYTES
    r = await upload(registry, tree.districts[0], data, "项目.csv", dry_run="true")
    assert r.status_code == 200, r.text[:500]
    assert r.json()["rows"] == 10_000 and r.json()["dry_run"] is True
    other = await registry.http.post(
        "/v1/projects",
        content=b"{" + b" " * (1024 * 1024 + 10) + b"}",
        headers={**registry.auth(tree.districts[0], "dispatcher"), "content-type": "application/json"},
    )
    assert other.status_code == 413
