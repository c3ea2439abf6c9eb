"""Demo activity on top of the demo projects: progress reports of the last periods (on time, late
and missing ones), network-plan milestones (some delayed) and service-log entries (approved,
returned, pending) — so summaries, the map and the compliance views show something real."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from steward.kit.auth import Principal, Role
from steward.kit.calendar import DEFAULT_TZ
from steward.kit.db import utcnow
from steward.registry.milestones import service as milestones
from steward.registry.milestones.schemas import MilestoneIn
from steward.registry.projects.models import Project
from steward.registry.reports import schedule as sched
from steward.registry.reports import service as reports
from steward.registry.reports.schemas import ReportIn
from steward.registry.rosters.models import Assignment
from steward.registry.servicelog import service as servicelog
from steward.registry.servicelog.schemas import EntryIn, Participant

MILESTONES = ["完成立项备案", "取得用地规划许可", "取得施工许可", "主体结构封顶", "竣工验收"]


def _staff(code: str) -> Principal:
    return Principal(subject=f"demo-{code}-staff0", tenant=code, roles=frozenset({Role.STEWARD}))


async def seed_activity(session: Any, *, approvers: dict[str, str]) -> dict[str, int]:
    """``approvers``: tenant → id of its 营商环境建设局 unit (the service-log approver)."""
    now = utcnow()
    today = now.astimezone(DEFAULT_TZ).date()
    staffed = set(
        (await session.exec(select(Assignment.project_id).where(col(Assignment.ended_at).is_(None)))).all()
    )
    projects = list((await session.exec(select(Project).order_by(col(Project.code)))).all())
    counts = {"reports": 0, "late": 0, "missing": 0, "milestones": 0, "entries": 0}
    for n, p in enumerate(projects):
        if p.id not in staffed or p.stage in ("terminated", "negotiating"):
            continue
        who = _staff(p.tenant_code)
        if not await reports.roster_roles(session, subject=who.subject, project_id=p.id):
            if p.owner_unit_id is None:
                continue
            # e.g. Jinniu: only the enterprise contact is on the roster until the land contract
            who = Principal(
                subject=f"demo-contact-{p.owner_unit_id}",
                tenant=p.tenant_code,
                roles=frozenset({Role.ENTERPRISE_CONTACT}),
                unit=str(p.owner_unit_id),
            )
        doc = await reports.rules_of(session, p.tenant_code)
        cal = sched.calendar_for(doc)
        due: list[tuple[sched.Period, str]] = []
        for s in doc.reports.schedules:
            if reports.applies(s, p):
                periods = sched.periods_due_between(s, cal, today - timedelta(days=50), today)
                due += [(x, s.key) for x in periods if x.due_at < now]
        cumulative = Decimal(0)  # one cumulative per project, in due order across its schedules
        for i, (period, key) in enumerate(sorted(due, key=lambda x: x[0].due_at)):
            pick = (n + i) % 5
            if pick == 4:
                counts["missing"] += 1
                continue  # missing: the overdue timer and the summaries show it
            late = pick == 3
            at = period.due_at + (timedelta(days=2, hours=3) if late else -timedelta(hours=20))
            amount = (p.total_investment / 40).quantize(Decimal("0.01")) * (1 + (n + i) % 3)
            cumulative += amount
            await reports.submit(
                session,
                principal=who,
                data=ReportIn(
                    project=str(p.id),
                    schedule_key=key,
                    period=period.key,
                    investment_period=amount,
                    investment_cumulative=cumulative,
                    progress_text=f"{p.name}：按计划推进，本期完成投资{amount}元",
                ),
                now=at,
            )
            counts["reports"] += 1
            counts["late"] += int(late)
        if p.stage in ("preparing", "new_start", "continuing") and n % 2 == 0:
            items = [
                MilestoneIn(name=name, planned_date=today + timedelta(days=60 * (k - 2) + n))
                for k, name in enumerate(MILESTONES)
            ]
            planner = Principal(
                subject=f"demo-{p.tenant_code}-staff0",
                tenant=p.tenant_code,
                roles=frozenset({Role.DISPATCHER}),
            )
            created = await milestones.create(session, principal=planner, id_or_code=str(p.id), items=items)
            counts["milestones"] += len(created)
            # the first one was reached (a few days late); the second one is overdue: delayed
            await milestones.reach(
                session,
                principal=planner,
                project=p,
                milestone_id=created[0].id,
                actual_date=created[0].planned_date + timedelta(days=3),
            )
        if n % 3 != 2:
            for k in range(1 + n % 3):
                entry, _ = await servicelog.submit(
                    session,
                    principal=_staff(p.tenant_code),
                    data=EntryIn(
                        project=str(p.id),
                        visited_at=datetime.combine(
                            today - timedelta(days=3 + 5 * k), datetime.min.time(), tzinfo=DEFAULT_TZ
                        )
                        + timedelta(hours=10),
                        place=f"{p.name}项目现场",
                        participants=[
                            Participant(name="分包领导", role_key="leader"),
                            Participant(name="指挥部成员", role_key="hq"),
                        ],
                        problems_solved="现场协调施工用电、用水接入及周边道路占用审批",
                    ),
                )
                counts["entries"] += 1
                unit = approvers.get(p.tenant_code)
                if unit and doc.service_log.approval_required and k == 0:
                    approver = Principal(
                        subject=f"demo-{p.tenant_code}-yingshang",
                        tenant=p.tenant_code,
                        roles=frozenset({Role.TENANT_ADMIN}),
                        unit=unit,
                    )
                    await servicelog.review(
                        session,
                        principal=approver,
                        entry_id=entry.id,
                        approve=n % 2 == 0,
                        reason="" if n % 2 == 0 else "请补充参加人员及问题解决情况",
                    )
    return counts
