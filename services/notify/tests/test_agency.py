"""Must show: agency webhooks — retries with backoff then a dead letter, replay delivers once;
signatures verify like a receiver would; district isolation; URL validation."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time

import pytest
import sqlalchemy as sa

from steward.kit.errors import ValidationFailed
from steward.notify.channels.urls import validate_url
from steward.notify.deliveries.timing import backoff
from steward.notify.settings import NotifySettings
from steward.notify.testing import (
    HttpSink,
    Notify,
    auth,
    generic_event,
    matter_overdue,
    publish,
    scenario,
    wait_for,
)
from steward.registry.testing import EventTap, Registry


def receiver_verifies(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """What docs/notify.md tells receivers to do (written independently of the service's code)."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


async def test_failing_receiver_retries_then_dead_letter_and_replay_delivers_once(
    notify: Notify, registry: Registry, receiver: HttpSink, nats_url: str
) -> None:
    sc = await scenario(registry, tag="agency")
    agency = auth(sc.tenant, "agency", sub=f"agency-fdi-{sc.tenant}")
    path = f"/agency/{sc.tenant}"
    r = await notify.http.post(
        "/v1/subscriptions",
        json={
            "tenant": sc.tenant,
            "name": "市营商局",
            "url": f"{receiver.base_url}{path}",
            "event_types": ["matter.*"],
        },
        headers=agency,
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    secret = sub["secret"]
    assert secret.startswith("whsec_")
    assert (await notify.http.get(f"/v1/subscriptions/{sub['id']}", headers=agency)).json()["secret"] is None
    async with notify.db.read() as session:  # sealed at rest (steward.kit.sealing), shown only once
        stored = (
            await session.execute(
                sa.text("SELECT secret FROM agency_subscriptions WHERE id = :i"), {"i": sub["id"]}
            )
        ).scalar_one()
    assert stored.startswith("sealed:") and secret not in stored and secret[6:] not in stored

    receiver.fail[path] = 503
    event = matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id)
    await publish(nats_url, event)

    async def dead() -> list:
        r = await notify.http.get(
            f"/v1/subscriptions/{sub['id']}/deliveries?status=dead_lettered", headers=agency
        )
        return r.json()["items"]

    items = await wait_for(dead)
    assert len(items) == 1 and items[0]["attempts"] == notify.settings.delivery_max_attempts
    assert "503" in items[0]["last_error"]
    assert len(receiver.at(path)) == notify.settings.delivery_max_attempts
    # the admin view shows each attempt and its error
    admin = auth(sc.tenant, "tenant_admin")
    detail = (await notify.http.get(f"/v1/deliveries/{items[0]['id']}", headers=admin)).json()
    assert [a["outcome"] for a in detail["history"]] == ["error"] * notify.settings.delivery_max_attempts
    dl = (await notify.http.get("/v1/deliveries?status=dead_lettered&channel=webhook", headers=admin)).json()[
        "items"
    ]
    assert items[0]["id"] in [d["id"] for d in dl]
    # another district's admin does not see it
    other = auth(sc.other_district, "tenant_admin")
    assert (await notify.http.get(f"/v1/deliveries/{items[0]['id']}", headers=other)).status_code == 404

    failed = await EventTap(nats_url).collect(f"steward.events.{sc.tenant}.delivery.*", expect=6)
    mine = [e for e in failed if e["data"]["delivery_id"] == items[0]["id"]]
    kinds = [e["type"] for e in mine]
    assert kinds.count("steward.delivery.failed.v1") == notify.settings.delivery_max_attempts - 1
    assert kinds.count("steward.delivery.dead_lettered.v1") == 1
    waits = [
        (json.loads(json.dumps(e["data"]))["next_attempt_at"], e["time"])
        for e in mine
        if e["type"].endswith("failed.v1")
    ]
    assert len(waits) == notify.settings.delivery_max_attempts - 1

    # fix the receiver, replay: delivered once
    del receiver.fail[path]
    r = await notify.http.post(f"/v1/subscriptions/{sub['id']}/replay", headers=agency)
    assert r.json() == {"replayed": 1}

    async def delivered() -> list:
        return receiver.accepted(path)

    ok = await wait_for(delivered)
    assert len(ok) == 1
    again = await notify.http.post(f"/v1/subscriptions/{sub['id']}/replay", headers=agency)
    assert again.json() == {"replayed": 0}

    async def sent_items() -> list:  # recorded by the worker just after the receiver accepted it
        r = await notify.http.get(f"/v1/subscriptions/{sub['id']}/deliveries?status=sent", headers=agency)
        return r.json()["items"]

    assert len(await wait_for(sent_items)) == 1
    assert len(receiver.accepted(path)) == 1

    # the receiver's view: CloudEvents JSON, signed with the documented scheme
    req = ok[0]
    assert req.headers["content-type"] == "application/cloudevents+json"
    assert receiver_verifies(secret, req.body, req.headers["steward-signature"])
    assert not receiver_verifies(secret, req.body + b" ", req.headers["steward-signature"])
    assert not receiver_verifies("whsec_wrong", req.body, req.headers["steward-signature"])
    body = req.json()
    assert (
        body["id"] == event.id and body["type"] == "steward.matter.overdue.v1" and body["tenant"] == sc.tenant
    )
    assert body["data"]["project_id"] == sc.project_id
    assert req.headers["steward-event-id"] == event.id
    assert req.headers["idempotency-key"] == items[0]["id"]


def test_backoff_grows_exponentially_with_jitter() -> None:
    import random

    rng = random.Random(7)
    for attempt in range(1, 8):
        step = min(60.0, 1.0 * 2 ** (attempt - 1))
        values = [backoff(attempt, base=1.0, cap=60.0, rng=rng) for _ in range(50)]
        assert all(step / 2 <= v <= step for v in values)
        assert len({round(v, 6) for v in values}) > 1  # jittered


async def test_agency_subscription_never_receives_another_districts_events(
    notify: Notify, registry: Registry, receiver: HttpSink, nats_url: str
) -> None:
    sc = await scenario(registry, tag="iso")
    d0, d1, d2 = sc.districts
    subs = {}
    for name, tenant, globs in (
        ("a", d0, ["matter.*"]),
        ("b", d2, ["matter.*"]),
        ("city", sc.city, ["matter.overdue"]),
    ):
        r = await notify.http.post(
            "/v1/subscriptions",
            json={
                "tenant": tenant,
                "name": name,
                "url": f"{receiver.base_url}/iso/{sc.city}/{name}",
                "event_types": globs,
            },
            headers=auth(tenant, "agency", sub=f"agency-{name}-{sc.city}"),
        )
        assert r.status_code == 201, r.text
        subs[name] = r.json()
    # an agency scoped to d0 cannot subscribe to d1
    r = await notify.http.post(
        "/v1/subscriptions",
        json={"tenant": d1, "name": "x", "url": f"{receiver.base_url}/x", "event_types": ["*"]},
        headers=auth(d0, "agency", sub=f"agency-a-{sc.city}"),
    )
    assert r.status_code == 403
    # nor see another agency's subscription
    r = await notify.http.get(
        f"/v1/subscriptions/{subs['b']['id']}", headers=auth(d0, "agency", sub=f"agency-a-{sc.city}")
    )
    assert r.status_code == 404
    # a user without the agency role cannot subscribe
    r = await notify.http.post(
        "/v1/subscriptions",
        json={"tenant": d0, "name": "x", "url": f"{receiver.base_url}/x", "event_types": ["*"]},
        headers=auth(d0, "agent"),
    )
    assert r.status_code == 403

    events = {
        "d0": generic_event(d0, "matter.overdue", {"matter_id": "m0", "title": "d0"}),
        "d1": generic_event(d1, "matter.overdue", {"matter_id": "m1", "title": "d1"}),
        "town": generic_event(sc.township, "matter.overdue", {"matter_id": "m2", "title": "town"}),
    }
    for e in events.values():
        await publish(nats_url, e)

    async def city_has_all() -> bool:
        return len(receiver.at(f"/iso/{sc.city}/city")) >= 3

    assert await wait_for(city_has_all)
    sentinel = generic_event(d0, "matter.overdue", {"matter_id": "sentinel"})
    await publish(nats_url, sentinel)

    async def a_has_sentinel() -> bool:
        return any(r.json()["id"] == sentinel.id for r in receiver.at(f"/iso/{sc.city}/a"))

    assert await wait_for(a_has_sentinel)
    got = {name: {r.json()["id"] for r in receiver.at(f"/iso/{sc.city}/{name}")} for name in subs}
    assert got["a"] == {events["d0"].id, sentinel.id}
    assert got["b"] == {events["town"].id}
    assert {events["d0"].id, events["d1"].id, events["town"].id} <= got["city"]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",  # http not enabled
        "ftp://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.1.10/hook",
        "https://172.16.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
        "https://0.0.0.0/hook",
        "https://user:pw@example.com/hook",
        "https:///nohost",
    ],
)
async def test_url_validation_refuses_internal_addresses(url: str) -> None:
    with pytest.raises(ValidationFailed):
        await validate_url(url, NotifySettings())


