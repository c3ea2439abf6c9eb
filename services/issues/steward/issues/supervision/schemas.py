from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field, model_validator

from steward.kit.inputs import Input


class OrderCreate(Input):
    instructions: str = Field(min_length=1, max_length=5000)
    due_working_days: int | None = Field(default=None, ge=1, le=60, description="deadline in working days")
    due_date: date | None = None

    @model_validator(mode="after")
    def _one_deadline(self) -> OrderCreate:
        if (self.due_working_days is None) == (self.due_date is None):
            raise ValueError("give exactly one of due_working_days and due_date")
        return self


class OrderResponse(Input):
    text: str = Field(min_length=1, max_length=5000)


class OrderOut(BaseModel):
    id: uuid.UUID
    matter_id: uuid.UUID
    tenant: str
    issued_by: str
    issuer_tenant: str
    instructions: str
    issued_at: datetime
    due_at: datetime
    status: str
    overdue: bool
    response: str | None
    responded_by: str | None
    responded_at: datetime | None


class OrderList(BaseModel):
    items: list[OrderOut]
