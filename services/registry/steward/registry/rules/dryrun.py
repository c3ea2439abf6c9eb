"""Dry-run of a rules change: what the merged document would become and what it would do."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.db import utcnow
from steward.kit.errors import ValidationFailed
from steward.kit.paging import scoped
from steward.kit.tenancy import ancestry_of
from steward.registry.projects.models import Project
from steward.registry.rosters import service as rosters
from steward.registry.rules import service
from steward.registry.rules.schemas import ChangeOut, DispatchChange, DryRunOut
from steward.registry.tenants.models import Tenant
from steward.registry.tenants.schemas import TenantKind
from steward.registry.tenants.service import get_tenant
from steward.rules import RulesDocument, derive_dispatch, diff_rules, errors_from_validation, merge_rules

MAX_LISTED = 200
_FIELDS = ("tier", "on_platform", "steward_required", "named_responsibility")


async def dry_run(
    session: AsyncSession,
    *,
    principal: Principal,
    tenant: str,
    document: Any,
    effective_from: datetime | None,
) -> DryRunOut:
    t = await get_tenant(session, code=tenant)
    service.ensure_rules_admin(principal, t.path)
    at = max(effective_from or utcnow(), utcnow())
    parent = await service.parent_effective(session, tenant=tenant, at=at)
    try:
        proposed = service.check_document(document, parent)
    except ValidationFailed as exc:
        return DryRunOut(tenant=tenant, valid=False, errors=exc.details or [{"message": exc.message}])
    current = (await service.effective(session, tenant=tenant, at=at)).document
    changes = [ChangeOut(path=c.path, op=c.op, old=c.old, new=c.new) for c in diff_rules(current, proposed)]

    # Each project is judged under its own tenant's effective rules: the proposal, then the
    # overrides of the descendants between this tenant and the project's tenant.
    below: dict[str, tuple[RulesDocument, RulesDocument]] = {}

    async def docs_for(code: str, path: str) -> tuple[RulesDocument, RulesDocument]:
        if code not in below:
            chain = ancestry_of(path)
            versions = await service.versions_in_force(session, codes=chain[chain.index(tenant) + 1 :], at=at)
            stored = await service.documents(session, [v.id for v in versions])
            now_doc, new_doc = current, proposed
            for v in versions:
                now_doc, new_doc = merge_rules(now_doc, stored[v.id]), merge_rules(new_doc, stored[v.id])
            below[code] = (now_doc, new_doc)
        return below[code]

    stmt = (
        select(Project, Tenant.kind)
        .join(Tenant, col(Tenant.code) == col(Project.tenant_code))
        .where(Project.stage != "terminated")
    )
    stmt = scoped(stmt, Project.tenant_path, t.path)
    rows = list((await session.exec(stmt)).all())
    dispatch_changes: list[DispatchChange] = []
    roster_changes: list[DispatchChange] = []
    for project, kind in rows:
        try:
            now_doc, new_doc = await docs_for(project.tenant_code, project.tenant_path)
        except ValidationError as exc:
            errors = [e.model_dump() for e in errors_from_validation(exc)]
            return DryRunOut(
                tenant=tenant,
                valid=False,
                changes=changes,
                errors=[
                    {
                        "message": f"rules of descendant {project.tenant_code} would become invalid",
                        "details": errors,
                    }
                ],
            )
        d = derive_dispatch(
            new_doc.thresholds,
            investment=project.total_investment,
            funding_type=project.funding_type,
            tenant_level=TenantKind(kind).level,
        )
        for field in _FIELDS:
            new = getattr(d, field)
            if getattr(project, field) != new and len(dispatch_changes) < MAX_LISTED:
                dispatch_changes.append(
                    DispatchChange(
                        project_id=str(project.id),
                        code=project.code,
                        name=project.name,
                        field=field,
                        current=getattr(project, field),
                        proposed=new,
                    )
                )
        facts = rosters.facts_of(project)
        facts_then = facts.model_copy(update={"tier": d.tier, "flags": d.flags})
        now_required = sorted(r.key for r in now_doc.roster.required_roles(facts))
        then_required = sorted(r.key for r in new_doc.roster.required_roles(facts_then))
        if now_required != then_required and len(roster_changes) < MAX_LISTED:
            roster_changes.append(
                DispatchChange(
                    project_id=str(project.id),
                    code=project.code,
                    name=project.name,
                    field="required_roles",
                    current=now_required,
                    proposed=then_required,
                )
            )
    return DryRunOut(
        tenant=tenant,
        valid=True,
        changes=changes,
        projects_examined=len(rows),
        dispatch_changes=dispatch_changes,
        roster_changes=roster_changes,
    )
