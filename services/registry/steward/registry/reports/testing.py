"""Test support for reports, milestones and the service log: a project with a roster whose people
log in with known subjects, and backdating (projects registered "long ago")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from steward.registry.testing import Registry, create_project


@dataclass
class Staffed:
    project: dict[str, Any]
    people: dict[str, dict[str, Any]]  # role key → person
    subjects: dict[str, str]  # role key → login subject
    owner_unit: str | None


async def staffed_project(
    reg: Registry,
    tenant: str,
    *,
    roles: list[str],
    name: str = "报表测试项目",
    investment: str = "2亿",
    enterprise: bool = True,
    backdate: datetime | None = None,
    **body: Any,
) -> Staffed:
    admin = reg.auth(tenant, "tenant_admin")
    owner = None
    if enterprise:
        unit = await reg.http.post(
            "/v1/units",
            json={"tenant": tenant, "kind": "enterprise", "name": f"{name}业主{len(roles)}{id(body) % 9973}"},
            headers=admin,
        )
        assert unit.status_code == 201, unit.text
        owner = unit.json()["id"]
        body["owner_unit_id"] = owner
    r = await create_project(reg, tenant, name=name, total_investment=investment, **body)
    assert r.status_code == 201, r.text
    project = r.json()
    people: dict[str, dict[str, Any]] = {}
    subjects: dict[str, str] = {}
    for role in roles:
        subject = f"{role}-{project['code']}"
        person = await reg.http.post(
            "/v1/people", json={"tenant": tenant, "name": f"{role}人", "subject": subject}, headers=admin
        )
        assert person.status_code == 201, person.text
        a = await reg.http.post(
            f"/v1/projects/{project['id']}/roster",
            json={"role_key": role, "person_id": person.json()["id"]},
            headers=admin,
        )
        assert a.status_code == 201, a.text
        people[role] = person.json()
        subjects[role] = subject
    if backdate is not None:
        await set_created(reg, project["id"], backdate)
    return Staffed(project=project, people=people, subjects=subjects, owner_unit=owner)


async def set_created(reg: Registry, project_id: str, at: datetime) -> None:
    async with reg.db.transaction() as session:
        await session.execute(
            sa.text("UPDATE projects SET created_at = :at WHERE id = :id"), {"at": at, "id": project_id}
        )
