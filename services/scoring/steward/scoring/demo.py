"""Demo data in 铁西区 (210106, Anyang rules: the 100-point agent scorecard, the satisfaction survey and
the unit ranking) and the city's monthly district ranking (210100): agents scored over the last two
quarters with a correction and manual entries, the older quarter closed; unit rankings with a tie and
a unit last twice in a row (诫勉谈话); answered surveys including a rectification; three projects in
red, yellow and green. Run after the registry's seed; idempotent (ids ``demo:…``)."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from steward.events.envelope import CloudEvent
from steward.kit.auth import Principal, Role
from steward.kit.clients.registry import RegistryClient
from steward.kit.clock import Clock
from steward.kit.db import Database, utcnow
from steward.kit.errors import Conflict, DomainError
from steward.kit.ids import new_id
from steward.scoring.context import ScoringContext
from steward.scoring.ledger import service as ledger
from steward.scoring.ledger.models import ScoreEntry
from steward.scoring.ledger.schemas import ManualEntryIn
from steward.scoring.lights import service as lights
from steward.scoring.lights.models import ProjectLight
from steward.scoring.periods import service as periods
from steward.scoring.periods.keys import TZ, bounds, period_key, previous
from steward.scoring.rankings import service as rankings
from steward.scoring.rankings.models import IndicatorValue, RankingMember
from steward.scoring.rules.engine import score_event
from steward.scoring.settings import ScoringSettings
from steward.scoring.surveys import service as surveys
from steward.scoring.surveys.models import Survey
from steward.scoring.surveys.schemas import AnswerIn

CITY, TIEXI = "210100", "210106"
ADMIN = Principal(subject="demo-seed", tenant=CITY, roles=frozenset({Role.PLATFORM_ADMIN, Role.SUPERVISOR}))
AGENTS = {"agent-liu": "刘代办", "agent-chen": "陈代办", "agent-sun": "孙代办"}
# per agent: (event type, data) scored in each quarter
EVENTS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "agent-liu": [
        ("procedure.incomplete_at_period_end", {"key_level": "provincial", "difficulty": "hard"}),
        ("procedure.incomplete_at_period_end", {"key_level": "provincial", "difficulty": "hard"}),
        ("procedure.incomplete_at_period_end", {"key_level": "provincial", "difficulty": "hard"}),
        ("matter.rated", {"kind": "procedure", "rating": 2}),
        ("matter.rated", {"kind": "procedure", "rating": 2}),
        ("procedure.assisted_completed", {}),
    ],
    "agent-chen": [
        ("attendance.late", {}),
        ("procedure.incomplete_at_period_end", {"key_level": "city", "difficulty": "easy"}),
        ("procedure.assisted_completed", {}),
    ],
    "agent-sun": [("attendance.absent", dict[str, Any]())] * 4
    + [("integrity.favouritism", dict[str, Any]())],
}
UNITS = {
    "u-fgj": "发展和改革局",
    "u-zrj": "自然资源局",
    "u-sthj": "生态环境局",
    "u-zjj": "住房和城乡建设局",
    "u-yshj": "营商环境建设局",
}
# unit indicator totals for the older and the newer quarter: a tie, and 住建局 last twice
UNIT_TOTALS = [
    {"u-fgj": "96", "u-zrj": "92.5", "u-sthj": "92.5", "u-zjj": "85", "u-yshj": "90"},
    {"u-fgj": "95", "u-zrj": "93", "u-sthj": "91", "u-zjj": "84.5", "u-yshj": "93"},
]
DISTRICTS = {"210102": "88.6", "210103": "91.2", "210106": "91.2", "210112": "95.4", "210171": "83.0"}


def _event(short: str, tenant: str, data: dict[str, Any], at: datetime, eid: str) -> CloudEvent:
    return CloudEvent(
        id=eid, source="/steward/scoring/demo", type=f"steward.{short}.v1", time=at, tenant=tenant, data=data
    )


async def seed_demo(settings: ScoringSettings) -> str:
    db = Database(settings.database_url)
    registry = RegistryClient(settings)
    ctx = ScoringContext(settings=settings, db=db, registry=registry, clock=Clock())
    try:
        return await _seed(ctx)
    except DomainError as exc:
        return f"scoring demo skipped: {exc.message} (run `python -m steward.registry seed` first)"
    finally:
        await registry.close()
        await db.dispose()


async def _seed(ctx: ScoringContext) -> str:
    now = utcnow()
    rules = await ctx.registry.rules(TIEXI)
    path = "/".join(await ctx.registry.ancestry_codes(TIEXI))
    card = rules.scorecards.definition("agent")
    if card is None:
        return "scoring demo skipped: 铁西区 has no agent scorecard"
    newer = previous(period_key("quarter", now))
    older = previous(newer)
    entries = 0
    async with ctx.db.transaction() as session:
        for quarter in (older, newer):
            start, _ = bounds(quarter)
            for agent, events in EVENTS.items():
                for i, (short, data) in enumerate(events):
                    at = start + timedelta(days=7 + 9 * i, hours=2)
                    ev = _event(
                        short,
                        TIEXI,
                        {"agent": agent, "agent_name": AGENTS[agent], "matter_id": f"demo-{agent}", **data},
                        at,
                        f"demo:{quarter}:{agent}:{i}",
                    )
                    if short == "matter.rated":
                        ev.data["responsible_person"] = agent
                    entries += len(await score_event(session, event=ev, rules=rules, path=path, now=now))
    # a correction and manual entries (综合评价) in the newer quarter
    async with ctx.db.transaction() as session:
        wrong = (
            await session.exec(
                select(ScoreEntry).where(
                    ScoreEntry.source == f"demo:{newer}:agent-chen:0", col(ScoreEntry.corrects).is_(None)
                )
            )
        ).first()
        if wrong is not None:
            with contextlib.suppress(Conflict):
                await ledger.correct(
                    session,
                    principal=ADMIN,
                    entry_id=wrong.id,
                    reason_zh="经核实系公务外出，撤销扣分",
                    now=now,
                )
    start, _ = bounds(newer)
    for agent, pts, reason in (
        ("agent-sun", "-2", "不服从工作安排，不听指挥"),
        ("agent-liu", "1", "业务技能突出，工作热情高"),
    ):
        body = ManualEntryIn(
            tenant=TIEXI,
            scorecard="agent",
            subject_id=agent,
            subject_name=AGENTS[agent],
            dimension="overall",
            points=Decimal(pts),
            reason_zh=reason,
            occurred_at=start + timedelta(days=60),
            key=f"demo-{newer}-{agent}",
        )
        async with ctx.db.transaction() as session:
            with contextlib.suppress(Conflict):
                await ledger.manual(session, principal=ADMIN, data=body, card=card, path=path, now=now)
    async with ctx.db.transaction() as session:
        with contextlib.suppress(Conflict):
            await periods.close(
                session, principal=ADMIN, card=card, tenant=TIEXI, path=path, period=older, now=now
            )
    published = await _rankings(ctx, rules, path, (older, newer), now)
    answered = await _surveys(ctx, rules, path, now)
    lit = await _lights(ctx, rules, path, now)
    return (
        f"scoring demo: {entries} new ledger entries for {len(AGENTS)} agents in {older} and {newer} ({older} closed), "
        f"{published} rankings published, {answered} surveys answered, {lit} projects with lights"
    )


async def _rankings(
    ctx: ScoringContext, rules: Any, path: str, quarters: tuple[str, str], now: datetime
) -> int:
    unit_def = next((r for r in rules.scorecards.rankings if r.key == "unit_quarterly"), None)
    published = 0
    async with ctx.db.transaction() as session:
        for sid, name in UNITS.items():
            await session.execute(
                insert(RankingMember)
                .values(
                    id=new_id(),
                    tenant=TIEXI,
                    ranking="unit_quarterly",
                    subject_id=sid,
                    subject_name=name,
                    grp="",
                )
                .on_conflict_do_nothing(constraint="uq_scoring_members")
            )
        for quarter, totals in zip(quarters, UNIT_TOTALS, strict=True):
            for sid, value in totals.items():
                await session.execute(
                    insert(IndicatorValue)
                    .values(
                        id=new_id(),
                        tenant=TIEXI,
                        ranking="unit_quarterly",
                        period=quarter,
                        subject_id=sid,
                        value=Decimal(value),
                        recorded_by="demo-seed",
                        recorded_at=now,
                    )
                    .on_conflict_do_nothing(constraint="uq_scoring_indicators")
                )
        month = previous(period_key("month", now))
        city_path = "/".join(await ctx.registry.ancestry_codes(CITY))
        for sid, value in DISTRICTS.items():
            await session.execute(
                insert(IndicatorValue)
                .values(
                    id=new_id(),
                    tenant=CITY,
                    ranking="district_monthly",
                    period=month,
                    subject_id=sid,
                    value=Decimal(value),
                    recorded_by="demo-seed",
                    recorded_at=now,
                )
                .on_conflict_do_nothing(constraint="uq_scoring_indicators")
            )
    city_rules = await ctx.registry.rules(CITY)
    district_def = next((r for r in city_rules.scorecards.rankings if r.key == "district_monthly"), None)
    jobs: list[tuple[Any, str, str, str]] = []
    if unit_def is not None:
        jobs += [(unit_def, TIEXI, path, q) for q in quarters]
    if district_def is not None:
        jobs.append((district_def, CITY, city_path, month))
    for definition, tenant, tpath, period in jobs:
        async with ctx.db.transaction() as session:
            with contextlib.suppress(Conflict):
                await rankings.publish(
                    session,
                    principal=ADMIN,
                    definition=definition,
                    card=None,
                    tenant=tenant,
                    path=tpath,
                    period=period,
                    now=now,
                )
                published += 1
    return published


async def _surveys(ctx: ScoringContext, rules: Any, path: str, now: datetime) -> int:
    definition = next(iter(rules.scorecards.surveys), None)
    if definition is None:
        return 0
    answered = 0
    plans = [
        ("agent-chen", "satisfied", 20),
        ("agent-liu", "dissatisfied", 12),
        ("agent-sun", "very_dissatisfied", 5),
    ]
    for n, (agent, level, days) in enumerate(plans):
        at = now - timedelta(days=days)
        handover = _event(
            "procedure.handed_over",
            TIEXI,
            {
                "file_id": f"demo-file-{n}",
                "project_id": f"demo-project-{n}",
                "level1_agent": agent,
                "received_by": "企业联系人",
            },
            at,
            f"demo:handover:{n}",
        )
        async with ctx.db.transaction() as session:
            await surveys.on_event(session, ctx=ctx, event=handover, rules=rules, path=path, now=at)
        async with ctx.db.read() as session:
            s = (await session.exec(select(Survey).where(Survey.source_event == handover.id))).first()
        if s is None or s.answered_at is not None:
            continue
        from steward.scoring.surveys.links import sign

        async with ctx.db.transaction() as session:
            await surveys.answer(
                session,
                ctx=ctx,
                token=sign(ctx.settings, s.id),
                data=AnswerIn(
                    answers=dict.fromkeys([i.key for i in definition.items], level), comment="演示数据"
                ),
                definition=definition,
                rules=rules,
                now=at + timedelta(days=1),
            )
        answered += 1
    return answered


async def _lights(ctx: ScoringContext, rules: Any, path: str, now: datetime) -> int:
    # (plan, completed this year, delayed milestones): red, yellow, green
    plans = [
        ("demo-light-red", "铁西重装智能产线（演示）", "30000000", "3000000", 2),
        ("demo-light-yellow", "新能源零部件扩建（演示）", "20000000", "14000000", 1),
        ("demo-light-green", "工业互联网平台（演示）", "10000000", "10000000", 0),
    ]
    local = now.astimezone(TZ)
    for pid, name, plan, done, delayed in plans:
        async with ctx.db.transaction() as session:
            p = (await session.exec(select(ProjectLight).where(ProjectLight.project_id == pid))).first()
            if p is not None:
                continue
            p = ProjectLight(
                project_id=pid,
                tenant=TIEXI,
                tenant_path=path,
                code=pid.upper(),
                name=name,
                stage="continuing",
                annual_plan=Decimal(plan),
                investment_year=Decimal(done),
                planned_start=f"{local.year}-03-01",
                started_on=f"{local.year}-03-15",
                delayed_milestones=[f"{pid}-m{i}" for i in range(delayed)],
                updated_at=now,
            )
            await lights.reevaluate(session, p=p, rules=rules.scorecards.lights, now=now, source_event=None)
    return len(plans)
