"""Demo data: Shenyang (210100) with districts, a development zone and a township; the seeds'
rules; units, people, ~30 projects across every stage and tier; rosters, some left incomplete."""

from __future__ import annotations

from datetime import date
from typing import Any

from steward.kit.auth import Principal, Role
from steward.kit.db import Database
from steward.registry.demo_activity import seed_activity
from steward.registry.projects import service as projects
from steward.registry.projects.schemas import FundingType, KeyLevel, Location, ProjectCreate
from steward.registry.projects.stages import Stage
from steward.registry.rosters import service as rosters
from steward.registry.rosters.schemas import AssignmentIn
from steward.registry.rules import service as rules
from steward.registry.settings import RegistrySettings
from steward.registry.tenants import service as tenants
from steward.registry.tenants.models import Tenant
from steward.registry.tenants.schemas import TenantCreate, TenantKind
from steward.registry.units import service as units
from steward.registry.units.schemas import PersonCreate, UnitCreate, UnitKind
from steward.rules import preset_override

CITY = "210100"
SYSTEM = Principal(subject="demo-seed", tenant=CITY, roles=frozenset({Role.PLATFORM_ADMIN}))

TENANTS: list[tuple[str, str, TenantKind, str]] = [
    ("210102", "和平区", TenantKind.DISTRICT, CITY),
    ("210103", "沈河区", TenantKind.DISTRICT, CITY),
    ("210106", "铁西区", TenantKind.DISTRICT, CITY),
    ("210112", "浑南区", TenantKind.DISTRICT, CITY),
    ("210171", "沈阳经济技术开发区", TenantKind.ZONE, CITY),
    ("210112004", "浑南区李相街道", TenantKind.STREET, "210112"),
]
# 浑南 uses Fuxin's steward rule (every project ≥2000万 has a 项目管家, 六个一 roster);
# 铁西 uses Anyang's 五个一 and semi-monthly reports; the zone uses Jinniu's monthly report.
RULES: dict[str, tuple[str, str]] = {
    CITY: ("shenyang", "沈政发〔2018〕7号 defaults"),
    "210112": ("fuxin_steward", "项目管家制度 (阜蒙政办发〔2019〕36号)"),
    "210106": ("anyang", "五个一分包制度 (安示范办〔2017〕14号)"),
    "210171": ("jinniu", "帮办代办 monthly reporting"),
}
DEPARTMENTS = ["发展和改革局", "自然资源局", "生态环境局", "住房和城乡建设局", "营商环境建设局"]
ENTERPRISES = [
    ("210112", "沈阳浑南智造科技有限公司", "91210112MA0XYB1234"),
    ("210112", "辽宁新松医疗器械有限公司", "91210112MA0ABC5678"),
    ("210106", "沈阳铁西重装机械有限公司", "91210106MA0DEF9012"),
    ("210106", "华晨新能源汽车零部件有限公司", "91210106MA0GHJ3456"),
    ("210102", "和平商贸综合体开发有限公司", "91210102MA0KLM7890"),
    ("210103", "沈河文旅发展有限公司", "91210103MA0NPQ1357"),
    ("210171", "沈阳开发区半导体材料有限公司", "91210100MA0RTU2468"),
    ("210112004", "李相现代农业产业园有限公司", "91210112MA0WXY3691"),
]
# (tenant, name, investment, funding, key level, stage path, major, owner index, lat, lon)
PROJECTS: list[tuple[str, str, str, FundingType, KeyLevel, list[Stage], bool, int | None, float, float]] = [
    (
        "210112",
        "智能制造产业园一期",
        "1.2亿",
        FundingType.ENTERPRISE,
        KeyLevel.PROVINCIAL,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START],
        True,
        0,
        41.72,
        123.46,
    ),
    (
        "210112",
        "工业机器人研发中心",
        "2500万",
        FundingType.ENTERPRISE,
        KeyLevel.CITY,
        [Stage.SIGNED, Stage.PREPARING],
        False,
        0,
        41.73,
        123.47,
    ),
    (
        "210112",
        "高端医疗器械生产基地",
        "3.5亿",
        FundingType.ENTERPRISE,
        KeyLevel.NATIONAL,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START, Stage.CONTINUING],
        True,
        1,
        41.70,
        123.50,
    ),
    (
        "210112",
        "浑南数据中心",
        "8000万",
        FundingType.ENTERPRISE,
        KeyLevel.CITY,
        [Stage.SIGNED],
        False,
        1,
        41.71,
        123.49,
    ),
    (
        "210112",
        "浑南新城道路改造工程",
        "4500万",
        FundingType.GOVERNMENT,
        KeyLevel.DISTRICT,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START, Stage.COMPLETED],
        False,
        None,
        41.74,
        123.45,
    ),
    (
        "210112",
        "人工智能孵化器",
        "1500万",
        FundingType.ENTERPRISE,
        KeyLevel.NONE,
        [],
        False,
        0,
        41.72,
        123.44,
    ),
    (
        "210112004",
        "李相设施农业示范区",
        "1800万",
        FundingType.ENTERPRISE,
        KeyLevel.NONE,
        [Stage.SIGNED, Stage.PREPARING],
        False,
        7,
        41.62,
        123.52,
    ),
    (
        "210112004",
        "李相冷链物流中心",
        "6000万",
        FundingType.ENTERPRISE,
        KeyLevel.DISTRICT,
        [Stage.SIGNED, Stage.PREPARING, Stage.SUSPENDED],
        False,
        7,
        41.63,
        123.53,
    ),
    (
        "210106",
        "重型装备智能工厂",
        "5.6亿",
        FundingType.ENTERPRISE,
        KeyLevel.PROVINCIAL,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START, Stage.CONTINUING],
        True,
        2,
        41.79,
        123.35,
    ),
    (
        "210106",
        "新能源汽车电驱系统项目",
        "2.2亿",
        FundingType.ENTERPRISE,
        KeyLevel.CITY,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START],
        True,
        3,
        41.78,
        123.33,
    ),
    (
        "210106",
        "铁西老工业区更新改造",
        "9000万",
        FundingType.PPP,
        KeyLevel.CITY,
        [Stage.SIGNED, Stage.PREPARING],
        False,
        None,
        41.80,
        123.36,
    ),
    (
        "210106",
        "零部件配套产业园",
        "3200万",
        FundingType.ENTERPRISE,
        KeyLevel.DISTRICT,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START, Stage.COMPLETED, Stage.OPERATING],
        False,
        3,
        41.77,
        123.32,
    ),
    (
        "210106",
        "工业遗址文化园",
        "1200万",
        FundingType.GOVERNMENT,
        KeyLevel.NONE,
        [Stage.SIGNED, Stage.TERMINATED],
        False,
        None,
        41.79,
        123.38,
    ),
    (
        "210102",
        "和平商业综合体",
        "15亿",
        FundingType.ENTERPRISE,
        KeyLevel.CITY,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START, Stage.CONTINUING],
        True,
        4,
        41.79,
        123.40,
    ),
    (
        "210102",
        "老旧小区改造三期",
        "6500万",
        FundingType.GOVERNMENT,
        KeyLevel.DISTRICT,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START],
        False,
        None,
        41.78,
        123.41,
    ),
    (
        "210102",
        "中山路街区提升",
        "2800万",
        FundingType.GOVERNMENT,
        KeyLevel.NONE,
        [Stage.SIGNED],
        False,
        None,
        41.79,
        123.42,
    ),
    (
        "210102",
        "社区养老服务中心",
        "700万",
        FundingType.GOVERNMENT,
        KeyLevel.NONE,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START, Stage.COMPLETED],
        False,
        None,
        41.77,
        123.40,
    ),
    (
        "210103",
        "沈河文旅街区",
        "4.8亿",
        FundingType.ENTERPRISE,
        KeyLevel.PROVINCIAL,
        [Stage.SIGNED, Stage.PREPARING],
        True,
        5,
        41.80,
        123.45,
    ),
    (
        "210103",
        "故宫周边环境整治",
        "3000万",
        FundingType.GOVERNMENT,
        KeyLevel.CITY,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START, Stage.CONTINUING],
        False,
        None,
        41.80,
        123.46,
    ),
    (
        "210103",
        "金融商务楼宇改造",
        "1.1亿",
        FundingType.ENTERPRISE,
        KeyLevel.CITY,
        [],
        False,
        5,
        41.81,
        123.44,
    ),
    (
        "210103",
        "智慧停车综合项目",
        "450万",
        FundingType.ENTERPRISE,
        KeyLevel.NONE,
        [],
        False,
        5,
        41.80,
        123.43,
    ),
    (
        "210171",
        "12英寸硅片项目",
        "20亿",
        FundingType.ENTERPRISE,
        KeyLevel.NATIONAL,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START, Stage.CONTINUING],
        True,
        6,
        41.72,
        123.24,
    ),
    (
        "210171",
        "电子化学品扩产项目",
        "1.6亿",
        FundingType.ENTERPRISE,
        KeyLevel.PROVINCIAL,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START],
        True,
        6,
        41.73,
        123.25,
    ),
    (
        "210171",
        "开发区标准厂房",
        "5500万",
        FundingType.GOVERNMENT,
        KeyLevel.DISTRICT,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START, Stage.COMPLETED, Stage.OPERATING],
        False,
        None,
        41.71,
        123.26,
    ),
    (
        "210171",
        "污水处理厂提标改造",
        "2600万",
        FundingType.GOVERNMENT,
        KeyLevel.NONE,
        [Stage.SIGNED, Stage.PREPARING, Stage.SUSPENDED],
        False,
        None,
        41.70,
        123.27,
    ),
    (
        "210171",
        "精密模具产业化项目",
        "900万",
        FundingType.ENTERPRISE,
        KeyLevel.NONE,
        [Stage.SIGNED],
        False,
        6,
        41.72,
        123.28,
    ),
    (
        CITY,
        "地铁六号线配套工程",
        "35亿",
        FundingType.GOVERNMENT,
        KeyLevel.PROVINCIAL,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START, Stage.CONTINUING],
        True,
        None,
        41.80,
        123.43,
    ),
    (
        CITY,
        "城市供热管网改造",
        "4000万",
        FundingType.GOVERNMENT,
        KeyLevel.CITY,
        [Stage.SIGNED, Stage.PREPARING],
        False,
        None,
        41.81,
        123.41,
    ),
    (
        CITY,
        "浑河生态廊道",
        "2.4亿",
        FundingType.PPP,
        KeyLevel.CITY,
        [Stage.SIGNED, Stage.PREPARING, Stage.NEW_START],
        True,
        None,
        41.75,
        123.42,
    ),
    (CITY, "市级科创中心", "6亿", FundingType.GOVERNMENT, KeyLevel.PROVINCIAL, [], True, None, 41.76, 123.44),
]


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
            await projects.transition(
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
