"""``GET /v1/projects`` reads its page as plain rows and validates it once (``listing.list_page``):
its bytes are exactly what the entity path wrote — ``listing.list_projects``' rows through
``service.to_out`` into a ``ProjectList`` serialised as FastAPI serialises a response model — for
every field (location, national code, plan money, dates, derivation with and without its time),
every filter kind and every page of a cursor walk."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter

from steward.kit.auth import Principal, Role
from steward.registry.projects import listing, service
from steward.registry.projects.schemas import KeyLevel, ProjectFilter, ProjectList
from steward.registry.projects.stages import Stage
from steward.registry.testing import Registry, Tree, create_project

_LIST = TypeAdapter(ProjectList)


async def _entity_page(
    reg: Registry, tenant: str, f: ProjectFilter, limit: int, cursor: str | None
) -> tuple[bytes, str | None]:
    principal = Principal(subject="tester", tenant=tenant, roles=frozenset({Role.TENANT_ADMIN}))
    async with reg.db.read() as session:
        rows, nxt = await listing.list_projects(session, principal=principal, f=f, limit=limit, cursor=cursor)
        page = ProjectList(items=[service.to_out(p) for p in rows], next_cursor=nxt)
    return _LIST.dump_json(page, by_alias=True), nxt


async def _same_pages(
    reg: Registry, tenant: str, params: dict[str, Any], f: ProjectFilter, limit: int
) -> int:
    """Walk every page over REST and the entity path side by side; the number of items seen."""
    cursor: str | None = None
    seen = 0
    while True:
        query = {**params, "tenant": tenant, "limit": limit} | ({"cursor": cursor} if cursor else {})
        r = await reg.http.get("/v1/projects", params=query, headers=reg.auth(tenant, "tenant_admin"))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        expected, cursor = await _entity_page(
            reg, tenant, f.model_copy(update={"tenant": tenant}), limit, cursor
        )
        assert r.content == expected
        seen += len(r.json()["items"])
        if cursor is None:
            return seen


async def test_the_list_page_is_byte_for_byte_the_entity_page(registry: Registry, tree: Tree) -> None:
    d = tree.districts[0]
    bodies: list[dict[str, Any]] = [
        {"name": "定位项目", "location": {"lat": 41.8057, "lon": 123.4315, "address": "浑南区  创新路 1 号"}},
        {
            "name": "国码项目",
            "national_code": "2025-210102-48-01-000123",
            "annual_plan_investment": "1234.5",
            "planned_start": "2026-03-01",
            "planned_completion": "2027-12-31",
            "key_level": "provincial",
            "funding_type": "ppp",
            "industry": "新能源",
            "major": True,
            "stage": "preparing",
        },
        {"name": "零值项目", "total_investment": "0", "location": {"lat": 0.0, "lon": -0.5}},
        {"name": "大额项目", "total_investment": "1.2亿", "stage": "signed"},
    ]
    ids = []
    for body in bodies:
        r = await create_project(registry, d, **body)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    for i in range(3):  # the township: a second tenant of the subtree
        assert (await create_project(registry, tree.township, name=f"镇项目{i}")).status_code == 201
    # rows the API would not write, read as to_out reads them
    async with registry.db.transaction() as session:
        await session.execute(
            sa.text(
                "UPDATE projects SET derivation = derivation - 'derived_at', "
                "updated_at = updated_at + interval '1 hour', row_version = 2 WHERE id = CAST(:id AS uuid)"
            ),
            {"id": ids[3]},
        )
        await session.execute(
            sa.text(
                "UPDATE projects SET derivation = '{}'::jsonb, address = ' 外 ' WHERE id = CAST(:id AS uuid)"
            ),
            {"id": ids[2]},
        )

    everything = ProjectFilter()
    assert await _same_pages(registry, tree.city, {}, everything, 50) == 7
    assert await _same_pages(registry, tree.city, {}, everything, 2) == 7  # four pages, three cursors
    assert await _same_pages(registry, d, {}, everything, 3) == 4
    stages = ProjectFilter(stages=[Stage.PREPARING, Stage.SIGNED])
    assert await _same_pages(registry, tree.city, {"stage": ["preparing", "signed"]}, stages, 1) == 2
    levels = ProjectFilter(key_levels=[KeyLevel.PROVINCIAL])
    assert await _same_pages(registry, tree.city, {"key_level": "provincial"}, levels, 50) == 1
    search = ProjectFilter(q="项目")
    assert await _same_pages(registry, tree.city, {"q": "项目"}, search, 4) == 7
    national = ProjectFilter(national_code="202521010248010001 23".replace(" ", ""))
    assert (
        await _same_pages(registry, tree.city, {"national_code": national.national_code}, national, 50) == 1
    )
    nothing = ProjectFilter(q="没有这个")
    assert await _same_pages(registry, tree.city, {"q": "没有这个"}, nothing, 50) == 0
