"""``GET /v1/matters`` and its work queues read their page as plain rows and validate it once
(``listing.list_page``): the bytes are exactly what the entity path wrote — ``service.list_matters``'
rows through ``service.to_out`` into a ``MatterList`` serialised as FastAPI serialises a response
model — for every field (deadlines in Asia/Shanghai, pauses, agenda, ratings, attachments, details),
filters, queues and every page of a cursor walk."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import text

from steward.issues.matters import service
from steward.issues.matters.schemas import MatterFilter, MatterList, Status
from steward.issues.testing import Issues, auth
from steward.kit.auth import Principal, Role
from steward.registry.testing import Registry, Tree, create_project

_LIST = TypeAdapter(MatterList)


async def _entity_page(
    issues: Issues, principal: Principal, f: MatterFilter, path: str, limit: int, cursor: str | None
) -> tuple[bytes, str | None]:
    async with issues.db.read() as session:
        rows, nxt = await service.list_matters(
            session, principal=principal, f=f, base_path=path, limit=limit, cursor=cursor
        )
        page = MatterList(items=[service.to_out(m) for m in rows], next_cursor=nxt)
    return _LIST.dump_json(page, by_alias=True), nxt


async def _same_pages(
    issues: Issues,
    url: str,
    params: dict[str, Any],
    headers: dict[str, str],
    principal: Principal,
    f: MatterFilter,
    path: str,
    limit: int,
) -> int:
    """Walk every page over REST and the entity path side by side; the number of items seen."""
    cursor: str | None = None
    seen = 0
    while True:
        query = {**params, "limit": limit} | ({"cursor": cursor} if cursor else {})
        r = await issues.http.get(url, params=query, headers=headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        expected, cursor = await _entity_page(issues, principal, f, path, limit, cursor)
        assert r.content == expected
        seen += len(r.json()["items"])
        if cursor is None:
            return seen


async def test_the_list_page_is_byte_for_byte_the_entity_page(
    issues: Issues, registry: Registry, tree: Tree
) -> None:
    d = tree.districts[0]
    r = await create_project(registry, d, total_investment="5000万")
    assert r.status_code == 201, r.text
    project = r.json()["id"]
    bodies: list[dict[str, Any]] = [
        {"category": "utilities", "sub_item": "power", "tier": "unit", "difficult": True},
        {"category": "land", "attachments": [{"name": "现场照片.jpg", "ref": "s3://bucket/a.jpg"}]},
        {"category": "approval", "tier": "city", "description": "多行\\n说明"},
        {"category": "funding"},
    ]
    ids = []
    for body in bodies:
        r = await issues.http.post(
            "/v1/matters",
            json={"kind": "obstacle", "project_id": project, "title": "列表对照", **body},
            headers=auth(d, "specialist"),
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = await issues.http.post(
        f"/v1/matters/{ids[0]}/accept",
        json={
            "responsible_unit_id": "u-list",
            "responsible_unit_name": "供电公司",
            "responsible_person": "王工",
        },
        headers=auth(d, "dispatcher"),
    )
    assert r.status_code == 200, r.text
    async with issues.db.transaction() as s:  # states the workflow reaches slowly, written directly
        await s.execute(
            text(
                "UPDATE matters SET paused_at = now(), paused_working_days = 2, meeting_topic_at = now(), "
                "overdue = true, ever_overdue = true, escalations = 1 WHERE id = CAST(:id AS uuid)"
            ),
            {"id": ids[1]},
        )
        await s.execute(
            text(
                "UPDATE matters SET status = 'closed', rating = 4, resolution = '已解决', "
                'resolved_at = now(), closed_at = now(), category = NULL, details = \'{"b": [1, 2.5], "a": null}\' '
                "WHERE id = CAST(:id AS uuid)"
            ),
            {"id": ids[2]},
        )
        await s.execute(
            text("UPDATE matters SET category = 'not-in-the-taxonomy' WHERE id = CAST(:id AS uuid)"),
            {"id": ids[3]},
        )

    admin = Principal(subject="tester", tenant=tree.city, roles=frozenset({Role.TENANT_ADMIN}))
    headers = auth(tree.city, "tenant_admin")
    city_path = tree.city
    district_path = f"{tree.city}/{d}"
    everything = MatterFilter()
    assert await _same_pages(issues, "/v1/matters", {}, headers, admin, everything, city_path, 50) == 4
    assert await _same_pages(issues, "/v1/matters", {}, headers, admin, everything, city_path, 1) == 4
    narrowed = {"tenant": d}
    assert (
        await _same_pages(issues, "/v1/matters", narrowed, headers, admin, everything, district_path, 3) == 4
    )
    closed = MatterFilter(statuses=[Status.CLOSED])
    assert (
        await _same_pages(issues, "/v1/matters", {"status": "closed"}, headers, admin, closed, city_path, 50)
        == 1
    )
    search = MatterFilter(q="对照")
    assert await _same_pages(issues, "/v1/matters", {"q": "对照"}, headers, admin, search, city_path, 2) == 4
    overdue = MatterFilter(overdue=True, open_only=True)
    assert (
        await _same_pages(issues, "/v1/matters/queues/overdue", {}, headers, admin, overdue, city_path, 50)
        == 1
    )
    worker = Principal(subject="tester", tenant=d, roles=frozenset({Role.SPECIALIST}), unit="u-list")
    mine = MatterFilter(responsible_unit_id="u-list", open_only=True)
    unit_headers = auth(d, "specialist", unit="u-list")
    assert (
        await _same_pages(
            issues, "/v1/matters/queues/my-unit", {}, unit_headers, worker, mine, district_path, 50
        )
        == 1
    )
