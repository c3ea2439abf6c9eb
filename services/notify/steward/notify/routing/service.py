"""Routing is data: the tenant's effective ``notify`` rules (through the registry client, cached and
dropped on ``rules.updated``) pick routes by event type and filter; recipients resolve through the
project's roster (registry gRPC) and the event body. The plan is computed before the database
transaction (it calls the registry); the fan-out writes it in one transaction."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from steward.api.registry.v1 import registry_pb2 as pb
from steward.events.envelope import CloudEvent
from steward.kit.clients.registry import RegistryClient
from steward.kit.errors import Forbidden, NotFound, ValidationFailed
from steward.notify import metrics
from steward.notify.routing.recipients import Contact, Resolver
from steward.rules.notify import NotifySection

log = structlog.get_logger(__name__)

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass
class Target:
    contact: Contact
    channel: str
    severity: str
    template: str


@dataclass
class Plan:
    event: CloudEvent
    short_type: str
    ancestry: list[str]
    notify: NotifySection
    project: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)


def project_dict(p: pb.Project | None) -> dict[str, Any]:
    if p is None:
        return {}
    return {
        "id": p.id,
        "code": p.code,
        "name": p.name,
        "tenant": p.tenant,
        "tier": p.tier,
        "key_level": p.key_level,
        "stage": p.stage,
        "owner_unit_name": p.owner_unit_name,
    }


def attributes(data: dict[str, Any], project: dict[str, Any]) -> dict[str, Any]:
    """What route filters match on: kind, tier, level (key-project level), category."""
    return {
        "kind": data.get("kind"),
        "tier": data.get("tier") or project.get("tier"),
        "level": data.get("key_level") or data.get("level") or project.get("key_level"),
        "category": data.get("category"),
    }


class Lookups:
    """The registry lookups of one batch of events: each project and its roster is fetched once per
    batch (concurrent plans share the call), keyed by the event's tenant and the project id — a
    batch's events of another tenant never share an entry. Ancestry and rules come from the
    registry client's own caches (dropped on ``rules.updated``)."""

    def __init__(self, registry: RegistryClient, *, not_before: datetime | None = None) -> None:
        self.registry = registry
        # the batch's newest event time: a project or roster the client cached before it is asked
        # again (a change made before an event must reach it, even when the change's own event,
        # which drops the cached entry, comes later — redelivered after a consumer error, say)
        self.not_before = not_before
        self._projects: dict[tuple[str, str], asyncio.Task[tuple[pb.Project | None, pb.Roster | None]]] = {}

    async def project_and_roster(
        self, tenant: str, project_id: str | None
    ) -> tuple[pb.Project | None, pb.Roster | None]:
        if not project_id:
            return None, None
        key = (tenant, project_id)
        task = self._projects.get(key)
        if task is None:
            task = self._projects[key] = asyncio.ensure_future(self._fetch(project_id))
        return await asyncio.shield(task)

    async def _fetch(self, project_id: str) -> tuple[pb.Project | None, pb.Roster | None]:
        try:  # one call: the roster carries its project (by id or by code)
            return await self.registry.project_and_roster(project_id, not_before=self.not_before)
        except (NotFound, ValidationFailed, Forbidden) as exc:
            log.warning("notify.project_unknown", project_id=project_id, error=str(exc))
            return None, None


async def plan_event(event: CloudEvent, registry: RegistryClient, lookups: Lookups | None = None) -> Plan:
    lookups = lookups or Lookups(registry, not_before=event.time)
    short = event.short_type
    ancestry = await registry.ancestry_codes(event.tenant)
    rules = await registry.rules(event.tenant)
    data = event.data or {}
    project_id = data.get("project_id")
    if not project_id and isinstance(data.get("project"), dict):
        project_id = data["project"].get("id")
    project_pb, roster = await lookups.project_and_roster(event.tenant, project_id)
    project = project_dict(project_pb)
    plan = Plan(event=event, short_type=short, ancestry=ancestry, notify=rules.notify, project=project)
    routes = rules.notify.routes_for(short, attributes(data, project))
    if not routes:
        return plan
    resolver = Resolver(roster, data, event.actor)
    chosen: dict[tuple[str, str], Target] = {}
    for route in routes:
        for name in route.recipients:
            contacts = resolver.resolve(name)
            if not contacts:
                plan.unresolved.append(name)
                metrics.UNRESOLVED.labels(short, name).inc()
                continue
            for contact in contacts:
                for channel in route.channels:
                    key = (contact.key, channel)
                    current = chosen.get(key)
                    if current is None:
                        chosen[key] = Target(contact, channel, route.severity, route.template or short)
                    else:
                        current.contact.roles |= contact.roles
                        if SEVERITY_RANK[route.severity] > SEVERITY_RANK[current.severity]:
                            current.severity = route.severity
    plan.targets = list(chosen.values())
    if plan.unresolved:
        log.info("notify.unresolved_recipients", event_id=event.id, type=short, names=plan.unresolved)
    return plan
