"""Notify caches each project and its roster (a filing's recipients without two registry calls):
the registry is asked once per project, and a roster change reaches the very next event — the
change's own event, earlier in the stream, drops the entry before any later event is planned."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from steward.kit.clients.registry import RegistryClient
from steward.notify.app import PROJECT_CACHE_SECONDS
from steward.notify.subscribers import EventConsumer
from steward.notify.testing import Notify, generic_event, overdue_rules, scenario
from steward.registry.testing import Registry


class CountingRegistry:
    """A registry client with its GetProject/GetRoster calls counted."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0
        original = inner._call

        async def _call(method: str, request: object, token: str | None) -> object:
            if method in ("GetProject", "GetRoster"):
                self.calls += 1
            return await original(method, request, token)

        inner._call = _call


async def _inbox(notify: Notify, event_id: str) -> set[str]:
    async with notify.db.read() as session:
        rows = await session.execute(
            sa.text("SELECT recipient_subject FROM inbox_messages WHERE event_id = :e"), {"e": event_id}
        )
        return {r[0] for r in rows}


async def test_a_project_is_looked_up_once_and_a_roster_change_reaches_the_next_event(
    notify: Notify, registry: Registry
) -> None:
    rules = overdue_rules()
    rules["notify"]["routes"].append(
        {"event_type": "matter.filed", "recipients": ["commander"], "channels": ["inbox"]}
    )
    sc = await scenario(registry, rules=rules, tag="cache")
    # notify's own client, but not the one the running service's consumer shares
    client = RegistryClient(notify.settings, project_ttl_seconds=PROJECT_CACHE_SECONDS)
    counted = CountingRegistry(client)
    consumer = EventConsumer(notify.db, client, notify.settings)
    hdr = registry.auth(sc.tenant, "dispatcher")

    def filed(title: str) -> Any:
        return generic_event(sc.tenant, "matter.filed", {"project_id": sc.project_id, "title": title})

    first = filed("施工用电接入受阻")
    await consumer.handle(first)
    assert await _inbox(notify, first.id) == set()  # nobody holds the commander role yet
    asked = counted.calls
    assert asked == 2  # the project and its roster

    r = await registry.http.post(
        f"/v1/projects/{sc.project_id}/roster",
        json={"role_key": "commander", "person_id": sc.steward["id"]},
        headers=hdr,
    )
    assert r.status_code == 201, r.text
    # without the roster's event the cached roster is used: no registry call
    unchanged = filed("用地手续未批")
    await consumer.handle(unchanged)
    assert counted.calls == asked
    assert await _inbox(notify, unchanged.id) == set()

    # the roster's event comes first in the stream (the same batch here): the next event sees it
    assigned = generic_event(
        sc.tenant,
        "roster.assigned",
        {"project_id": sc.project_id, "code": "", "role_key": "commander", "person_id": sc.steward["id"]},
    )
    after = filed("环评批复延迟")
    outcomes = await consumer.handle_batch([assigned, after])
    assert all(o.error is None for o in outcomes)
    assert await _inbox(notify, after.id) == {sc.steward["subject"]}
    assert counted.calls == asked + 2
    await client.close()
