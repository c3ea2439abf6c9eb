"""Who handles a matter, learnt from earlier events, so later events that do not name the person
(``matter.rated``, ``matter.overdue``) still find the agent or unit whose score they move."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class MatterPeople(SQLModel, table=True):
    __tablename__ = "scoring_matter_people"

    matter_id: str = Field(primary_key=True, max_length=64)
    person: str | None = Field(default=None, max_length=200)
    level2_agent: str | None = Field(default=None, max_length=200)
    unit_id: str | None = Field(default=None, max_length=64)
