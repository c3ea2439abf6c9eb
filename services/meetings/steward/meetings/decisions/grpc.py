"""gRPC handler of the decisions domain: ListDecisions (each with the matter it became)."""

from __future__ import annotations

from steward.api.meetings.v1 import meetings_pb2 as pb
from steward.kit.auth import Principal
from steward.kit.errors import ValidationFailed
from steward.kit.inputs import clean
from steward.meetings.context import MeetingsContext
from steward.meetings.decisions import service
from steward.meetings.meetings import service as meetings


async def list_decisions(
    ctx: MeetingsContext, principal: Principal, request: pb.ListDecisionsRequest
) -> pb.ListDecisionsResponse:
    if not request.meeting_id:
        raise ValidationFailed("meeting_id is required")
    clean(meeting_id=request.meeting_id)
    async with ctx.db.read() as session:
        m = await meetings.get(session, principal=principal, meeting_id=request.meeting_id)
        rows = await service.of_meeting(session, m)
    return pb.ListDecisionsResponse(
        decisions=[
            pb.Decision(
                id=str(d.id),
                meeting_id=str(d.meeting_id),
                topic_id=str(d.topic_id) if d.topic_id else "",
                number=d.number,
                text=d.text,
                responsible_unit_id=d.responsible_unit_id or "",
                responsible_unit_name=d.responsible_unit_name,
                responsible_person=d.responsible_person or "",
                due_date=d.due_date.isoformat(),
                deadline_source=d.deadline_source,
                matter_id=d.matter_id or "",
                matter_number=d.matter_number or "",
            )
            for d in rows
        ]
    )
