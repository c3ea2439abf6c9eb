"""The registry client's project and fingerprint caches (issue 15): a cached project answers only
the caller the registry answered (never another tenant's token), is dropped by the project's
events and by its TTL; a rules fingerprint is computed once per rules document."""

from __future__ import annotations

from typing import Any

import pytest

from steward.api.registry.v1 import registry_pb2 as pb
from steward.events.envelope import CloudEvent
from steward.kit.clients.registry import RegistryClient, follow_projects
from steward.kit.settings import ServiceSettings
from steward.rules import RulesDocument, rules_fingerprint
from steward.rules.presets import preset_names, preset_rules


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def client(ttl: float = 30.0) -> tuple[RegistryClient, list[tuple[str, str | None]], FakeClock]:
    clock = FakeClock()
    reg = RegistryClient(ServiceSettings(), token=lambda: "svc", project_ttl_seconds=ttl, clock=clock)
    calls: list[tuple[str, str | None]] = []

    async def fake_call(method: str, request: Any, token: str | None) -> object:
        if method == "GetRoster":
            calls.append((f"roster:{request.project_id}", token))
            return pb.Roster(project_id="p-1", tenant="210112", missing_roles=[f"v{len(calls)}"])
        calls.append((request.id_or_code, token))
        return pb.Project(id="p-1", code="210112-2026-0001", tenant="210112", name=f"v{len(calls)}")

    reg._call = fake_call  # type: ignore[method-assign]
    return reg, calls, clock


async def test_a_cached_project_answers_only_the_same_caller() -> None:
    reg, calls, _ = client()
    assert (await reg.project("p-1", token="alice")).name == "v1"
    assert (await reg.project("p-1", token="alice")).name == "v1"  # cached
    assert len(calls) == 1
    await reg.project("p-1", token="mallory-of-another-tenant")  # the registry decides for this one
    await reg.project("p-1")  # and for the service's own token
    assert calls == [("p-1", "alice"), ("p-1", "mallory-of-another-tenant"), ("p-1", None)]


async def test_project_events_and_the_ttl_drop_cached_projects() -> None:
    reg, calls, clock = client()
    await reg.project("p-1", token="a")
    await reg.project("210112-2026-0001", token="a")
    reg.invalidate_project("p-1", "210112-2026-0001")
    await reg.project("p-1", token="a")
    await reg.project("210112-2026-0001", token="a")
    assert len(calls) == 4
    reg.invalidate_project("p-1")  # by id alone: also drops the entry asked by code (same project)
    await reg.project("210112-2026-0001", token="a")
    assert len(calls) == 5
    clock.now += 31
    await reg.project("210112-2026-0001", token="a")
    assert len(calls) == 6


class Runtime:
    """What follow_projects uses of a service runtime; records the subscriptions."""

    settings = ServiceSettings()

    def __init__(self) -> None:
        self.subs: list[dict[str, Any]] = []

    def add_subscription(self, subject: str, **kw: Any) -> None:
        self.subs.append({"subject": subject, **kw})


def registry_event(short: str) -> CloudEvent:
    return CloudEvent.model_validate(
        {
            "id": f"e-{short}",
            "source": "/steward/registry",
            "type": f"steward.registry.{short}.v1",
            "tenant": "210112",
            "time": "2026-11-30T00:00:00Z",
            "data": {"project_id": "p-1", "code": "210112-2026-0001"},
        }
    )


async def test_follow_projects_subscribes_per_replica_and_drops_on_any_project_event() -> None:
    reg, calls, _ = client()
    runtime = Runtime()
    follow_projects(runtime, reg, consumer="svc-projects")
    [sub] = runtime.subs
    assert sub["subject"] == "steward.events.*.project.>" and sub["per_replica"] is True
    await reg.project("p-1", token="a")
    await sub["handler"](registry_event("project.updated"))
    await reg.project("p-1", token="a")
    assert len(calls) == 2


async def test_a_roster_is_cached_like_its_project_and_dropped_with_it() -> None:
    reg, calls, clock = client()
    assert (await reg.roster("p-1", token="a")).missing_roles == ["v1"]
    assert (await reg.roster("p-1", token="a")).missing_roles == ["v1"]  # cached
    await reg.roster("p-1", token="mallory-of-another-tenant")
    assert len(calls) == 2
    reg.invalidate_project("p-1")
    assert (await reg.roster("p-1", token="a")).missing_roles == ["v3"]
    clock.now += 31
    await reg.roster("p-1", token="a")
    assert len(calls) == 4


