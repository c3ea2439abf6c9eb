"""The project lifecycle: guarded stage transitions with an append-only history (who, when, why)."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry import ProjectStageChanged
from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.db import utcnow
from steward.kit.errors import Forbidden, InvalidTransition
from steward.kit.tenancy import ancestry_of, ensure_writable
from steward.registry.projects.models import Project, StageChange
from steward.registry.projects.service import WRITERS, get_project
from steward.registry.projects.stages import Stage, allowed_targets
from steward.registry.settings import SOURCE


async def transition(
    session: AsyncSession, *, principal: Principal, id_or_code: str, to_stage: Stage, reason: str
) -> Project:
    principal.require(*WRITERS)
    project = await get_project(session, principal=principal, id_or_code=id_or_code, lock=True)
    ensure_writable(principal, ancestry_of(project.tenant_path))
    current = Stage(project.stage)
    before = Stage(project.stage_before_suspension) if project.stage_before_suspension else None
    allowed = allowed_targets(current, before_suspension=before)
    if to_stage not in allowed:
        raise InvalidTransition(
            f"cannot move a project from {current.value} to {to_stage.value}",
            details=[
                {
                    "loc": ["to_stage"],
                    "message": f"allowed: {sorted(s.value for s in allowed)}",
                    "type": "invalid_transition",
                }
            ],
        )
    if principal.is_enterprise:
        raise Forbidden("enterprise contacts cannot change a project's stage")
    project.stage_before_suspension = current.value if to_stage is Stage.SUSPENDED else None
    project.stage = to_stage.value
    project.updated_at = utcnow()
    project.row_version += 1
    session.add(
        StageChange(
            project_id=project.id,
            from_stage=current.value,
            to_stage=to_stage.value,
            reason=reason,
            actor=principal.subject,
            at=project.updated_at,
        )
    )
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="transition",
        entity="project",
        entity_id=str(project.id),
        changes={"stage": [current.value, to_stage.value], "reason": reason},
        event=ProjectStageChanged(
            project_id=str(project.id),
            code=project.code,
            from_stage=current.value,
            to_stage=to_stage.value,
            reason=reason,
        ),
        source=SOURCE,
        subject=str(project.id),
    )
    return project


async def history(session: AsyncSession, *, project: Project) -> list[StageChange]:
    stmt = (
        select(StageChange)
        .where(StageChange.project_id == project.id)
        .order_by(col(StageChange.at), col(StageChange.id))
    )
    return list((await session.exec(stmt)).all())
