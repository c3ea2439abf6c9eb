"""Project warning lights (红黄绿灯) from the tenant's rules, kept up to date from registry and issues
events; every change recorded with its reasons; a red project turns yellow only after it has caught
up on every input (not when a single input improves); the four rates per tenant and year."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.envelope import CloudEvent
from steward.events.scoring import ProjectLightChanged
from steward.kit.outbox import emit
from steward.rules import RulesDocument
from steward.rules.scoring import LightRules
from steward.scoring import metrics
from steward.scoring.lights.models import LightChange, ProjectLight
from steward.scoring.periods.keys import TZ
from steward.scoring.settings import SOURCE

SEVERITY = {"green": 0, "yellow": 1, "red": 2}
STARTED = {"new_start", "continuing", "completed", "operating"}
COMPLETED = {"completed", "operating"}


def _add(items: list[str], value: str) -> list[str]:
    return items if value in items else [*items, value]


def _drop(items: list[str], value: str) -> list[str]:
    return [v for v in items if v != value]


def raw_light(p: ProjectLight, rules: LightRules, now: datetime) -> tuple[str, list[str]]:
    """The light the inputs give now, and why (worst input wins)."""
    found: list[tuple[str, str]] = []
    if p.annual_plan and p.annual_plan > 0 and p.stage in STARTED - COMPLETED:
        local = now.astimezone(TZ)
        elapsed = Decimal((local.date() - date(local.year, 1, 1)).days + 1) / Decimal(365)
        expected = p.annual_plan * min(Decimal(1), elapsed)
        ratio = (p.investment_year or Decimal(0)) / expected if expected > 0 else Decimal(1)
        pct = f"{(ratio * 100).quantize(Decimal('1'))}%"
        if ratio < rules.investment_red_below:
            found.append(("red", f"投资完成严重滞后于序时进度（{pct}）"))
        elif ratio < rules.investment_yellow_below:
            found.append(("yellow", f"投资完成滞后于序时进度（{pct}）"))
    for count, yellow, red, text in (
        (
            len(p.delayed_milestones),
            rules.delayed_milestones_yellow,
            rules.delayed_milestones_red,
            "节点延误",
        ),
        (len(p.overdue_matters), rules.overdue_matters_yellow, rules.overdue_matters_red, "问题逾期未解决"),
        (len(p.missing_reports), rules.missing_reports_yellow, rules.missing_reports_red, "进度未按时报送"),
    ):
        if count >= red:
            found.append(("red", f"{text}{count}项"))
        elif count >= yellow:
            found.append(("yellow", f"{text}{count}项"))
    if not found:
        return "green", []
    worst = max(found, key=lambda f: SEVERITY[f[0]])[0]
    return worst, [text for light, text in found]


def next_light(current: str, raw: str) -> str:
    """Hysteresis: red leaves only once every input is green again, and then to yellow first."""
    if current == "red" and raw != "red":
        return "yellow" if raw == "green" else "red"
    return raw


@dataclass(frozen=True)
class Registered:
    """What a light reads of a project (the registry's answer has the same fields), as its
    ``project.registered`` event carries it: no call to the registry per new project."""

    code: str
    name: str
    stage: str
    planned_start: str
    planned_completion: str
    annual_plan_investment: str


def registered(event: CloudEvent) -> Registered:
    d = event.data
    return Registered(
        code=str(d.get("code") or ""),
        name=str(d.get("name") or ""),
        stage=str(d.get("stage") or ""),
        planned_start=str(d.get("planned_start") or ""),
        planned_completion=str(d.get("planned_completion") or ""),
        annual_plan_investment=str(d.get("annual_plan_investment") or ""),
    )


def _apply(p: ProjectLight, event: CloudEvent, project: Any | None) -> bool:
    """Update the project's inputs from one event; False when the event is not about lights."""
    short, d = event.short_type, event.data
    if project is not None:
        p.code, p.name, p.stage = project.code, project.name, project.stage
        p.planned_start = project.planned_start or p.planned_start
        p.planned_completion = project.planned_completion or p.planned_completion
        if project.annual_plan_investment:
            p.annual_plan = Decimal(project.annual_plan_investment)
    if short in ("project.registered", "project.updated"):
        p.code = str(d.get("code") or p.code)[:40]
        p.name = str(d.get("name") or p.name)[:200]
        p.stage = str(d.get("stage") or p.stage)[:24]
    elif short == "project.stage_changed":
        p.stage = d["to_stage"]
        today = event.time.astimezone(TZ).date().isoformat()
        if d["to_stage"] == "new_start" and not p.started_on:
            p.started_on = today
        if d["to_stage"] == "completed" and not p.completed_on:
            p.completed_on = today
    elif short == "report.submitted":
        p.investment_year = Decimal(d["investment_cumulative"])
        p.missing_reports = _drop(p.missing_reports, d["period"])
    elif short == "report.overdue":
        p.missing_reports = _add(p.missing_reports, d["period"])
    elif short == "milestone.delayed":
        p.delayed_milestones = _add(p.delayed_milestones, d["milestone_id"])
    elif short == "milestone.reached":
        p.delayed_milestones = _drop(p.delayed_milestones, d["milestone_id"])
    elif short == "matter.overdue":
        p.overdue_matters = _add(p.overdue_matters, d["matter_id"])
    elif short in ("matter.resolved", "matter.closed", "matter.rejected"):
        p.overdue_matters = _drop(p.overdue_matters, d["matter_id"])
    else:
        return project is not None
    return True


async def reevaluate(
    session: AsyncSession, *, p: ProjectLight, rules: LightRules, now: datetime, source_event: str | None
) -> LightChange | None:
    raw, reasons = raw_light(p, rules, now)
    new = next_light(p.light, raw)
    if new == "red" and raw != "red":
        reasons = [*reasons, "红灯项目须全部追上进度后方可转黄"]
    p.reasons, p.updated_at = reasons, now
    session.add(p)
    if new == p.light:
        return None
    change = LightChange(
        project_id=p.project_id,
        tenant=p.tenant,
        from_light=p.light,
        to_light=new,
        reasons=reasons,
        at=now,
        source_event=source_event,
    )
    p.light = new
    session.add(change)
    await emit(
        session,
        ProjectLightChanged(
            project_id=p.project_id, code=p.code, from_light=change.from_light, to_light=new, reasons=reasons
        ),
        tenant=p.tenant,
        source=SOURCE,
        subject=p.project_id,
    )
    metrics.LIGHT_CHANGES.labels(new).inc()
    return change


# what :func:`_apply` reads: any other event leaves every light as it is
MOVES_LIGHTS = frozenset(
    {
        "project.registered",
        "project.updated",
        "project.stage_changed",
        "report.submitted",
        "report.overdue",
        "milestone.delayed",
        "milestone.reached",
        "matter.overdue",
        "matter.resolved",
        "matter.closed",
        "matter.rejected",
    }
)


def concerns(event: CloudEvent) -> bool:
    """The event may move its project's light: :func:`on_event` reads it under a lock. A filing, a
    comment or a meeting's topic naming the project does not (no lock, no read for those)."""
    project_id = event.data.get("project_id")
    return (
        event.short_type in MOVES_LIGHTS
        and isinstance(project_id, str)
        and bool(project_id)
        and len(project_id) <= 64
    )


async def on_event(
    session: AsyncSession,
    *,
    event: CloudEvent,
    rules: RulesDocument,
    path: str,
    now: datetime,
    project: Any | None = None,
) -> LightChange | None:
    project_id = event.data.get("project_id")
    if not isinstance(project_id, str) or not project_id or len(project_id) > 64:
        return None
    p = (
        await session.exec(
            select(ProjectLight).where(ProjectLight.project_id == project_id).with_for_update()
        )
    ).first()
    if p is None:
        if event.short_type != "project.registered" and project is None:
            return None
        p = ProjectLight(project_id=project_id, tenant=event.tenant, tenant_path=path, updated_at=now)
    if not _apply(p, event, project):
        return None
    return await reevaluate(session, p=p, rules=rules.scorecards.lights, now=now, source_event=event.id)


def _ratio(num: Decimal, den: Decimal) -> Decimal | None:
    return (num / den).quantize(Decimal("0.0001")) if den > 0 else None


def rates(rows: list[ProjectLight], year: int) -> dict[str, Any]:
    y = str(year)
    planned_start = [p for p in rows if (p.planned_start or "").startswith(y)]
    started = [p for p in planned_start if p.started_on or p.stage in STARTED]
    planned_done = [p for p in rows if (p.planned_completion or "").startswith(y)]
    on_time = [p for p in planned_done if p.completed_on and p.completed_on <= (p.planned_completion or "")]
    plan = sum((p.annual_plan or Decimal(0) for p in rows), Decimal(0))
    done = sum((p.investment_year or Decimal(0) for p in rows if p.annual_plan), Decimal(0))
    fplan = sum((p.funds_planned or Decimal(0) for p in rows), Decimal(0))
    fin = sum((p.funds_in_place or Decimal(0) for p in rows if p.funds_planned), Decimal(0))
    return {
        "start_rate": _ratio(Decimal(len(started)), Decimal(len(planned_start))),
        "investment_rate": _ratio(done, plan),
        "funds_rate": _ratio(fin, fplan),
        "on_time_completion_rate": _ratio(Decimal(len(on_time)), Decimal(len(planned_done))),
    }
