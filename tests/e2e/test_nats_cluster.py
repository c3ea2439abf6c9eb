"""A NATS node dies under load and nothing is lost or doubled.

Three NATS servers form a JetStream cluster on loopback; the platform's streams keep 3 replicas.
Two replicas each of registry, issues and notify run in this event loop, connected with the
cluster's URL list. A few clients file matters over REST with idempotency keys (retrying 503 and
dropped connections with the same key); each filing fans out to two inbox messages. One NATS node is
SIGKILLed mid-load and started again. Then: every acknowledged filing is in the issues database
once, every ``matter.filed`` event is on the stream once (by ``Nats-Msg-Id``), and every inbox
message exists exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import nats
import pytest
import sqlalchemy as sa
from nats.js.errors import ServiceUnavailableError
from sqlalchemy.ext.asyncio import create_async_engine

from steward.devtools.natscluster import LocalNatsCluster
from steward.issues.testing import auth, running_issues
from steward.issues.testing import migrate as migrate_issues
from steward.notify.testing import free_port as notify_free_port
from steward.notify.testing import migrate as migrate_notify
from steward.notify.testing import notify_settings, overdue_rules, running_notify, scenario
from steward.registry.testing import migrate as migrate_registry
from steward.registry.testing import running_registry

FILINGS = 150
CLIENTS = 5
KILL_AFTER = 50  # filings acknowledged before the node dies
DOWN_SECONDS = 2.0
REPLICAS: dict[str, Any] = {"events_stream_replicas": 3}


@pytest.fixture
def cluster() -> Iterator[LocalNatsCluster]:
    with LocalNatsCluster(size=3) as c:
        yield c


@pytest.fixture
def databases(make_database: Any) -> tuple[str, str, str]:
    return (
        migrate_registry(make_database("cluster_registry")),
        migrate_issues(make_database("cluster_issues")),
        migrate_notify(make_database("cluster_notify")),
    )


async def _stack(cluster: LocalNatsCluster, dbs: tuple[str, str, str], stack: AsyncExitStack) -> Any:
    reg_db, issues_db, notify_db = dbs
    url = cluster.url
    regs = [await stack.enter_async_context(running_registry(reg_db, url, **REPLICAS)) for _ in range(2)]
    issues = [
        await stack.enter_async_context(running_issues(issues_db, url, r.grpc_target, **REPLICAS))
        for r in regs
    ]
    for r in regs:
        settings = notify_settings(notify_db, url, r.grpc_target, smtp_port=notify_free_port(), **REPLICAS)
        await stack.enter_async_context(running_notify(settings))
    return regs, issues


async def _file_all(
    issues: list[Any], cluster: LocalNatsCluster, tenant: str, project: str
) -> dict[str, Any]:
    """File FILINGS matters from CLIENTS concurrent clients; kill a NATS node after KILL_AFTER acks."""
    acked: dict[str, str] = {}  # idempotency key -> matter id
    statuses: Counter[int] = Counter()
    next_n = iter(range(FILINGS))
    killed = asyncio.Event()
    headers = auth(tenant, "dispatcher")

    async def client(c: int) -> None:
        async with httpx.AsyncClient(timeout=15) as http:
            for n in next_n:
                key = f"cluster-{n}"
                body = {
                    "kind": "obstacle",
                    "project_id": project,
                    "title": f"临时用电接入第{n}号",
                    "category": "utilities",
                    "idempotency_key": key,
                }
                for attempt in range(60):
                    base = issues[(n + attempt) % len(issues)].base_url
                    try:
                        r = await http.post(f"{base}/v1/matters", json=body, headers=headers)
                    except httpx.TransportError:
                        await asyncio.sleep(0.2)
                        continue
                    statuses[r.status_code] += 1
                    if r.status_code == 201:
                        acked[key] = r.json()["id"]
                        break
                    assert r.status_code == 503 and r.headers.get("Retry-After"), (r.status_code, r.text)
                    await asyncio.sleep(0.2)
                else:
                    raise AssertionError(f"filing {key} never acknowledged")
                if len(acked) >= KILL_AFTER and not killed.is_set():
                    killed.set()

    async def chaos() -> None:
        await killed.wait()
        victim = await _stream_leader(cluster)  # the events stream must elect a new leader
        load["victim"] = cluster.nodes[victim].url
        cluster.kill(victim)
        load["acked_at_kill"] = len(acked)
        await asyncio.sleep(DOWN_SECONDS)
        await asyncio.to_thread(cluster.restart, victim)
        load["acked_at_restart"] = len(acked)

    load: dict[str, Any] = {"acked": acked, "statuses": statuses}
    await asyncio.gather(chaos(), *(client(c) for c in range(CLIENTS)))
    return load


async def _stream_leader(cluster: LocalNatsCluster) -> int:
    """The index of the node leading the events stream (JetStream server names are n1, n2, n3)."""
    nc = await nats.connect(servers=cluster.url.split(","))
    try:
        info = await nc.jetstream().stream_info("STEWARD_EVENTS")
    finally:
        await nc.close()
    assert info.cluster is not None and info.cluster.leader
    assert len(info.cluster.replicas or []) == 2  # replicas 3: the leader and two followers
    return int(info.cluster.leader.removeprefix("n")) - 1


async def _stream_filed(url: str) -> list[tuple[str, bytes]]:
    """(Nats-Msg-Id, body) of every matter.filed message on the events stream. The check's own reader
    starts over when the cluster has no leader for its consumer yet ("no responders", or no answer to
    the consumer's creation within its timeout, just after the killed node came back): that is this
    reader's hiccup, not the platform's."""
    for attempt in range(10):
        try:
            return await _read_filed(url)
        except (ServiceUnavailableError, TimeoutError):
            if attempt == 9:
                raise
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def _read_filed(url: str) -> list[tuple[str, bytes]]:
    nc = await nats.connect(servers=url.split(","))
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("steward.events.*.matter.filed", stream="STEWARD_EVENTS")
        out: list[tuple[str, bytes]] = []
        while True:
            try:
                msgs = await sub.fetch(200, timeout=2)
            except TimeoutError:  # nats-py raises its own and, when a fetch's time runs out, asyncio's
                return out
            for m in msgs:
                out.append(((m.headers or {}).get("Nats-Msg-Id", ""), m.data))
                await m.ack()
    finally:
        await nc.close()


async def _poll(predicate: Any, within: float) -> Any:
    deadline = time.monotonic() + within
    value = await predicate()
    while not value and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        value = await predicate()
    return value


@pytest.mark.timeout(240)
async def test_a_nats_node_killed_under_load_loses_and_doubles_nothing(
    cluster: LocalNatsCluster, databases: tuple[str, str, str]
) -> None:
    t0 = time.monotonic()
    rules = overdue_rules()
    rules["notify"]["routes"].append(
        {"event_type": "matter.filed", "recipients": ["agent", "reporter"], "channels": ["inbox"]}
    )
    async with AsyncExitStack() as stack:
        regs, issues = await _stack(cluster, databases, stack)
        sc = await scenario(regs[0], rules=rules)
        load = await _file_all(issues, cluster, sc.tenant, sc.project_id)
        acked: dict[str, str] = load["acked"]
        notify_db = create_async_engine(databases[2])
        issues_db = create_async_engine(databases[1])
        try:

            async def inbox_rows() -> Any:
                async with notify_db.connect() as conn:
                    rows = (
                        await conn.execute(
                            sa.text(
                                "SELECT event_id, recipient_subject FROM inbox_messages"
                                " WHERE event_type = 'matter.filed'"
                            )
                        )
                    ).all()
                return rows if len(rows) >= 2 * FILINGS else None

            # a batch in flight when the leader died comes back after the consumer's ack wait (30 s)
            # and the leader's election: complete within two minutes, nothing lost or doubled
            inbox = await _poll(inbox_rows, within=120) or []
            async with issues_db.connect() as conn:
                matters = (
                    await conn.execute(
                        sa.text("SELECT id::text, idempotency_key FROM matters WHERE tenant_code = :t"),
                        {"t": sc.tenant},
                    )
                ).all()
        finally:
            await notify_db.dispose()
            await issues_db.dispose()
        stream = await _stream_filed(cluster.url)
    elapsed = time.monotonic() - t0

    ids = Counter(mid for mid, _ in stream)
    inbox_pairs = Counter((e, r) for e, r in inbox)
    print(
        f"\nNATS cluster (3 nodes, R3), the events stream's leader {load['victim']} SIGKILLed after"
        f" {load['acked_at_kill']} acks, back after {DOWN_SECONDS}s ({load['acked_at_restart']} acks):"
        f" filings acknowledged {len(acked)}/{FILINGS}; HTTP statuses {dict(load['statuses'])};"
        f" matters in DB {len(matters)} (distinct keys {len({k for _, k in matters})});"
        f" matter.filed on stream {len(stream)} (distinct Nats-Msg-Id {len(ids)});"
        f" inbox messages {len(inbox)} (distinct event+recipient {len(inbox_pairs)},"
        f" events {len({e for e, _ in inbox})}); {elapsed:.1f}s"
    )
    assert load["acked_at_kill"] < FILINGS  # the node died mid-load
    assert len(acked) == FILINGS
    assert sorted(mid for mid, _ in matters) == sorted(acked.values())  # each acked filing once
    assert len(stream) == FILINGS and len(ids) == FILINGS  # each event on the stream once
    assert set(ids) == {e for e, _ in inbox}  # the inbox messages are for exactly these events
    assert len(inbox) == 2 * FILINGS and len(inbox_pairs) == 2 * FILINGS  # agent + reporter, once each
