"""No 5xx from any input: every REST operation of the OpenAPI document is driven with hostile input —
bad ids in paths (malformed, NUL bytes, huge, a sibling district's ids), wrong types, huge strings,
unknown enum values, far-off dates, missing or malformed bodies, invalid cursors — by a district
user holding every staff role. No answer may be a 5xx, and every 4xx carries the one error body
``{"error": {"code", "message"}}``. The gRPC API gets the same treatment (never INTERNAL/UNKNOWN)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest

from steward.api.issues.v1 import issues_pb2 as pb
from steward.api.issues.v1 import issues_pb2_grpc as pb_grpc
from steward.issues.app import openapi_app
from steward.issues.testing import Issues, auth, local, token
from steward.kit.clock import Clock
from steward.kit.grpc import bearer_metadata
from steward.registry.testing import Registry, Tree, create_project

STAFF = ("tenant_admin", "dispatcher", "supervisor", "leader", "agent", "steward", "specialist")
HUGE = "项" * 20_000
HUGE_Q = "项" * 3000  # a URL component stays below httpx's 64 KiB limit
NUL = "abc\x00def"
SURROGATE = "\ud800"  # a lone surrogate: valid JSON (\\ud800), not encodable as UTF-8


def _cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


BAD_CURSORS = [
    "!!!",
    "%%%",
    "a",
    _cursor("x"),
    _cursor([]),
    _cursor([1, 2]),
    _cursor([None, None]),
    _cursor([{}, []]),
    _cursor(["2026-01-01T00:00:00", str(uuid.uuid4())]),  # naive timestamp
    _cursor(["9999-12-31T23:59:59+14:00", str(uuid.uuid4())]),
    _cursor(["0001-01-01T00:00:00-12:00", str(uuid.uuid4())]),
    _cursor(["2026-01-01T00:00:00+08:00", "not-a-uuid"]),
    _cursor(["2026-01-01T00:00:00+08:00\x00", str(uuid.uuid4())]),
    base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
    HUGE_Q,
]
BAD_STRINGS = ["", " ", NUL, "\x00", HUGE_Q, "' OR 1=1 --", "../../etc/passwd", "%", "_", "编号", "-1"]
BAD_PATH_KEYS = [
    "not-a-uuid",
    "%00",
    "abc%00",
    "0" * 5000,
    "%E9%A1%B9" * 300,
    "%27%20OR%201%3D1%20--",
    "00000000-0000-0000-0000-000000000000",
    "{12345678-1234-5678-1234-567812345678}",
    "urn:uuid:12345678-1234-5678-1234-567812345678",
    "%ff%fe",
    "%20",
    "-1",
]
# replacement values for every JSON body property: wrong types, limits, hostile strings and dates
BAD_VALUES: list[Any] = [
    None,
    0,
    -1,
    10**30,
    1.5,
    True,
    [],
    [None],
    ["x" * 5000] * 3,
    [NUL],
    {},
    {"x": NUL},
    "",
    " ",
    NUL,
    SURROGATE,
    HUGE,
    "not-an-enum",
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "1900-01-01",
    "x" * 65,
]


@dataclass
class World:
    mine: str
    sibling: str
    headers: dict[str, str]
    ids: dict[str, list[str]]  # path parameter name → valid own/sibling values


def _valid_bodies(w: World, project_id: str) -> dict[str, dict[str, Any]]:
    """One valid body per request schema (properties beyond these are covered from the schema)."""
    return {
        "MatterCreate": {
            "kind": "obstacle",
            "project_id": project_id,
            "title": "鲁棒性测试",
            "category": "environment",
            "tier": "unit",
        },
        "AcceptIn": {"responsible_unit_name": "生态环境局"},
        "AssignIn": {"responsible_unit_name": "生态环境局", "responsible_person": "张三"},
        "NoteIn": {"note": "x"},
        "TextIn": {"text": "x"},
        "Reason": {"reason": "x"},
        "CloseIn": {"rating": 5, "comment": "x"},
        "RateIn": {"rating": 4},
        "EscalateIn": {"to": "next_tier", "reason": "x"},
        "FileCreate": {
            "project_id": project_id,
            "level1_agent": "一级代办员",
            "procedures": [{"code": "filing", "level2_agent": "发改局李四"}],
        },
        "HandoverIn": {"received_by": "企业委托人"},
        "SubmissionIn": {"materials": ["申请表"]},
        "NoticeIn": {"items": ["缺少营业执照"]},
        "CompleteIn": {"delay_cause": "department", "note": "x"},
        "OrderCreate": {"instructions": "限期办结", "due_working_days": 2},
        "OrderResponse": {"text": "已办理"},
        "ApprovalBulk": {
            "messages": [
                {
                    "message_id": "m-1",
                    "kind": "procedure.accepted",
                    "project_code": "x",
                    "procedure_code": "filing",
                }
            ]
        },
    }


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    spec = openapi_app().openapi()
    return [(m.upper(), path, op) for path, ops in spec["paths"].items() for m, op in ops.items()]


def _schema_name(op: dict[str, Any]) -> str | None:
    ref = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    return str(ref["$ref"]).rsplit("/", 1)[-1] if "$ref" in ref else None


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def _cases(w: World, method: str, path: str, op: dict[str, Any], bodies: dict[str, Any]) -> Iterator[Any]:
    """(method, url, kwargs) for every hostile variant of one operation."""
    spec = openapi_app().openapi()
    path_params = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
    query_params = [p for p in op.get("parameters", []) if p["in"] == "query"]
    schema = _schema_name(op)
    body = bodies.get(schema) if schema else None
    # own id, sibling's number (the own number and sibling's id are covered by the scope tests)
    valid_paths = [{n: w.ids[n][i] for n in path_params} for i in (0, 3)] if path_params else [{}]
    # 1. hostile path parameters (with a valid body)
    for name in path_params:
        for bad in BAD_PATH_KEYS:
            yield method, _fill(path, {name: bad}), {"json": body}
    # 2. valid own and sibling ids: bodies missing, malformed, mutated field by field
    for values in valid_paths:
        url = _fill(path, values)
        yield method, url, {}
        if method == "POST":
            yield method, url, {"content": b"{not json", "headers": {"content-type": "application/json"}}
            yield method, url, {"content": b"\xff\xfe", "headers": {"content-type": "application/json"}}
            yield method, url, {"content": b"x=1", "headers": {"content-type": "text/plain"}}
            for raw in ([], None, "x", 1, {"unknown_field": 1}):
                yield method, url, {"json": raw}
        if body is not None:
            props = spec["components"]["schemas"][schema]["properties"]
            for field in props:
                for bad in BAD_VALUES:
                    yield method, url, {"json": {**body, field: bad}}
                yield method, url, {"json": {k: v for k, v in body.items() if k != field}}
        # 3. hostile query parameters, one at a time
        for q in query_params:
            name = q["name"]
            candidates: list[Any] = [*BAD_STRINGS, "maybe", "0", "100000", "not-an-enum", w.sibling]
            if name == "cursor":
                candidates += BAD_CURSORS
            for bad in candidates:
                yield method, url, {"params": {name: bad}, "json": body}
        if any(q["name"] == "kind" for q in query_params):
            yield method, url, {"params": [("kind", "obstacle"), ("kind", "nope"), ("status", "")]}


def _check(r: httpx.Response, what: str) -> None:
    assert r.status_code < 500, f"{what} → {r.status_code}: {r.text[:500]}"
    if r.status_code >= 400:
        body = r.json()
        assert isinstance(body.get("error"), dict), f"{what}: {r.text[:300]}"
        assert isinstance(body["error"].get("code"), str) and body["error"]["code"], what
        assert isinstance(body["error"].get("message"), str), what


async def _world(issues: Issues, registry: Registry, tree: Tree) -> tuple[World, str]:
    mine, sibling = tree.districts[0], tree.districts[1]
    ids: dict[str, list[str]] = {"key": [], "file_id": [], "submission_id": [], "order_id": []}
    project_id = ""
    for tenant in (mine, sibling):
        admin = registry.auth(tenant, "tenant_admin")
        unit = (
            await registry.http.post(
                "/v1/units",
                json={"tenant": tenant, "kind": "enterprise", "name": f"企业{tenant}"},
                headers=admin,
            )
        ).json()["id"]
        p = (await create_project(registry, tenant, total_investment="2亿", owner_unit_id=unit)).json()
        project_id = project_id or p["id"]
        staff = auth(tenant, *STAFF, sub=f"staff-{tenant}")
        m = await issues.http.post(
            "/v1/matters",
            json={
                "kind": "obstacle",
                "project_id": p["id"],
                "title": "x",
                "category": "land",
                "tier": "unit",
            },
            headers=staff,
        )
        assert m.status_code == 201, m.text
        f = await issues.http.post(
            "/v1/procedure-files",
            json={
                "project_id": p["id"],
                "level1_agent": "一级代办员",
                "procedures": [{"code": "filing", "level2_agent": "李四"}],
            },
            headers=staff,
        )
        assert f.status_code == 201, f.text
        proc = f.json()["procedures"][0]
        s = await issues.http.post(
            f"/v1/matters/{proc['id']}/submissions", json={"materials": ["申请表"]}, headers=staff
        )
        assert s.status_code == 201, s.text
        o = await issues.http.post(
            f"/v1/matters/{m.json()['id']}/supervision-orders",
            json={"instructions": "限期", "due_working_days": 2},
            headers=staff,
        )
        assert o.status_code == 201, o.text
        ids["key"] += [m.json()["id"], m.json()["number"]]
        ids["file_id"] += [f.json()["id"]] * 2
        ids["submission_id"] += [s.json()["id"]] * 2
        ids["order_id"] += [o.json()["id"]] * 2
    headers = auth(mine, *STAFF, sub="robust", unit=str(uuid.uuid4()))
    return World(mine=mine, sibling=sibling, headers=headers, ids=ids), project_id


async def test_no_rest_input_gives_a_5xx(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock
) -> None:
    clock.set(local(2026, 11, 2, 10))
    w, project_id = await _world(issues, registry, tree)
    bodies = _valid_bodies(w, project_id)
    ops = _operations()
    assert len(ops) >= 30
    missing = {s for _, _, op in ops if (s := _schema_name(op)) and s not in bodies}
    assert not missing, f"add a valid body for {missing}"
    sent, failures = 0, []
    for method, path, op in ops:
        for m, url, kwargs in _cases(w, method, path, op, bodies):
            headers = {**w.headers, **kwargs.pop("headers", {})}
            if m == "GET":
                kwargs.pop("json", None)
                kwargs.pop("content", None)
            elif "json" in kwargs:  # ASCII-escaped, so lone surrogates travel as JSON escapes
                kwargs["content"] = json.dumps(kwargs.pop("json")).encode()
                headers["content-type"] = "application/json"
            r = await issues.http.request(m, url, headers=headers, **kwargs)
            try:
                _check(r, f"{m} {path} {url[:100]!r} {str(kwargs)[:200]}")
            except AssertionError as exc:
                failures.append(str(exc))
            sent += 1
    assert not failures, f"{len(failures)} of {sent}:\n" + "\n".join(failures[:60])
    assert sent > 3000
    # the sibling's objects were never changed by all that
    for key in w.ids["key"][2:]:
        r = await issues.http.get(f"/v1/matters/{key}", headers=auth(w.sibling, "tenant_admin"))
        assert r.json()["row_version"] == 2 and r.json()["status"] == "filed"  # filed + supervised


async def test_rest_tokens_and_methods_are_answered_with_the_error_body(issues: Issues) -> None:
    for headers in ({}, {"Authorization": "Bearer x"}, {"Authorization": "Basic abc"}):
        r = await issues.http.get("/v1/matters", headers=headers)
        assert r.status_code == 401
        _check(r, "unauthenticated")
    r = await issues.http.delete("/v1/matters", headers=auth("210100", "tenant_admin"))
    assert r.status_code == 405
    _check(r, "405")
    r = await issues.http.get("/v1/nope", headers=auth("210100", "tenant_admin"))
    assert r.status_code == 404
    _check(r, "404")


@pytest.fixture
async def stub(issues: Issues) -> Any:
    channel = grpc.aio.insecure_channel(issues.grpc_target)
    yield pb_grpc.IssuesServiceStub(channel)
    await channel.close()


SERVER_FAULTS = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE)


async def test_no_grpc_input_gives_a_server_fault(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock, stub: Any
) -> None:
    d = tree.districts[0]
    md = bearer_metadata(token(d, *STAFF))
    strings = [NUL, "\x00", HUGE, "' OR 1=1 --", "not-a-uuid", str(uuid.uuid4()), tree.districts[1], "*"]
    calls: list[tuple[str, Any]] = []
    for s in strings:
        calls += [
            ("GetMatter", pb.GetMatterRequest(id_or_number=s)),
            ("MatterStatusReport", pb.MatterStatusReportRequest(ids=[s, s])),
            ("ListMatters", pb.ListMattersRequest(tenant=s)),
            ("ListMatters", pb.ListMattersRequest(page_token=s)),
            ("ListMatters", pb.ListMattersRequest(kinds=[s])),
            ("ListMatters", pb.ListMattersRequest(statuses=[s])),
            ("ListMatters", pb.ListMattersRequest(project_id=s, meeting_id=s, responsible_unit_id=s)),
        ]
        for field in ("kind", "title", "tenant", "project_id", "category", "tier", "due_date", "reporter"):
            base = {"kind": "decision", "tenant": d, "title": "x", "meeting_id": "m1", field: s}
            calls.append(("CreateMatter", pb.CreateMatterRequest(**base)))
        calls.append(
            ("CreateMatter", pb.CreateMatterRequest(kind="decision", tenant=d, title="x", meeting_id=s))
        )
    for cursor in BAD_CURSORS:
        calls.append(("ListMatters", pb.ListMattersRequest(page_token=cursor)))
    for due in ("9999-12-31", "0001-01-01", "2026-02-30", "2100-01-01"):
        calls.append(
            (
                "CreateMatter",
                pb.CreateMatterRequest(kind="decision", tenant=d, title="x", meeting_id="m", due_date=due),
            )
        )
    calls += [
        ("ListMatters", pb.ListMattersRequest(page_size=-1)),
        ("ListMatters", pb.ListMattersRequest(page_size=10**6)),
        ("MatterStatusReport", pb.MatterStatusReportRequest(ids=["x"] * 501)),
        ("MatterStatusReport", pb.MatterStatusReportRequest()),
        ("GetMatter", pb.GetMatterRequest()),
        ("CreateMatter", pb.CreateMatterRequest()),
    ]
    clock.set(local(2026, 11, 2, 10))
    failures = []
    for method, request in calls:
        try:
            await getattr(stub, method)(request, metadata=md)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in SERVER_FAULTS:
                failures.append(f"{method} {str(request)[:150]!r} → {exc.code().name} {exc.details()}")
    assert not failures, f"{len(failures)} of {len(calls)}:\n" + "\n".join(failures)
