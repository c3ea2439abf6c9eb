from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import Instant, clean_request
from steward.registry.rules import dryrun, service
from steward.registry.rules.models import RulesVersion
from steward.registry.rules.schemas import (
    EffectiveRulesOut,
    PresetApply,
    PresetList,
    PresetOut,
    RulesPut,
    RulesVersionList,
    RulesVersionOut,
    VersionRef,
)
from steward.registry.tenants.service import get_visible_tenant
from steward.rules import override_json_schema, rules_json_schema

router = APIRouter(prefix="/v1/rules", tags=["rules"], dependencies=[Depends(clean_request)])


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


@router.get("/presets", response_model=PresetList, summary="The named rules presets from the seeds")
async def list_presets(principal: PrincipalDep) -> PresetList:
    return PresetList(items=[PresetOut(name=n, summary=s, document=d) for n, s, d in service.presets()])


@router.get(
    "/presets/{name}", response_model=PresetOut, summary="One rules preset (an override to apply or edit)"
)
async def get_preset(principal: PrincipalDep, name: str) -> PresetOut:
    document = service.preset_document(name)
    return PresetOut(name=name, summary=service.PRESET_SUMMARIES.get(name, ""), document=document)


@router.post(
    "/{tenant}/presets/{name}",
    response_model=RulesVersionOut,
    status_code=201,
    summary="Apply a preset: store it as a new version of the tenant's own override (replacing it)",
)
async def apply_preset(
    db: DatabaseDep, principal: PrincipalDep, tenant: str, name: str, body: PresetApply | None = None
) -> RulesVersionOut:
    body = body or PresetApply()
    document = service.preset_document(name)
    async with db.transaction() as session:
        await get_visible_tenant(session, principal=principal, code=tenant)
        v = await service.put_rules(
            session,
            principal=principal,
            tenant=tenant,
            document=document,
            effective_from=body.effective_from,
            comment=body.comment or f"preset {name}",
        )
        return version_out(v)


@router.post(
    "/{tenant}/presets/{name}/dry-run",
    response_model=dryrun.DryRunOut,
    summary="What applying a preset would change — the document and the projects — without storing it",
)
async def dry_run_preset(
    db: DatabaseDep, principal: PrincipalDep, tenant: str, name: str, body: PresetApply | None = None
) -> dryrun.DryRunOut:
    document = service.preset_document(name)
    async with db.read() as session:
        await get_visible_tenant(session, principal=principal, code=tenant)
        return await dryrun.dry_run(
            session,
            principal=principal,
            tenant=tenant,
            document=document,
            effective_from=(body or PresetApply()).effective_from,
        )


@router.get(
    "/{tenant}/effective",
    response_model=EffectiveRulesOut,
    summary="Merged rules in force at `at` (default now)",
)
async def get_effective(
    db: DatabaseDep, principal: PrincipalDep, tenant: str, at: Instant | None = None
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
