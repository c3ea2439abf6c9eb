"""Approval procedures: promised days and the green channel, one-time notices (recorded; late ones
visible to supervisors), delay attribution to the level-2 agent, handover; supervision orders."""

from __future__ import annotations

from typing import Any

from steward.issues.testing import Issues, auth, local, wait_for
from steward.kit.clock import Clock
from steward.registry.testing import EventTap, Registry, Tree, create_project


async def _file(issues: Issues, registry: Registry, tenant: str) -> tuple[dict[str, Any], dict[str, str]]:
    admin = registry.auth(tenant, "tenant_admin")
    unit = (
        await registry.http.post(
            "/v1/units",
            json={"tenant": tenant, "kind": "enterprise", "name": f"代办企业{tenant}"},
            headers=admin,
        )
    ).json()["id"]
    p = (await create_project(registry, tenant, total_investment="2亿", owner_unit_id=unit)).json()
    body = {
        "project_id": p["id"],
        "level1_agent": "一级代办员张三",
        "green_channel": False,
        "procedures": [
            {"code": "filing", "level2_agent": "发改局李四"},
            {"code": "construction_permit", "level2_agent": "住建局王五", "green_channel": True},
        ],
    }
    r = await issues.http.post(
        "/v1/procedure-files", json=body, headers=auth(tenant, "agent", sub="agent-zhang")
    )
    assert r.status_code == 201, r.text
    return r.json(), auth(tenant, "enterprise_contact", sub="contact", unit=unit)


