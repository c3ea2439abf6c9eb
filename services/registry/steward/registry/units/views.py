from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query

from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.registry.units import service
from steward.registry.units.schemas import (
    PersonCreate,
    PersonList,
    PersonOut,
    UnitCreate,
    UnitKind,
    UnitList,
    UnitOut,
)

router = APIRouter(dependencies=[Depends(clean_request)])


@router.post("/v1/units", tags=["units"], response_model=UnitOut, status_code=201)
async def create_unit(db: DatabaseDep, principal: PrincipalDep, body: UnitCreate) -> UnitOut:
    async with db.transaction() as session:
        return service.unit_out(await service.create_unit(session, principal=principal, data=body))


@router.get("/v1/units", tags=["units"], response_model=UnitList)
async def list_units(
    db: DatabaseDep,
    principal: PrincipalDep,
    tenant: str | None = None,
    kind: UnitKind | None = None,
    q: str | None = Query(default=None, max_length=100),
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = None,
) -> UnitList:
    async with db.read() as session:
        rows, nxt = await service.list_units(
            session, principal=principal, tenant=tenant, kind=kind, q=q, limit=limit, cursor=cursor
        )
        return UnitList(items=[service.unit_out(u) for u in rows], next_cursor=nxt)


@router.get("/v1/units/{unit_id}", tags=["units"], response_model=UnitOut)
async def get_unit(db: DatabaseDep, principal: PrincipalDep, unit_id: uuid.UUID) -> UnitOut:
    async with db.read() as session:
        return service.unit_out(await service.get_unit(session, principal=principal, unit_id=unit_id))


@router.post("/v1/people", tags=["people"], response_model=PersonOut, status_code=201)
async def create_person(db: DatabaseDep, principal: PrincipalDep, body: PersonCreate) -> PersonOut:
    async with db.transaction() as session:
        return service.person_out(
            await service.create_person(session, principal=principal, data=body), principal
        )


@router.get("/v1/people", tags=["people"], response_model=PersonList)
async def list_people(
    db: DatabaseDep,
    principal: PrincipalDep,
    tenant: str | None = None,
    unit_id: uuid.UUID | None = None,
    q: str | None = Query(default=None, max_length=100),
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = None,
) -> PersonList:
    async with db.read() as session:
        rows, nxt = await service.list_people(
            session, principal=principal, tenant=tenant, unit_id=unit_id, q=q, limit=limit, cursor=cursor
        )
        return PersonList(items=[service.person_out(p, principal) for p in rows], next_cursor=nxt)


@router.get("/v1/people/{person_id}", tags=["people"], response_model=PersonOut)
async def get_person(db: DatabaseDep, principal: PrincipalDep, person_id: uuid.UUID) -> PersonOut:
    async with db.read() as session:
        return service.person_out(
            await service.get_person(session, principal=principal, person_id=person_id), principal
        )
