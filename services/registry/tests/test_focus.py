"""The dispatch rhythm: each quarter's focus from the rules and its project list (Q1 permits, Q2
starts, Q3 investment, Q4 completion + next year's reserve); half-year 拉练/观摩 as service-log kinds."""

from __future__ import annotations

from typing import Any

from steward.registry.testing import Registry, create_project, make_tree


async def test_quarter_focus_lists(registry: Registry) -> None:
    tree = await make_tree(registry, rules={"d1": {"reports": {"quarter_focus": {"Q1": "starts"}}}})
    d = tree.districts[0]
    headers = registry.auth(d, "dispatcher")

    async def make(name: str, **body: Any) -> str:
        r = await create_project(registry, d, name=name, **body)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    late_start = await make("应开未开", stage="preparing", planned_start="2026-05-01")
    await make("已开工", stage="new_start", planned_start="2026-05-01")
    reserve = await make("来年储备", stage="signed", planned_start="2027-03-01")
    finishing = await make(
        "年内竣工",
        stage="continuing",
        planned_start="2025-03-01",
        planned_completion="2026-12-20",
        annual_plan_investment="1亿",
    )
    m = await registry.http.post(
        f"/v1/projects/{late_start}/milestones",
        json={
            "items": [
                {"name": "取得用地规划许可", "planned_date": "2026-03-10"},
                {"name": "取得施工许可", "planned_date": "2026-04-10"},
            ]
        },
        headers=headers,
    )
    assert m.status_code == 201, m.text

    async def focus(quarter: str, tenant: str = d) -> dict[str, Any]:
        r = await registry.http.get(
            "/v1/reports/focus",
            params={"tenant": tenant, "quarter": quarter},
            headers=registry.auth(tenant, "dispatcher"),
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    q1 = await focus("2026-Q1")
    assert (q1["focus"], q1["focus_zh"]) == ("permits", "手续办理")
    assert [(x["project_id"], x["open_nodes"]) for x in q1["items"]] == [(late_start, ["取得用地规划许可"])]
    q2 = await focus("2026-Q2")
    assert q2["focus"] == "starts" and [x["project_id"] for x in q2["items"]] == [late_start]
    q3 = await focus("2026-Q3")
    assert q3["focus"] == "investment"
    assert [(x["project_id"], x["plan_percent"]) for x in q3["items"]] == [(finishing, "0.0")]
    q4 = await focus("2026-Q4")
    assert q4["focus"] == "completion"
    assert [(x["project_id"], x["category"]) for x in q4["items"]] == [
        (finishing, "not_completed"),
        (reserve, "reserve"),
    ]

    other = await focus("2026-Q1", tree.districts[1])  # the district's rules changed its Q1 focus
    assert other["focus"] == "starts" and other["items"] == []
    bad = await registry.http.get("/v1/reports/focus", params={"quarter": "2026-Q5"}, headers=headers)
    assert bad.status_code == 422

    review = await registry.http.post(
        "/v1/service-log",
        json={
            "project": late_start,
            "visited_at": "2026-07-02T10:00:00+08:00",
            "kind": "field_review",
            "place": "项目现场",
            "participants": [{"name": "区领导"}],
            "problems_solved": "半年拉练现场督导",
        },
        headers=registry.auth(d, "leader", sub="leader-1"),
    )
    assert review.status_code == 201, review.text
    assert review.json()["kind"] == "field_review"


async def test_a_quarter_without_calendar_dates_is_a_422(registry: Registry) -> None:
    """``0000-Q1`` and ``9999-Q4`` match the documented pattern but have no dates: 422, not a 500."""
    tree = await make_tree(registry)
    for quarter in ("0000-Q1", "9999-Q4"):
        r = await registry.http.get(
            "/v1/reports/focus",
            params={"tenant": tree.city, "quarter": quarter},
            headers=registry.auth(tree.city, "dispatcher"),
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "invalid_quarter"