async def test_url_validation_resolves_names_and_honours_allow_and_deny_lists() -> None:
    name = socket.gethostname()
    try:
        internal = socket.gethostbyname(name)
    except OSError:
        internal = None
    if internal is not None:  # a name that resolves to an internal address is refused
        import ipaddress

        if not ipaddress.ip_address(internal).is_global:
            with pytest.raises(ValidationFailed):
                await validate_url(f"https://{name}/hook", NotifySettings())
    allowed = NotifySettings(webhook_allow_hosts="127.0.0.1,*.corp.internal", webhook_allow_http=True)
    assert await validate_url("http://127.0.0.1:8080/hook", allowed)
    assert await validate_url("https://10.0.0.1/hook", NotifySettings(webhook_deny_private=False))
    denied = NotifySettings(webhook_deny_hosts="*.evil.example", webhook_deny_private=False)
    with pytest.raises(ValidationFailed):
        await validate_url("https://hooks.evil.example/x", denied)
    only = NotifySettings(webhook_only_allowed_hosts=True, webhook_allow_hosts="hooks.gov.cn")
    with pytest.raises(ValidationFailed):
        await validate_url("https://93.184.216.34/x", only)


async def test_rest_refuses_internal_webhook_urls(notify: Notify, registry: Registry) -> None:
    sc = await scenario(registry, tag="url")
    hdr = auth(sc.tenant, "agency", sub="agency-url")
    for url in ("https://10.0.0.5/hook", "https://169.254.169.254/latest", "https://[::1]/x"):
        r = await notify.http.post(
            "/v1/subscriptions",
            json={"tenant": sc.tenant, "name": "x", "url": url, "event_types": ["*"]},
            headers=hdr,
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "internal_address"
    r = await notify.http.post(
        "/v1/channel-endpoints",
        json={
            "tenant": sc.tenant,
            "channel": "wecom",
            "name": "群",
            "url": "https://192.168.0.9/cgi-bin/webhook/send?key=k",
        },
        headers=auth(sc.tenant, "tenant_admin"),
    )
    assert r.status_code == 422
