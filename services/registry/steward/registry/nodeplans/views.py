from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends

from steward.kit.errors import NotFound
from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.registry.milestones.models import Milestone
from steward.registry.nodeplans import changes, service
from steward.registry.nodeplans.schemas import (
    ApplyIn,
    ChangeIn,
    ChangeList,
    ChangeOut,
    DelayIn,
    DelayOut,
    NodePlanOut,
    PlanNodeOut,
    RejectIn,
    TemplateList,
    TemplateOut,
)
from steward.registry.projects.service import get_project

router = APIRouter(tags=["network plan"], dependencies=[Depends(clean_request)])


@router.get(
    "/v1/node-plan-templates",
    response_model=TemplateList,
    summary="The tenant's node-plan templates (rules section node_plans)",
)
async def list_templates(db: DatabaseDep, principal: PrincipalDep, tenant: str | None = None) -> TemplateList:
    async with db.read() as session:
        code, items = await service.templates(session, principal=principal, tenant=tenant)
        return TemplateList(
            tenant=code,
            items=[
                TemplateOut(
                    key=t.key,
                    name_zh=t.name_zh,
                    nodes=[PlanNodeOut.model_validate(n.model_dump()) for n in t.nodes],
                )
                for t in items
            ],
        )


def _plan_out(project_id: uuid.UUID, template: str, rows: list[Milestone]) -> NodePlanOut:
    return NodePlanOut(
        project_id=project_id,
        template=template,
        start=min(m.planned_start or m.planned_date for m in rows),
        planned_completion=max(m.planned_date for m in rows),
        nodes=[service.node_out(m) for m in rows],
    )


@router.post(
    "/v1/projects/{id_or_code}/node-plan",
    response_model=NodePlanOut,
    status_code=201,
    summary="Apply a node-plan template: generate the network-plan milestones with working-day dates",
)
async def apply_template(
    db: DatabaseDep, principal: PrincipalDep, id_or_code: str, body: ApplyIn
) -> NodePlanOut:
    async with db.transaction() as session:
        project, template, _start, rows = await service.apply(
            session, principal=principal, id_or_code=id_or_code, data=body
        )
        return _plan_out(project.id, template, rows)


@router.get(
    "/v1/projects/{id_or_code}/node-plan", response_model=NodePlanOut, summary="The project's node plan"
)
async def get_node_plan(db: DatabaseDep, principal: PrincipalDep, id_or_code: str) -> NodePlanOut:
    async with db.read() as session:
        project = await get_project(session, principal=principal, id_or_code=id_or_code)
        rows = await service.plan_rows(session, project_id=project.id)
        if not rows:
            raise NotFound("the project has no node plan", code="no_node_plan")
        return _plan_out(project.id, rows[0].template or "", rows)


@router.post(
    "/v1/projects/{id_or_code}/node-plan/{milestone_id}/delay",
    response_model=DelayOut,
    summary="Delay a node: its successors' planned dates are pushed (only theirs) and listed",
)
async def delay_node(
    db: DatabaseDep, principal: PrincipalDep, id_or_code: str, milestone_id: uuid.UUID, body: DelayIn
) -> DelayOut:
    async with db.transaction() as session:
        return await service.delay(
            session, principal=principal, id_or_code=id_or_code, milestone_id=milestone_id, data=body
        )


@router.post(
    "/v1/projects/{id_or_code}/node-plan/changes",
    response_model=ChangeOut,
    status_code=201,
    summary="The owner proposes new planned node dates; they take effect when the lead department approves",
)
async def request_change(
    db: DatabaseDep, principal: PrincipalDep, id_or_code: str, body: ChangeIn
) -> ChangeOut:
    async with db.transaction() as session:
        return changes.to_out(
            await changes.request(session, principal=principal, id_or_code=id_or_code, data=body)
        )


@router.get(
    "/v1/projects/{id_or_code}/node-plan/changes",
    response_model=ChangeList,
    summary="The project's node-plan change requests, newest first",
)
async def list_changes(db: DatabaseDep, principal: PrincipalDep, id_or_code: str) -> ChangeList:
    async with db.read() as session:
        rows = await changes.list_changes(session, principal=principal, id_or_code=id_or_code)
        return ChangeList(items=[changes.to_out(c) for c in rows])


@router.post(
    "/v1/projects/{id_or_code}/node-plan/changes/{change_id}/approve",
    response_model=ChangeOut,
    summary="The lead department approves: the dates take effect and successors are pushed",
)
async def approve_change(
    db: DatabaseDep, principal: PrincipalDep, id_or_code: str, change_id: uuid.UUID
) -> ChangeOut:
    async with db.transaction() as session:
        return changes.to_out(
            await changes.approve(session, principal=principal, id_or_code=id_or_code, change_id=change_id)
        )


@router.post(
    "/v1/projects/{id_or_code}/node-plan/changes/{change_id}/reject",
    response_model=ChangeOut,
    summary="The lead department rejects a node-plan change, with a reason",
)
async def reject_change(
    db: DatabaseDep, principal: PrincipalDep, id_or_code: str, change_id: uuid.UUID, body: RejectIn
) -> ChangeOut:
    async with db.transaction() as session:
        return changes.to_out(
            await changes.reject(
                session, principal=principal, id_or_code=id_or_code, change_id=change_id, reason=body.reason
            )
        )
