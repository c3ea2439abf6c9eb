"""Period summaries put the quarter's focus first (seed 001 (八), rules reports.quarter_focus): the
summary carries the focus list and its project rows lead, in the focus list's order — Q1 open
procedures (network-plan nodes) per project, Q2 not started against plan, Q3 investment against
plan (furthest behind first), Q4 completion and next year's reserve."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

from steward.kit.calendar import DEFAULT_TZ
from steward.kit.errors import ValidationFailed
from steward.registry.reports.summary import quarter_of
from steward.registry.reports.testing import staffed_project
from steward.registry.testing import Registry, make_tree


def test_quarter_of_periods() -> None:
    assert quarter_of("2026-03") == "2026-Q1"
    assert quarter_of("2026-04-H1") == "2026-Q2"
    assert quarter_of("2026-09-H2") == "2026-Q3"
    assert quarter_of("2026-W40") == "2026-Q4"  # Thursday Oct 1
    assert quarter_of("2026-W39") == "2026-Q3"  # Thursday Sep 24
    assert quarter_of("2026-W53") == "2026-Q4"  # Thursday Dec 31
    assert quarter_of("2027-W01") == "2027-Q1"  # Thursday Jan 7
    for bad in ("2026-W60", "2026-13", "2026-00-H1", "0000-W01"):
        with pytest.raises(ValidationFailed):
            quarter_of(bad)


async def test_summary_leads_with_the_quarters_focus(registry: Registry) -> None:
    tree = await make_tree(registry)
    d = tree.districts[0]
    h = registry.auth(d, "dispatcher")
    long_ago = datetime(2026, 1, 5, tzinfo=DEFAULT_TZ)
    made = []
    for name, plan, extra in (
        ("甲项目", "1000万", {}),
        ("乙项目", "2000万", {"planned_start": "2026-05-01"}),
        ("丙项目", "500万", {"planned_completion": "2026-12-20", "planned_start": "2025-06-01"}),
    ):
        made.append(
            await staffed_project(
                registry,
                d,
                roles=["specialist"],
                name=name,
                annual_plan_investment=plan,
                backdate=long_ago,
                **extra,
            )
        )
    a, b, c = (s.project["id"] for s in made)
    r = await registry.http.post(
        f"/v1/projects/{c}/transitions", json={"to_stage": "signed", "reason": "签约"}, headers=h
    )
    assert r.status_code == 200, r.text

    async def nodes(pid: str, *items: tuple[str, str]) -> None:
        r = await registry.http.post(
            f"/v1/projects/{pid}/milestones",
            json={"items": [{"name": n, "planned_date": d_} for n, d_ in items]},
            headers=h,
        )
        assert r.status_code == 201, r.text

    await nodes(b, ("取得用地规划许可", "2026-03-10"))
    await nodes(c, ("环评批复", "2026-02-10"), ("施工许可", "2026-03-20"), ("竣工验收", "2026-11-30"))

    async def report(s: Any, period: str, amount: str, cumulative: str) -> None:
        r = await registry.http.post(
            "/v1/reports",
            json={
                "project": s.project["id"],
                "schedule_key": "monthly_progress",
                "period": period,
                "investment_period": amount,
                "investment_cumulative": cumulative,
            },
            headers=registry.auth(d, "steward", sub=s.subjects["specialist"]),
        )
        assert r.status_code == 201, r.text

    # year to date by August: 甲 500万 of 1000万 (50%), 乙 200万 of 2000万 (10%), 丙 400万 of 500万 (80%)
    await report(made[0], "2026-07", "300万", "300万")
    await report(made[0], "2026-08", "200万", "500万")
    await report(made[1], "2026-08", "200万", "200万")
    await report(made[2], "2026-07", "400万", "400万")

    async def summary(period: str) -> dict[str, Any]:
        r = await registry.http.get("/v1/reports/summary", params={"tenant": d, "period": period}, headers=h)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def order(s: dict[str, Any]) -> list[str]:
        return [i["project_id"] for i in s["items"] if i["schedule_key"] == "monthly_progress"]

    q1 = await summary("2026-03")
    assert list(q1)[:6] == ["tenant", "period", "schedule_key", "generated_at", "calendar_fallback", "focus"]
    assert (q1["focus"]["quarter"], q1["focus"]["focus"], q1["focus"]["focus_zh"]) == (
        "2026-Q1",
        "permits",
        "手续办理",
    )
    assert [(x["project_id"], x["open_nodes"]) for x in q1["focus"]["items"]] == [
        (b, ["取得用地规划许可"]),
        (c, ["环评批复", "施工许可"]),
    ]
    assert order(q1) == [b, c, a]  # without the focus: 甲, 乙, 丙

    q2 = await summary("2026-05")
    assert q2["focus"]["focus"] == "starts"
    # 乙 planned to start in May, 丙 (signed) in 2025: neither started; 甲 has no planned start
    assert [x["project_id"] for x in q2["focus"]["items"]] == [b, c]
    assert order(q2) == [b, c, a]

    q3 = await summary("2026-08")
    assert (q3["focus"]["quarter"], q3["focus"]["focus"]) == ("2026-Q3", "investment")
    got = [(x["project_id"], x["plan_percent"], x["investment_ytd"]) for x in q3["focus"]["items"]]
    assert got == [(b, "10.0", "2000000.00"), (a, "50.0", "5000000.00"), (c, "80.0", "4000000.00")]
    assert order(q3) == [b, a, c]  # furthest behind plan first
    assert Decimal(q3["totals"]["investment_ytd"]) == Decimal("11000000.00")

    q4 = await summary("2026-10")
    assert q4["focus"]["focus"] == "completion"
    assert [(x["project_id"], x["category"]) for x in q4["focus"]["items"]] == [(c, "not_completed")]
    assert order(q4) == [c, a, b]

    xlsx = await registry.http.get(
        "/v1/reports/summary/export", params={"tenant": d, "period": "2026-08", "format": "xlsx"}, headers=h
    )
    wb = load_workbook(io.BytesIO(xlsx.content))
    assert wb.sheetnames[0] == "本季重点"
    rows = list(wb["本季重点"].iter_rows(min_row=3, values_only=True))
    assert [r[0] for r in rows] == [made[1].project["code"], made[0].project["code"], made[2].project["code"]]
