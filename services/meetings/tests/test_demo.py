"""The demo seed (铁西区 210106 on Anyang's rules in `make run`; here a fresh district on the same
preset): a held meeting, decisions filed in the issues service, issued minutes, a deferred late
topic; idempotent."""

from __future__ import annotations

from sqlalchemy import text

from steward.issues.testing import Issues
from steward.meetings.demo import seed_demo
from steward.meetings.testing import Meetings, local, meetings_settings
from steward.registry.testing import Registry, make_tree
from steward.rules import preset_override


async def test_demo_seed(
    meetings: Meetings, issues: Issues, registry: Registry, meetings_db_url: str, nats_url: str
) -> None:
    at = local(2026, 11, 30, 9)  # a Monday: the Saturday before (11/28) was held, 12/5 comes next
    meetings.clock.set(at)
    issues.clock.set(at)
    d = (await make_tree(registry, rules={"d0": preset_override("anyang")})).districts[0]
    settings = meetings_settings(meetings_db_url, nats_url, registry.grpc_target, "127.0.0.1:1")
    first = await seed_demo(settings, d, at=at)
    assert first.startswith("meetings demo:"), first
    assert await seed_demo(settings, d, at=at) == "meetings demo data present already"
    await meetings.sweep()  # the running service files the decisions
    async with meetings.db.read() as s:
        statuses = dict(
            (
                await s.execute(
                    text("SELECT status, count(*) FROM meetings WHERE tenant_code = :t GROUP BY status"),
                    {"t": d},
                )
            ).all()
        )
        filed = (
            await s.execute(text("SELECT count(matter_id) FROM decisions WHERE tenant_code = :t"), {"t": d})
        ).scalar_one()
        minutes = (
            (await s.execute(text("SELECT status FROM minutes WHERE tenant_path LIKE :p"), {"p": f"%{d}"}))
            .scalars()
            .all()
        )
        late = (
            await s.execute(text("SELECT count(*) FROM topics WHERE tenant_code = :t AND late"), {"t": d})
        ).scalar_one()
    assert statuses["held"] == 1 and statuses["scheduled"] >= 2
    assert filed == 3 and minutes == ["issued"] and late == 1