async def test_follow_projects_with_rosters_also_follows_roster_events() -> None:
    reg, calls, _ = client()
    runtime = Runtime()
    follow_projects(runtime, reg, consumer="svc-projects", rosters=True)
    assert [(s["subject"], s["consumer"], s["per_replica"]) for s in runtime.subs] == [
        ("steward.events.*.project.>", "svc-projects", True),
        ("steward.events.*.roster.>", "svc-projects-rosters", True),
    ]
    await reg.roster("p-1", token="a")
    await runtime.subs[1]["handler"](registry_event("roster.assigned"))
    await reg.roster("p-1", token="a")
    assert len(calls) == 2


async def test_the_project_cache_is_off_by_default() -> None:
    reg, calls, _ = client(ttl=0.0)
    await reg.project("p-1")
    await reg.project("p-1")
    assert len(calls) == 2


@pytest.mark.parametrize("same_content", [True, False])
def test_the_fingerprint_is_computed_once_per_document(same_content: bool) -> None:
    reg, _, _ = client()
    doc = RulesDocument()
    assert reg.fingerprint(doc) == rules_fingerprint(doc)
    assert reg._fingerprints[id(doc)] == (doc, rules_fingerprint(doc))
    other = RulesDocument() if same_content else preset_rules(preset_names()[0])
    assert reg.fingerprint(other) == rules_fingerprint(other)  # a new version: a new computation


async def test_an_answer_asked_before_the_event_is_asked_again() -> None:
    """A consumer passes its event's time: a roster cached before the event was made may miss a
    change made before it (whose own event, dropping the entry, can come later: redelivered after
    a consumer error), so it is asked again; one asked after the event serves it from the cache."""
    from datetime import UTC, datetime, timedelta

    reg, calls, _ = client()
    before = datetime.now(UTC) - timedelta(seconds=5)
    assert (await reg.roster("p-1")).missing_roles == ["v1"]
    assert (await reg.project("p-1")).name == "v2"
    assert (await reg.roster("p-1", not_before=before)).missing_roles == ["v1"]  # an older event
    assert (await reg.project("p-1", not_before=before)).name == "v2"
    assert len(calls) == 2
    later = datetime.now(UTC) + timedelta(seconds=1)  # an event made after the answers were cached
    assert (await reg.roster("p-1", not_before=later)).missing_roles == ["v3"]
    assert (await reg.project("p-1", not_before=later)).name == "v4"
    assert len(calls) == 4


async def test_a_project_and_its_roster_come_in_one_call_and_are_cached_together() -> None:
    """The registry's roster carries its project: one GetRoster answers both, cached and dropped
    like the roster; an older registry (no ``Roster.project``) is asked for the project as well."""
    reg, calls, _ = client()
    project = pb.Project(id="p-1", code="210112-2026-0001", tenant="210112", name="with roster")

    async def new_registry(method: str, request: Any, token: str | None) -> object:
        calls.append((method, token))
        return pb.Roster(project_id="p-1", tenant="210112", missing_roles=["manager"], project=project)

    reg._call = new_registry  # type: ignore[method-assign]
    got, roster = await reg.project_and_roster("210112-2026-0001", token="a")
    assert got == project and roster.missing_roles == ["manager"]
    assert await reg.project_and_roster("210112-2026-0001", token="a") == (got, roster)  # cached
    assert calls == [("GetRoster", "a")]
    await reg.project_and_roster("210112-2026-0001", token="mallory-of-another-tenant")
    assert calls[-1] == ("GetRoster", "mallory-of-another-tenant")  # the registry decides for this one
    reg.invalidate_project("p-1")  # the project's or roster's event drops both
    await reg.project_and_roster("210112-2026-0001", token="a")
    assert calls[-1] == ("GetRoster", "a") and len(calls) == 3

    old, old_calls, _ = client()  # a registry that does not fill Roster.project yet
    got, roster = await old.project_and_roster("p-1", token="a")
    assert old_calls == [("roster:p-1", "a"), ("p-1", "a")]
    assert got.id == "p-1" and roster.project_id == "p-1"
