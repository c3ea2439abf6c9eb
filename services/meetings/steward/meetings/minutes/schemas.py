"""Request and response models of the minutes domain (会议纪要, 签收)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from steward.kit.inputs import Input, LongText
from steward.meetings.meetings.schemas import Participant


class MinutesDraft(Input):
    summary: LongText = Field("", description="会议认为 / 主持人总结 (free text)")
    recipients: list[Participant] | None = Field(
        None, max_length=500, description="default: the participants and attendees with a login"
    )


class SignMinutesIn(Input):
    comment: str = Field("", max_length=2000)


class Recipient(BaseModel):
    subject: str | None
    name: str
    unit_name: str | None
    acknowledged_at: datetime | None


class MinutesOut(BaseModel):
    meeting_id: uuid.UUID
    number: str
    title: str
    summary: str
    status: Literal["draft", "signed", "issued"]
    due_at: datetime
    overdue: bool
    drafted_by: str
    drafted_at: datetime
    signed_by: str | None
    signed_at: datetime | None
    issued_by: str | None
    issued_at: datetime | None
    recipients: list[Recipient]
    outstanding: int = Field(description="recipients who have not acknowledged (未签收)")
