"""Client of the registry's gRPC API for the other services: deadlines on every call, UNAVAILABLE
retried with backoff (channel policy), and caches — tenant ancestry (immutable) and effective
rules per tenant, dropped for a tenant's subtree when its ``rules.updated`` event arrives."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, cast

import grpc
import structlog
from google.protobuf.timestamp_pb2 import Timestamp

from steward.api.registry.v1 import registry_pb2 as pb
from steward.api.registry.v1 import registry_pb2_grpc as pb_grpc
from steward.events.envelope import CloudEvent
from steward.kit.clients.calling import GrpcClient, TokenSource
from steward.kit.errors import DomainError, Forbidden, NotFound, Unauthenticated, ValidationFailed
from steward.kit.settings import ServiceSettings
from steward.rules import RulesDocument, rules_fingerprint

log = structlog.get_logger(__name__)
MAX_CACHED_PROJECTS = 10_000

_ERRORS: dict[grpc.StatusCode, type[DomainError]] = {
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.INVALID_ARGUMENT: ValidationFailed,
    grpc.StatusCode.PERMISSION_DENIED: Forbidden,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
}


class RegistryUnavailable(DomainError):
    status_code = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE
    code = "registry_unavailable"


_V = TypeVar("_V")


class _Cached(Generic[_V]):
    """Answers per (what was asked, the caller's token) for ``ttl`` seconds (0: nothing is kept), at
    most ``MAX_CACHED_PROJECTS`` of them (the oldest goes first). Each remembers when it was asked
    (wall clock), for callers that need an answer newer than something they saw (``not_before``)."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl, self.clock = ttl, clock
        self._entries: dict[tuple[str, str | None], tuple[float, float, _V]] = {}

    def get(self, key: tuple[str, str | None], not_before: datetime | None = None) -> _V | None:
        hit = self._entries.get(key)
        if hit is None or self.clock() - hit[0] >= self.ttl:
            return None
        if not_before is not None and hit[1] < not_before.timestamp():
            return None  # asked before that moment: a change made before it may be missing
        return hit[2]

    def put(self, key: tuple[str, str | None], value: _V, asked_at: float) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= MAX_CACHED_PROJECTS:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (self.clock(), asked_at, value)

    async def answer(
        self, key: tuple[str, str | None], not_before: datetime | None, ask: Callable[[], Awaitable[object]]
    ) -> _V:
        """The cached answer, else ``ask()``'s (kept, with the moment it was asked)."""
        cached = self.get(key, not_before)
        if cached is not None:
            return cached
        asked_at = time.time()
        result: Any = await ask()
        self.put(key, result, asked_at)
        return cast(_V, result)

    def drop(self, about: Callable[[str, _V], bool]) -> None:
        """Forget every entry ``about(asked, answer)`` says concerns what changed."""
        for key in [k for k, (_, _, v) in self._entries.items() if about(k[0], v)]:
            del self._entries[key]


class RegistryClient(GrpcClient):
    stub = pb_grpc.RegistryServiceStub
    errors = _ERRORS
    unavailable = RegistryUnavailable
    service = "registry"

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        token: TokenSource | None = None,
        rules_ttl_seconds: float = 300.0,
        project_ttl_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            settings, settings.registry_grpc_target, token=token, timeout=settings.grpc_call_timeout_seconds
        )
        self._rules_ttl = rules_ttl_seconds
        self._clock = clock
        self._ancestry: dict[str, list[pb.Tenant]] = {}
        self._rules: dict[str, tuple[float, RulesDocument, list[str]]] = {}
        self._fingerprints: dict[int, tuple[RulesDocument, str]] = {}
        # projects and their rosters, per (id or code, the caller's token): an entry answers only the
        # same caller the registry already answered with its scope, never another tenant's; dropped
        # on the project's ``project.*`` and ``roster.*`` events (follow_projects, or the caller's
        # own consumer) and after project_ttl_seconds at the latest
        self._projects: _Cached[pb.Project] = _Cached(project_ttl_seconds, clock)
        self._rosters: _Cached[pb.Roster] = _Cached(project_ttl_seconds, clock)

    async def project(
        self, id_or_code: str, *, token: str | None = None, not_before: datetime | None = None
    ) -> pb.Project:
        """A project; with a user's ``token`` the registry applies that user's scope. Cached per
        caller (token) for ``project_ttl_seconds``, dropped on the project's events. ``not_before``:
        only an answer the registry gave at or after that moment will do — a consumer passes the
        time of the event it handles, so a change made before the event is always seen, even when
        the change's own event (which drops the entry) reaches it later."""
        request = pb.GetProjectRequest(id_or_code=id_or_code)
        result = await self._projects.answer(
            (id_or_code, token), not_before, lambda: self._call("GetProject", request, token)
        )
        assert isinstance(result, pb.Project)
        return result

    def invalidate_project(self, project_id: str, code: str = "") -> None:
        """Drop every cached answer about this project and its roster (call on its ``project.*`` and
        ``roster.*`` events)."""
        keys = {project_id, code} - {""}
        self._projects.drop(lambda asked, p: asked in keys or p.id in keys)
        self._rosters.drop(lambda asked, r: asked in keys or r.project_id in keys)

    def fingerprint(self, doc: RulesDocument) -> str:
        """``rules_fingerprint(doc)``, computed once per rules document this client handed out
        (a new version is a new document: the cache is keyed by the object, which it keeps alive)."""
        hit = self._fingerprints.get(id(doc))
        if hit is not None and hit[0] is doc:
            return hit[1]
        value = rules_fingerprint(doc)
        if len(self._fingerprints) >= 256:
            self._fingerprints.clear()
        self._fingerprints[id(doc)] = (doc, value)
        return value

    async def roster(
        self, project_id: str, *, token: str | None = None, not_before: datetime | None = None
    ) -> pb.Roster:
        """A project's responsibility roster (by id or code), cached like :meth:`project`
        (``not_before`` too)."""
        request = pb.GetRosterRequest(project_id=project_id)
        result = await self._rosters.answer(
            (project_id, token), not_before, lambda: self._call("GetRoster", request, token)
        )
        assert isinstance(result, pb.Roster)
        return result

    async def project_and_roster(
        self, id_or_code: str, *, token: str | None = None, not_before: datetime | None = None
    ) -> tuple[pb.Project, pb.Roster]:
        """A project and its roster in one call: the registry's roster carries the project it
        belongs to (the same answer as GetProject, under the same caller's scope). Cached like
        :meth:`roster`; a registry too old to fill ``Roster.project`` is asked for the project too."""
        roster = await self.roster(id_or_code, token=token, not_before=not_before)
        if roster.HasField("project"):
            return roster.project, roster
        return await self.project(id_or_code, token=token, not_before=not_before), roster

    async def ancestry(self, tenant: str) -> list[pb.Tenant]:
        """Root first, the tenant itself last (cached: the tree only grows)."""
        if tenant not in self._ancestry:
            result = await self._call("GetTenantAncestry", pb.GetTenantAncestryRequest(tenant=tenant), None)
            assert isinstance(result, pb.TenantAncestry)
            self._ancestry[tenant] = list(result.ancestors)
        return self._ancestry[tenant]

    async def ancestry_codes(self, tenant: str) -> list[str]:
        return [t.code for t in await self.ancestry(tenant)]

    async def rules(self, tenant: str, *, at: datetime | None = None) -> RulesDocument:
        """Effective rules of a tenant (now: cached; at a past/future time: asked every time)."""
        if at is not None:
            ts = Timestamp()
            ts.FromDatetime(at)
            result = await self._call(
                "GetEffectiveRules", pb.GetEffectiveRulesRequest(tenant=tenant, at=ts), None
            )
            assert isinstance(result, pb.EffectiveRules)
            return RulesDocument.model_validate(json.loads(result.document_json))
        cached = self._rules.get(tenant)
        if cached is not None and self._clock() - cached[0] < self._rules_ttl:
            return cached[1]
        result = await self._call("GetEffectiveRules", pb.GetEffectiveRulesRequest(tenant=tenant), None)
        assert isinstance(result, pb.EffectiveRules)
        doc = RulesDocument.model_validate(json.loads(result.document_json))
        self._rules[tenant] = (self._clock(), doc, await self.ancestry_codes(tenant))
        return doc

    def invalidate_rules(self, tenant: str) -> None:
        """Drop cached rules of ``tenant`` and of every tenant below it (call on ``rules.updated``)."""
        for code in [c for c, (_, _, chain) in self._rules.items() if tenant in chain]:
            del self._rules[code]