async def test_procedure_file_notices_delay_attribution_and_handover(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock, tap: EventTap
) -> None:
    d = tree.districts[2]
    clock.set(local(2026, 11, 2, 10))  # Monday
    f, enterprise = await _file(issues, registry, d)
    filing, permit = f["procedures"]
    assert (
        filing["kind"] == "procedure"
        and filing["status"] == "accepted"
        and filing["number"].startswith(f"{d}-2026-B-")
    )
    assert filing["sla_days"] == 1 and filing["responsible_unit_name"] == "发展和改革局"
    assert (
        permit["sla_days"] == 5 and permit["details"]["procedure"]["green_channel"] is True
    )  # ceil(7 × 2/3)
    agent = auth(d, "agent", sub="agent-zhang")

    # filing: incomplete materials → ONE notice listing all corrections, on time; the clock waits
    s = (
        await issues.http.post(
            f"/v1/matters/{filing['id']}/submissions", json={"materials": ["备案申请表"]}, headers=enterprise
        )
    ).json()
    assert s["due_at"] == "2026-11-04T00:00:00+08:00"  # end of the next working day
    clock.set(local(2026, 11, 3, 9))
    items = ["缺少营业执照副本", "投资估算表未盖章", "建设内容与选址不一致"]
    r = await issues.http.post(f"/v1/submissions/{s['id']}/notice", json={"items": items}, headers=agent)
    assert r.status_code == 200 and r.json()["notice_items"] == items and r.json()["late"] is False
    r = await issues.http.post(
        f"/v1/submissions/{s['id']}/notice", json={"items": ["再补一项"]}, headers=agent
    )
    assert r.status_code == 409  # a one-time notice is given once
    assert (await issues.http.get(f"/v1/matters/{filing['id']}", headers=agent)).json()["paused"] is True
    clock.set(local(2026, 11, 4, 9))
    s2 = (
        await issues.http.post(
            f"/v1/matters/{filing['id']}/submissions",
            json={"materials": ["全部补正材料"]},
            headers=enterprise,
        )
    ).json()
    got = (await issues.http.get(f"/v1/matters/{filing['id']}", headers=agent)).json()
    assert got["paused"] is False and got["paused_working_days"] == 1 and got["due_date"] == "2026-11-04"
    assert (await issues.http.post(f"/v1/submissions/{s2['id']}/accept", headers=agent)).json()[
        "status"
    ] == "complete"
    r = await issues.http.post(f"/v1/matters/{filing['id']}/complete", json={"note": "已备案"}, headers=agent)
    assert r.status_code == 200 and r.json()["status"] == "closed"

    # permit: nobody answers the submission within a working day → flagged late for supervisors
    s3 = (
        await issues.http.post(
            f"/v1/matters/{permit['id']}/submissions",
            json={"materials": ["施工图审查合格书"]},
            headers=enterprise,
        )
    ).json()
    clock.set(local(2026, 11, 6, 0, 0, 1))

    async def late() -> list[dict[str, Any]]:
        r = await issues.http.get(
            f"/v1/procedure-notices?tenant={d}&late=true", headers=auth(tree.city, "supervisor")
        )
        return [x for x in r.json()["items"] if x["id"] == s3["id"]]

    assert (await wait_for(late))[0]["status"] == "pending"
    r = await issues.http.post(
        f"/v1/submissions/{s3['id']}/notice", json={"items": ["缺少监理合同"]}, headers=agent
    )
    assert r.json()["late"] is True
    assert (await issues.http.get("/v1/procedure-notices?late=true", headers=enterprise)).status_code == 403
    r = await issues.http.post(
        f"/v1/procedure-files/{f['id']}/handover", json={"received_by": "企业委托人"}, headers=agent
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "procedures_unfinished"
    await issues.http.post(
        f"/v1/matters/{permit['id']}/submissions", json={"materials": ["监理合同"]}, headers=enterprise
    )
    clock.set(local(2026, 11, 20, 10))  # well past the promised 5 working days (+ pause)
    r = await issues.http.post(f"/v1/matters/{permit['id']}/complete", json={}, headers=agent)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["delay_cause"]
    r = await issues.http.post(
        f"/v1/matters/{permit['id']}/complete", json={"delay_cause": "department"}, headers=agent
    )
    assert r.status_code == 200
    r = await issues.http.post(
        f"/v1/procedure-files/{f['id']}/handover", json={"received_by": "企业委托人"}, headers=agent
    )
    assert r.status_code == 200 and r.json()["status"] == "handed_over" and r.json()["all_done"] is True

    notices = await tap.collect(f"steward.events.{d}.procedure.notice_issued", expect=2)
    assert [(e["data"]["items"], e["data"]["late"]) for e in notices if e["data"]["file_id"] == f["id"]] == [
        (items, False),
        (["缺少监理合同"], True),
    ]
    completed = await tap.collect(f"steward.events.{d}.procedure.completed", expect=2)
    by_code = {e["data"]["procedure_code"]: e["data"] for e in completed if e["data"]["file_id"] == f["id"]}
    assert by_code["filing"]["overdue"] is False and by_code["filing"]["delay_attributed_to"] is None
    assert by_code["construction_permit"]["delay_attributed_to"] == "住建局王五"
    handed = await tap.collect(f"steward.events.{d}.procedure.handed_over", expect=1)
    assert [e["data"]["procedures"] for e in handed if e["data"]["file_id"] == f["id"]] == [
        ["filing", "construction_permit"]
    ]
    late_events = await tap.collect(f"steward.events.{d}.procedure.notice_late", expect=2)
    assert s3["id"] in [e["data"]["submission_id"] for e in late_events if e["data"]["file_id"] == f["id"]]


async def test_bad_procedure_files_are_refused(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[0]
    p = (await create_project(registry, d, total_investment="1亿")).json()
    for procs, code in [
        ([{"code": "teleport_permit", "level2_agent": "x"}], 422),
        ([{"code": "filing", "level2_agent": "x"}, {"code": "filing", "level2_agent": "y"}], 422),
        ([], 422),
    ]:
        r = await issues.http.post(
            "/v1/procedure-files",
            json={"project_id": p["id"], "level1_agent": "a", "procedures": procs},
            headers=auth(d, "agent"),
        )
        assert r.status_code == code, r.text
    r = await issues.http.post(
        "/v1/procedure-files",
        json={
            "project_id": p["id"],
            "level1_agent": "a",
            "procedures": [{"code": "filing", "level2_agent": "x"}],
        },
        headers=auth(d, "steward"),
    )
    assert r.status_code == 403
    r = await issues.http.post(
        "/v1/matters",
        json={"kind": "procedure", "project_id": p["id"], "title": "x"},
        headers=auth(d, "agent"),
    )
    assert r.status_code == 422


async def test_supervision_order_with_its_own_deadline(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock, tap: EventTap
) -> None:
    d = tree.districts[1]
    p = (await create_project(registry, d, total_investment="5000万")).json()
    clock.set(local(2026, 11, 2, 10))
    m = (
        await issues.http.post(
            "/v1/matters",
            json={
                "kind": "complaint",
                "project_id": p["id"],
                "title": "审批推诿扯皮",
                "complaint": {"against_unit": "某审批科"},
            },
            headers=auth(d, "steward"),
        )
    ).json()
    assert m["category"] == "policy" and m["number"].startswith(f"{d}-2026-T-") and m["sla_days"] == 3
    sup = auth(d, "supervisor", sub="duchashi")
    assert (
        await issues.http.post(
            f"/v1/matters/{m['id']}/supervision-orders", json={"instructions": "x"}, headers=sup
        )
    ).status_code == 422
    assert (
        await issues.http.post(
            f"/v1/matters/{m['id']}/supervision-orders",
            json={"instructions": "x", "due_working_days": 1},
            headers=auth(d, "steward"),
        )
    ).status_code == 403
    r = await issues.http.post(
        f"/v1/matters/{m['id']}/supervision-orders",
        json={"instructions": "限两个工作日内答复", "due_working_days": 2},
        headers=sup,
    )
    assert r.status_code == 201 and r.json()["due_at"] == "2026-11-05T00:00:00+08:00"
    order = r.json()
    clock.set(local(2026, 11, 5, 0, 0, 1))

    async def overdue() -> bool:
        r = await issues.http.get(f"/v1/supervision-orders?tenant={d}&overdue=true", headers=sup)
        return order["id"] in [o["id"] for o in r.json()["items"]]

    await wait_for(overdue)
    events = await tap.collect(f"steward.events.{d}.matter.reminder_due", expect=5)
    assert any(
        e["data"].get("supervision_order_id") == order["id"] and e["data"]["phase"] == "supervision_overdue"
        for e in events
    )
    r = await issues.http.post(
        f"/v1/supervision-orders/{order['id']}/respond",
        json={"text": "已约谈并整改"},
        headers=auth(d, "dispatcher"),
    )
    assert r.status_code == 200 and r.json()["status"] == "answered"
    t = (await issues.http.get(f"/v1/matters/{m['id']}/timeline", headers=sup)).json()
    assert [i["action"] for i in t["items"] if i["action"].startswith("supervis")] == [
        "supervised",
        "supervision_overdue",
        "supervision_answered",
    ]
