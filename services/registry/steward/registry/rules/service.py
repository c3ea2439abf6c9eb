"""Tenant rules: versioned, effective-dated overrides inherited down the tenant tree.

The effective document of a tenant at time ``t`` is the platform default merged with, root first,
each ancestor's (and its own) latest version whose ``effective_from`` is not after ``t``. Stored
versions never change, so merged documents are cached by the ids of the versions they fold.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry import RulesUpdated
from steward.kit import timers
from steward.kit.auth import Principal, Role
from steward.kit.changes import record_change
from steward.kit.db import Database, utcnow
from steward.kit.errors import NotFound, ValidationFailed
from steward.kit.loads import read_rows
from steward.kit.outbox import emit
from steward.kit.straight import all_rows
from steward.kit.tenancy import ancestry_of, ensure_writable
from steward.registry.rules.models import RulesVersion
from steward.registry.settings import SOURCE
from steward.registry.tenants.service import get_tenant
from steward.rules import RulesDocument, default_rules, diff_rules, errors_from_validation, merge_rules
from steward.rules.presets import preset_names, preset_override

EFFECTIVE_TIMER = "rules.effective"
BACKDATE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class VersionRef:
    """A stored version in force: what callers name, and what merged documents are cached by (its
    document is read only to fold it)."""

    id: uuid.UUID
    tenant_code: str
    version: int
    effective_from: datetime


@dataclass(frozen=True)
class Effective:
    tenant: str
    at: datetime
    document: RulesDocument
    versions: tuple[VersionRef, ...]


class _DocCache:
    """Merged documents keyed by the version ids folded into them (versions are immutable)."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._data: OrderedDict[tuple[uuid.UUID, ...], RulesDocument] = OrderedDict()

    def get(self, key: tuple[uuid.UUID, ...]) -> RulesDocument | None:
        doc = self._data.get(key)
        if doc is not None:
            self._data.move_to_end(key)
        return doc

    def put(self, key: tuple[uuid.UUID, ...], doc: RulesDocument) -> None:
        self._data[key] = doc
        if len(self._data) > self.size:
            self._data.popitem(last=False)


_cache = _DocCache()


# a constant statement sent straight through the driver (every registration and every rules look-up
# asks): SQLAlchemy's statement tree and ORM execution cost more CPU than PostgreSQL spends running it
_IN_FORCE = sa.text(
    "SELECT DISTINCT ON (tenant_code) id, tenant_code, version, effective_from FROM rules_versions "
    "WHERE tenant_code = ANY(:codes) AND effective_from <= :at "
    "ORDER BY tenant_code, effective_from DESC, version DESC"
).bindparams(
    sa.bindparam("codes", type_=postgresql.ARRAY(sa.String())),
    sa.bindparam("at", type_=sa.DateTime(timezone=True)),
)


async def versions_in_force(session: AsyncSession, *, codes: list[str], at: datetime) -> list[VersionRef]:
    """For each tenant in ``codes`` (root first) its version in force at ``at``, if any (without the
    documents: a registration or a roster look-up reads them only when the fold is not cached)."""
    # a read needs no BEGIN (READ COMMITTED): a registration's one write can then go alone
    found = await all_rows(session, _IN_FORCE, {"codes": codes, "at": at}, begin=False)
    return _in_order(found, codes)


def _in_order(found: Sequence[Any], codes: list[str]) -> list[VersionRef]:
    by_tenant = {r[1]: VersionRef(*r) for r in found}
    return [by_tenant[c] for c in codes if c in by_tenant]


async def documents(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """The stored override documents of these versions, by id."""
    if not ids:
        return {}
    rows = await all_rows(session, _DOCUMENTS, {"ids": list(ids)}, begin=False)
    return {i: d for i, d in rows}


# straight, without BEGIN: a registration's fold of versions not yet cached reads them before its one
# write, in a lone session too (kit.pooled.lone_session)
# (the driver decodes the JSONB documents: SQLAlchemy set its codec on each connection)
_DOCUMENTS = sa.text("SELECT id, document FROM rules_versions WHERE id = ANY(:ids)").bindparams(
    sa.bindparam("ids", type_=postgresql.ARRAY(sa.Uuid()))
)


async def fold(session: AsyncSession, versions: tuple[VersionRef, ...]) -> RulesDocument:
    key = tuple(v.id for v in versions)
    doc = _cache.get(key)
    if doc is None:
        stored = await documents(session, key)
        doc = default_rules()
        for v in versions:
            doc = merge_rules(doc, stored[v.id])
        _cache.put(key, doc)
    return doc


async def effective(
    session: AsyncSession, *, tenant: str, at: datetime | None = None, path: str | None = None
) -> Effective:
    """``path``: the tenant's path when the caller has it (a project's ``tenant_path``), which saves
    looking the tenant up."""
    when = at or utcnow()
    path = path or (await get_tenant(session, code=tenant)).path
    versions = tuple(await versions_in_force(session, codes=ancestry_of(path), at=when))
    return Effective(tenant=tenant, at=when, document=await fold(session, versions), versions=versions)


async def read_effective(db: Database, *, tenant: str, path: str) -> Effective:
    """:func:`effective` now, for a caller holding the tenant's path and no session (gRPC
    ``GetRoster``): the versions in force read straight through the driver, the documents only when
    their fold is not cached (a session then)."""
    when = utcnow()
    codes = ancestry_of(path)
    versions = tuple(_in_order(await read_rows(db, _IN_FORCE, {"codes": codes, "at": when}), codes))
    document = _cache.get(tuple(v.id for v in versions))
    if document is None:
        async with db.read() as session:
            document = await fold(session, versions)
    return Effective(tenant=tenant, at=when, document=document, versions=versions)


async def rules_of(session: AsyncSession, tenant: str) -> RulesDocument:
    """The rules document in force for ``tenant`` now."""
    return (await effective(session, tenant=tenant)).document


async def parent_effective(session: AsyncSession, *, tenant: str, at: datetime) -> RulesDocument:
    codes = ancestry_of((await get_tenant(session, code=tenant)).path)[:-1]
    return await fold(session, tuple(await versions_in_force(session, codes=codes, at=at)))


async def list_versions(session: AsyncSession, *, tenant: str) -> list[RulesVersion]:
    stmt = (
        select(RulesVersion)
        .where(col(RulesVersion.tenant_code) == tenant)
        .order_by(col(RulesVersion.version).desc())
    )
    return list((await session.exec(stmt)).all())


def check_document(document: Any, parent: RulesDocument) -> RulesDocument:
    """Merge and validate a proposed override; a bad one raises a 422 listing every problem."""
    if not isinstance(document, dict):
        raise ValidationFailed("rules document must be a JSON object", code="invalid_rules")
    try:
        json.dumps(document)
        return merge_rules(parent, document)
    except ValidationError as exc:
        details = [e.model_dump() for e in errors_from_validation(exc)]
        raise ValidationFailed("rules document is not valid", code="invalid_rules", details=details) from exc
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"rules document is not valid: {exc}", code="invalid_rules") from exc


