"""REST API of approval procedures: files, submissions, one-time notices, completion, handover."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.issues.context import CtxDep, TokenDep
from steward.issues.matters import service as matters
from steward.issues.matters.schemas import MatterOut
from steward.issues.matters.views import TenantQuery, base_path
from steward.issues.procedures import completion, service, submissions
from steward.issues.procedures.models import ProcedureFile, Submission
from steward.issues.procedures.schemas import (
    CompleteIn,
    FileCreate,
    FileOut,
    HandoverIn,
    NoticeIn,
    SubmissionIn,
    SubmissionList,
    SubmissionOut,
)
from steward.kit.calendar import DEFAULT_TZ
from steward.kit.http import PrincipalDep
from steward.kit.inputs import clean_request

router = APIRouter(tags=["procedures"], dependencies=[Depends(clean_request)])


def sub_out(s: Submission) -> SubmissionOut:
    return SubmissionOut(
        id=s.id,
        matter_id=s.matter_id,
        file_id=s.file_id,
        tenant=s.tenant_code,
        submitted_by=s.submitted_by,
        submitted_at=s.submitted_at,
        materials=s.materials,
        due_at=s.due_at.astimezone(DEFAULT_TZ),
        status=s.status,
        decided_at=s.decided_at,
        decided_by=s.decided_by,
        notice_items=s.notice_items,
        late=s.late,
    )


async def file_out(session: AsyncSession, f: ProcedureFile) -> FileOut:
    procs = await service.procedures_of(session, f)
    return FileOut(
        id=f.id,
        tenant=f.tenant_code,
        project_id=f.project_id,
        project_code=f.project_code,
        project_name=f.project_name,
        level1_agent=f.level1_agent,
        green_channel=f.green_channel,
        status=f.status,
        created_at=f.created_at,
        handed_over_at=f.handed_over_at,
        received_by=f.received_by,
        procedures=[matters.to_out(m) for m in procs],
        all_done=all(m.status in service.DONE for m in procs),
    )


@router.post(
    "/v1/procedure-files",
    response_model=FileOut,
    status_code=201,
    summary="Open a project's procedure file (代办): one tracked procedure per catalogue item",
)
async def open_file(ctx: CtxDep, principal: PrincipalDep, token: TokenDep, body: FileCreate) -> FileOut:
    f = await service.open_file(ctx, principal=principal, data=body, token=token)
    async with ctx.db.read() as session:
        return await file_out(session, f)


@router.get("/v1/procedure-files/{file_id}", response_model=FileOut)
async def get_file(ctx: CtxDep, principal: PrincipalDep, file_id: uuid.UUID) -> FileOut:
    async with ctx.db.read() as session:
        return await file_out(session, await service.get_file(session, principal=principal, file_id=file_id))


@router.post(
    "/v1/procedure-files/{file_id}/handover",
    response_model=FileOut,
    summary="移交: hand the whole file to the enterprise (all procedures done)",
)
async def handover(ctx: CtxDep, principal: PrincipalDep, file_id: uuid.UUID, body: HandoverIn) -> FileOut:
    async with ctx.db.transaction() as session:
        f = await completion.handover(
            session, principal=principal, file_id=file_id, received_by=body.received_by, now=ctx.clock()
        )
        return await file_out(session, f)


@router.post(
    "/v1/matters/{key}/submissions",
    response_model=SubmissionOut,
    status_code=201,
    summary="Materials submitted for a procedure (answer due within 1 working day)",
)
async def submit(ctx: CtxDep, principal: PrincipalDep, key: str, body: SubmissionIn) -> SubmissionOut:
    async with ctx.db.transaction() as session:
        s = await submissions.submit(
            session, principal=principal, key=key, materials=body.materials, note=body.note, now=ctx.clock()
        )
        return sub_out(s)


@router.post(
    "/v1/submissions/{submission_id}/notice",
    response_model=SubmissionOut,
    summary="一次性告知: ONE notice listing ALL corrections (recorded, lateness kept)",
)
async def notice(
    ctx: CtxDep, principal: PrincipalDep, submission_id: uuid.UUID, body: NoticeIn
) -> SubmissionOut:
    items = submissions.ensure_valid_items(body.items)
    async with ctx.db.transaction() as session:
        s = await submissions.issue_notice(
            session, principal=principal, submission_id=submission_id, items=items, now=ctx.clock()
        )
        return sub_out(s)


@router.post(
    "/v1/submissions/{submission_id}/accept",
    response_model=SubmissionOut,
    summary="Materials complete: the procedure is in progress",
)
async def accept(ctx: CtxDep, principal: PrincipalDep, submission_id: uuid.UUID) -> SubmissionOut:
    async with ctx.db.transaction() as session:
        s = await submissions.accept_submission(
            session, principal=principal, submission_id=submission_id, now=ctx.clock()
        )
        return sub_out(s)


@router.post(
    "/v1/matters/{key}/complete",
    response_model=MatterOut,
    summary="办结 a procedure (late + department's fault → attributed to the level-2 agent)",
)
async def complete(ctx: CtxDep, principal: PrincipalDep, key: str, body: CompleteIn) -> MatterOut:
    async with ctx.db.transaction() as session:
        m = await completion.complete(session, principal=principal, key=key, body=body, now=ctx.clock())
        return matters.to_out(m)


@router.get(
    "/v1/procedure-notices",
    response_model=SubmissionList,
    summary="Submissions and one-time notices in my subtree; late=true is the supervisors' view",
)
async def notices(
    ctx: CtxDep,
    principal: PrincipalDep,
    tenant: TenantQuery = None,
    late: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SubmissionList:
    path = await base_path(ctx, principal, tenant)
    async with ctx.db.read() as session:
        rows = await service.notices(
            session, principal=principal, base_path=path, late_only=late, limit=limit
        )
        return SubmissionList(items=[sub_out(s) for s in rows])
