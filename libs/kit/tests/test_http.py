"""The FastAPI app factory (docs/architecture.md): health, readiness, metrics, request ids and the one
error format ``{"error": {"code", "message", "details", "request_id"}}`` — never a traceback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asyncpg.exceptions import CannotConnectNowError
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError

from steward.kit.auth import TokenVerifier, mint_dev_token
from steward.kit.clients.registry import RegistryUnavailable
from steward.kit.errors import Conflict, NotFound, Unavailable, ValidationFailed
from steward.kit.http import PrincipalDep, create_app
from steward.kit.money import Money
from steward.kit.settings import ServiceSettings

SECRET = "kit-http-secret-long-enough-for-hs256!!"
SERVICE = "kit-http"


class ItemIn(BaseModel):
    name: str = Field(min_length=1)
    budget: Money
    count: int = 1


def make_router() -> APIRouter:
    router = APIRouter(prefix="/items")

    @router.get("/{item_id}")
    async def get_item(item_id: int) -> dict[str, Any]:
        if item_id == 404:
            raise NotFound("item 404 not found", code="item_not_found")
        if item_id == 409:
            raise Conflict("item is locked", details=[{"loc": ["item_id"], "message": "locked"}])
        if item_id == 422:
            raise ValidationFailed("bad item")
        if item_id == 500:
            raise RuntimeError("secret database password is hunter2")
        if item_id == 503:
            raise DBAPIError("SELECT 1", {}, CannotConnectNowError("the database system is starting up"))
        if item_id == 504:
            raise ConnectionRefusedError(111, "connect call failed")
        if item_id == 513:
            raise RegistryUnavailable("registry GetProject failed: UNAVAILABLE")
        if item_id == 514:
            raise Unavailable("the bus is unavailable")
        return {"id": item_id}

    @router.post("")
    async def create_item(body: ItemIn) -> dict[str, Any]:
        return {"name": body.name, "budget": str(body.budget)}

    @router.get("/me/whoami")
    async def whoami(principal: PrincipalDep) -> dict[str, Any]:
        return {"sub": principal.subject, "tenant": principal.tenant}

    return router


class Flag:
    def __init__(self) -> None:
        self.db_up = True

    async def database(self) -> dict[str, Any]:
        if not self.db_up:
            raise ConnectionError("connection refused")
        return {"latency_ms": 1}

    async def nats(self) -> dict[str, Any]:
        return {}


@pytest.fixture
def flag() -> Flag:
    return Flag()


@pytest.fixture
def app(flag: Flag) -> FastAPI:
    application = create_app(
        service=SERVICE,
        title="kit test",
        version="0.0.1",
        routers=[make_router()],
        readiness=[("database", flag.database), ("nats", flag.nats)],
    )
    application.state.verifier = TokenVerifier(ServiceSettings(jwt_dev_secret=SECRET))
    return application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit.test") as c:
        yield c


def error_of(resp: httpx.Response) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err["code"], str) and isinstance(err["message"], str)
    assert err["request_id"] == resp.headers["x-request-id"], "request id in body and header must agree"
    return err


async def test_healthz(client: httpx.AsyncClient) -> None:
    resp = await client.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


async def test_readyz_ok_and_failing(client: httpx.AsyncClient, flag: Flag) -> None:
    resp = await client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json() == {
        "ready": True,
        "checks": {"database": {"ok": True, "latency_ms": 1}, "nats": {"ok": True}},
    }
    flag.db_up = False
    resp = await client.get("/readyz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["ready"] is False
    assert body["checks"]["database"] == {"ok": False, "error": "connection refused"}
    assert body["checks"]["nats"] == {"ok": True}


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    resp = await client.get("/healthz", headers={"X-Request-ID": "req-123"})
    assert resp.headers["x-request-id"] == "req-123"
    a = (await client.get("/healthz")).headers["x-request-id"]
    b = (await client.get("/healthz")).headers["x-request-id"]
    assert a and b and a != b
    long = "x" * 500
    assert (await client.get("/healthz", headers={"X-Request-ID": long})).headers["x-request-id"] == "x" * 128


@pytest.mark.parametrize(
    ("item_id", "status", "code", "message"),
    [
        (404, 404, "item_not_found", "item 404 not found"),
        (409, 409, "conflict", "item is locked"),
        (422, 422, "validation_failed", "bad item"),
    ],
)
async def test_domain_errors(
    client: httpx.AsyncClient, item_id: int, status: int, code: str, message: str
) -> None:
    resp = await client.get(f"/items/{item_id}", headers={"X-Request-ID": f"r-{item_id}"})
    assert resp.status_code == status
    err = error_of(resp)
    assert (err["code"], err["message"], err["request_id"]) == (code, message, f"r-{item_id}")
    if item_id == 409:
        assert err["details"] == [{"loc": ["item_id"], "message": "locked"}]
    else:
        assert err["details"] == []  # always present


async def test_request_validation_error(client: httpx.AsyncClient) -> None:
    resp = await client.post("/items", json={"name": "", "budget": 1.5, "count": "many"})
    assert resp.status_code == 422
    err = error_of(resp)
    assert err["code"] == "validation_failed"
    locs = {tuple(d["loc"]) for d in err["details"]}
    assert locs == {("body", "name"), ("body", "budget"), ("body", "count")}
    assert all(d["message"] and d["type"] for d in err["details"])

    resp = await client.get("/items/not-a-number")
    assert resp.status_code == 422
    assert [d["loc"] for d in error_of(resp)["details"]] == [["path", "item_id"]]

    resp = await client.post("/items", content=b"{not json", headers={"content-type": "application/json"})
    assert resp.status_code == 422 and error_of(resp)["code"] == "validation_failed"


async def test_valid_request(client: httpx.AsyncClient) -> None:
    resp = await client.post("/items", json={"name": "park", "budget": "2500万"})
    assert resp.status_code == 200
    assert resp.json() == {"name": "park", "budget": "25000000.00"}


async def test_unknown_route(client: httpx.AsyncClient) -> None:
    resp = await client.get("/nowhere")
    assert resp.status_code == 404
    assert error_of(resp)["code"] == "not_found"


async def test_method_not_allowed(client: httpx.AsyncClient) -> None:
    resp = await client.delete("/items/1")
    assert resp.status_code == 405
    assert error_of(resp)["code"] == "method_not_allowed"
    assert resp.headers.get("allow") == "GET", "a 405 must say which methods are allowed"


async def test_unexpected_exception_is_a_clean_500(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items/500", headers={"X-Request-ID": "boom-1"})
    assert resp.status_code == 500
    err = error_of(resp)
    assert err == {
        "code": "internal_error",
        "message": "internal error",
        "details": [],
        "request_id": "boom-1",
    }
    assert "hunter2" not in resp.text and "Traceback" not in resp.text


async def test_auth_dependency(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items/me/whoami")
    assert resp.status_code == 401 and error_of(resp)["code"] == "missing_token"
    resp = await client.get("/items/me/whoami", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401 and error_of(resp)["code"] == "invalid_token"
    token = mint_dev_token(secret=SECRET, subject="u-5", tenant="210112", roles=["dispatcher"])
    resp = await client.get("/items/me/whoami", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and resp.json() == {"sub": "u-5", "tenant": "210112"}


async def test_metrics_expose_latency_histogram_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/items/7")
    await client.get("/items/404")
    await client.get("/nowhere/at/all")
    text = (await client.get("/metrics")).text
    assert "# TYPE steward_http_request_duration_seconds histogram" in text
    sample = 'steward_http_request_duration_seconds_count{method="GET",route="/items/{item_id}",service="kit-http",status="%s"}'
    assert sample % "200" in text
    assert sample % "404" in text
    assert 'route="/items/7"' not in text, "raw paths must not become label values"
    assert 'route="unmatched",service="kit-http",status="404"' in text


async def test_lost_database_race_is_a_retryable_409(db_url: str) -> None:
    """A row locked by another transaction (NOWAIT) — like a deadlock or a serialization failure —
    answers 409 ``concurrent_update`` with Retry-After, never a 5xx."""
    import sqlalchemy as sa

    from steward.kit.db import Database

    db = Database(db_url)
    router = APIRouter()

    @router.post("/lock")
    async def lock() -> dict[str, str]:
        async with db.transaction() as session:
            await session.execute(sa.text("SELECT * FROM race_probe WHERE id = 1 FOR UPDATE NOWAIT"))
        return {"ok": "yes"}

    app = create_app(service="kit-race", title="t", version="0", routers=[router])
    async with db.transaction() as session:
        await session.execute(sa.text("CREATE TABLE IF NOT EXISTS race_probe (id int primary key)"))
        await session.execute(sa.text("INSERT INTO race_probe VALUES (1) ON CONFLICT DO NOTHING"))
    try:
        async with (
            db.transaction() as holder,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
            ) as client,
        ):
            await holder.execute(sa.text("SELECT * FROM race_probe WHERE id = 1 FOR UPDATE"))
            r = await client.post("/lock")
            assert r.status_code == 409, r.text
            assert r.json()["error"]["code"] == "concurrent_update"
            assert r.headers["retry-after"] == "1"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.post("/lock")).status_code == 200
    finally:
        await db.dispose()


@pytest.mark.parametrize("item_id", [503, 504])
async def test_a_dependency_outage_is_503_with_retry_after(client: httpx.AsyncClient, item_id: int) -> None:
    resp = await client.get(f"/items/{item_id}")
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "5"
    error = resp.json()["error"]
    assert error["code"] == "unavailable"
    assert error["details"] == []
    assert error["request_id"] == resp.headers["x-request-id"]


@pytest.mark.parametrize(("item_id", "code"), [(513, "registry_unavailable"), (514, "unavailable")])
async def test_an_unavailable_service_is_503_with_retry_after(
    client: httpx.AsyncClient, item_id: int, code: str
) -> None:
    """A 503 raised as a domain error (the registry down, seen by issues) says when to retry too."""
    resp = await client.get(f"/items/{item_id}")
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "5"
    assert resp.json()["error"]["code"] == code


async def test_a_refused_connection_is_answered_without_a_traceback(app: FastAPI) -> None:
    """Handled inside the middleware stack (not re-raised to the server, which would log a traceback
    for every request while the database restarts)."""
    transport = httpx.ASGITransport(app=app)  # raises whatever the app lets escape
    async with httpx.AsyncClient(transport=transport, base_url="http://kit.test") as client:
        resp = await client.get("/items/504")
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "5"
    assert error_of(resp)["code"] == "unavailable"


def test_fastapis_own_telemetry_stays_off(app: FastAPI) -> None:
    """The kit carries the trace and counts requests; FastAPI's native OpenTelemetry would build a
    second server span, histogram and log record per request once a tracer provider is set (and
    the kit's trace middleware hides the contrib middleware it would otherwise detect)."""
    config = app._telemetry  # type: ignore[attr-defined]
    assert (config["tracing"], config["metrics"], config["logs"]) == (False, False, False)
