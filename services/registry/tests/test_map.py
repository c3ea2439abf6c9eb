"""The 一张图 map: projects as GeoJSON, filtered like the project list, scoped like everything else;
and the reports' gRPC API (ListReports, GetReportStatus) for scoring and supervision."""

from __future__ import annotations

from datetime import datetime

import grpc
import pytest

from steward.api.registry.v1 import registry_pb2 as pb
from steward.api.registry.v1 import registry_pb2_grpc as pb_grpc
from steward.kit.calendar import DEFAULT_TZ
from steward.kit.grpc import bearer_metadata, client_channel
from steward.registry.reports.testing import staffed_project
from steward.registry.testing import Registry, Tree, create_project


async def test_geojson_filtered_and_scoped(registry: Registry, tree: Tree) -> None:
    d, sibling = tree.districts[0], tree.districts[1]
    here = await create_project(
        registry,
        d,
        name="地图项目甲",
        location={"lat": 41.8, "lon": 123.4, "address": "浑南"},
        key_level="city",
    )
    await create_project(registry, d, name="地图项目乙", location={"lat": 41.7, "lon": 123.5})
    await create_project(registry, d, name="无坐标项目")
    await create_project(registry, sibling, name="邻区项目", location={"lat": 40.0, "lon": 120.0})
    r = await registry.http.get("/v1/map/projects", params={"tenant": d}, headers=registry.auth(d))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert {f["properties"]["name"] for f in fc["features"]} == {"地图项目甲", "地图项目乙"}
    first = next(f for f in fc["features"] if f["id"] == here.json()["id"])
    assert first["geometry"] == {"type": "Point", "coordinates": [123.4, 41.8]}
    assert (
        first["properties"]["stage_zh"] == "招商洽谈"
        and first["properties"]["total_investment"] == "10000000.00"
    )
    assert fc["meta"]["without_location"] == 1 and fc["bbox"] == [123.4, 41.7, 123.5, 41.8]
    only_city = await registry.http.get(
        "/v1/map/projects", params={"tenant": d, "key_level": "city"}, headers=registry.auth(d)
    )
    assert [f["id"] for f in only_city.json()["features"]] == [here.json()["id"]]
    city = await registry.http.get("/v1/map/projects", params={"q": "邻区"}, headers=registry.auth(tree.city))
    assert [f["properties"]["name"] for f in city.json()["features"]] == ["邻区项目"]
    refused = await registry.http.get(
        "/v1/map/projects", params={"tenant": d}, headers=registry.auth(sibling)
    )
    assert refused.status_code == 404


async def test_reports_over_grpc(registry: Registry, tree: Tree) -> None:
    d = tree.districts[2]
    s = await staffed_project(
        registry, d, roles=["steward"], backdate=datetime(2026, 1, 5, tzinfo=DEFAULT_TZ)
    )
    idle = await staffed_project(
        registry, d, roles=[], name="未报项目", backdate=datetime(2026, 1, 5, tzinfo=DEFAULT_TZ)
    )
    r = await registry.http.post(
        "/v1/reports",
        json={
            "project": s.project["id"],
            "schedule_key": "monthly_progress",
            "period": "2026-10",
            "investment_period": "12345.67",
            "investment_cumulative": "12345.67",
        },
        headers=registry.auth(d, "steward", sub=s.subjects["steward"]),
    )
    assert r.status_code == 201
    channel = client_channel(registry.grpc_target)
    stub = pb_grpc.RegistryServiceStub(channel)
    try:
        md = bearer_metadata(registry.token("*", "service"))
        listed = await stub.ListReports(
            pb.ListReportsRequest(tenant=d, period="2026-10"), metadata=md, timeout=5
        )
        assert [(x.project_code, x.status, x.investment_period) for x in listed.reports] == [
            (s.project["code"], "late", "12345.67")
        ]
        assert listed.reports[0].delay_seconds > 0
        status = await stub.GetReportStatus(
            pb.GetReportStatusRequest(tenant=d, period="2026-10"), metadata=md, timeout=5
        )
        assert sorted((x.project_code, x.status) for x in status.rows) == sorted(
            [(s.project["code"], "late"), (idle.project["code"], "missing")]
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetReportStatus(
                pb.GetReportStatusRequest(tenant=d, period="2026-10"),
                metadata=bearer_metadata(registry.token(tree.districts[0], "tenant_admin")),
                timeout=5,
            )
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetReportStatus(
                pb.GetReportStatusRequest(tenant=d, period="oct"), metadata=md, timeout=5
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await channel.close()
