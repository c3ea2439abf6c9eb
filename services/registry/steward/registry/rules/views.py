from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from steward.kit.http import DatabaseDep, PrincipalDep
from steward.registry.rules import dryrun, service
from steward.registry.rules.models import RulesVersion
from steward.registry.rules.schemas import (
    EffectiveRulesOut,
    RulesPut,
    RulesVersionList,
    RulesVersionOut,
    VersionRef,
)
from steward.registry.tenants.service import get_visible_tenant
from steward.rules import override_json_schema, rules_json_schema

router = APIRouter(prefix="/v1/rules", tags=["rules"])


def version_out(v: RulesVersion) -> RulesVersionOut:
    return RulesVersionOut(
        tenant=v.tenant_code,
        version=v.version,
        document=v.document,
        effective_from=v.effective_from,
        comment=v.comment,
        created_by=v.created_by,
        created_at=v.created_at,
    )


@router.get("/schema", summary="JSON Schemas of the effective document and of a tenant override")
async def schema() -> dict[str, Any]:
    return {"document": rules_json_schema(), "override": override_json_schema()}


@router.get(
    "/{tenant}/effective",
    response_model=EffectiveRulesOut,
    summary="Merged rules in force at `at` (default now)",
)
async def get_effective(
    db: DatabaseDep, principal: PrincipalDep, tenant: str, at: datetime | None = None
) -> EffectiveRulesOut:
    async with db.read() as session:
        await get_visible_tenant(session, principal=principal, code=tenant)
        eff = await service.effective(session, tenant=tenant, at=at)
        return EffectiveRulesOut(
            tenant=tenant,
            at=eff.at,
            document=eff.document.model_dump(mode="json"),
            versions=[
                VersionRef(tenant=v.tenant_code, version=v.version, effective_from=v.effective_from)
                for v in eff.versions
            ],
        )


@router.get("/{tenant}/versions", response_model=RulesVersionList, summary="The tenant's own stored versions")
async def list_versions(db: DatabaseDep, principal: PrincipalDep, tenant: str) -> RulesVersionList:
    async with db.read() as session:
        await get_visible_tenant(session, principal=principal, code=tenant)
        return RulesVersionList(
            items=[version_out(v) for v in await service.list_versions(session, tenant=tenant)]
        )


@router.put(
    "/{tenant}",
    response_model=RulesVersionOut,
    status_code=201,
    summary="Store a new version of the tenant's override (validated against the parent's rules)",
)
async def put_rules(db: DatabaseDep, principal: PrincipalDep, tenant: str, body: RulesPut) -> RulesVersionOut:
    async with db.transaction() as session:
        await get_visible_tenant(session, principal=principal, code=tenant)
        v = await service.put_rules(
            session,
            principal=principal,
            tenant=tenant,
            document=body.document,
            effective_from=body.effective_from,
            comment=body.comment,
        )
        return version_out(v)


@router.post(
    "/{tenant}/dry-run",
    response_model=dryrun.DryRunOut,
    summary="What a proposed override would change — the document and the projects — without storing it",
)
async def dry_run(db: DatabaseDep, principal: PrincipalDep, tenant: str, body: RulesPut) -> dryrun.DryRunOut:
    async with db.read() as session:
        await get_visible_tenant(session, principal=principal, code=tenant)
        return await dryrun.dry_run(
            session,
            principal=principal,
            tenant=tenant,
            document=body.document,
            effective_from=body.effective_from,
        )
