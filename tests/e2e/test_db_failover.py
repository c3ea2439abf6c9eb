"""The PostgreSQL primary dies under load and its synchronous standby takes over.

A primary and a synchronous standby (streaming replication, both from the embedded server); the
registry and issues connect with a multi-host URL (``target_session_attrs=read-write``). A few
clients file matters with idempotency keys; the primary is SIGKILLed mid-load and the standby
promoted. Then: every filing a client got 201 for is in the promoted database (synchronous commit),
the service writes again within 15 s of the crash, and meanwhile clients got 503 with Retry-After,
never another 5xx.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from steward.devtools.infra import LocalPostgres
from steward.devtools.natsinfra import LocalNats
from steward.devtools.pgreplica import LocalStandby, crash, multi_host_url, sync_primary
from steward.devtools.procs import InfraError
from steward.issues.testing import auth, running_issues
from steward.issues.testing import migrate as migrate_issues
from steward.registry.testing import create_project, make_tree, running_registry
from steward.registry.testing import migrate as migrate_registry

FILINGS = 120
CLIENTS = 4
CRASH_AFTER = 40  # filings acknowledged before the primary dies
PROMOTE_AFTER = 1.0  # seconds between the crash and the promotion (detection, in production)
WRITING_AGAIN_WITHIN = 15.0


@pytest.fixture
def pair() -> Iterator[tuple[LocalPostgres, LocalStandby]]:
    primary = sync_primary()
    try:
        standby = LocalStandby(primary).start()
    except InfraError:
        primary.stop()
        raise
    try:
        yield primary, standby
    finally:
        standby.stop()
        primary.stop()


@pytest.fixture
def databases(pair: tuple[LocalPostgres, LocalStandby]) -> tuple[str, str]:
    """The registry and issues databases, migrated on the primary; returned as multi-host URLs
    (Alembic runs its own event loop, so this fixture is sync)."""
    primary, standby = pair
    migrate_registry(primary.create_database("registry"))
    migrate_issues(primary.create_database("issues"))
    return multi_host_url([primary, standby], "registry"), multi_host_url([primary, standby], "issues")


@pytest.fixture
def private_nats() -> Iterator[str]:
    with LocalNats() as nats:
        yield nats.url


async def _file_all(
    base_url: str, pair: tuple[LocalPostgres, LocalStandby], tenant: str, project: str
) -> dict[str, Any]:
    """File FILINGS matters from CLIENTS clients; crash the primary after CRASH_AFTER acks, promote
    the standby PROMOTE_AFTER seconds later."""
    primary, standby = pair
    acked: dict[str, str] = {}  # idempotency key -> matter id
    statuses: Counter[int] = Counter()
    refusals: list[tuple[int, str]] = []  # anything but 201 or 503 + Retry-After
    next_n = iter(range(FILINGS))
    crashed = asyncio.Event()
    out: dict[str, Any] = {"acked": acked, "statuses": statuses, "refusals": refusals}
    headers = auth(tenant, "dispatcher")

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            for n in next_n:
                body = {
                    "kind": "obstacle",
                    "project_id": project,
                    "title": f"施工用电接入第{n}号",
                    "category": "utilities",
                    "idempotency_key": f"failover-{n}",
                }
                for _ in range(200):
                    sent = time.monotonic()
                    r = await http.post("/v1/matters", json=body, headers=headers)
                    statuses[r.status_code] += 1
                    if r.status_code == 201:
                        acked[body["idempotency_key"]] = r.json()["id"]
                        if crashed.is_set() and sent > out["crash_at"] and "writing_again_at" not in out:
                            out["writing_again_at"] = time.monotonic()
                        break
                    if r.status_code != 503 or not r.headers.get("Retry-After"):
                        refusals.append((r.status_code, r.text[:300]))
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError(f"filing {n} never acknowledged")
                if len(acked) >= CRASH_AFTER and not crashed.is_set():
                    crashed.set()

    async def failover() -> None:
        await crashed.wait()
        out["crash_at"] = time.monotonic()
        crash(primary)
        out["acked_at_crash"] = len(acked)
        await asyncio.sleep(PROMOTE_AFTER)
        await asyncio.to_thread(standby.promote)
        out["promoted_at"] = time.monotonic()

    await asyncio.gather(failover(), *(client() for _ in range(CLIENTS)))
    return out


@pytest.mark.timeout(240)
async def test_the_primary_dies_and_the_promoted_standby_has_every_acknowledged_write(
    pair: tuple[LocalPostgres, LocalStandby], databases: tuple[str, str], private_nats: str
) -> None:
    t0 = time.monotonic()
    _, standby = pair
    reg_url, issues_url = databases
    async with running_registry(reg_url, private_nats) as registry:
        tree = await make_tree(registry)
        tenant = tree.districts[0]
        project = (await create_project(registry, tenant, total_investment="8000万")).json()
        async with running_issues(issues_url, private_nats, registry.grpc_target) as issues:
            load = await _file_all(issues.base_url, pair, tenant, project["id"])
    engine = create_async_engine(standby.url("issues"))  # the promoted standby, alone
    try:
        async with engine.connect() as conn:
            in_recovery = (await conn.execute(sa.text("SELECT pg_is_in_recovery()"))).scalar_one()
            rows = (
                await conn.execute(
                    sa.text("SELECT id::text FROM matters WHERE tenant_code = :t"), {"t": tenant}
                )
            ).all()
    finally:
        await engine.dispose()
    elapsed = time.monotonic() - t0

    acked: dict[str, str] = load["acked"]
    in_db = Counter(r[0] for r in rows)
    lost = set(acked.values()) - set(in_db)
    again = load.get("writing_again_at", float("inf")) - load["crash_at"]
    print(
        f"\nPostgreSQL failover (synchronous standby, primary SIGKILLed after {load['acked_at_crash']} acks,"
        f" promoted {PROMOTE_AFTER:.0f}s later): filings acknowledged {len(acked)}/{FILINGS};"
        f" HTTP statuses {dict(load['statuses'])}; other refusals {len(load['refusals'])};"
        f" matters in the promoted DB {len(rows)} (acknowledged and missing {len(lost)});"
        f" writing again {again:.1f}s after the crash"
        f" ({load['promoted_at'] - load['crash_at']:.1f}s to promote); {elapsed:.1f}s"
    )
    assert load["acked_at_crash"] < FILINGS  # the primary died mid-load
    assert not in_recovery
    assert load["refusals"] == []  # only 201, or 503 with Retry-After
    assert len(acked) == FILINGS
    assert not lost  # synchronous commit: every 201 survived the primary
    assert max(in_db.values()) == 1
    assert again < WRITING_AGAIN_WITHIN
