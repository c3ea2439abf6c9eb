from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import utcnow
from steward.kit.ids import new_id


class Assignment(SQLModel, table=True):
    """A person (or unit, or named body) holding a roster role on a project; ended, never deleted."""

    __tablename__ = "roster_assignments"
    __table_args__ = (
        sa.Index("ix_roster_active", "project_id", "role_key", postgresql_where=sa.text("ended_at IS NULL")),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True)
    role_key: str = Field(max_length=64)
    person_id: uuid.UUID | None = Field(default=None, foreign_key="people.id", index=True)
    unit_id: uuid.UUID | None = Field(default=None, foreign_key="units.id")
    label: str = Field(default="", max_length=200)
    assigned_by: str
    assigned_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    ended_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    ended_by: str | None = None
