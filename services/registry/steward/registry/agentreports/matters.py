"""The agent's matters of the week, from the issues service (kit ``IssuesClient.matters_of_person``):
those the agent filed (reporter = login subject) or is responsible for (responsible_person = name),
active during the ISO week in Asia/Shanghai. The caller's token is passed on, so the issues service
applies the caller's scope. Without an issues service, or while it is down, the draft says so."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from steward.api.issues.v1 import issues_pb2 as pb
from steward.kit.calendar import DEFAULT_TZ
from steward.kit.clients.issues import IssuesClient, IssuesUnavailable
from steward.kit.logs import THROTTLED
from steward.registry.agentreports.schemas import MattersStatus, WeekMatter

LIMIT = 200


def to_week_matter(m: pb.Matter, *, subject: str | None, name: str) -> WeekMatter:
    part: list[str] = []
    if subject and m.reporter == subject:
        part.append("reporter")
    if m.responsible_person == name:
        part.append("responsible")
    filed = m.filed_at.ToDatetime(tzinfo=DEFAULT_TZ)
    resolved = m.resolved_at.ToDatetime(tzinfo=DEFAULT_TZ) if m.HasField("resolved_at") else None
    return WeekMatter.model_validate(
        {
            "id": m.id,
            "number": m.number,
            "kind": m.kind,
            "title": m.title,
            "status": m.status,
            "as": part,
            "project_id": m.project_id or None,
            "project_code": m.project_code or None,
            "responsible_unit_name": m.responsible_unit_name or None,
            "filed_at": filed,
            "due_date": m.due_date,
            "overdue": m.overdue,
            "resolved_at": resolved,
        }
    )


async def of_week(
    issues: IssuesClient | None,
    *,
    subject: str | None,
    name: str,
    start: date,
    end: date,
    token: str | None,
) -> tuple[list[WeekMatter], MattersStatus, bool]:
    if issues is None:
        return [], "not_configured", False
    since = datetime.combine(start, time(0), tzinfo=DEFAULT_TZ)
    until = datetime.combine(end + timedelta(days=1), time(0), tzinfo=DEFAULT_TZ)
    try:
        result = await issues.matters_of_person(
            since=since, until=until, subject=subject, names=[name], limit=LIMIT, token=token
        )
    except IssuesUnavailable as exc:  # a draft without the matters beats no draft; it says why
        THROTTLED.warning("agent_report.matters_unavailable", error=str(exc))
        return [], "unavailable", False
    return [to_week_matter(m, subject=subject, name=name) for m in result.matters], "ok", result.truncated
