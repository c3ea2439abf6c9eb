"""Batch registration: many projects in one transaction, set-based, all or nothing.

Every item is checked by the single registration's rules (``service.register``): the caller's
role, the tenant visible and writable, the owner an enterprise unit the caller sees, no
suspended/terminated start, a free national code (also free within the batch), dispatch derived
under the rules in force now. Then, in one transaction, with one statement per table instead of
the single path's round trips per project:

- lifetime codes: one ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` on the code counters for
  every (tenant, year) of the batch, each counter moved by the number of its projects;
- projects, their first stage-history row, audit entries and one ``project.registered`` outbox
  event per project: one multi-row ``INSERT … SELECT FROM unnest(…)`` each; one NOTIFY.

Problems are collected for every item, not only the first: :class:`BatchInvalid` (422) lists
each with its index, field and reason, and nothing is written.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry import ProjectRegistered
from steward.kit.auth import Principal
from steward.kit.db import sqlstate, utcnow
from steward.kit.errors import Conflict, DomainError, ValidationFailed
from steward.kit.ids import new_id
from steward.kit.outbox import NOTIFY_CHANNEL, build_event
from steward.kit.tenancy import ancestry_of, in_subtree
from steward.registry.projects import bulk_sql, service
from steward.registry.projects.models import Project
from steward.registry.projects.schemas import Dispatch, ProjectCreate
from steward.registry.projects.service import WRITERS
from steward.registry.projects.stages import Stage
from steward.registry.rules import service as rules
from steward.registry.settings import SOURCE
from steward.registry.tenants.models import Tenant
from steward.registry.units.models import Unit

MAX_BATCH = 1000  # items per POST /v1/projects/bulk
MAX_REPORTED = 1000  # problems listed in one 422 (the count is always given)

_ITEMS = TypeAdapter(list[ProjectCreate])


class TooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class BatchInvalid(ValidationFailed):
    code = "batch_invalid"


@dataclass
class Problem:
    """One reason an item cannot be registered: ``index`` in the batch, ``field`` (dotted path)."""

    index: int
    field: str
    message: str
    type: str

    def detail(self) -> dict[str, Any]:
        loc: list[str | int] = ["items", self.index, *[p for p in self.field.split(".") if p]]
        return {
            "index": self.index,
            "field": self.field,
            "loc": [str(p) for p in loc],
            "message": self.message,
            "type": self.type,
        }


@dataclass
class Created:
    """A project the batch registered (what the answer needs; the row itself is in the table)."""

    id: uuid.UUID
    code: str
    tenant: str
    name: str
    derivation: dict[str, Any]

    def dispatch(self) -> Dispatch:
        d = self.derivation
        return Dispatch.model_construct(
            tier=d["tier"],
            on_platform=d["on_platform"],
            steward_required=d["steward_required"],
            named_responsibility=d["named_responsibility"],
            reasons=list(d["reasons"]),
            rules_versions=list(d["rules_versions"]),
            derived_at=datetime.fromisoformat(d["derived_at"]),
        )


def parse_items(raw: Sequence[Any]) -> tuple[list[ProjectCreate | None], list[Problem]]:
    """Each item validated as the body of ``POST /v1/projects``; one pass over the whole list when
    every item is good, item by item only to report problems."""
    try:
        return list(_ITEMS.validate_python(list(raw))), []
    except ValidationError:
        pass
    items: list[ProjectCreate | None] = []
    problems: list[Problem] = []
    for i, item in enumerate(raw):
        try:
            items.append(ProjectCreate.model_validate(item))
        except ValidationError as exc:
            items.append(None)
            for err in exc.errors():
                field = ".".join(str(p) for p in err.get("loc", ()))
                problems.append(Problem(i, field, str(err.get("msg", "")), str(err.get("type", ""))))
    return items, problems


def raise_problems(problems: list[Problem], *, what: str = "items") -> None:
    if problems:
        problems.sort(key=lambda p: p.index)
        bad = len({p.index for p in problems})
        raise BatchInvalid(
            f"{bad} of the {what} cannot be registered ({len(problems)} problems); nothing was written",
            details=[p.detail() for p in problems[:MAX_REPORTED]],
        )


async def check(
    session: AsyncSession, *, principal: Principal, items: Sequence[ProjectCreate | None]
) -> tuple[dict[str, Tenant], list[Problem]]:
    """The single registration's checks for every item at once (one query per kind of fact)."""
    principal.require(*WRITERS)
    problems: list[Problem] = []
    codes = {it.tenant for it in items if it is not None}
    rows = (await session.exec(select(Tenant).where(col(Tenant.code).in_(codes)))).all() if codes else []
    tenants = {t.code: t for t in rows if in_subtree(principal.tenant, ancestry_of(t.path))}
    owner_ids = {it.owner_unit_id for it in items if it is not None and it.owner_unit_id is not None}
    units = (
        {u.id: u for u in (await session.exec(select(Unit).where(col(Unit.id).in_(owner_ids)))).all()}
        if owner_ids
        else {}
    )
    national = [it.national_code for it in items if it is not None and it.national_code]
    taken = (
        set(
            (
                await session.exec(
                    select(Project.national_code).where(col(Project.national_code).in_(national))
                )
            ).all()
        )
        if national
        else set()
    )
    seen = Counter(national)
    for i, it in enumerate(items):
        if it is None:
            continue
        if it.tenant not in tenants:
            # outside the caller's subtree looks exactly like a tenant that does not exist
            problems.append(Problem(i, "tenant", f"tenant {it.tenant} not found", "unknown_tenant"))
        if it.owner_unit_id is not None:
            unit = units.get(it.owner_unit_id)
            if (
                unit is None
                or unit.kind != "enterprise"
                or not in_subtree(principal.tenant, ancestry_of(unit.tenant_path))
            ):
                problems.append(
                    Problem(i, "owner_unit_id", "owner_unit_id must name an enterprise unit", "invalid_owner")
                )
        if it.stage in (Stage.SUSPENDED, Stage.TERMINATED):
            problems.append(
                Problem(i, "stage", "a project cannot be registered suspended or terminated", "invalid_stage")
            )
        if it.national_code:
            if it.national_code in taken:
                problems.append(
                    Problem(
                        i,
                        "national_code",
                        f"national project code {it.national_code} is already on another project",
                        "national_code_taken",
                    )
                )
            elif seen[it.national_code] > 1:
                problems.append(
                    Problem(
                        i,
                        "national_code",
                        f"national project code {it.national_code} appears more than once in the batch",
                        "national_code_repeated",
                    )
                )
    return tenants, problems


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def write(
    session: AsyncSession, *, principal: Principal, items: Sequence[ProjectCreate], tenants: dict[str, Tenant]
) -> list[Created]:
    """Register checked items (see :func:`check`); returns the new projects in item order."""
    if not items:
        return []
    now = utcnow()
    year = now.year
    effective = {code: await rules.effective(session, tenant=code, at=now) for code in sorted(tenants)}
    per_tenant = Counter(it.tenant for it in items)
    order = sorted(per_tenant)
    last = dict(
        (
            await session.execute(
                bulk_sql.COUNTERS, {"year": year, "tenants": order, "ns": [per_tenant[t] for t in order]}
            )
        ).all()
    )
    next_seq = {t: int(last[t]) - per_tenant[t] + 1 for t in order}

    derived: dict[tuple[str, Decimal, str], dict[str, Any]] = {}
    dumped: dict[tuple[str, Decimal, str], str] = {}
    created: list[Created] = []
    cols: dict[str, list[Any]] = {k: [] for k in bulk_sql.PROJECT_ARRAYS}
    columns = [cols[k] for k in bulk_sql.PROJECT_ARRAYS]
    audit: dict[str, list[Any]] = {"id": [], "tenant": [], "entity_id": [], "changes": []}
    outbox: dict[str, list[Any]] = {
        k: [] for k in ("id", "subject", "type", "tenant", "payload", "headers", "created_at")
    }
    subject_of = {t: ProjectRegistered.subject_for(t) for t in order}
    for it in items:
        tenant = tenants[it.tenant]
        key = (tenant.code, it.total_investment, it.funding_type.value)
        derivation = derived.get(key)
        if derivation is None:
            derivation = derived[key] = service.derivation(
                effective[tenant.code],
                tenant=tenant,
                investment=it.total_investment,
                funding_type=it.funding_type.value,
                at=now,
            )
            dumped[key] = _dumps(derivation)
        seq = next_seq[tenant.code]
        next_seq[tenant.code] = seq + 1
        loc = it.location
        pid = new_id()
        code = f"{tenant.code}-{year}-{seq:05d}"
        row = (
            pid,
            code,
            it.national_code,
            tenant.code,
            tenant.path,
            it.name,
            it.owner_unit_id,
            it.total_investment,
            it.annual_plan_investment,
            it.funding_type.value,
            it.industry,
            it.key_level.value,
            it.major,
            it.stage.value,
            derivation["tier"],
            derivation["on_platform"],
            derivation["steward_required"],
            derivation["named_responsibility"],
            dumped[key],
            loc.lat if loc else None,
            loc.lon if loc else None,
            loc.address if loc else "",
            it.planned_start,
            it.planned_completion,
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
        created.append(Created(id=pid, code=code, tenant=tenant.code, name=it.name, derivation=derivation))
        audit["id"].append(new_id())
        audit["tenant"].append(tenant.code)
        audit["entity_id"].append(str(pid))
        audit["changes"].append(_dumps(it.model_dump(mode="json")))
        event = build_event(
            ProjectRegistered(
                project_id=str(pid),
                code=code,
                national_code=it.national_code,
                name=it.name,
                owner_unit_id=str(it.owner_unit_id) if it.owner_unit_id else None,
                total_investment=f"{it.total_investment:.2f}",
                funding_type=it.funding_type.value,
                key_level=it.key_level.value,
                stage=it.stage.value,
                tier=derivation["tier"],
                on_platform=derivation["on_platform"],
                steward_required=derivation["steward_required"],
                named_responsibility=derivation["named_responsibility"],
                planned_start=it.planned_start.isoformat() if it.planned_start else None,
                planned_completion=it.planned_completion.isoformat() if it.planned_completion else None,
                annual_plan_investment=f"{it.annual_plan_investment:.2f}"
                if it.annual_plan_investment is not None
                else None,
            ),
            tenant=tenant.code,
            source=SOURCE,
            subject=str(pid),
            actor=principal.subject,
        )
        outbox["id"].append(uuid.UUID(event.id))
        outbox["subject"].append(subject_of[tenant.code])
        outbox["type"].append(event.type)
        outbox["tenant"].append(tenant.code)
        outbox["payload"].append(_dumps(event.model_dump(mode="json", exclude_none=True)))
        outbox["headers"].append(_dumps({"traceparent": event.traceparent} if event.traceparent else {}))
        outbox["created_at"].append(event.time)
    common = {"actor": principal.subject, "now": now}
    try:
        await session.execute(bulk_sql.PROJECTS, {**cols, **common})
    except IntegrityError as exc:
        if sqlstate(exc) == "23505":  # a national code registered concurrently since the check
            raise Conflict(
                "a national project code of the batch was registered concurrently; nothing was written",
                code="national_code_taken",
            ) from exc
        raise
    await session.execute(
        bulk_sql.STAGES,
        {"id": [new_id() for _ in created], "project_id": cols["id"], "to_stage": cols["stage"], **common},
    )
    await session.execute(bulk_sql.AUDIT, {**audit, **common})
    await session.execute(bulk_sql.OUTBOX, outbox)
    await session.execute(sa.text("SELECT pg_notify(:ch, '')"), {"ch": NOTIFY_CHANNEL})
    return created


async def register_many(session: AsyncSession, *, principal: Principal, raw: Sequence[Any]) -> list[Created]:
    """``POST /v1/projects/bulk``: every item valid or nothing written (:class:`BatchInvalid`)."""
    principal.require(*WRITERS)
    if not raw:
        raise ValidationFailed("items must hold at least one project", code="empty_batch")
    if len(raw) > MAX_BATCH:
        raise TooLarge(f"at most {MAX_BATCH} projects per batch (got {len(raw)})", code="too_many_items")
    items, problems = parse_items(raw)
    tenants, more = await check(session, principal=principal, items=items)
    problems += more
    raise_problems(problems)
    return await write(
        session, principal=principal, items=[it for it in items if it is not None], tenants=tenants
    )
