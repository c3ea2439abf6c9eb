"""Rankings: ties share a rank, groups ranked apart, exemptions, top/bottom N, and consequences of
consecutive last places — exactly one admonition at two, exactly one referral at three."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from steward.registry.testing import Tree
from steward.scoring.testing import Scoring, auth, local

from .helpers import fact

# service deductions (−2 per overdue matter) per quarter: unit → number of overdue matters
QUARTERS = {
    "2026-Q1": {"u1": 0, "u2": 1, "u3": 1, "u4": 2, "u5": 3, "u7": 1},
    "2026-Q2": {"u1": 1, "u2": 0, "u3": 2, "u4": 9, "u5": 4},
    "2026-Q3": {"u1": 0, "u2": 0, "u3": 1, "u4": 1, "u5": 2},
}
MONTH = {"2026-Q1": 2, "2026-Q2": 5, "2026-Q3": 8}


async def _ranking(scoring: Scoring, d: str, period: str) -> dict[str, Any]:
    r = await scoring.http.get(
        f"/v1/scoring/rankings/unit_quarterly/{period}", params={"tenant": d}, headers=auth(d)
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_ranking_ties_groups_and_consecutive_last_place(
    scoring: Scoring, tree: Tree, clock: Any
) -> None:
    d = tree.districts[1]
    members = [{"subject_id": f"u{i}", "subject_name": f"单位{i}", "group": "局委"} for i in range(1, 6)]
    members += [
        {"subject_id": "u6", "subject_name": "开发区", "group": "园区"},
        {"subject_id": "u7", "subject_name": "乡镇", "group": "园区"},
    ]
    r = await scoring.http.put(
        "/v1/scoring/rankings/unit_quarterly/members", json={"tenant": d, "members": members}, headers=auth(d)
    )
    assert r.status_code == 204, r.text
    for period, counts in QUARTERS.items():
        for unit, n in counts.items():
            for i in range(n):
                await fact(
                    scoring,
                    d,
                    "matter.overdue",
                    local(2026, MONTH[period], 3, 9, i),
                    unit_id=unit,
                    matter_id=f"{period}-{unit}-{i}",
                )
    # Q2: u4 is exempt (force majeure, with reason and approver) and is not ranked
    r = await scoring.http.post(
        "/v1/scoring/rankings/unit_quarterly/exemptions",
        json={
            "tenant": d,
            "period": "2026-Q2",
            "subject_id": "u4",
            "reason": "不可抗力（汛期停工）",
            "approver": "县长",
        },
        headers=auth(d),
    )
    assert r.status_code == 201, r.text

    preview = await _ranking(scoring, d, "2026-Q1")
    assert preview["published"] is False
    rows = {row["subject_id"]: row for row in preview["rows"]}
    assert {s: (Decimal(rows[s]["total"]), rows[s]["rank"]) for s in ("u1", "u2", "u3", "u4", "u5")} == {
        "u1": (Decimal(100), 1),
        "u2": (Decimal(98), 2),
        "u3": (Decimal(98), 2),
        "u4": (Decimal(96), 4),
        "u5": (Decimal(94), 5),
    }
    assert (rows["u6"]["rank"], rows["u7"]["rank"], rows["u7"]["last"]) == (1, 2, True)  # ranked apart
    assert sorted(s for s in rows if rows[s]["top"]) == ["u1", "u2", "u3", "u6", "u7"]
    assert rows["u5"]["last"] and not rows["u4"]["last"]

    assert (
        await scoring.http.post(
            "/v1/scoring/rankings/unit_quarterly/2026-Q1/publish",
            json={"tenant": d},
            headers=auth(d, "agent"),
        )
    ).status_code == 403
    for period in QUARTERS:
        r = await scoring.http.post(
            f"/v1/scoring/rankings/unit_quarterly/{period}/publish", json={"tenant": d}, headers=auth(d)
        )
        assert r.status_code == 201, r.text
    again = await scoring.http.post(
        "/v1/scoring/rankings/unit_quarterly/2026-Q3/publish", json={"tenant": d}, headers=auth(d)
    )
    assert again.status_code == 409

    q2 = await _ranking(scoring, d, "2026-Q2")
    u4 = next(row for row in q2["rows"] if row["subject_id"] == "u4")
    assert u4["exempt"] and u4["rank"] is None and "不可抗力" in u4["exemption"]
    q3 = await _ranking(scoring, d, "2026-Q3")
    assert q3["published"] is True
    assert [
        (c["subject_id"], c["action"], c["streak"])
        for c in q3["consequences"]
        if c["action"] in ("admonition", "refer_to_organisation_dept")
    ] == [("u5", "refer_to_organisation_dept", 3)]
    q2_grave = [(c["subject_id"], c["action"]) for c in q2["consequences"] if c["action"] == "admonition"]
    assert q2_grave == [("u5", "admonition")]

    async with scoring.db.read() as session:
        counts = dict(
            (
                await session.execute(
                    sa.text(
                        "SELECT action, count(*) FROM scoring_consequences WHERE tenant = :t AND subject_id = 'u5' "
                        "GROUP BY action"
                    ),
                    {"t": d},
                )
            ).all()
        )
        published = (
            await session.execute(
                sa.text(
                    "SELECT count(*) FROM steward_outbox WHERE tenant = :t AND type = 'steward.ranking.published.v1'"
                ),
                {"t": d},
            )
        ).scalar_one()
    assert counts["admonition"] == 1 and counts["refer_to_organisation_dept"] == 1
    assert counts["public_criticism"] == 3  # bottom 3 in each of the three quarters
    assert published == 3

    export = await scoring.http.get(
        "/v1/scoring/rankings/unit_quarterly/2026-Q1/export",
        params={"tenant": d, "format": "csv"},
        headers=auth(d),
    )
    assert export.status_code == 200 and "单位5" in export.text
    xlsx = await scoring.http.get(
        "/v1/scoring/rankings/unit_quarterly/2026-Q1/export",
        params={"tenant": d, "format": "xlsx"},
        headers=auth(d),
    )
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
