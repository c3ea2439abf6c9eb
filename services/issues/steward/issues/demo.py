"""Demo matters on the registry's demo projects (Shenyang 210100 and its districts): obstacles from
the default (Shenyang-style) taxonomy, a complaint, meeting decisions and procedure files. Some are
filed weeks ago, so the running service finds them overdue and escalates them; others are being
handled, resolved or closed. In the township 浑南区李相街道 (210112004) two obstacles come with their
history replayed up to now (timers fired at their due times): one overdue at the top tier after an
automatic escalation, one escalated twice. Run after the registry's seed; idempotent (keys ``demo:…``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.api.registry.v1 import registry_pb2 as rpb
from steward.api.registry.v1 import registry_pb2_grpc as rpb_grpc
from steward.issues.context import IssuesContext
from steward.issues.matters import feedback, service, timers, workflow
from steward.issues.matters.models import Matter
from steward.issues.matters.schemas import (
    AcceptIn,
    CloseIn,
    ComplaintDetails,
    DecisionDetails,
    Kind,
    MatterCreate,
)
from steward.issues.procedures import service as procedures
from steward.issues.procedures.models import ProcedureFile
from steward.issues.procedures.schemas import FileCreate, ProcedureItem
from steward.issues.settings import IssuesSettings
from steward.kit.auth import Principal, Role
from steward.kit.auth_tokens import service_token_async
from steward.kit.clients.registry import RegistryClient
from steward.kit.clock import Clock
from steward.kit.db import Database, utcnow
from steward.kit.grpc import bearer_metadata, client_channel
from steward.kit.timers import DueTimer, Rearm

CITY = "210100"
STREET = "210112004"  # 浑南区李相街道
REGISTRY_DEMO = "demo-seed"  # the registry demo's principal: created_by of its projects
SYSTEM = Principal(subject="demo-seed", tenant=CITY, roles=frozenset({Role.PLATFORM_ADMIN}))

# (days ago filed, kind, category, sub item, title, tier, then: list of steps)
OBSTACLES: list[tuple[int, str, str | None, str | None, str, str | None, list[str]]] = [
    (25, "obstacle", "utilities", "power", "园区10千伏供电线路接入迟迟未落实", "unit", []),
    (
        18,
        "obstacle",
        "land",
        "land_transfer_handover",
        "出让地块净地不净，地上附着物未清理",
        None,
        ["accept"],
    ),
    (
        3,
        "obstacle",
        "planning",
        "planning_conditions",
        "规划条件出具滞后影响方案设计",
        None,
        ["accept", "start"],
    ),
    (
        12,
        "obstacle",
        "site",
        "obstruction",
        "施工现场存在阻工、强揽工程问题",
        "unit",
        ["accept", "start", "resolve"],
    ),
    (
        30,
        "obstacle",
        "funding",
        "wage_arrears",
        "分包单位拖欠农民工工资",
        "unit",
        ["accept", "start", "resolve", "confirm", "close"],
    ),
    (1, "obstacle", "environment", "eia_approval", "环评批复时间长，影响开工", None, []),
    (9, "complaint", None, None, "审批窗口推诿扯皮，材料反复退回", None, []),
]
# Township matters, replayed up to now: (days ago filed, category, sub item, title, tier).
STREET_OBSTACLES: list[tuple[int, str, str, str, str]] = [
    (90, "utilities", "power", "冷库用电增容方案迟迟未批复", "city"),  # → government, overdue there
    (35, "site", "temporary_land", "临时施工场地租用协调未果", "unit"),  # → district → city
]


async def _projects(settings: IssuesSettings) -> list[rpb.Project]:
    """The registry demo's projects below the city, whatever users registered since (their projects
    would shift the demo's matters onto other projects and tenants, and its idempotency keys with them)."""
    channel = client_channel(settings.registry_grpc_target)
    found: list[rpb.Project] = []
    page_token = ""
    try:
        stub = rpb_grpc.RegistryServiceStub(channel)
        for _ in range(1000):
            response = await stub.ListProjects(
                rpb.ListProjectsRequest(tenant=CITY, page_size=200, page_token=page_token),
                metadata=bearer_metadata(await service_token_async(settings)),
                timeout=settings.grpc_call_timeout_seconds,
            )
            found.extend(response.projects)
            page_token = response.next_page_token
            if not page_token:
                break
    finally:
        await channel.close()
    # the registry demo's own projects, newest first (the order the demo's matters were designed on)
    found = [p for p in found if p.created_by == REGISTRY_DEMO and p.tenant != CITY]
    found.sort(key=lambda p: (p.created_at.seconds, p.created_at.nanos, p.id), reverse=True)
    return found


