"""Circulars (情况通报): compiled from a semi-monthly period's summary, naming exactly the projects
that reported late or not at all; DOCX (opened with python-docx) and printable HTML; DRC roles only."""

from __future__ import annotations

import io
from datetime import datetime

import sqlalchemy as sa
from docx import Document

from steward.kit.calendar import DEFAULT_TZ
from steward.registry.reports.testing import staffed_project
from steward.registry.testing import EventTap, Registry, make_tree
from steward.rules import preset_override

PERIOD = "2026-11-H1"  # Anyang: due on the 12th (a Thursday), circular on the 13th


async def _report(registry: Registry, tenant: str, s: object, amount: str, text: str) -> dict:  # type: ignore[type-arg]
    r = await registry.http.post(
        "/v1/reports",
        json={
            "project": s.project["id"],  # type: ignore[attr-defined]
            "schedule_key": "semi_monthly_progress",
            "period": PERIOD,
            "investment_period": amount,
            "investment_cumulative": amount,
            "progress_text": text,
        },
        headers=registry.auth(tenant, "steward", sub=s.subjects["agent"]),  # type: ignore[attr-defined]
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_circular_names_late_and_missing_and_renders(registry: Registry, tap: EventTap) -> None:
    tree = await make_tree(registry, rules={"d0": preset_override("anyang"), "d1": preset_override("anyang")})
    d = tree.districts[0]
    long_ago = datetime(2026, 1, 5, tzinfo=DEFAULT_TZ)

    async def project(name: str, tenant: str = d) -> object:
        return await staffed_project(
            registry, tenant, roles=["agent"], name=name, annual_plan_investment="1亿", backdate=long_ago
        )

    punctual, tardy, silent = await project("按时项目"), await project("迟报项目"), await project("未报项目")
    elsewhere = await project("别区未报项目", tree.districts[1])
    on_time = await _report(registry, d, punctual, "3000万", "主体结构施工中")
    await _report(registry, d, tardy, "500万", "场平完成")
    async with (
        registry.db.transaction() as session
    ):  # reported before the due time (the clock is past it now)
        await session.execute(
            sa.text("UPDATE progress_reports SET late = false, delay_seconds = 0 WHERE id = :id"),
            {"id": on_time["id"]},
        )

    specialist = await registry.http.post(
        "/v1/circulars", json={"tenant": d, "period": PERIOD}, headers=registry.auth(d, "specialist")
    )
    assert specialist.status_code == 403
    early = await registry.http.post(
        "/v1/circulars", json={"tenant": d, "period": "2026-12-H2"}, headers=registry.auth(d, "dispatcher")
    )
    assert early.status_code == 422 and early.json()["error"]["code"] == "period_not_due"

    r = await registry.http.post(
        "/v1/circulars",
        json={"tenant": d, "period": PERIOD, "remarks": "各指挥部要按时报送。"},
        headers=registry.auth(d, "dispatcher", sub="drc-office"),
    )
    assert r.status_code == 201, r.text
    c = r.json()
    codes = {name: s.project["code"] for name, s in [("p", punctual), ("t", tardy), ("s", silent)]}  # type: ignore[attr-defined]
    assert [x["code"] for x in c["content"]["late"]] == [codes["t"]]
    assert [x["code"] for x in c["content"]["missing"]] == [codes["s"]]
    assert c["number"] == 1 and c["issued_by"] == "drc-office"
    totals = c["content"]["totals"]
    assert (totals["required"], totals["on_time"], totals["late"], totals["missing"]) == (3, 1, 1, 1)
    assert totals["investment_period"] == "35000000.00" and totals["plan_percent"] == "11.7"
    again = await registry.http.post(
        "/v1/circulars", json={"tenant": d, "period": PERIOD}, headers=registry.auth(d, "tenant_admin")
    )
    assert again.status_code == 409

    docx = await registry.http.get(f"/v1/circulars/{c['id']}/document", headers=registry.auth(d, "leader"))
    assert docx.status_code == 200
    assert docx.headers["content-type"].startswith("application/vnd.openxmlformats")
    document = Document(io.BytesIO(docx.content))
    paragraphs = [p.text for p in document.paragraphs]
    criticised = [p for p in paragraphs if "通报批评" in p]
    assert len(criticised) == 2
    assert "迟报项目" in criticised[0] and codes["t"] in criticised[0]
    assert "未报项目" in criticised[1] and codes["s"] in criticised[1]
    assert not any("按时项目" in p or "别区" in p for p in criticised)
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    assert "主体结构施工中" in cells and "3,000.00" in cells  # progress and 万元
    html = await registry.http.get(
        f"/v1/circulars/{c['id']}/document", params={"format": "html"}, headers=registry.auth(d, "leader")
    )
    assert html.headers["content-type"].startswith("text/html") and "@media print" in html.text
    assert codes["t"] in html.text and codes["s"] in html.text

    listed = await registry.http.get(
        "/v1/circulars", params={"tenant": tree.city}, headers=registry.auth(tree.city)
    )
    assert [(x["id"], x["late"], x["missing"]) for x in listed.json()["items"]] == [(c["id"], 1, 1)]
    sibling = await registry.http.get(f"/v1/circulars/{c['id']}", headers=registry.auth(tree.districts[1]))
    assert sibling.status_code == 404
    ent = await registry.http.get("/v1/circulars", headers=registry.auth(d, "enterprise_contact"))
    assert ent.json()["items"] == []

    unnamed = await registry.http.post(
        "/v1/circulars",
        json={"tenant": tree.city, "period": PERIOD},
        headers=registry.auth(tree.city, "dispatcher"),
    )
    assert unnamed.status_code == 422 and unnamed.json()["error"]["code"] == "no_semi_monthly_schedule"
    # the city's circular covers both districts and names the other district's silent project too
    city = await registry.http.post(
        "/v1/circulars",
        json={"tenant": tree.city, "period": PERIOD, "schedule_key": "semi_monthly_progress"},
        headers=registry.auth(tree.city, "dispatcher"),
    )
    assert city.status_code == 201, city.text
    assert {x["code"] for x in city.json()["content"]["missing"]} == {
        codes["s"],
        elsewhere.project["code"],  # type: ignore[attr-defined]
    }

    [event] = await tap.collect(f"steward.events.{d}.circular.issued", expect=1)
    assert event["data"]["late_projects"] == [codes["t"]]
    assert event["data"]["missing_projects"] == [codes["s"]]
