"""Realistic ``matter.*`` CloudEvents, publishing like the kit relay, polling, and a registry
scenario (a district with a project, a roster agent and a steward)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import nats

from steward.events.envelope import CloudEvent, EventData
from steward.kit.db import utcnow
from steward.kit.outbox import build_event


# -- events -----------------------------------------------------------------------------------
class MatterOverdue(EventData):
    """The shape the issues service publishes for ``matter.overdue`` (extra fields tolerated by notify)."""

    model_config: ClassVar[Any] = {"extra": "allow", "frozen": True}
    aggregate: ClassVar[str] = "matter"
    event: ClassVar[str] = "overdue"

    matter_id: str
    number: str
    kind: str = "obstacle"
    title: str
    tier: str = "unit"
    category: str | None = None
    project_id: str
    tenant: str
    responsible_unit_id: str | None = None
    responsible_person_id: str | None = None
    reporter: str | None = None
    deadline: datetime


def matter_overdue(
    *,
    tenant: str,
    project_id: str,
    unit_id: str,
    title: str = "施工许可办理受阻：消防设计审查意见未反馈",
    **extra: Any,
) -> CloudEvent:
    data = MatterOverdue(
        matter_id=extra.pop("matter_id", "0195aa00-0000-7000-8000-00000000a001"),
        number=extra.pop("number", "TX-2026-0042"),
        title=title,
        project_id=project_id,
        tenant=tenant,
        responsible_unit_id=unit_id,
        reporter=extra.pop("reporter", "u-enterprise-contact"),
        deadline=utcnow() - timedelta(hours=2),
        **extra,
    )
    return build_event(
        data, tenant=tenant, source="/steward/issues", subject=data.matter_id, actor="service:issues"
    )


def generic_event(tenant: str, short_type: str, data: dict[str, Any]) -> CloudEvent:
    aggregate, _, name = short_type.partition(".")
    from steward.kit.ids import new_id

    return CloudEvent(
        id=str(new_id()),
        source="/steward/test",
        type=f"steward.{aggregate}.{name}.v1",
        time=utcnow(),
        tenant=tenant,
        data=data,
    )


async def publish(nats_url: str, event: CloudEvent, *, msg_id: str | None = None) -> None:
    """Publish like the kit relay does (``Nats-Msg-Id`` = event id; pass another ``msg_id`` to get
    past the stream's duplicate window and simulate a redelivery)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        aggregate, _, name = event.short_type.partition(".")
        await js.publish(
            f"steward.events.{event.tenant}.{aggregate}.{name}",
            event.model_dump_json(exclude_none=True).encode(),
            headers={"Nats-Msg-Id": msg_id or event.id, "content-type": "application/cloudevents+json"},
        )
    finally:
        await nc.close()


async def wait_for(predicate: Any, *, within: float = 20.0, interval: float = 0.05) -> Any:
    """Poll an async predicate until it returns a truthy value (no timing assertions)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(interval)


# -- registry scenario ------------------------------------------------------------------------
@dataclass
class Scenario:
    tenant: str
    city: str
    other_district: str
    project_id: str
    unit_id: str
    agent: dict[str, Any]
    steward: dict[str, Any]
    districts: list[str] = field(default_factory=list)
    township: str = ""


def overdue_rules(**notify: Any) -> dict[str, Any]:
    """Anyang's 五个一 roster (it has an ``agent`` role) and routes sending overdue matters to the
    assignee in the inbox and by email."""
    from steward.rules import preset_override

    doc = preset_override("anyang")
    doc["notify"] = {
        "routes": [
            {
                "event_type": "matter.overdue",
                "recipients": ["assignee"],
                "channels": ["inbox", "email"],
                "severity": "warning",
            },
            {"event_type": "matter.resolved", "recipients": ["reporter", "assignee"], "channels": ["inbox"]},
        ],
        **notify,
    }
    return doc


async def scenario(reg: Any, *, rules: dict[str, Any] | None = None, tag: str = "") -> Scenario:
    """A new city; district d0 with the given rules, a department, an agent (email, phone, login)
    in it, a steward, a project and its roster."""
    from steward.registry.testing import create_project, make_tree

    tree = await make_tree(reg, rules={"d0": rules or overdue_rules()})
    d = tree.districts[0]
    admin = reg.auth(d, "tenant_admin")
    unit = (
        await reg.http.post(
            "/v1/units",
            json={"tenant": d, "kind": "department", "name": f"住房和城乡建设局{d}{tag}"},
            headers=admin,
        )
    ).json()
    agent = (
        await reg.http.post(
            "/v1/people",
            json={
                "tenant": d,
                "name": "李代办",
                "unit_id": unit["id"],
                "email": f"agent-{d}@example.gov.cn",
                "phone": "13912345678",
                "subject": f"u-agent-{d}",
                "wecom_id": f"lidaiban{d}",
            },
            headers=admin,
        )
    ).json()
    steward = (
        await reg.http.post(
            "/v1/people",
            json={
                "tenant": d,
                "name": "王管家",
                "email": f"steward-{d}@example.gov.cn",
                "subject": f"u-steward-{d}",
            },
            headers=admin,
        )
    ).json()
    r = await create_project(reg, d, name="铁西重装产业园二期", total_investment="2.5亿")
    assert r.status_code == 201, r.text
    project = r.json()
    hdr = reg.auth(d, "dispatcher")
    r = await reg.http.post(
        f"/v1/projects/{project['id']}/roster",
        json={"role_key": "agent", "person_id": agent["id"]},
        headers=hdr,
    )
    assert r.status_code == 201, r.text
    return Scenario(
        tenant=d,
        city=tree.city,
        other_district=tree.districts[1],
        project_id=project["id"],
        unit_id=unit["id"],
        agent=agent,
        steward=steward,
        districts=tree.districts,
        township=tree.township,
    )
