"""Seeding again after users registered projects (a second ``make run`` on the same data): the demo's
items are identified by their own keys, not by their position in the registry's project list, so
a second seed files nothing again and fails on nothing."""

from __future__ import annotations

from sqlalchemy import text

from steward.issues.demo import seed_demo
from steward.issues.testing import Issues, issues_settings
from steward.registry.demo import seed_demo as seed_registry
from steward.registry.testing import Registry, create_project

DEMO_ROWS = """
SELECT (SELECT count(*) FROM matters WHERE idempotency_key LIKE 'demo:%'),
       (SELECT count(DISTINCT idempotency_key) FROM matters WHERE idempotency_key LIKE 'demo:%'),
       (SELECT count(*) FROM procedure_files WHERE created_by = 'demo-seed')
"""


async def _demo_rows(issues: Issues) -> tuple[int, int, int]:
    async with issues.db.read() as s:
        row = (await s.execute(text(DEMO_ROWS))).one()
    return int(row[0]), int(row[1]), int(row[2])


async def test_seed_again_after_a_user_registered_projects(
    issues: Issues, registry: Registry, issues_db_url: str, nats_url: str
) -> None:
    await seed_registry(registry.settings)
    settings = issues_settings(issues_db_url, nats_url, registry.grpc_target)
    first = await seed_demo(settings)
    assert first.startswith("seeded"), first
    before = await _demo_rows(issues)
    assert before[0] == before[1] > 0 and before[2] > 0
    # users register projects: the registry lists them first (newest first)
    for tenant in ("210112", "210106", "210112004"):
        made = await create_project(registry, tenant, name=f"用户新登记项目{tenant}", token_tenant="210100")
        assert made.status_code == 201, made.text
    again = await seed_demo(settings)  # raised idempotency_key_reused before
    assert again.startswith("seeded 0 matters and 0 procedure files"), again
    assert await _demo_rows(issues) == before  # nothing filed twice, on no other project
