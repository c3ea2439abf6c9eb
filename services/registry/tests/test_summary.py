"""Summaries (情况通报) and their CSV/XLSX exports agree with the reports underneath them, on
generated data over a city with several districts."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

from openpyxl import load_workbook

from steward.kit.calendar import DEFAULT_TZ
from steward.registry.reports.testing import staffed_project
from steward.registry.testing import Registry, make_tree
from steward.rules import preset_override

PERIOD = "2026-10-H2"
STAGES = ["signed", "preparing", "new_start"]


async def test_summary_and_exports_match_the_reports(registry: Registry) -> None:
    rnd = random.Random(20261023)
    tree = await make_tree(registry, rules={"d0": preset_override("anyang"), "d1": preset_override("anyang")})
    city = tree.city
    long_ago = datetime(2026, 1, 5, tzinfo=DEFAULT_TZ)
    expected: dict[str, dict[str, Any]] = {}
    for n in range(10):
        tenant = tree.districts[n % 2]
        plan = Decimal(rnd.randrange(1_000_000, 90_000_000)) + Decimal(rnd.randrange(100)) / 100
        s = await staffed_project(
            registry,
            tenant,
            roles=["agent"],
            name=f"生成项目{n}",
            investment=f"{rnd.randrange(1, 9)}亿",
            annual_plan_investment=str(plan),
            backdate=long_ago,
        )
        stage = STAGES[n % 3]
        for to in STAGES[: STAGES.index(stage) + 1]:
            await registry.http.post(
                f"/v1/projects/{s.project['id']}/transitions",
                json={"to_stage": to, "reason": "生成"},
                headers=registry.auth(tenant, "tenant_admin"),
            )
        cumulative = Decimal(0)
        ytd = Decimal(0)
        row: dict[str, Any] = {"tenant": tenant, "stage": stage, "plan": plan, "status": "missing"}
        for period in ("2026-10-H1", PERIOD):
            if rnd.random() < 0.3:
                continue  # this period not reported
            amount = Decimal(rnd.randrange(0, 5_000_000)) + Decimal(rnd.randrange(100)) / 100
            cumulative += amount
            r = await registry.http.post(
                "/v1/reports",
                json={
                    "project": s.project["id"],
                    "schedule_key": "semi_monthly_progress",
                    "period": period,
                    "investment_period": str(amount),
                    "investment_cumulative": str(cumulative),
                },
                headers=registry.auth(tenant, "steward", sub=s.subjects["agent"]),
            )
            assert r.status_code == 201, r.text
            ytd += amount
            if period == PERIOD:
                row.update(
                    status=r.json()["status"],
                    amount=amount,
                    cumulative=cumulative,
                    delay=r.json()["delay_seconds"],
                )
        row["ytd"] = ytd
        expected[s.project["code"]] = row

    h = registry.auth(city, "supervisor")
    summary = (
        await registry.http.get("/v1/reports/summary", params={"tenant": city, "period": PERIOD}, headers=h)
    ).json()
    items = {i["project_code"]: i for i in summary["items"]}
    assert set(items) == set(expected)
    for code, want in expected.items():
        got = items[code]
        assert got["status"] == want["status"] and got["stage"] == want["stage"]
        assert Decimal(got["investment_ytd"]) == want["ytd"]
        assert Decimal(got["annual_plan_investment"]) == want["plan"]
        if want["status"] != "missing":
            assert Decimal(got["investment_period"]) == want["amount"]
            assert Decimal(got["investment_cumulative"]) == want["cumulative"]
            assert got["delay_seconds"] == want["delay"]
    # per tenant and city-wide figures agree with the rows
    for t in summary["tenants"] + [summary["totals"]]:
        rows = [w for w in expected.values() if t is summary["totals"] or w["tenant"] == t["tenant"]]
        statuses = Counter(w["status"] for w in rows)
        assert (t["required"], t["missing"], t["late"], t["on_time"]) == (
            len(rows),
            statuses["missing"],
            statuses["late"],
            statuses["on_time"],
        )
        assert t["reported"] == t["late"] + t["on_time"]
        assert Decimal(t["investment_period"]) == sum((w.get("amount", Decimal(0)) for w in rows), Decimal(0))
        assert Decimal(t["investment_ytd"]) == sum((w["ytd"] for w in rows), Decimal(0))
        plan = sum((w["plan"] for w in rows), Decimal(0))
        assert Decimal(t["annual_plan"]) == plan
        assert Decimal(t["plan_percent"]) == (Decimal(t["investment_ytd"]) * 100 / plan).quantize(
            Decimal("0.1")
        )
        assert t["by_stage"] == dict(sorted(Counter(w["stage"] for w in rows).items()))
    assert [t["tenant"] for t in summary["tenants"]] == sorted(tree.districts[:2])

    # CSV (projects and tenants) agrees with the JSON summary
    csv_projects = await registry.http.get(
        "/v1/reports/summary/export", params={"tenant": city, "period": PERIOD, "format": "csv"}, headers=h
    )
    assert csv_projects.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_projects.content.decode("utf-8-sig"))))
    assert rows[0][0] == "项目编号" and len(rows) == 1 + len(expected)
    status_zh = {"on_time": "按时", "late": "迟报", "missing": "未报"}
    for line in rows[1:]:
        want = expected[line[0]]
        assert line[7] == status_zh[want["status"]]
        assert Decimal(line[11]) == want["ytd"]
        assert (Decimal(line[9]) if line[9] else None) == want.get("amount")
    csv_tenants = await registry.http.get(
        "/v1/reports/summary/export",
        params={"tenant": city, "period": PERIOD, "format": "csv", "sheet": "tenants"},
        headers=h,
    )
    trows = list(csv.reader(io.StringIO(csv_tenants.content.decode("utf-8-sig"))))
    total = trows[-1]
    assert total[0] == "合计" and int(total[2]) == summary["totals"]["required"]
    assert Decimal(total[9]) == Decimal(summary["totals"]["investment_ytd"])

    # XLSX: both sheets agree too
    xlsx = await registry.http.get(
        "/v1/reports/summary/export", params={"tenant": city, "period": PERIOD, "format": "xlsx"}, headers=h
    )
    wb = load_workbook(io.BytesIO(xlsx.content))
    head = [list(r) for r in wb["汇总"].iter_rows(min_row=3, values_only=True)]
    assert [r[0] for r in head] == [*sorted(tree.districts[:2]), "合计"]
    for r, t in zip(head, [*summary["tenants"], summary["totals"]], strict=True):
        assert (r[2], r[3], r[5], r[6]) == (t["required"], t["reported"], t["late"], t["missing"])
        assert Decimal(str(r[9])) == Decimal(t["investment_ytd"])
        assert Decimal(str(r[10])) == Decimal(t["annual_plan"])
    detail = [list(r) for r in wb["明细"].iter_rows(min_row=2, values_only=True)]
    assert {r[0] for r in detail} == set(expected)
    for r in detail:
        assert Decimal(str(r[11])) == expected[r[0]]["ytd"]

    # a district sees only its part, a sibling's view of another district is refused
    d0 = (
        await registry.http.get(
            "/v1/reports/summary", params={"period": PERIOD}, headers=registry.auth(tree.districts[0])
        )
    ).json()
    assert {i["tenant"] for i in d0["items"]} == {tree.districts[0]}
    refused = await registry.http.get(
        "/v1/reports/summary",
        params={"tenant": tree.districts[0], "period": PERIOD},
        headers=registry.auth(tree.districts[1]),
    )
    assert refused.status_code == 404