def ensure_rules_admin(principal: Principal, tenant_path: str) -> None:
    principal.require(Role.PLATFORM_ADMIN, Role.TENANT_ADMIN)
    ensure_writable(principal, ancestry_of(tenant_path))


async def put_rules(
    session: AsyncSession,
    *,
    principal: Principal,
    tenant: str,
    document: dict[str, Any],
    effective_from: datetime | None,
    comment: str,
) -> RulesVersion:
    t = await get_tenant(session, code=tenant)
    ensure_rules_admin(principal, t.path)
    now = utcnow()
    starts = effective_from or now
    if starts < now - BACKDATE_TOLERANCE:
        raise ValidationFailed(
            "effective_from lies in the past: rules take effect now or later, history stays as it was",
            code="effective_from_in_past",
            details=[
                {"loc": ["effective_from"], "message": "must not be in the past", "type": "value_error"}
            ],
        )
    starts = max(starts, now)
    parent = await parent_effective(session, tenant=tenant, at=starts)
    new_doc = check_document(document, parent)
    before = (await effective(session, tenant=tenant, at=starts)).document
    # serialise version numbers per tenant: concurrent writers get distinct, gap-free numbers
    await session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('rules:' || :t))"), {"t": tenant})
    last = (
        await session.execute(
            sa.select(sa.func.max(RulesVersion.version)).where(col(RulesVersion.tenant_code) == tenant)
        )
    ).scalar()
    version = RulesVersion(
        tenant_code=tenant,
        version=(last or 0) + 1,
        document=document,
        effective_from=starts,
        comment=comment,
        created_by=principal.subject,
    )
    session.add(version)
    changed = [c.path for c in diff_rules(before, new_doc)]
    await record_change(
        session,
        actor=principal.subject,
        tenant=tenant,
        action="rules.put",
        entity="rules",
        entity_id=f"{tenant}@{version.version}",
        changes={"paths": changed, "comment": comment},
        event=RulesUpdated(
            tenant=tenant, version=version.version, effective_from=starts, changed_paths=changed
        ),
        source=SOURCE,
        subject=tenant,
    )
    if starts > now:
        await timers.schedule(
            session,
            kind=EFFECTIVE_TIMER,
            key=f"{tenant}@{version.version}",
            tenant=tenant,
            due_at=starts,
            payload={"version": version.version, "paths": changed},
        )
    await session.flush()
    return version


async def on_effective(session: AsyncSession, timer: timers.DueTimer) -> None:
    """A future-dated version took effect: tell the subscribers to refresh their caches."""
    await emit(
        session,
        RulesUpdated(
            tenant=timer.tenant,
            version=int(timer.payload["version"]),
            effective_from=timer.due_at,
            changed_paths=list(timer.payload.get("paths", [])),
            took_effect=True,
        ),
        tenant=timer.tenant,
        source=SOURCE,
        subject=timer.tenant,
    )


# One line per preset of steward.rules.presets (docs/rules.md §5 has the seeds and the details).
PRESET_SUMMARIES = {
    "shenyang": "沈阳 platform default stated explicitly: entry 500万, dispatch 500万/3000万/1亿, no steward rule",
    "fuxin_steward": "阜新 项目管家: every project from 2000万 has a steward; 六个一 roster; monthly leader visits",
    "anyang": "安阳 五个一 roster; semi-monthly reports 12th/25th; Saturday meeting; agent scorecard and ranking",
    "huiji": "惠济 weekly report Friday 18:00; difficult matters answered in 3 working days; green channel 2/3",
    "jinniu": "金牛 服务专员 for key projects from the land transfer contract; monthly report by the 25th",
}


def preset_document(name: str) -> dict[str, Any]:
    """The named preset override (a copy); unknown names are a 404 listing the known ones."""
    try:
        return preset_override(name)
    except KeyError:
        raise NotFound(
            f"no rules preset {name!r}; known: {', '.join(preset_names())}", code="unknown_preset"
        ) from None


def presets() -> list[tuple[str, str, dict[str, Any]]]:
    return [(name, PRESET_SUMMARIES.get(name, ""), preset_override(name)) for name in preset_names()]