async def _seeded(ctx: IssuesContext, key: str) -> bool:
    """Whether the demo item with this idempotency key was filed already, on whichever project and
    tenant: the key is the demo's own identity, so a second seed never files it again."""
    async with ctx.db.read() as session:
        found = (await session.exec(select(Matter.id).where(Matter.idempotency_key == key).limit(1))).first()
    return found is not None


async def seed_demo(settings: IssuesSettings) -> str:
    db = Database(settings.database_url)
    client = RegistryClient(settings)
    clock = Clock()
    ctx = IssuesContext(settings=settings, db=db, registry=client, clock=clock)
    filed = files = 0
    try:
        projects = await _projects(settings)
        if not projects:
            return "no registry demo projects found: run `python -m steward.registry seed` first"
        for n, (ago, kind, cat, sub, title, tier, steps) in enumerate(OBSTACLES):
            if await _seeded(ctx, f"demo:matter:{n}"):
                continue
            p = projects[n % len(projects)]
            filed += await _matter(ctx, p, n, ago, kind, cat, sub, title, tier, steps)
        filed += await _street_matters(ctx, [p for p in projects if p.tenant == STREET])
        for n, p in enumerate(projects[:3]):
            if await _seeded(ctx, f"demo:decision:{n}"):
                continue
            clock.set(utcnow() - timedelta(days=14 - 5 * n))
            body = MatterCreate(
                kind=Kind.DECISION,
                tenant=p.tenant,
                title=f"周例会决定：协调解决{p.name}施工用水用电问题",
                responsible_unit_name="住房和城乡建设局",
                idempotency_key=f"demo:decision:{n}",
                decision=DecisionDetails(
                    meeting_id=f"demo-meeting-{p.tenant}", decision_id=f"demo-decision-{n}"
                ),
            )
            prep = await service.prepare(ctx, principal=SYSTEM, data=body, token=None)
            async with db.transaction() as session:
                await service.file(session, principal=SYSTEM, data=body, prep=prep, now=clock())
            filed += 1
        demo_files = await _demo_files(ctx)
        for n, p in enumerate(projects[:2]):
            async with db.read() as session:
                exists = (
                    await session.exec(select(ProcedureFile).where(ProcedureFile.project_id == p.id))
                ).first()
            if exists is not None or n < demo_files:
                continue  # the demo's n-th file was opened already (on whichever project)
            clock.set(utcnow() - timedelta(days=10 - 6 * n))
            await procedures.open_file(
                ctx,
                principal=SYSTEM,
                token=None,
                data=FileCreate(
                    project_id=p.id,
                    level1_agent="发改局重点项目办一级代办员",
                    green_channel=n == 0,
                    procedures=[
                        ProcedureItem(code="filing", level2_agent="发改局审批科副科长"),
                        ProcedureItem(code="land_planning_permit", level2_agent="自然资源局规划科副科长"),
                        ProcedureItem(code="construction_permit", level2_agent="住建局审批科副科长"),
                    ],
                ),
            )
            files += 1
    finally:
        await client.close()
        await db.dispose()
    return f"seeded {filed} matters and {files} procedure files (existing ones kept)"


async def _demo_files(ctx: IssuesContext) -> int:
    """How many procedure files the demo opened already (they are its own: ``created_by`` is it)."""
    async with ctx.db.read() as session:
        rows = (
            await session.exec(select(ProcedureFile.id).where(ProcedureFile.created_by == SYSTEM.subject))
        ).all()
    return len(rows)


