"""Demo data: Shenyang (210100) with districts, a development zone and a township; the seeds'
rules; units, people, ~30 projects across every stage and tier; rosters, some left incomplete."""

from __future__ import annotations

from datetime import date
from typing import Any

from steward.kit.auth import Principal, Role
from steward.kit.db import Database
from steward.registry.demo_activity import seed_activity
from steward.registry.demo_data import CITY, DEPARTMENTS, ENTERPRISES, PROJECTS, RULES, TENANTS
from steward.registry.projects import lifecycle
from steward.registry.projects import service as projects
from steward.registry.projects.schemas import Location, ProjectCreate
from steward.registry.rosters import service as rosters
from steward.registry.rosters.schemas import AssignmentIn
from steward.registry.rules import service as rules
from steward.registry.settings import RegistrySettings
from steward.registry.tenants import service as tenants
from steward.registry.tenants.models import Tenant
from steward.registry.tenants.schemas import TenantCreate
from steward.registry.units import service as units
from steward.registry.units.schemas import PersonCreate, UnitCreate, UnitKind
from steward.rules import preset_override

SYSTEM = Principal(subject="demo-seed", tenant=CITY, roles=frozenset({Role.PLATFORM_ADMIN}))


async def seed_demo(settings: RegistrySettings) -> str:
    db = Database(settings.database_url)
    try:
        async with db.transaction() as session:
            if await session.get(Tenant, CITY) is not None:
                return "demo data already present"
            await _seed(session)
        return f"seeded {len(TENANTS) + 1} tenants, {len(PROJECTS)} projects"
    finally:
        await db.dispose()


async def _seed(session: Any) -> None:
    await tenants.create_root(session, code=CITY, name="沈阳市")
    for code, name, kind, parent in TENANTS:
        await tenants.create_tenant(
            session, principal=SYSTEM, data=TenantCreate(code=code, name=name, kind=kind, parent=parent)
        )
    for code, (preset, comment) in RULES.items():
        await rules.put_rules(
            session,
            principal=SYSTEM,
            tenant=code,
            document=preset_override(preset),
            effective_from=None,
            comment=comment,
        )
    people: dict[str, list[Any]] = {}
    for code in [CITY] + [t[0] for t in TENANTS]:
        staff = []
        for i, dept in enumerate(DEPARTMENTS if len(code) == 6 else DEPARTMENTS[:1]):
            unit = await units.create_unit(
                session, principal=SYSTEM, data=UnitCreate(tenant=code, kind=UnitKind.DEPARTMENT, name=dept)
            )
            person = await units.create_person(
                session,
                principal=SYSTEM,
                data=PersonCreate(
                    tenant=code,
                    unit_id=unit.id,
                    name=f"{dept[:2]}{code[-3:]}专员",
                    title="科长",
                    phone=f"1390{code[-3:]}{i:04d}",
                    email=f"staff{i}.{code}@example.gov.cn",
                    subject=f"demo-{code}-staff{i}",
                ),
            )
            staff.append((unit, person))
        people[code] = staff
    enterprises: list[tuple[Any, Any]] = []
    for code, name, credit in ENTERPRISES:
        unit = await units.create_unit(
            session,
            principal=SYSTEM,
            data=UnitCreate(tenant=code, kind=UnitKind.ENTERPRISE, name=name, credit_code=credit),
        )
        contact = await units.create_person(
            session,
            principal=SYSTEM,
            data=PersonCreate(
                tenant=code,
                unit_id=unit.id,
                name=f"{name[:4]}联系人",
                title="项目经理",
                phone=f"1380000{len(enterprises):04d}",
                email=f"contact{len(enterprises)}@example.com",
                subject=f"demo-enterprise-{len(enterprises)}",
            ),
        )
        enterprises.append((unit, contact))
    for n, (code, name, amount, funding, level, path, major, owner, lat, lon) in enumerate(PROJECTS):
        project = await projects.register(
            session,
            principal=SYSTEM,
            data=ProjectCreate(
                tenant=code,
                name=name,
                total_investment=amount,
                funding_type=funding,
                key_level=level,
                major=major,
                owner_unit_id=enterprises[owner][0].id if owner is not None else None,
                industry="制造业" if owner else "基础设施",
                location=Location(lat=lat, lon=lon, address=f"{name}项目现场"),
                planned_start=date(2026, 3 + n % 6, 1),
                planned_completion=date(2028, 1 + n % 12, 1),
            ),
        )
        for stage in path:
            await lifecycle.transition(
                session,
                principal=SYSTEM,
                id_or_code=str(project.id),
                to_stage=stage,
                reason=f"演示数据：进入{stage.name_zh}阶段",
            )
        if n % 4 == 3:
            continue  # left incomplete on purpose: the completeness view lists these
        await _fill_roster(
            session, project, people[code], enterprises[owner][1] if owner is not None else None
        )
    # reports (on time, late, missing), milestones and service-log entries on the demo projects
    approvers = {code: str(staff[4][0].id) for code, staff in people.items() if len(staff) > 4}
    await seed_activity(session, approvers=approvers)


async def _fill_roster(session: Any, project: Any, staff: list[Any], contact: Any) -> None:
    template = await rosters.template_for(session, project=project)
    unit, person = staff[0]
    for role in template.required_roles(rosters.facts_of(project)):
        data: AssignmentIn | None
        if role.holder == "unit":
            data = AssignmentIn(role_key=role.key, unit_id=unit.id)
        elif role.holder == "body":
            data = AssignmentIn(role_key=role.key, label=f"{project.name}指挥部")
        elif role.key == "enterprise_contact":
            data = AssignmentIn(role_key=role.key, person_id=contact.id) if contact else None
        else:
            data = AssignmentIn(role_key=role.key, person_id=person.id)
        if data is not None:
            await rosters.assign(session, principal=SYSTEM, id_or_code=str(project.id), data=data)
