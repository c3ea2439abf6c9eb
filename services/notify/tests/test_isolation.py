"""Tenant isolation: a user sees only their own inbox; templates belong to the tenant's admins;
an agency sees only its own subscriptions and their deliveries; delivery and dead-letter views are
limited to the tenant subtree (and retry to its admins)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from steward.kit.db import utcnow
from steward.notify.deliveries.models import Delivery
from steward.notify.testing import Notify, Scenario, auth, matter_overdue, publish, scenario, wait_for
from steward.registry.testing import Registry


async def _routed(notify: Notify, registry: Registry, nats_url: str) -> tuple[Scenario, dict[str, Any]]:
    """A district with one overdue matter routed: an inbox message and an email delivery."""
    sc = await scenario(registry, tag="iso")
    event = matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id)
    await publish(nats_url, event)
    owner = auth(sc.tenant, "agent", sub=sc.agent["subject"])

    async def inbox() -> list[dict[str, Any]]:
        return (await notify.http.get("/v1/inbox", headers=owner)).json()["items"]

    messages = await wait_for(inbox)
    assert len(messages) == 1

    async def delivery() -> Any:
        async with notify.db.read() as session:
            return (
                await session.execute(
                    sa.text("SELECT id FROM deliveries WHERE event_id = :e AND channel = 'email'"),
                    {"e": event.id},
                )
            ).scalar()

    delivery_id = await wait_for(delivery)
    assert delivery_id is not None
    return sc, {"message": messages[0], "delivery_id": str(delivery_id), "owner": owner}


async def test_inbox_is_personal(notify: Notify, registry: Registry, nats_url: str) -> None:
    sc, w = await _routed(notify, registry, nats_url)
    mid = w["message"]["id"]
    for other in (
        auth(sc.tenant, "agent", sub="u-someone-else"),
        auth(sc.tenant, "tenant_admin", sub=f"admin-{sc.tenant}"),  # even the tenant's admin
        auth(sc.city, "platform_admin", sub="city-admin"),
    ):
        r = await notify.http.get("/v1/inbox", headers=other)
        assert r.status_code == 200 and all(m["id"] != mid for m in r.json()["items"])
        assert (await notify.http.get("/v1/inbox/unread-count", headers=other)).json()["unread"] == 0
        r = await notify.http.post(f"/v1/inbox/{mid}/read", headers=other)
        assert r.status_code == 404, r.text
        assert (await notify.http.post("/v1/inbox/read-all", headers=other)).json()["marked"] == 0
    r = await notify.http.get("/v1/inbox", params={"unread": "true"}, headers=w["owner"])
    assert [m["id"] for m in r.json()["items"]] == [mid]  # still unread for its owner


async def test_inbox_is_scoped_by_tenant_and_subject(
    notify: Notify, registry: Registry, nats_url: str
) -> None:
    """A token of another tenant carrying the owner's ``sub`` neither reads nor marks the messages
    (issue 14, point 5): the inbox is scoped by tenant AND subject."""
    sc, w = await _routed(notify, registry, nats_url)
    mid, sub = w["message"]["id"], sc.agent["subject"]
    impostor = auth(sc.other_district, "agent", sub=sub)  # a sibling district, same subject
    r = await notify.http.get("/v1/inbox", headers=impostor)
    assert r.status_code == 200 and r.json()["items"] == []
    assert (await notify.http.get("/v1/inbox/unread-count", headers=impostor)).json()["unread"] == 0
    assert (await notify.http.post(f"/v1/inbox/{mid}/read", headers=impostor)).status_code == 404
    assert (await notify.http.post("/v1/inbox/read-all", headers=impostor)).json()["marked"] == 0
    r = await notify.http.get("/v1/inbox", params={"unread": "true"}, headers=w["owner"])
    assert [m["id"] for m in r.json()["items"]] == [mid]  # untouched, still unread for its owner
    # the same holds for the subject's preferences
    r = await notify.http.put("/v1/preferences/me", json={"opt_out_channels": ["email"]}, headers=w["owner"])
    assert r.status_code == 200, r.text
    assert (await notify.http.get("/v1/preferences/me", headers=impostor)).status_code == 403
    r = await notify.http.put("/v1/preferences/me", json={"opt_out_channels": []}, headers=impostor)
    assert r.status_code == 403
    kept = (await notify.http.get("/v1/preferences/me", headers=w["owner"])).json()
    assert kept["opt_out_channels"] == ["email"]
    async with notify.db.read() as session:
        path = (
            await session.execute(sa.text("SELECT tenant_path FROM inbox_messages WHERE id = :i"), {"i": mid})
        ).scalar_one()
    assert path.split("/")[0] == sc.city and path.split("/")[-1] == sc.tenant


async def test_a_token_of_an_unknown_tenant_is_refused(
    notify: Notify, registry: Registry, nats_url: str
) -> None:
    """Not an empty inbox: 403 (issue 14, point 5), even with the subject of a real recipient."""
    sc, _ = await _routed(notify, registry, nats_url)
    ghost = auth("999998", "agent", sub=sc.agent["subject"])
    for path in ("/v1/inbox", "/v1/inbox/unread-count", "/v1/preferences/me"):
        r = await notify.http.get(path, headers=ghost)
        assert r.status_code == 403 and r.json()["error"]["code"] == "unknown_token_tenant", (path, r.text)
    assert (await notify.http.get("/v1/inbox", headers=auth(sc.tenant, "agent", sub="x"))).status_code == 200


async def test_templates_belong_to_the_tenant_admins(notify: Notify, registry: Registry) -> None:
    sc = await scenario(registry, tag="iso-tpl")
    admin = auth(sc.tenant, "tenant_admin", sub=f"admin-{sc.tenant}")
    secret_body = {"subject": "内部模板 {{ data.title }}", "body": "仅限本区管理员可见的模板正文"}
    url = f"/v1/templates/{sc.tenant}/matter.overdue/zh-CN"
    assert (await notify.http.put(url, json=secret_body, headers=admin)).status_code == 200

    for outsider in (
        auth(sc.tenant, "agent", sub="u-agent-x"),
        auth(sc.tenant, "enterprise_contact", sub="u-ent-x"),
        auth(sc.tenant, "agency", sub="agency-x"),
        auth(sc.tenant, "supervisor", sub="sup-x"),
    ):
        r = await notify.http.get("/v1/templates", params={"tenant": sc.tenant}, headers=outsider)
        assert r.status_code == 403, r.text
        r = await notify.http.post(
            "/v1/templates/preview", json={"tenant": sc.tenant, "key": "matter.overdue"}, headers=outsider
        )
        assert r.status_code == 403, r.text
        assert (await notify.http.put(url, json=secret_body, headers=outsider)).status_code == 403
        assert (await notify.http.delete(url, headers=outsider)).status_code == 403
        r = await notify.http.get("/v1/templates", headers=outsider)  # the shipped set stays public
        assert r.status_code == 200 and all(t["tenant"] is None for t in r.json()["items"])

    sibling = auth(sc.other_district, "tenant_admin", sub="sibling-admin")
    r = await notify.http.get("/v1/templates", params={"tenant": sc.tenant}, headers=sibling)
    assert r.status_code in (403, 404), r.text
    r = await notify.http.post(
        "/v1/templates/preview", json={"tenant": sc.tenant, "key": "matter.overdue"}, headers=sibling
    )
    assert r.status_code in (403, 404), r.text
    assert (await notify.http.put(url, json=secret_body, headers=sibling)).status_code in (403, 404)
    assert (await notify.http.delete(url, headers=sibling)).status_code in (403, 404)
    # a district admin cannot override the city's templates (upwards)
    r = await notify.http.put(
        f"/v1/templates/{sc.city}/matter.overdue/zh-CN", json=secret_body, headers=admin
    )
    assert r.status_code in (403, 404), r.text

    r = await notify.http.post(
        "/v1/templates/preview", json={"tenant": sc.tenant, "key": "matter.overdue"}, headers=admin
    )
    assert r.status_code == 200 and "内部模板" in r.json()["subject"]


async def test_agency_sees_only_its_own_subscriptions(
    notify: Notify, registry: Registry, nats_url: str
) -> None:
    sc = await scenario(registry, tag="iso-sub")
    mine = auth(sc.tenant, "agency", sub=f"agency-a-{sc.tenant}")
    theirs = auth(sc.tenant, "agency", sub=f"agency-b-{sc.tenant}")
    body = {
        "tenant": sc.tenant,
        "name": "统计局",
        "url": "http://127.0.0.1:9/hook",
        "event_types": ["matter.*"],
    }
    r = await notify.http.post("/v1/subscriptions", json=body, headers=mine)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = await notify.http.post("/v1/subscriptions", json=body, headers=theirs)
    their_sid = r.json()["id"]

    async with notify.db.transaction() as session:  # a dead-lettered delivery of the other agency
        row = Delivery(
            tenant=sc.tenant,
            tenant_path=f"{sc.city}/{sc.tenant}",
            event_id="iso-ev",
            event_type="matter.overdue",
            event_time=utcnow(),
            recipient=f"subscription:{their_sid}",
            channel="webhook",
            address="http://127.0.0.1:9/hook",
            status="dead_lettered",
            subscription_id=uuid.UUID(their_sid),
        )
        session.add(row)
        their_delivery = row.id

    listed = (await notify.http.get("/v1/subscriptions", headers=mine)).json()["items"]
    assert [s["id"] for s in listed] == [sid]
    for method, path in (
        ("GET", f"/v1/subscriptions/{their_sid}"),
        ("PATCH", f"/v1/subscriptions/{their_sid}"),
        ("DELETE", f"/v1/subscriptions/{their_sid}"),
        ("POST", f"/v1/subscriptions/{their_sid}/rotate-secret"),
        ("GET", f"/v1/subscriptions/{their_sid}/deliveries"),
        ("POST", f"/v1/subscriptions/{their_sid}/replay"),
        ("POST", f"/v1/subscriptions/{their_sid}/deliveries/{their_delivery}/retry"),
        ("POST", f"/v1/subscriptions/{sid}/deliveries/{their_delivery}/retry"),  # through my own sub
    ):
        kwargs: dict[str, Any] = {"json": {"enabled": False}} if method == "PATCH" else {}
        r = await notify.http.request(method, path, headers=mine, **kwargs)
        assert r.status_code == 404, f"{method} {path}: {r.status_code} {r.text}"
    # an agency cannot browse the service-wide delivery list or other deliveries by id
    assert (await notify.http.get("/v1/deliveries", headers=mine)).status_code == 403
    assert (await notify.http.get(f"/v1/deliveries/{their_delivery}", headers=mine)).status_code == 403
    # an agency of the sibling district cannot subscribe to this district
    other = auth(sc.other_district, "agency", sub="agency-sibling")
    r = await notify.http.post("/v1/subscriptions", json=body, headers=other)
    assert r.status_code in (403, 404), r.text
    # nothing changed for the other agency
    r = await notify.http.get(f"/v1/subscriptions/{their_sid}/deliveries", headers=theirs)
    assert [d["status"] for d in r.json()["items"]] == ["dead_lettered"]
    assert (await notify.http.get(f"/v1/subscriptions/{their_sid}", headers=theirs)).json()["enabled"] is True


async def test_delivery_and_dead_letter_views_stay_in_the_subtree(
    notify: Notify, registry: Registry, nats_url: str
) -> None:
    sc, w = await _routed(notify, registry, nats_url)
    did = w["delivery_id"]
    sibling_admin = auth(sc.other_district, "tenant_admin", sub="sibling-admin")
    r = await notify.http.get("/v1/deliveries", headers=sibling_admin)
    assert r.status_code == 200 and all(d["id"] != did for d in r.json()["items"])
    assert (await notify.http.get(f"/v1/deliveries/{did}", headers=sibling_admin)).status_code in (403, 404)
    assert (await notify.http.post(f"/v1/deliveries/{did}/retry", headers=sibling_admin)).status_code in (
        403,
        404,
    )
    # a township (of another district) does not see this district's deliveries either
    township = auth(sc.township, "tenant_admin", sub="township-admin")
    assert (await notify.http.get(f"/v1/deliveries/{did}", headers=township)).status_code in (403, 404)
    # non-admin roles of the tenant itself: no list, no retry
    for role in ("agent", "enterprise_contact", "agency", "dispatcher"):
        hdr = auth(sc.tenant, role, sub=f"{role}-iso")
        assert (await notify.http.get("/v1/deliveries", headers=hdr)).status_code == 403, role
        assert (await notify.http.post(f"/v1/deliveries/{did}/retry", headers=hdr)).status_code == 403, role
    supervisor = auth(sc.tenant, "supervisor", sub="sup-iso")
    assert (await notify.http.get(f"/v1/deliveries/{did}", headers=supervisor)).status_code == 200
    assert (await notify.http.post(f"/v1/deliveries/{did}/retry", headers=supervisor)).status_code == 403
    # the tenant's and the city's admins do see it
    for hdr in (auth(sc.tenant, "tenant_admin", sub="a"), auth(sc.city, "platform_admin", sub="c")):
        r = await notify.http.get(
            "/v1/deliveries", params={"event_id": w["message"]["event_id"]}, headers=hdr
        )
        assert did in [d["id"] for d in r.json()["items"]]
