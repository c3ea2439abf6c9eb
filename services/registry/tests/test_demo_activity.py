"""The demo data carries reports (on time, late, missing), milestones and service-log entries, and
the summaries over it hold together."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from steward.kit.auth import Principal, Role
from steward.kit.db import Database
from steward.registry.demo import CITY, seed_demo
from steward.registry.reports import summary
from steward.registry.testing import migrate, registry_settings


async def test_demo_seed_has_reports_milestones_and_ledger(make_database: Any, nats_url: str) -> None:
    url = await asyncio.to_thread(migrate, make_database("regdemo"))
    settings = registry_settings(url, nats_url)
    assert (await seed_demo(settings)).startswith("seeded")
    assert await seed_demo(settings) == "demo data already present"
    db = Database(url)
    try:
        async with db.read() as session:
            late, on_time = (
                await session.execute(
                    sa.text(
                        "SELECT count(*) FILTER (WHERE late), count(*) FILTER (WHERE NOT late) FROM progress_reports"
                    )
                )
            ).one()
            statuses = dict(
                (
                    await session.execute(
                        sa.text("SELECT status, count(*) FROM service_log_entries GROUP BY 1")
                    )
                ).all()
            )
            delayed = (
                await session.execute(
                    sa.text(
                        "SELECT count(*) FROM milestones WHERE actual_date IS NULL AND planned_date < now()"
                    )
                )
            ).scalar_one()
            key = (
                await session.execute(sa.text("SELECT period_key FROM progress_reports LIMIT 1"))
            ).scalar_one()
            city = Principal(subject="t", tenant=CITY, roles=frozenset({Role.SUPERVISOR}))
            s = await summary.summary(session, principal=city, tenant=CITY, period=key)
        assert late > 0 and on_time > 0 and delayed > 0
        assert (
            statuses.get("approved", 0) > 0
            and statuses.get("returned", 0) > 0
            and statuses.get("submitted", 0) > 0
        )
        assert s.totals.reported == s.totals.on_time + s.totals.late > 0
        assert s.totals.required == s.totals.reported + s.totals.missing + s.totals.pending
    finally:
        await db.dispose()
