"""Messages of the statistics and land systems applied as a user's change: the project's statistics
facts recorded with the project's ``project.updated`` event and audit entry (like an edit of the
project), the land handover as the actual date of the land node of the network plan (as a planner
sets it: ``milestone.reached``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry import ProjectUpdated
from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.errors import InvalidTransition, NotFound, ValidationFailed
from steward.registry.inbound.models import MonthlyInvestment, ProjectStatistics
from steward.registry.inbound.schemas import (
    LandHandedOver,
    MonthlyInvestmentReported,
    StatisticsIncluded,
    StatisticsStatus,
)
from steward.registry.milestones import service as milestones
from steward.registry.milestones.models import Milestone
from steward.registry.milestones.schemas import MilestoneUpdate
from steward.registry.projects.models import Project
from steward.registry.projects.national_code import looks_like
from steward.registry.projects.service import ensure_can_see
from steward.registry.settings import SOURCE

RegistryMessage = StatisticsIncluded | MonthlyInvestmentReported | LandHandedOver
LAND_NODES = ("land_handover", "land", "land_contract", "land_contract_signed")


async def find_project(session: AsyncSession, *, principal: Principal, code: str) -> Project:
    """By 一项一码 or national code, locked; outside the sender's subtree it is as unknown as missing."""
    national = looks_like(code)
    where = col(Project.code) == code
    if national:
        where = sa.or_(where, col(Project.national_code) == national)
    project = (await session.exec(select(Project).where(where).with_for_update())).first()
    try:
        if project is None:
            raise NotFound("project not found")
        ensure_can_see(principal, project)
    except NotFound:
        raise NotFound(f"unknown project {code}", code="unknown_project") from None
    return project


async def _updated(
    session: AsyncSession, *, principal: Principal, project: Project, changes: dict[str, list[Any]]
) -> None:
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="statistics",
        entity="project",
        entity_id=str(project.id),
        changes=changes,
        event=ProjectUpdated(project_id=str(project.id), code=project.code, changes=changes),
        source=SOURCE,
        subject=str(project.id),
    )


async def included(
    session: AsyncSession, *, principal: Principal, msg: StatisticsIncluded, now: datetime
) -> dict[str, Any]:
    project = await find_project(session, principal=principal, code=msg.project_code)
    st = await session.get(ProjectStatistics, project.id, with_for_update=True)
    before = StatisticsStatus(st.status) if st else None
    if before is not None and before.rank >= msg.status.rank:
        raise InvalidTransition(
            f"the project is {before.value} already; statistics status only moves forward",
            code="statistics_status_not_forward",
        )
    if st is None:
        st = ProjectStatistics(
            project_id=project.id, status=msg.status.value, reported_by=principal.subject, updated_at=now
        )
        session.add(st)
    st.status = msg.status.value
    st.statistics_code = msg.statistics_code or st.statistics_code
    if msg.status is StatisticsStatus.IN_LIBRARY or st.in_library_on is None:
        st.in_library_on = msg.on  # 纳统 implies 入库
    if msg.status is StatisticsStatus.IN_STATISTICS:
        st.in_statistics_on = msg.on
    st.reported_by, st.updated_at = principal.subject, now
    changes: dict[str, list[Any]] = {
        "statistics_status": [before.value if before else None, msg.status.value],
        f"statistics_{msg.status.value}_on": [None, msg.on.isoformat()],
    }
    await _updated(session, principal=principal, project=project, changes=changes)
    return {"project_id": str(project.id), "project_code": project.code, "status": st.status}


async def investment(
    session: AsyncSession, *, principal: Principal, msg: MonthlyInvestmentReported, now: datetime
) -> dict[str, Any]:
    project = await find_project(session, principal=principal, code=msg.project_code)
    if msg.amount < 0 or (msg.cumulative is not None and msg.cumulative < 0):
        raise ValidationFailed("investment cannot be negative", code="negative_amount")
    st = await session.get(ProjectStatistics, project.id)
    if st is None or st.status != StatisticsStatus.IN_STATISTICS.value:
        raise InvalidTransition(
            "monthly investment is counted for projects included in statistics (纳统) only",
            code="not_in_statistics",
        )
    row = await session.get(MonthlyInvestment, (project.id, msg.month), with_for_update=True)
    old: Decimal | None = row.amount if row else None
    if row is None:
        row = MonthlyInvestment(
            project_id=project.id,
            month=msg.month,
            amount=msg.amount,
            reported_by=principal.subject,
            reported_at=now,
        )
        session.add(row)
    row.amount, row.cumulative = msg.amount, msg.cumulative
    row.reported_by, row.reported_at = principal.subject, now
    changes: dict[str, list[Any]] = {
        f"statistics_investment_{msg.month}": [f"{old:.2f}" if old is not None else None, f"{msg.amount:.2f}"]
    }
    await _updated(session, principal=principal, project=project, changes=changes)
    return {
        "project_id": str(project.id),
        "project_code": project.code,
        "month": msg.month,
        "amount": f"{msg.amount:.2f}",
        "corrected": old is not None,
    }


async def land_handover(
    session: AsyncSession, *, principal: Principal, msg: LandHandedOver, now: datetime
) -> dict[str, Any]:
    project = await find_project(session, principal=principal, code=msg.project_code)
    keys = (msg.node,) if msg.node else LAND_NODES
    nodes = {
        m.key: m
        for m in (
            await session.exec(
                select(Milestone).where(Milestone.project_id == project.id, col(Milestone.key).in_(keys))
            )
        ).all()
    }
    node = next((nodes[k] for k in keys if k in nodes), None)
    if node is None:
        raise InvalidTransition(
            f"the project's network plan has no land node ({', '.join(keys)})", code="no_land_node"
        )
    if node.actual_date is not None:
        raise InvalidTransition(
            f"the node {node.key} was reached on {node.actual_date.isoformat()} already",
            code="already_reached",
        )
    reason = "土地交付（土地系统）" + (f"：宗地 {msg.parcel}" if msg.parcel else "")
    m = await milestones.update(
        session,
        principal=principal,
        id_or_code=str(project.id),
        milestone_id=node.id,
        data=MilestoneUpdate(actual_date=msg.handed_over_on, reason=reason),
    )
    return {
        "project_id": str(project.id),
        "project_code": project.code,
        "milestone_id": str(m.id),
        "node": m.key,
        "actual_date": msg.handed_over_on.isoformat(),
    }


async def apply(
    session: AsyncSession, *, principal: Principal, msg: RegistryMessage, now: datetime
) -> dict[str, Any]:
    if isinstance(msg, StatisticsIncluded):
        return await included(session, principal=principal, msg=msg, now=now)
    if isinstance(msg, MonthlyInvestmentReported):
        return await investment(session, principal=principal, msg=msg, now=now)
    return await land_handover(session, principal=principal, msg=msg, now=now)


async def statistics_of(
    session: AsyncSession, *, project_id: uuid.UUID
) -> tuple[ProjectStatistics | None, list[MonthlyInvestment]]:
    st = await session.get(ProjectStatistics, project_id)
    stmt = select(MonthlyInvestment).where(MonthlyInvestment.project_id == project_id)
    months = list((await session.exec(stmt.order_by(col(MonthlyInvestment.month)))).all())
    return st, months
