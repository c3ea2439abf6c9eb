"""The matter list at scale takes an index path for every filter the API offers.

20,000 matters are bulk-inserted (``generate_series`` clones of one matter) into a city subtree of a
database of their own and ANALYZEd; for each filter of ``GET /v1/matters`` and its work queues the
SQL that ``service.list_matters`` issues is captured (a ``before_cursor_execute`` hook) and
EXPLAINed with its parameters. No plan may read ``matters`` sequentially, and where an index can
hand out the newest-first order (filters that keep many rows) the plan may not sort the subtree
either: dropping ``ix_matters_filed`` (or another index of migration 0004) makes these tests fail.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from steward.issues.matters import service
from steward.issues.matters.models import Matter
from steward.issues.matters.schemas import Kind, MatterFilter, Status, Tier
from steward.issues.testing import migrate
from steward.kit.auth import Principal, Role
from steward.kit.db import Database

N = 20_000
CITY = "930000"
DISTRICTS = ["930002", "930003", "930012"]
TOWNSHIP = "930012004"
PATHS = {
    CITY: CITY,
    **{d: f"{CITY}/{d}" for d in DISTRICTS},
    TOWNSHIP: f"{CITY}/930012/{TOWNSHIP}",
}
CODES = list(PATHS)
FILED = datetime(2026, 11, 2, 2, tzinfo=UTC)
RARE_HANDLER = "930099"  # 1% of the matters: a selective filter

VARIED = {
    "id": "gen_random_uuid()",
    "number": "'PLAN-' || lpad(g::text, 8, '0')",
    "tenant_code": "tp.codes[1 + g % cardinality(tp.codes)]",
    "tenant_path": "tp.paths[1 + g % cardinality(tp.codes)]",
    "handling_tenant": f"CASE WHEN g % 100 = 0 THEN '{RARE_HANDLER}' ELSE tp.codes[1 + g / 3 % cardinality(tp.codes)] END",
    "kind": "(ARRAY['obstacle', 'procedure', 'decision', 'complaint'])[1 + g % 4]",
    "status": "CASE WHEN g % 100 = 0 THEN 'returned' ELSE (ARRAY['filed', 'accepted', 'in_progress', "
    "'resolved', 'confirmed', 'closed', 'rejected'])[1 + g / 3 % 7] END",
    "tier": "(ARRAY['unit', 'district', 'city', 'government'])[1 + g / 5 % 4]",
    "category": "CASE WHEN g % 100 = 1 THEN 'labor' ELSE (ARRAY['utilities', 'land', 'permits', 'finance', "
    "'other'])[1 + g / 11 % 5] END",
    "title": "'计划问题' || g",
    "project_id": "'p-' || (g % 400)",
    "responsible_unit_id": "'u-' || (g % 400)",
    "owner_unit_id": "'e-' || (g % 200)",
    "meeting_id": "CASE WHEN g % 50 = 0 THEN 'm-' || (g / 50 % 40) END",
    "overdue": "g % 20 = 0",
    "filed_at": "t.filed_at - make_interval(secs => g)",
    "idempotency_key": "NULL",
}

_SCAN = re.compile(
    r"(Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan)(?: Backward)?(?: using (\w+))? on (\w+)"
)


@pytest.fixture(scope="module")
def db_url(make_database: Any) -> str:
    return migrate(make_database("matter_plans"))  # Alembic runs its own event loop: not in the test's


@pytest.fixture(scope="module")
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url, pool_size=2)
    try:
        async with database.transaction() as s:
            template = Matter(
                number="PLAN-TEMPLATE",
                tenant_code=CITY,
                tenant_path=CITY,
                handling_tenant=CITY,
                kind="obstacle",
                title="模板",
                reporter="plans",
                tier="unit",
                status="filed",
                sla_days=5,
                filed_at=FILED,
                due_at=FILED + timedelta(days=7),
            )
            s.add(template)
            await s.flush()
            cols = [
                r[0]
                for r in await s.execute(
                    sa.text(
                        "SELECT column_name FROM information_schema.columns WHERE table_name = 'matters' "
                        "ORDER BY ordinal_position"
                    )
                )
            ]
            select = ", ".join(VARIED.get(c, f"t.{c}") for c in cols)
            await s.execute(
                sa.text(
                    f"INSERT INTO matters ({', '.join(cols)}) SELECT {select} "
                    "FROM matters t, generate_series(1, :n) AS g, "
                    "(SELECT CAST(:codes AS text[]) AS codes, CAST(:paths AS text[]) AS paths) AS tp "
                    "WHERE t.id = :tid"
                ),
                {"n": N, "tid": template.id, "codes": CODES, "paths": [PATHS[c] for c in CODES]},
            )
            await s.execute(sa.text("DELETE FROM matters WHERE id = :tid"), {"tid": template.id})
        async with database.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text("ANALYZE matters"))
        yield database
    finally:
        await database.dispose()


ADMIN = Principal(subject="plans", tenant=CITY, roles=frozenset({Role.TENANT_ADMIN}))


async def page(
    db: Database, f: MatterFilter, *, principal: Principal = ADMIN, cursor: str | None = None, limit: int = 50
) -> tuple[list[Matter], str | None, list[tuple[str, Any]]]:
    """One page as the list endpoints ask for it, with the list statements it sent."""
    seen: list[tuple[str, Any]] = []

    def hook(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if "FROM matters" in statement and "ORDER BY" in statement:
            seen.append((statement, parameters))

    base = PATHS[f.tenant or CITY]
    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", hook)
    try:
        async with db.read() as session:
            rows, nxt = await service.list_matters(
                session, principal=principal, f=f, base_path=base, limit=limit, cursor=cursor
            )
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", hook)
    return rows, nxt, seen


async def plan_of(db: Database, f: MatterFilter, **kw: Any) -> str:
    """EXPLAIN of the statement ``service.list_matters`` sends, with the parameters it sends."""
    _, _, seen = await page(db, f, **kw)
    assert len(seen) == 1, seen
    async with db.engine.connect() as conn:
        result = await conn.exec_driver_sql("EXPLAIN " + seen[0][0], seen[0][1])
        return "\n".join(r[0] for r in result)


def sorts(plan: str) -> bool:
    """The plan sorts what it read (an Incremental Sort of rows an index presorted is fine)."""
    return re.search(r"(?<!Incremental )Sort  \(", plan) is not None


def indexes(plan: str) -> set[str | None]:
    """The indexes the plan reads (ordered scans name them with ``using``, bitmap scans with ``on``)."""
    return {used for _, used in scans(plan)} | set(re.findall(r"Bitmap Index Scan on (\w+)", plan))


def scans(plan: str) -> list[tuple[str, str | None]]:
    return [(m.group(1), m.group(2)) for m in _SCAN.finditer(plan) if m.group(3) == "matters"]


# (name, filter, ordered, index): ordered = an index hands out the newest-first order (no Sort
# node); index = the index a selective filter must be served by (1% of the rows or fewer)
FILTERS: list[tuple[str, dict[str, Any], bool, str | None]] = [
    ("city subtree", {}, True, "ix_matters_filed"),
    ("district subtree", {"tenant": DISTRICTS[2]}, True, None),
    ("township subtree", {"tenant": TOWNSHIP}, False, None),
    ("kind", {"kinds": [Kind.PROCEDURE]}, True, None),
    ("status", {"statuses": [Status.IN_PROGRESS]}, True, None),
    ("rare status", {"statuses": [Status.RETURNED]}, True, "ix_matters_status_filed"),
    ("two statuses", {"statuses": [Status.RESOLVED, Status.CLOSED]}, True, None),
    ("open only", {"open_only": True}, True, None),
    ("tier", {"tiers": [Tier.CITY]}, True, None),
    ("category", {"category": "land"}, True, None),
    ("rare category", {"category": "labor"}, True, "ix_matters_category_filed"),
    ("project", {"project_id": "p-17"}, False, "ix_matters_project_id_filed"),  # few: sorted after
    ("responsible unit", {"responsible_unit_id": "u-17"}, False, "ix_matters_responsible_unit_id_filed"),
    ("handling tenant", {"handling_tenant": DISTRICTS[1]}, True, None),
    ("rare handling tenant", {"handling_tenant": RARE_HANDLER}, True, "ix_matters_handling_tenant_filed"),
    ("meeting", {"meeting_id": "m-7"}, False, "ix_matters_meeting"),
    ("overdue", {"overdue": True}, False, None),
    ("not overdue", {"overdue": False}, True, None),
    ("q rare", {"q": "计划问题4242"}, False, "ix_matters_search"),
    ("q common", {"q": "计划"}, True, None),
    ("township + status", {"tenant": TOWNSHIP, "statuses": [Status.FILED]}, False, None),
    ("queue: my unit", {"responsible_unit_id": "u-17", "open_only": True}, False, "ix_matters_open_unit"),
    ("queue: overdue", {"overdue": True, "open_only": True}, False, None),
]


@pytest.mark.parametrize(("name", "raw", "ordered", "index"), FILTERS, ids=[f[0] for f in FILTERS])
async def test_every_filter_takes_an_index_path(
    db: Database, name: str, raw: dict[str, Any], ordered: bool, index: str | None
) -> None:
    plan = await plan_of(db, MatterFilter(**raw))
    found = scans(plan)
    assert found, plan
    assert all(kind != "Seq Scan" for kind, _ in found), f"{name}: sequential scan\n{plan}"
    if ordered:
        assert not sorts(plan), f"{name}: sorts the subtree instead of reading an index in order\n{plan}"
    if index:
        assert index in indexes(plan), f"{name}: not served by {index}\n{plan}"


async def test_the_next_page_continues_in_the_index(db: Database) -> None:
    rows, cursor, _ = await page(db, MatterFilter())
    assert len(rows) == 50 and cursor
    plan = await plan_of(db, MatterFilter(), cursor=cursor)
    assert ("Index Scan", "ix_matters_filed") in scans(plan), plan
    assert not sorts(plan), plan


async def test_an_enterprise_reads_its_own_matters_by_index(db: Database) -> None:
    contact = Principal(subject="plans", tenant=CITY, roles=frozenset({Role.ENTERPRISE_CONTACT}), unit="e-17")
    plan = await plan_of(db, MatterFilter(), principal=contact)
    assert ("Index Scan", "ix_matters_owner_unit_id_filed") in scans(plan), plan
    assert not sorts(plan), plan


async def test_the_search_finds_what_the_likes_find(db: Database) -> None:
    """The bigram condition only narrows to candidates: every row the LIKEs match is still found."""
    for q, want in [
        ("计划问题4242", 1),  # itself only: 42420.. are beyond N
        ("问题1999", 11),  # 1999 and 19990..19999
        ("PLAN-0000420", 10),  # by number: 4200..4209
        ("plan-0000420", 0),  # the search is case-sensitive, as before
        ("计", N),  # one character: no pair to look up, every row matches
    ]:
        found, cursor = 0, None
        while True:
            rows, cursor, _ = await page(db, MatterFilter(q=q), cursor=cursor, limit=200)
            found += len(rows)
            if not cursor or (want == N and found > 50):
                break
        assert found == want or (want == N and found > 50), (q, found)
