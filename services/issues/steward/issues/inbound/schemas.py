"""Bodies of the inbound interface of the issues service: an approval system reports a procedure's
acceptance (受理), approval with the licence number (办结) or return with corrections (退回补正)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from steward.issues.procedures.schemas import DelayCause
from steward.kit.inputs import Input
from steward.rules.base import Key

MessageId = Annotated[str, Field(min_length=1, max_length=128, description="the sender's own id")]
Items = Annotated[list[Annotated[str, Field(min_length=1, max_length=500)]], Field(max_length=200)]


class ProcedureMessage(Input):
    message_id: MessageId
    project_code: str = Field(min_length=1, max_length=40, description="一项一码 of the project")
    procedure_code: Key = Field(description="procedure code of the tenant's catalogue, e.g. filing")
    occurred_at: datetime | None = Field(default=None, description="when it happened at the sender")
    note: str = Field(default="", max_length=2000)


class ProcedureAccepted(ProcedureMessage):
    """受理: the department accepted the application; the procedure is in progress."""

    kind: Literal["procedure.accepted"]
    materials: Items = Field(default_factory=list, description="materials received at the sender")


class ProcedureApproved(ProcedureMessage):
    """办结: approved, with the licence (permit, approval document) number."""

    kind: Literal["procedure.approved"]
    licence_no: str = Field(min_length=1, max_length=100, description="许可证/批文 number")
    delay_cause: DelayCause | None = Field(
        default=None, description="when approved after the promised time (default: other)"
    )


class ProcedureReturned(ProcedureMessage):
    """退回补正: returned with ALL corrections at once (一次性告知)."""

    kind: Literal["procedure.returned"]
    corrections: Items = Field(min_length=1)
    materials: Items = Field(default_factory=list, description="materials received at the sender")


ApprovalMessage = Annotated[
    ProcedureAccepted | ProcedureApproved | ProcedureReturned, Field(discriminator="kind")
]
MESSAGE = TypeAdapter(ApprovalMessage)


class ApprovalBulk(Input):
    messages: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=200,
        description="approval messages (the body of POST /v1/inbound/procedures each); each is "
        "validated and applied on its own",
    )