async def _matter(
    ctx: IssuesContext,
    p: rpb.Project,
    n: int,
    ago: int,
    kind: str,
    cat: str | None,
    sub: str | None,
    title: str,
    tier: str | None,
    steps: list[str],
) -> int:
    clock = ctx.clock
    assert isinstance(clock, Clock)
    start = utcnow() - timedelta(days=ago)
    clock.set(start)
    data: dict[str, Any] = {
        "kind": kind,
        "project_id": p.id,
        "title": title,
        "category": cat,
        "sub_item": sub,
        "tier": tier,
        "description": f"{p.name}：{title}。",
        "idempotency_key": f"demo:matter:{n}",
    }
    if kind == "complaint":
        data["complaint"] = ComplaintDetails(against_unit="某审批窗口")
    body = MatterCreate.model_validate(data)
    prep = await service.prepare(ctx, principal=SYSTEM, data=body, token=None)
    async with ctx.db.transaction() as session:
        m = await service.file(
            session, principal=SYSTEM, data=body, prep=prep, now=clock(), reporter=f"demo-{p.tenant}-staff0"
        )
        if m.status != "filed":
            return 0
        key = str(m.id)
        for i, step in enumerate(steps):
            clock.set(start + timedelta(days=i + 1))
            now = clock()
            if step == "accept":
                await workflow.accept(
                    session,
                    principal=SYSTEM,
                    key=key,
                    now=now,
                    body=AcceptIn(responsible_unit_name="发展和改革局", note="分拣至责任单位"),
                )
            elif step == "start":
                await workflow.start(session, principal=SYSTEM, key=key, note="已对接企业", now=now)
            elif step == "resolve":
                await workflow.resolve(session, principal=SYSTEM, key=key, text="已协调解决", now=now)
            elif step == "confirm":
                await feedback.confirm(
                    session, principal=SYSTEM, key=key, note="企业电话确认（代录）", now=now
                )
            elif step == "close":
                await feedback.close(
                    session, principal=SYSTEM, key=key, body=CloseIn(comment="管理员代为办结"), now=now
                )
    return 1


async def _street_matters(ctx: IssuesContext, projects: list[rpb.Project]) -> int:
    """File the township's obstacles and replay their timers in the same transaction: a running
    issues service sees their timers only once the history is written (no race with its sweeper)."""
    clock = ctx.clock
    assert isinstance(clock, Clock)
    filed = 0
    for n, (ago, cat, sub, title, tier) in enumerate(STREET_OBSTACLES if projects else []):
        if await _seeded(ctx, f"demo:street:{n}"):
            continue
        p = projects[n % len(projects)]
        clock.set(utcnow() - timedelta(days=ago))
        body = MatterCreate.model_validate(
            {
                "kind": "obstacle",
                "project_id": p.id,
                "title": title,
                "category": cat,
                "sub_item": sub,
                "tier": tier,
                "description": f"{p.name}：{title}。",
                "idempotency_key": f"demo:street:{n}",
            }
        )
        prep = await service.prepare(ctx, principal=SYSTEM, data=body, token=None)
        async with ctx.db.transaction() as session:
            m = await service.file(
                session,
                principal=SYSTEM,
                data=body,
                prep=prep,
                now=clock(),
                reporter=f"demo-{p.tenant}-staff0",
            )
            await _replay(ctx, session, str(m.id))
        filed += 1
    return filed


async def _replay(ctx: IssuesContext, session: AsyncSession, key: str) -> None:
    """Fire the matter's overdue and escalation timers at their due times, up to now: the history a
    running service would have written (overdue, automatic escalation, a fresh deadline, ...)."""
    clock = ctx.clock
    assert isinstance(clock, Clock)
    handlers = timers.MatterTimers(ctx).handlers()
    for _ in range(20):
        timer = (
            await session.exec(
                select(DueTimer)
                .where(
                    DueTimer.key == key,
                    col(DueTimer.kind).in_([timers.OVERDUE, timers.ESCALATE]),
                    col(DueTimer.due_at) <= utcnow(),
                )
                .order_by(col(DueTimer.due_at))
                .limit(1)
            )
        ).first()
        if timer is None:
            return
        clock.set(timer.due_at)
        outcome = await handlers[timer.kind](session, timer)  # type: ignore[operator]
        if isinstance(outcome, Rearm):
            timer.due_at = outcome.due_at
            session.add(timer)
        else:
            await session.delete(timer)
        await session.flush()


__all__ = ["seed_demo"]
