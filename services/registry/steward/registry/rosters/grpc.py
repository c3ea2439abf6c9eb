"""gRPC handler of the rosters domain (GetRoster, with contact routes for notifications)."""

from __future__ import annotations

from steward.api.registry.v1 import registry_pb2 as pb
from steward.kit.auth import Principal
from steward.kit.db import Database
from steward.kit.errors import ValidationFailed
from steward.registry.projects.grpc import to_pb as project_pb
from steward.registry.projects.service import read_project
from steward.registry.rosters import service
from steward.registry.rules import service as rules
from steward.registry.units.access import mask_email
from steward.registry.units.models import Person
from steward.registry.units.service import PHONE_ROLES, mask_phone


def routes_of(person: Person, principal: Principal) -> list[pb.ContactRoute]:
    routes = []
    if person.subject:
        routes.append(pb.ContactRoute(channel="inbox", address=person.subject))
    if person.email:
        email = person.email if principal.has(*PHONE_ROLES) else (mask_email(person.email) or "")
        routes.append(pb.ContactRoute(channel="email", address=email))
    if person.phone:
        phone = person.phone if principal.has(*PHONE_ROLES) else (mask_phone(person.phone) or "")
        routes.append(pb.ContactRoute(channel="sms", address=phone))
    if person.wecom_id:
        routes.append(pb.ContactRoute(channel="wecom", address=person.wecom_id))
    return routes


async def get_roster(db: Database, principal: Principal, request: pb.GetRosterRequest) -> pb.Roster:
    if not request.project_id:
        raise ValidationFailed("project_id is required")
    project = await read_project(db, principal=principal, id_or_code=request.project_id)
    template = (
        await rules.read_effective(db, tenant=project.tenant_code, path=project.tenant_path)
    ).document.roster
    holders = await service.active_holders(db, project_id=project.id)
    entries = []
    for a, person, unit in holders:
        role = template.role(a.role_key)
        unit_id = a.unit_id or (person.unit_id if person else None)
        entries.append(
            pb.RosterEntry(
                assignment_id=str(a.id),
                role_key=a.role_key,
                role_name=role.name_zh if role else a.role_key,
                person=pb.RosterPerson(
                    id=str(person.id) if person else "",
                    name=person.name if person else (a.label or ""),
                    unit_id=str(unit_id) if unit_id else "",
                    unit_name=unit.name if unit else "",
                    title=person.title if person else "",
                    subject=person.subject or "" if person else "",
                    routes=routes_of(person, principal) if person else [],
                ),
            )
        )
    return pb.Roster(
        project_id=str(project.id),
        tenant=project.tenant_code,
        entries=entries,
        missing_roles=service.missing_roles(template, project, [a for a, _, _ in holders]),
        project=project_pb(project),
    )
