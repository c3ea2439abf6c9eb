from __future__ import annotations

from fastapi import APIRouter, Depends

from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.registry.tenants import service
from steward.registry.tenants.schemas import TenantCreate, TenantList, TenantOut

router = APIRouter(prefix="/v1/tenants", tags=["tenants"], dependencies=[Depends(clean_request)])


@router.get("", response_model=TenantList, summary="Tenants in your subtree (or under `root`)")
async def list_tenants(db: DatabaseDep, principal: PrincipalDep, root: str | None = None) -> TenantList:
    async with db.read() as session:
        rows = await service.list_subtree(session, principal=principal, root=root)
        return TenantList(items=[service.to_out(t) for t in rows])


@router.post("", response_model=TenantOut, status_code=201, summary="Add a district, zone or township")
async def create_tenant(db: DatabaseDep, principal: PrincipalDep, body: TenantCreate) -> TenantOut:
    async with db.transaction() as session:
        tenant = await service.create_tenant(session, principal=principal, data=body)
        return service.to_out(tenant)


@router.get("/{code}", response_model=TenantOut)
async def get_tenant(db: DatabaseDep, principal: PrincipalDep, code: str) -> TenantOut:
    async with db.read() as session:
        return service.to_out(await service.get_visible_tenant(session, principal=principal, code=code))


@router.get("/{code}/ancestry", response_model=TenantList, summary="Root first, the tenant itself last")
async def get_ancestry(db: DatabaseDep, principal: PrincipalDep, code: str) -> TenantList:
    async with db.read() as session:
        await service.get_visible_tenant(session, principal=principal, code=code)
        return TenantList(items=[service.to_out(t) for t in await service.ancestry(session, code=code)])