class _Runtime(Protocol):
    settings: ServiceSettings

    def add_subscription(
        self, subject: str, *, consumer: str, handler: Any, per_replica: bool = False
    ) -> None: ...


def follow_projects(
    runtime: _Runtime, registry: RegistryClient, *, consumer: str, rosters: bool = False
) -> None:
    """Keep ``registry``'s project cache fresh: every replica drops a project's cached answers when
    any ``project.*`` event of it arrives (per-replica consumer, like :func:`follow_rules`); with
    ``rosters`` also on its ``roster.*`` events (a second per-replica consumer)."""

    async def drop(event: CloudEvent) -> None:
        project_id = str(event.data.get("project_id") or "")
        if project_id:
            registry.invalidate_project(project_id, str(event.data.get("code") or ""))

    prefix = runtime.settings.events_subject_prefix
    runtime.add_subscription(f"{prefix}.*.project.>", consumer=consumer, handler=drop, per_replica=True)
    if rosters:
        runtime.add_subscription(
            f"{prefix}.*.roster.>", consumer=f"{consumer}-rosters", handler=drop, per_replica=True
        )


def follow_rules(runtime: _Runtime, registry: RegistryClient, *, consumer: str) -> None:
    """Keep ``registry``'s rules cache fresh: every replica drops a tenant subtree's cached rules when
    its ``rules.updated`` event arrives (a per-replica consumer: each replica has its own cache, and
    dropping a cache twice is harmless, so no de-duplication row is needed). Deadlines already fixed
    are never moved by a rules change; only what is created afterwards sees the new rules."""

    async def drop(event: CloudEvent) -> None:
        tenant = str(event.data.get("tenant") or event.tenant)
        registry.invalidate_rules(tenant)
        log.info("rules.cache_dropped", tenant=tenant, event_id=event.id)

    runtime.add_subscription(
        f"{runtime.settings.events_subject_prefix}.*.rules.updated",
        consumer=consumer,
        handler=drop,
        per_replica=True,
    )
