"""SMS quiet hours (deferred; critical goes through), group robots' formats and signing, templates
(override, preview, autoescape), preferences (language, opt-out), the SSE stream."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa

from steward.notify.testing import (
    HttpSink,
    Notify,
    SmtpSink,
    auth,
    generic_event,
    matter_overdue,
    overdue_rules,
    publish,
    scenario,
    wait_for,
)
from steward.registry.testing import Registry

TZ = ZoneInfo("Asia/Shanghai")


async def _deliveries(notify: Notify, tenant: str, event_id: str) -> list[dict]:
    r = await notify.http.get(f"/v1/deliveries?event_id={event_id}", headers=auth(tenant, "tenant_admin"))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_sms_in_quiet_hours_is_deferred_but_critical_goes_through(
    notify: Notify, registry: Registry, receiver: HttpSink, nats_url: str
) -> None:
    now = datetime.now(TZ)
    start, end = (now - timedelta(hours=2)).strftime("%H:%M"), (now + timedelta(hours=2)).strftime("%H:%M")
    rules = overdue_rules(quiet_hours={"start": start, "end": end})
    rules["notify"]["routes"] = [
        {
            "event_type": "matter.overdue",
            "recipients": ["assignee"],
            "channels": ["sms"],
            "severity": "warning",
        },
        {
            "event_type": "matter.escalated",
            "recipients": ["assignee"],
            "channels": ["sms"],
            "severity": "critical",
        },
    ]
    sc = await scenario(registry, rules=rules, tag="quiet")
    overdue = matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id)
    escalated = generic_event(
        sc.tenant,
        "matter.escalated",
        {
            "matter_id": "m1",
            "title": "升级督办：用地预审",
            "project_id": sc.project_id,
            "responsible_unit_id": sc.unit_id,
            "to_tier": "city",
        },
    )
    await publish(nats_url, overdue)
    await publish(nats_url, escalated)

    async def critical_sent() -> list:
        rows = await _deliveries(notify, sc.tenant, escalated.id)
        return [d for d in rows if d["status"] == "sent"]

    sent = await wait_for(critical_sent)
    assert len(sent) == 1 and sent[0]["channel"] == "sms"
    assert sent[0]["address"] == "139****5678"  # masked in the API
    gateway = [r.json() for r in receiver.at("/sms") if r.json()["request_id"] == sent[0]["id"]]
    assert len(gateway) == 1 and gateway[0]["to"] == "13912345678" and "升级督办" in gateway[0]["text"]

    held = await _deliveries(notify, sc.tenant, overdue.id)
    assert len(held) == 1
    d = held[0]
    assert d["status"] == "pending" and d["deferred_reason"] == "quiet_hours" and d["attempts"] == 0
    due_local = datetime.fromisoformat(d["due_at"]).astimezone(TZ)
    assert due_local.strftime("%H:%M") == end and due_local > now
    assert not [r for r in receiver.at("/sms") if r.json()["request_id"] == d["id"]]


async def test_group_robots_receive_their_formats_signed(
    notify: Notify, registry: Registry, receiver: HttpSink, nats_url: str
) -> None:
    rules = overdue_rules(quiet_hours={"enabled": False})
    rules["notify"]["routes"] = [
        {
            "event_type": "matter.overdue",
            "recipients": ["assignee"],
            "channels": ["wecom", "dingtalk", "feishu"],
            "severity": "warning",
        }
    ]
    sc = await scenario(registry, rules=rules, tag="robots")
    admin = auth(sc.tenant, "tenant_admin")
    secret = "SEC-test-robot-secret"
    for channel, path, sec in (
        ("wecom", f"/wecom/{sc.tenant}?key=abc", None),
        ("dingtalk", f"/dingtalk/{sc.tenant}?access_token=tok", secret),
        ("feishu", f"/feishu/{sc.tenant}", secret),
    ):
        r = await notify.http.post(
            "/v1/channel-endpoints",
            json={
                "tenant": sc.tenant,
                "channel": channel,
                "name": f"{channel}群",
                "url": receiver.base_url + path,
                "secret": sec,
            },
            headers=admin,
        )
        assert r.status_code == 201, r.text
        assert "?" not in r.json()["url"]  # robot keys are not echoed back
        assert "secret" not in r.json() and r.json()["has_secret"] is bool(sec)
    async with notify.db.read() as session:  # robot secrets are sealed at rest
        stored = (
            (
                await session.execute(
                    sa.text("SELECT secret FROM channel_endpoints WHERE tenant = :t AND secret IS NOT NULL"),
                    {"t": sc.tenant},
                )
            )
            .scalars()
            .all()
        )
    assert len(stored) == 2 and all(v.startswith("sealed:") and secret not in v for v in stored)
    await publish(nats_url, matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id))

    async def all_three() -> bool:
        return all(receiver.at(f"/{c}/{sc.tenant}") for c in ("wecom", "dingtalk", "feishu"))

    assert await wait_for(all_three)
    wecom = receiver.at(f"/wecom/{sc.tenant}")[0].json()
    assert wecom["msgtype"] == "markdown" and f"<@lidaiban{sc.tenant}>" in wecom["markdown"]["content"]
    ding = receiver.at(f"/dingtalk/{sc.tenant}")[0]
    q = parse_qs(ding.query)
    ts = q["timestamp"][0]
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert q["sign"][0] == expected and q["access_token"] == ["tok"]
    assert ding.json()["msgtype"] == "markdown" and "逾期" in ding.json()["markdown"]["text"]
    feishu = receiver.at(f"/feishu/{sc.tenant}")[0].json()
    key = f"{feishu['timestamp']}\n{secret}".encode()
    assert feishu["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert feishu["msg_type"] == "text" and "逾期" in feishu["content"]["text"]


async def test_template_override_preview_and_autoescape(
    notify: Notify, registry: Registry, smtp: SmtpSink, nats_url: str
) -> None:
    sc = await scenario(registry, tag="tpl")
    admin = auth(sc.tenant, "tenant_admin")
    body = {
        "subject": "【区督查】{{ data.title }}",
        "body": "{{ recipient.name }}：{{ data.title }} 已逾期，请今日办结。",
    }
    r = await notify.http.put(f"/v1/templates/{sc.tenant}/matter.overdue/zh-CN", json=body, headers=admin)
    assert r.status_code == 200, r.text
    # another district's admin cannot override this district's templates
    r = await notify.http.put(
        f"/v1/templates/{sc.tenant}/matter.overdue/zh-CN",
        json=body,
        headers=auth(sc.other_district, "tenant_admin"),
    )
    assert r.status_code == 403
    bad = await notify.http.put(
        f"/v1/templates/{sc.tenant}/matter.overdue/zh-CN",
        json={"subject": "{{ oops", "body": "x"},
        headers=admin,
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "template_invalid"

    p = await notify.http.post(
        "/v1/templates/preview", json={"tenant": sc.tenant, "key": "matter.overdue"}, headers=admin
    )
    assert p.status_code == 200, p.text
    assert p.json()["subject"].startswith("【区督查】施工许可办理受阻")
    en = await notify.http.post(
        "/v1/templates/preview",
        json={"tenant": sc.tenant, "key": "matter.overdue", "locale": "en"},
        headers=admin,
    )
    assert "[OVERDUE]" in en.json()["subject"]
    evil = {
        "tenant": sc.tenant,
        "key": "x",
        "template": {"subject": "s", "body": "{{ data.title }}"},
        "event": {
            "type": "steward.matter.overdue.v1",
            "tenant": sc.tenant,
            "time": "2026-03-01T00:00:00Z",
            "data": {"title": "<script>alert(1)</script>"},
        },
    }
    out = (await notify.http.post("/v1/templates/preview", json=evil, headers=admin)).json()
    assert "<script>" in out["body"] and "<script>" not in out["html"] and "&lt;script&gt;" in out["html"]
    sandbox = {
        "tenant": sc.tenant,
        "key": "x",
        "template": {"subject": "s", "body": "{{ ''.__class__.__mro__ }}"},
    }
    r = await notify.http.post("/v1/templates/preview", json=sandbox, headers=admin)
    assert r.status_code == 200 and r.json()["body"] == ""  # the sandbox hides private attributes

    # preferences: the agent reads English; the override is zh-CN only, so the English default applies
    agent = auth(sc.tenant, "agent", sub=sc.agent["subject"])
    r = await notify.http.put("/v1/preferences/me", json={"locale": "en"}, headers=agent)
    assert r.status_code == 200
    await publish(
        nats_url, matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id, title="T-en")
    )

    async def mail() -> list:
        return [m for m in smtp.to(sc.agent["email"]) if "T-en" in str(m["Subject"])]

    got = await wait_for(mail)
    assert "[OVERDUE]" in str(got[0]["Subject"])
    await notify.http.put("/v1/preferences/me", json={"locale": "zh-CN"}, headers=agent)
    await publish(
        nats_url, matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id, title="T-zh")
    )

    async def mail_zh() -> list:
        return [m for m in smtp.to(sc.agent["email"]) if "T-zh" in str(m["Subject"])]

    got = await wait_for(mail_zh)
    assert str(got[0]["Subject"]) == "【区督查】T-zh"
    html = got[0].get_body(("html",)).get_content()
    assert "T-zh" in html and "<html>" in html.lower().replace("<!doctype html>", "")


async def test_opt_out_of_email_skips_non_critical(
    notify: Notify, registry: Registry, smtp: SmtpSink, nats_url: str
) -> None:
    sc = await scenario(registry, tag="optout")
    agent = auth(sc.tenant, "agent", sub=sc.agent["subject"])
    assert (
        await notify.http.put("/v1/preferences/me", json={"opt_out_channels": ["inbox"]}, headers=agent)
    ).status_code == 422
    assert (
        await notify.http.put("/v1/preferences/me", json={"opt_out_channels": ["email"]}, headers=agent)
    ).status_code == 200
    event = matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id)
    await publish(nats_url, event)

    async def both() -> list:
        rows = await _deliveries(notify, sc.tenant, event.id)
        return rows if len(rows) == 2 else []

    rows = {d["channel"]: d for d in await wait_for(both)}
    assert rows["email"]["status"] == "skipped" and rows["email"]["last_error"] == "opted out"
    assert rows["inbox"]["status"] == "sent"
    assert smtp.to(sc.agent["email"]) == []


async def test_inbox_stream_pushes_new_messages(notify: Notify, registry: Registry, nats_url: str) -> None:
    sc = await scenario(registry, tag="sse")
    hdr = auth(sc.tenant, "agent", sub=sc.agent["subject"])
    event = matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id, title="实时推送")
    received: list[dict] = []

    async def listen() -> None:
        async with (
            httpx.AsyncClient(base_url=notify.base_url, timeout=None) as client,
            client.stream("GET", "/v1/inbox/stream", headers=hdr) as resp,
        ):
            assert resp.status_code == 200
            kind = ""
            async for line in resp.aiter_lines():
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                    if kind == "ready":
                        await publish(nats_url, event)
                elif line.startswith("data:") and kind == "message":
                    received.append(json.loads(line.split(":", 1)[1]))
                    return

    await asyncio.wait_for(listen(), 30)
    assert received[0]["event_id"] == event.id and "实时推送" in received[0]["title"]
