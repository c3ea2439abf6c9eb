from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.registry.circulars import render, service
from steward.registry.circulars.schemas import CircularIn, CircularList, CircularOut

router = APIRouter(prefix="/v1/circulars", tags=["circulars"], dependencies=[Depends(clean_request)])


@router.post(
    "",
    response_model=CircularOut,
    status_code=201,
    summary="Issue the circular (情况通报) of a semi-monthly period (DRC: dispatcher / tenant admin)",
)
async def issue(db: DatabaseDep, principal: PrincipalDep, body: CircularIn) -> CircularOut:
    async with db.transaction() as session:
        return service.to_out(await service.issue(session, principal=principal, data=body))


@router.get("", response_model=CircularList, summary="Circulars issued in a tenant subtree, newest first")
async def list_circulars(
    db: DatabaseDep,
    principal: PrincipalDep,
    tenant: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> CircularList:
    async with db.read() as session:
        rows, nxt = await service.list_circulars(
            session, principal=principal, tenant=tenant, limit=limit, cursor=cursor
        )
        return CircularList(items=[service.to_summary(c) for c in rows], next_cursor=nxt)


@router.get("/{circular_id}", response_model=CircularOut)
async def get_circular(db: DatabaseDep, principal: PrincipalDep, circular_id: uuid.UUID) -> CircularOut:
    async with db.read() as session:
        return service.to_out(
            await service.get_circular(session, principal=principal, circular_id=circular_id)
        )


@router.get(
    "/{circular_id}/document",
    summary="The circular as DOCX (python-docx) or printable HTML",
    responses={
        200: {
            "content": {render.DOCX_TYPE: {}, "text/html": {}},
            "description": "the document",
        }
    },
)
async def document(
    db: DatabaseDep,
    principal: PrincipalDep,
    circular_id: uuid.UUID,
    format: Literal["docx", "html"] = "docx",
) -> Response:
    async with db.read() as session:
        c = service.to_out(await service.get_circular(session, principal=principal, circular_id=circular_id))
    if format == "html":
        return HTMLResponse(render.to_html(c))
    name = f"circular-{c.tenant}-{c.period}.docx"
    return Response(
        render.to_docx(c),
        media_type=render.DOCX_TYPE,
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
