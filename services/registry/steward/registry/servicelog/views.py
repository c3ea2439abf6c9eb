from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import Instant, clean_request
from steward.registry.rules.service import rules_of
from steward.registry.servicelog import compliance, service
from steward.registry.servicelog.schemas import (
    ComplianceOut,
    EntryEdit,
    EntryIn,
    EntryList,
    EntryOut,
    ReturnIn,
)

router = APIRouter(prefix="/v1/service-log", tags=["service log"], dependencies=[Depends(clean_request)])


@router.post("", response_model=EntryOut, status_code=201, summary="Log a visit or service (服务台账)")
async def submit(db: DatabaseDep, principal: PrincipalDep, body: EntryIn) -> EntryOut:
    async with db.transaction() as session:
        e, p = await service.submit(session, principal=principal, data=body)
        return service.to_out(e, p, await rules_of(session, p.tenant_code))


@router.get("", response_model=EntryList)
async def list_entries(
    db: DatabaseDep,
    principal: PrincipalDep,
    tenant: str | None = None,
    project: str | None = None,
    status: Literal["submitted", "approved", "returned"] | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EntryList:
    async with db.read() as session:
        rows = await service.list_entries(
            session,
            principal=principal,
            tenant=tenant,
            project=project,
            status=status,
            since=since,
            until=until,
            limit=limit,
        )
        docs = {}
        items = []
        for e, p in rows:
            if p.tenant_code not in docs:
                docs[p.tenant_code] = await rules_of(session, p.tenant_code)
            items.append(service.to_out(e, p, docs[p.tenant_code]))
        return EntryList(items=items)


@router.get(
    "/compliance",
    response_model=ComplianceOut,
    summary="Visit rules per project for a period (2026-W47, 2026-11, 2026-Q4)",
)
async def get_compliance(
    db: DatabaseDep, principal: PrincipalDep, period: str, tenant: str | None = None
) -> ComplianceOut:
    async with db.read() as session:
        code, rows = await compliance.subtree_compliance(
            session, principal=principal, tenant=tenant, period=period
        )
        return ComplianceOut(tenant=code, period=period, items=rows)


@router.get("/{entry_id}", response_model=EntryOut)
async def get_entry(db: DatabaseDep, principal: PrincipalDep, entry_id: uuid.UUID) -> EntryOut:
    async with db.read() as session:
        e, p = await service.get_entry(session, principal=principal, entry_id=entry_id)
        return service.to_out(e, p, await rules_of(session, p.tenant_code))


@router.post("/{entry_id}/approve", response_model=EntryOut, summary="Approve (营商局审定)")
async def approve(db: DatabaseDep, principal: PrincipalDep, entry_id: uuid.UUID) -> EntryOut:
    async with db.transaction() as session:
        e, p = await service.review(session, principal=principal, entry_id=entry_id, approve=True)
        return service.to_out(e, p, await rules_of(session, p.tenant_code))


@router.post("/{entry_id}/return", response_model=EntryOut, summary="Return to the author with a reason")
async def return_entry(
    db: DatabaseDep, principal: PrincipalDep, entry_id: uuid.UUID, body: ReturnIn
) -> EntryOut:
    async with db.transaction() as session:
        e, p = await service.review(
            session, principal=principal, entry_id=entry_id, approve=False, reason=body.reason
        )
        return service.to_out(e, p, await rules_of(session, p.tenant_code))


@router.patch("/{entry_id}", response_model=EntryOut, summary="Fix a returned entry and send it again")
async def resubmit(
    db: DatabaseDep, principal: PrincipalDep, entry_id: uuid.UUID, body: EntryEdit
) -> EntryOut:
    async with db.transaction() as session:
        e, p = await service.resubmit(session, principal=principal, entry_id=entry_id, data=body)
        return service.to_out(e, p, await rules_of(session, p.tenant_code))
