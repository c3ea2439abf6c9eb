"""Small helpers shared by the scoring tests."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from steward.rules.scoring_presets import ANYANG_AGENT_SCORECARD, ANYANG_AGENT_SURVEY, ANYANG_UNIT_RANKING
from steward.scoring.testing import Scoring, auth

_ids = itertools.count(1)

UNIT_CARD = {
    "key": "unit",
    "name_zh": "重点项目任务单位综合考评",
    "subject_kind": "unit",
    "period": "quarter",
    "dimensions": [
        {"key": "progress", "name_zh": "项目推进", "max_points": "60"},
        {"key": "service", "name_zh": "服务保障", "max_points": "40"},
    ],
    "rules": [
        {
            "key": "matter_overdue",
            "event_type": "matter.overdue",
            "dimension": "service",
            "points": "-2",
            "subject": "unit",
            "reason_zh": "问题逾期未解决，每次扣2分",
        },
    ],
}
RULES: dict[str, Any] = {
    "scorecards": {
        "definitions": [ANYANG_AGENT_SCORECARD, UNIT_CARD],
        "rankings": [{**ANYANG_UNIT_RANKING, "scorecard": "unit"}],
        "surveys": [ANYANG_AGENT_SURVEY],
    }
}


async def fact(
    scoring: Scoring, tenant: str, type_: str, at: Any, *, fact_id: str | None = None, **data: Any
) -> list[dict[str, Any]]:
    r = await scoring.http.post(
        "/v1/scoring/facts",
        json={
            "tenant": tenant,
            "type": type_,
            "id": fact_id or f"f{next(_ids)}",
            "occurred_at": at.isoformat(),
            "data": data,
        },
        headers=auth(tenant, "supervisor"),
    )
    assert r.status_code == 201, r.text
    return r.json()["recorded"]


async def score(
    scoring: Scoring, tenant: str, subject: str, period: str = "2026-Q3", card: str = "agent"
) -> dict[str, Any]:
    r = await scoring.http.get(
        f"/v1/scoring/scores/{card}/{subject}",
        params={"period": period, "tenant": tenant},
        headers=auth(tenant),
    )
    assert r.status_code == 200, r.text
    return r.json()


def dims(body: dict[str, Any]) -> dict[str, Decimal]:
    return {d["key"]: Decimal(d["value"]) for d in body["dimensions"]}
