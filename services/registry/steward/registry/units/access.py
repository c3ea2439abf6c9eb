"""Who may see which people, and how much of their contact details (PIPL).

Enterprise contacts see only the people of their own enterprise and the people on their own
projects' rosters (projects whose owner is their unit); everyone else sees the people of their
tenant's subtree. Roles that work the phone see full numbers and addresses; everyone else sees
``138****5678`` and ``z***@example.com`` (a person always sees their own in full).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.errors import NotFound
from steward.registry.projects.models import Project
from steward.registry.rosters.models import Assignment
from steward.registry.units.models import Person


def mask_email(email: str | None) -> str | None:
    if not email:
        return email
    local, at, domain = email.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def enterprise_people_clause(principal: Principal) -> sa.ColumnElement[bool]:
    """The people an enterprise contact may see: themselves, their own enterprise's people, and the
    people holding an active roster role on a project their enterprise owns."""
    own = col(Person.subject) == principal.subject
    try:
        unit = uuid.UUID(principal.unit) if principal.unit else None
    except ValueError:
        unit = None
    if unit is None:
        return own
    on_own_projects = (
        select(col(Assignment.person_id))
        .join(Project, col(Project.id) == col(Assignment.project_id))
        .where(
            col(Project.owner_unit_id) == unit,
            col(Assignment.ended_at).is_(None),
            col(Assignment.person_id).is_not(None),
        )
    )
    return sa.or_(
        own,
        col(Person.unit_id) == unit,
        col(Person.id).in_(on_own_projects),
    )


async def ensure_person_visible(session: AsyncSession, principal: Principal, person: Person) -> None:
    """An enterprise contact asking for anyone else gets 404 (existence is not leaked)."""
    if not principal.is_enterprise:
        return
    stmt = select(col(Person.id)).where(col(Person.id) == person.id, enterprise_people_clause(principal))
    if (await session.exec(stmt)).first() is None:
        raise NotFound("person not found")
