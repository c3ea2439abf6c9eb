"""The demo seed: scored agents over two quarters (one closed), rankings with a tie and an
admonition, answered surveys with a rectification, projects in all three lights; idempotent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from steward.registry.demo import seed_demo as seed_registry
from steward.registry.testing import Registry
from steward.scoring.demo import seed_demo
from steward.scoring.testing import Scoring, scoring_settings


async def _counts(scoring: Scoring) -> dict[str, Any]:
    async with scoring.db.read() as s:
        q = {
            "entries": "SELECT count(*) FROM scoring_entries WHERE tenant = '210106'",
            "corrections": "SELECT count(*) FROM scoring_entries WHERE tenant = '210106' AND corrects IS NOT NULL",
            "closed": "SELECT count(*) FROM scoring_periods WHERE tenant = '210106'",
            "rankings": "SELECT count(*) FROM scoring_rankings WHERE tenant IN ('210106', '210100')",
            "admonitions": "SELECT count(*) FROM scoring_consequences WHERE tenant = '210106' AND action = 'admonition'",
            "answered": "SELECT count(*) FROM scoring_surveys WHERE tenant = '210106' AND answered_at IS NOT NULL",
            "rectifications": "SELECT count(*) FROM scoring_rectifications WHERE tenant = '210106'",
            "lights": "SELECT count(DISTINCT light) FROM scoring_project_lights WHERE project_id LIKE 'demo-light-%'",
        }
        return {k: (await s.execute(text(v))).scalar_one() for k, v in q.items()}


async def test_demo_seed(scoring: Scoring, registry: Registry, scoring_db_url: str, nats_url: str) -> None:
    await seed_registry(registry.settings)
    settings = scoring_settings(scoring_db_url, nats_url, registry.grpc_target)
    first = await seed_demo(settings)
    assert first.startswith("scoring demo:"), first
    counts = await _counts(scoring)
    assert counts["entries"] > 20 and counts["corrections"] == 1 and counts["closed"] == 1
    assert counts["rankings"] == 3 and counts["admonitions"] == 1
    assert counts["answered"] == 3 and counts["rectifications"] == 2 and counts["lights"] == 3
    async with scoring.db.read() as s:
        ties = (
            await s.execute(
                text(
                    "SELECT count(*) FROM scoring_rankings r, jsonb_array_elements(r.rows) x "
                    "WHERE r.tenant = '210106' AND x->>'rank' = '2'"
                )
            )
        ).scalar_one()
    assert ties >= 2  # 自然资源局 and 生态环境局 share second place
    await seed_demo(settings)
    assert await _counts(scoring) == counts
