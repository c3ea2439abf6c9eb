"""Notify caches each project and its roster, asked in one call (the registry's roster carries its
project; a filing's recipients without two registry calls):
an answer serves the events made before it was asked (a batch, a backlog), an event made after a
change always sees it (the cached answer is older than the event: asked again), and the change's
own event drops the entry before any later event of its batch is planned."""

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

    older = filed("用地手续未批")  # made before the first look-up: an event of a backlog, say
    first = filed("施工用电接入受阻")
    await consumer.handle(first)
    assert await _inbox(notify, first.id) == set()  # nobody holds the commander role yet
    asked = counted.calls
    assert asked == 1  # the project and its roster: one GetRoster (the roster carries its project)
    await consumer.handle(older)  # made before those answers were asked: served from the cache
    assert counted.calls == asked
    assert await _inbox(notify, older.id) == set()

    r = await registry.http.post(
        f"/v1/projects/{sc.project_id}/roster",
        json={"role_key": "commander", "person_id": sc.steward["id"]},
        headers=hdr,
    )
    assert r.status_code == 201, r.text
    # an event made after the change sees it, although the change's own event has not come (it can
    # come later: redelivered after a consumer error): the cached roster is older than the event
    after = filed("环评批复延迟")
    await consumer.handle(after)
    assert await _inbox(notify, after.id) == {sc.steward["subject"]}
    assert counted.calls == asked + 1

    # the change's own event drops the entry too (before any later event of its batch is planned)
    assigned = generic_event(
        sc.tenant,
        "roster.assigned",
        {"project_id": sc.project_id, "code": "", "role_key": "commander", "person_id": sc.steward["id"]},
    )
    outcomes = await consumer.handle_batch([assigned, older])
    assert all(o.error is None for o in outcomes)
    assert counted.calls == asked + 2
    await client.close()
