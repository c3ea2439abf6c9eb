"""The project list at scale takes an index path for every filter the API offers.

20,000 projects are bulk-inserted into a city subtree of its own database and ANALYZEd; for each
filter of ``GET /v1/projects`` the SQL that ``listing.list_projects`` issues is captured (a
``before_cursor_execute`` hook) and EXPLAINed with its parameters. No plan may read ``projects``
sequentially, and where an index can hand out the newest-first order (filters that keep many rows)
the plan may not sort the subtree either: dropping ``ix_projects_created`` (or another index of
migration 0011) makes these tests fail.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from steward.kit.auth import Principal, Role
from steward.kit.db import Database
from steward.registry.projects import listing
from steward.registry.projects.schemas import FundingType, KeyLevel, ProjectFilter
from steward.registry.projects.stages import Stage
from steward.registry.testing import Tree, make_tree, migrate
from steward.registry.units.models import Unit

N = 20_000
OWNER = uuid.UUID("00000000-0000-7000-8000-00000000e017")

INSERT = sa.text(
    """
    INSERT INTO projects (
        id, code, national_code, tenant_code, tenant_path, name, owner_unit_id, total_investment,
        funding_type, industry, key_level, major, stage, tier, on_platform, steward_required,
        named_responsibility, derivation, address, created_by, created_at, updated_at, row_version
    )
    SELECT
        gen_random_uuid(),
        t.codes[1 + g % cardinality(t.codes)] || '-2025-' || lpad(g::text, 6, '0'),
        CASE WHEN g % 100 = 0 THEN '2025-210102-48-01-' || lpad(g::text, 6, '0') END,
        t.codes[1 + g % cardinality(t.codes)],
        t.paths[1 + g % cardinality(t.codes)],
        '计划项目' || g,
        CASE WHEN g % 400 = 0 THEN CAST(:owner AS uuid) END,
        1000000,
        (ARRAY['enterprise', 'government', 'ppp'])[1 + g % 3],
        '新能源',
        (ARRAY['none', 'district', 'city', 'provincial'])[1 + g / 3 % 4],
        false,
        (ARRAY['negotiating', 'signed', 'preparing', 'new_start', 'continuing', 'completed',
               'operating'])[1 + g / 5 % 7],
        (ARRAY['zone', 'district', 'city'])[1 + g / 7 % 3],
        true,
        g % 2 = 0,
        false,
        '{}'::jsonb,
        '',
        'plans',
        now() - make_interval(secs => g),
        now() - make_interval(secs => g),
        1
    FROM generate_series(1, :n) AS g,
         (SELECT CAST(:codes AS text[]) AS codes, CAST(:paths AS text[]) AS paths) AS t
    """
)

_SCAN = re.compile(
    r"(Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan)(?: Backward)?(?: using (\w+))? on (\w+)"
)


@pytest.fixture(scope="module")
def big_url(make_database: Any) -> str:
    return migrate(make_database("list_plans"))  # Alembic runs its own event loop: not in the test's


@pytest.fixture(scope="module")
async def big(big_url: str) -> AsyncIterator[tuple[Database, Tree]]:
    db = Database(big_url, pool_size=2)
    try:
        tree = await make_tree(db)
        codes = [tree.city, *tree.districts, tree.zone, tree.township]
        async with db.transaction() as s:
            rows = await s.execute(
                sa.text("SELECT code, path FROM tenants WHERE code = ANY(CAST(:c AS text[]))"), {"c": codes}
            )
            paths = {code: path for code, path in rows}
            s.add(
                Unit(
                    id=OWNER,
                    tenant_code=tree.city,
                    tenant_path=paths[tree.city],
                    kind="enterprise",
                    name="计划企业",
                )
            )
            await s.flush()
            await s.execute(
                INSERT, {"n": N, "codes": codes, "paths": [paths[c] for c in codes], "owner": str(OWNER)}
            )
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text("ANALYZE projects"))
        yield db, tree
    finally:
        await db.dispose()


async def plan_of(db: Database, principal: Principal, f: ProjectFilter, cursor: str | None = None) -> str:
    """EXPLAIN of the statement ``listing.list_projects`` sends, with the parameters it sends."""
    seen: list[tuple[str, Any]] = []

    def hook(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if "FROM projects" in statement and "ORDER BY" in statement:
            seen.append((statement, parameters))

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", hook)
    try:
        async with db.read() as session:
            await listing.list_projects(session, principal=principal, f=f, limit=50, cursor=cursor)
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", hook)
    assert len(seen) == 1, seen
    async with db.engine.connect() as conn:
        result = await conn.exec_driver_sql("EXPLAIN " + seen[0][0], seen[0][1])
        return "\n".join(r[0] for r in result)


def sorts(plan: str) -> bool:
    """The plan sorts what it read (an Incremental Sort of rows an index presorted is fine)."""
    return re.search(r"(?<!Incremental )Sort  \(", plan) is not None


def scans(plan: str) -> list[tuple[str, str | None]]:
    return [(m.group(1), m.group(2)) for m in _SCAN.finditer(plan) if m.group(3) == "projects"]


def admin(tree: Tree) -> Principal:
    return Principal(subject="plans", tenant=tree.city, roles=frozenset({Role.TENANT_ADMIN}))


# (name, filter, ordered): ordered = an index hands out the newest-first order (no Sort node)
FILTERS: list[tuple[str, dict[str, Any], bool]] = [
    ("city subtree", {}, True),
    ("district subtree", {"tenant": "d2"}, True),
    ("township subtree", {"tenant": "township"}, False),
    ("stage", {"stages": [Stage.PREPARING]}, True),
    ("two stages", {"stages": [Stage.SIGNED, Stage.COMPLETED]}, True),
    ("tier", {"tiers": ["city"]}, True),
    ("key level", {"key_levels": [KeyLevel.PROVINCIAL]}, True),
    ("funding type", {"funding_type": FundingType.PPP}, True),
    ("steward required", {"steward_required": True}, True),
    ("national code", {"national_code": "2025-210102-48-01-004200"}, False),
    ("national code bare", {"national_code": "20252101024801004200"}, False),
    ("q rare", {"q": "计划项目4242"}, False),
    ("q common", {"q": "计划"}, True),
    ("q national code", {"q": "20252101024801004200"}, False),
    ("township + stage", {"tenant": "township", "stages": [Stage.PREPARING]}, False),
]


def resolve(tree: Tree, raw: dict[str, Any]) -> ProjectFilter:
    tenants = {"d2": tree.districts[2], "township": tree.township}
    values = dict(raw)
    if "tenant" in values:
        values["tenant"] = tenants[values["tenant"]]
    return ProjectFilter(**values)


@pytest.mark.parametrize(("name", "raw", "ordered"), FILTERS, ids=[f[0] for f in FILTERS])
async def test_every_filter_takes_an_index_path(
    big: tuple[Database, Tree], name: str, raw: dict[str, Any], ordered: bool
) -> None:
    db, tree = big
    plan = await plan_of(db, admin(tree), resolve(tree, raw))
    found = scans(plan)
    assert found, plan
    assert all(kind != "Seq Scan" for kind, _ in found), f"{name}: sequential scan\n{plan}"
    if ordered:
        assert not sorts(plan), f"{name}: sorts the subtree instead of reading an index in order\n{plan}"


async def test_the_next_page_continues_in_the_index(big: tuple[Database, Tree]) -> None:
    db, tree = big
    async with db.read() as session:
        rows, cursor = await listing.list_projects(
            session, principal=admin(tree), f=ProjectFilter(), limit=50, cursor=None
        )
    assert len(rows) == 50 and cursor
    plan = await plan_of(db, admin(tree), ProjectFilter(), cursor=cursor)
    assert ("Index Scan", "ix_projects_created") in scans(plan), plan
    assert not sorts(plan), plan


async def test_an_enterprise_reads_its_own_projects_by_index(big: tuple[Database, Tree]) -> None:
    db, tree = big
    contact = Principal(
        subject="plans", tenant=tree.city, roles=frozenset({Role.ENTERPRISE_CONTACT}), unit=str(OWNER)
    )
    plan = await plan_of(db, contact, ProjectFilter())
    assert ("Index Scan", "ix_projects_owner_created") in scans(plan), plan
    assert not sorts(plan), plan


async def test_the_search_finds_what_the_likes_find(big: tuple[Database, Tree]) -> None:
    """The bigram condition only narrows to candidates: every row the LIKEs match is still found."""
    db, tree = big
    for q, want in [
        ("计划项目4242", 1),  # itself only: 42420.. are beyond N
        ("项目1999", 11),  # 1999 and 19990..19999
        ("-2025-00420", 10),  # by code: 004200..004209
        ("20252101024801004200", 1),  # a national code without dashes
        ("48-01-0042", 1),  # part of a national code: g % 100 = 0 only
        ("计", N),  # one character: no pair to look up, every row matches
    ]:
        async with db.read() as session:
            found = 0
            cursor: str | None = None
            while True:
                rows, cursor = await listing.list_projects(
                    session, principal=admin(tree), f=ProjectFilter(q=q), limit=200, cursor=cursor
                )
                found += len(rows)
                if not cursor or (found > 50 and want == N):
                    break
        assert found == want or (want == N and found > 50), (q, found)
