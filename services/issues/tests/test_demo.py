"""The demo seed: matters of every kind on the registry's demo projects; idempotent."""

from __future__ import annotations

from sqlalchemy import text

from steward.issues.demo import seed_demo
from steward.issues.testing import Issues, issues_settings
from steward.registry.demo import seed_demo as seed_registry
from steward.registry.testing import Registry


async def test_demo_seed_files_every_kind_once(
    issues: Issues, registry: Registry, issues_db_url: str, nats_url: str
) -> None:
    await seed_registry(registry.settings)
    settings = issues_settings(issues_db_url, nats_url, registry.grpc_target)
    first = await seed_demo(settings)
    assert first.startswith("seeded"), first
    async with issues.db.read() as s:
        kinds = dict(
            (
                await s.execute(
                    text("SELECT kind, count(*) FROM matters WHERE tenant_code LIKE '2101%' GROUP BY kind")
                )
            ).all()
        )
        numbers = (
            await s.execute(text("SELECT count(*) FROM matters WHERE tenant_code LIKE '2101%'"))
        ).scalar_one()
    assert set(kinds) == {"obstacle", "procedure", "decision", "complaint"}
    # The README's promise: overdue and escalated matters in the township 浑南区李相街道.
    async with issues.db.read() as s:
        street = (
            await s.execute(
                text("SELECT tier, overdue, escalations FROM matters WHERE tenant_code = '210112004'")
            )
        ).all()
    assert ("government", True, 1) in street  # overdue at the top after an automatic escalation
    assert any(not overdue and escalations >= 2 for _, overdue, escalations in street)
    await seed_demo(settings)
    async with issues.db.read() as s:
        again = (
            await s.execute(text("SELECT count(*) FROM matters WHERE tenant_code LIKE '2101%'"))
        ).scalar_one()
    assert again == numbers
