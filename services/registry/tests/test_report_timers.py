"""Report timers: ``report.overdue`` once per project and period — also with two registry replicas
on one database and when the timer is armed again — and ``report.due_soon`` reminders."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from steward.kit import timers
from steward.kit.calendar import DEFAULT_TZ
from steward.kit.db import utcnow
from steward.registry.reports import schedule as sched
from steward.registry.reports import timers as report_timers
from steward.registry.reports.testing import staffed_project
from steward.registry.testing import EventTap, Registry, make_tree, running_registry
from steward.rules import preset_override, preset_rules

LONG_AGO = datetime(2026, 1, 5, tzinfo=DEFAULT_TZ)


async def _pending(reg: Registry, kind: str, key_prefix: str) -> int:
    async with reg.db.read() as session:
        return int(
            (
                await session.execute(
                    sa.text("SELECT count(*) FROM steward_timers WHERE kind = :k AND key LIKE :p"),
                    {"k": kind, "p": key_prefix + "%"},
                )
            ).scalar_one()
        )


async def _wait_fired(reg: Registry, kind: str, key_prefix: str) -> None:
    for _ in range(100):
        if await _pending(reg, kind, key_prefix) == 0:
            return
        await asyncio.sleep(0.1)
    async with reg.db.read() as session:
        rows = (
            await session.execute(
                sa.text(
                    "SELECT key, attempts, last_error FROM steward_timers WHERE kind = :k AND key LIKE :p"
                ),
                {"k": kind, "p": key_prefix + "%"},
            )
        ).all()
    raise AssertionError(f"timer did not fire: {rows}")


async def _arm(reg: Registry, tenant: str, period_key: str, *, due_at: datetime | None = None) -> None:
    rules = preset_rules("huiji")
    schedule = rules.reports.schedules[0]
    period = sched.period(schedule, sched.calendar_for(rules), period_key)
    async with reg.db.transaction() as session:
        await timers.schedule(
            session,
            kind=report_timers.OVERDUE_TIMER,
            key=f"{tenant}|{schedule.key}|{period_key}",
            tenant=tenant,
            due_at=due_at or period.due_at,
            payload={"schedule_key": schedule.key, "period": period_key},
        )


async def test_overdue_once_per_project_and_period_with_two_replicas(
    registry: Registry, registry_db_url: str, nats_url: str, tap: EventTap
) -> None:
    tree = await make_tree(registry, rules={"d1": preset_override("huiji")})
    d = tree.districts[1]
    owing = [
        await staffed_project(registry, d, roles=["steward"], name=f"欠报项目{i}", backdate=LONG_AGO)
        for i in range(3)
    ]
    done = await staffed_project(registry, d, roles=["steward"], name="已报项目", backdate=LONG_AGO)
    late_comer = await staffed_project(registry, d, roles=["steward"], name="新登记项目")  # registered now
    r = await registry.http.post(
        "/v1/reports",
        json={
            "project": done.project["id"],
            "schedule_key": "weekly_progress",
            "period": "2026-W40",
            "investment_period": "0",
            "investment_cumulative": "0",
        },
        headers=registry.auth(d, "steward", sub=done.subjects["steward"]),
    )
    assert r.status_code == 201, r.text
    async with running_registry(registry_db_url, nats_url) as second:
        # both replicas sweep the same timers; arm two periods, then arm the first one again
        await _arm(registry, d, "2026-W40")
        await _arm(second, d, "2026-W41")
        for w in ("W40", "W41"):
            await _wait_fired(registry, report_timers.OVERDUE_TIMER, f"{d}|weekly_progress|2026-{w}")
        await _arm(second, d, "2026-W40", due_at=utcnow())
        await _wait_fired(second, report_timers.OVERDUE_TIMER, f"{d}|weekly_progress|2026-W40")
    events = await tap.collect(f"steward.events.{d}.report.overdue", expect=7)
    got = sorted((e["data"]["code"], e["data"]["period"]) for e in events)
    want = [(s.project["code"], p) for s in owing for p in ("2026-W40", "2026-W41")]
    want.append((done.project["code"], "2026-W41"))
    assert got == sorted(want), got
    assert late_comer.project["code"] not in {c for c, _ in got}
    w40 = next(e for e in events if e["data"]["period"] == "2026-W40")
    assert datetime.fromisoformat(w40["data"]["due_at"]) == datetime(2026, 9, 30, 18, 0, tzinfo=DEFAULT_TZ)
    # the handler itself never repeats a notice, however often it runs
    async with registry.db.transaction() as session:
        timer = timers.DueTimer(
            kind=report_timers.OVERDUE_TIMER,
            key="manual",
            tenant=d,
            due_at=utcnow(),
            payload={"schedule_key": "weekly_progress", "period": "2026-W40"},
        )
        assert await report_timers.on_overdue(session, timer) is None
    again = await tap.collect(f"steward.events.{d}.report.overdue", expect=8, wait=1.5)
    assert len(again) == len(want)


async def test_due_soon_reminds_only_those_who_have_not_reported(registry: Registry, tap: EventTap) -> None:
    tree = await make_tree(registry, rules={"d2": preset_override("huiji")})
    d = tree.districts[2]
    a = await staffed_project(registry, d, roles=["steward"], name="提醒项目", backdate=LONG_AGO)
    b = await staffed_project(registry, d, roles=["steward"], name="已报提醒项目", backdate=LONG_AGO)
    today = datetime.now(DEFAULT_TZ).date()
    iso = (today + timedelta(days=7)).isocalendar()  # next week: due in the future
    period = f"{iso.year}-W{iso.week:02d}"
    iso_now = today.isocalendar()
    current = f"{iso_now.year}-W{iso_now.week:02d}"
    r = await registry.http.post(
        "/v1/reports",
        json={
            "project": b.project["id"],
            "schedule_key": "weekly_progress",
            "period": current,
            "investment_period": "0",
            "investment_cumulative": "0",
        },
        headers=registry.auth(d, "steward", sub=b.subjects["steward"]),
    )
    assert r.status_code == 201, r.text
    for p in (period, current):
        async with registry.db.transaction() as session:
            await timers.schedule(
                session,
                kind=report_timers.DUE_SOON_TIMER,
                key=f"{d}|weekly_progress|{p}|1",
                tenant=d,
                due_at=utcnow(),
                payload={"schedule_key": "weekly_progress", "period": p, "n": 1},
            )
    await _wait_fired(registry, report_timers.DUE_SOON_TIMER, f"{d}|weekly_progress|{period}|1")
    await _wait_fired(registry, report_timers.DUE_SOON_TIMER, f"{d}|weekly_progress|{current}|1")
    events = await tap.collect(f"steward.events.{d}.report.due_soon", expect=3, wait=3)
    got: set[tuple[Any, ...]] = {(e["data"]["code"], e["data"]["period"]) for e in events}
    expected = {(a.project["code"], period), (b.project["code"], period)}
    # the current week is reminded only when its due time has not passed yet
    rules = preset_rules("huiji")
    due_now = sched.period(rules.reports.schedules[0], sched.calendar_for(rules), current).due_at
    if utcnow() < due_now:
        expected.add((a.project["code"], current))
    assert got == expected


async def test_planner_arms_upcoming_periods(registry: Registry) -> None:
    tree = await make_tree(registry, rules={"zone": preset_override("jinniu")})
    await staffed_project(registry, tree.zone, roles=[], name="开发区项目")
    now = utcnow()
    async with registry.db.transaction() as session:
        await report_timers.plan_tenant(session, tenant=tree.zone, now=now)
    rules = preset_rules("jinniu")
    s = rules.reports.schedules[0]
    upcoming = sched.periods_due_between(
        s,
        sched.calendar_for(rules),
        (now - report_timers.LOOKBACK).date(),
        (now + report_timers.HORIZON).date(),
    )
    expected = [p for p in upcoming if p.due_at >= now - report_timers.LOOKBACK]
    assert await _pending(registry, report_timers.OVERDUE_TIMER, f"{tree.zone}|") == len(expected)
