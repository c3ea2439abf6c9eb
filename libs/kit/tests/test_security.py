"""Security of every service's HTTP and gRPC surface (issue 14, points 5, 7–11): roles, security
headers, the local API docs, the body limit, rate limits, /metrics behind a token, the security log."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import jwt
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY
from pydantic import BaseModel
from structlog.testing import capture_logs

from steward.kit import seclog
from steward.kit.auth import TokenVerifier, mint_dev_token
from steward.kit.grpc import GrpcServer, bearer_metadata, grpc_errors, principal_of
from steward.kit.http import PrincipalDep, create_app
from steward.kit.limits import TokenBuckets
from steward.kit.settings import ServiceSettings
from steward.kit.testing import serving

SECRET = "kit-security-secret-long-enough-for-hs256!"
SERVICE = "kit-security"


def settings(**extra: Any) -> ServiceSettings:
    return ServiceSettings(jwt_dev_secret=SECRET, service_name=SERVICE, **extra)


def token(*roles: str, tenant: str = "210112", sub: str = "u1") -> str:
    """Signed with the dev secret; any roles (``mint_dev_token`` refuses unknown ones)."""
    now = int(time.time())
    claims = {"sub": sub, "tenant": tenant, "roles": list(roles), "iss": "steward-dev", "aud": "steward"}
    return jwt.encode({**claims, "iat": now, "exp": now + 600}, SECRET, algorithm="HS256")


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


class Body(BaseModel):
    text: str


def make_app(**extra: Any) -> FastAPI:
    router = APIRouter()

    @router.get("/v1/me")
    async def me(principal: PrincipalDep) -> dict[str, Any]:
        return {"sub": principal.subject}

    @router.post("/v1/echo")
    async def echo(body: Body) -> dict[str, Any]:
        return {"length": len(body.text)}

    @router.get("/v1/open")
    async def open_() -> dict[str, Any]:
        return {"ok": True}

    app = create_app(
        service=SERVICE, title="kit security", version="0", routers=[router], settings=settings(**extra)
    )
    app.state.verifier = TokenVerifier(settings())
    return app


def client_for(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://kit.test")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_app()) as c:
        yield c


# -- 5. roles ---------------------------------------------------------------------------------
@pytest.mark.parametrize("roles", [(), ("wizard",), ("root", "superuser")])
async def test_a_token_without_a_known_role_is_forbidden(
    client: httpx.AsyncClient, roles: tuple[str, ...]
) -> None:
    resp = await client.get("/v1/me", headers=bearer(token(*roles)))
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "no_known_role"
    assert (await client.get("/v1/me", headers=bearer(token("auditor")))).status_code == 200


class WhoServicer:
    def __init__(self) -> None:
        self.verifier = TokenVerifier(settings())

    @grpc_errors
    async def WhoAmI(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return principal_of(context, self.verifier).subject.encode()

    def register(self, server: grpc.aio.Server) -> None:
        handler = grpc.unary_unary_rpc_method_handler(self.WhoAmI)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("kit.Who", {"WhoAmI": handler}),)
        )


async def test_grpc_refuses_a_token_without_a_known_role_and_logs_it() -> None:
    srv = GrpcServer(service=SERVICE, host="127.0.0.1", port=0)
    srv.add(WhoServicer().register, "kit.Who")
    await srv.start()
    labels = {"service": SERVICE, "transport": "grpc", "status": "403", "reason": "no_known_role"}
    before = REGISTRY.get_sample_value("steward_security_refusals_total", labels) or 0
    try:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            who = ch.unary_unary("/kit.Who/WhoAmI")
            assert await who(b"", metadata=bearer_metadata(token("auditor")), timeout=5) == b"u1"
            seclog.LOG._last.clear()
            with capture_logs() as logs:
                for roles in ((), ("wizard",)):
                    with pytest.raises(grpc.aio.AioRpcError) as info:
                        await who(b"", metadata=bearer_metadata(token(*roles, sub="intruder")), timeout=5)
                    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await srv.stop(0)
    assert REGISTRY.get_sample_value("steward_security_refusals_total", labels) == before + 2
    line = next(e for e in logs if e["event"] == "security.forbidden")
    assert line["claimed"] == "210112/intruder" and line["what"] == "WhoAmI" and line["address"]


# -- 9. headers and docs ----------------------------------------------------------------------
async def test_security_headers_on_api_responses(client: httpx.AsyncClient) -> None:
    for resp in (await client.get("/v1/open"), await client.get("/v1/me"), await client.get("/nowhere")):
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
        assert resp.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in resp.headers  # dev: plain http is fine
    async with client_for(make_app(environment="production")) as prod:
        resp = await prod.get("/v1/open")
        assert resp.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_no_server_header_from_a_real_server() -> None:
    async with serving(make_app()) as url, httpx.AsyncClient(base_url=url) as c:
        resp = await c.get("/v1/open")
    assert resp.status_code == 200
    assert "server" not in resp.headers
    assert resp.headers["x-content-type-options"] == "nosniff"


async def test_docs_load_nothing_from_another_host(client: httpx.AsyncClient) -> None:
    resp = await client.get("/docs")
    assert resp.status_code == 200 and "text/html" in resp.headers["content-type"]
    html = resp.text
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) + re.findall(
        r"""url:\s*['"]([^'"]+)['"]""", html
    )
    assert refs, html
    assert all(r.startswith("/") and not r.startswith("//") for r in refs), refs
    assert not re.search(r"https?://", html), "the docs page names an external host"
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        got = await client.get(asset)
        assert got.status_code == 200 and len(got.content) > 10_000, asset
    assert (await client.get("/redoc")).status_code == 404  # ReDoc only exists on a CDN


# -- 8. body size -----------------------------------------------------------------------------
async def test_a_declared_large_body_is_refused_before_it_is_read() -> None:
    app = make_app(max_body_bytes=2048)
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/echo",
        "raw_path": b"/v1/echo",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(50 * 1024 * 1024).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("kit.test", 80),
        "app": app,
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    assert reads == 0, "not one byte of the body may be read"
    assert b"payload_too_large" in sent[1]["body"]


async def test_a_streamed_body_is_cut_off_at_the_limit() -> None:
    app = make_app(max_body_bytes=4096)
    chunks = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal chunks
        yield b'{"text": "'
        for _ in range(50_000):  # 50 MB if read to the end
            chunks += 1
            yield b"x" * 1024
        yield b'"}'

    async with client_for(app) as c:
        resp = await c.post("/v1/echo", content=body(), headers={"content-type": "application/json"})
        assert resp.status_code == 413
        assert resp.json()["error"]["code"] == "payload_too_large"
        assert chunks < 50, f"{chunks} chunks read past a 4 KiB limit"
        ok = await c.post("/v1/echo", json={"text": "y" * 3000})
        assert ok.status_code == 200 and ok.json() == {"length": 3000}


# -- 7. rate limits ---------------------------------------------------------------------------
async def test_per_address_limit_answers_429_with_retry_after() -> None:
    app = make_app(rate_limit_address_burst=5, rate_limit_address_per_second=0.01)
    async with client_for(app, "203.0.113.7") as c, client_for(app, "203.0.113.8") as other:
        codes = [(await c.get("/v1/open")).status_code for _ in range(8)]
        assert codes == [200] * 5 + [429] * 3
        refused = await c.get("/v1/open")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "too_many_requests"
        assert (await other.get("/v1/open")).status_code == 200  # another address has its own budget
        assert (await c.get("/healthz")).status_code == 200  # probes are never limited
        # a verified principal is limited on its own budget, not its (possibly shared) address's
        assert (await c.get("/v1/me", headers=bearer(token("dispatcher")))).status_code == 200


async def test_per_principal_limit() -> None:
    app = make_app(rate_limit_principal_burst=3, rate_limit_principal_per_second=0.01)
    hdr = bearer(token("dispatcher", sub="busy"))
    async with client_for(app, "203.0.113.9") as c, client_for(app, "203.0.113.10") as c2:
        codes = [(await c.get("/v1/me", headers=hdr)).status_code for _ in range(3)]
        refused = await c2.get("/v1/me", headers=hdr)  # the same principal from another address
        assert codes == [200, 200, 200] and refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert (await c.get("/v1/me", headers=bearer(token("dispatcher", sub="calm")))).status_code == 200


async def test_bad_signatures_are_refused_after_a_few() -> None:
    app = make_app(rate_limit_auth_failures_burst=5, rate_limit_auth_failures_per_minute=0.1)
    forged = bearer(token("dispatcher")[:-4] + "AAAA")
    async with client_for(app, "198.51.100.1") as c:
        codes = [(await c.get("/v1/me", headers=forged)).status_code for _ in range(8)]
        assert codes == [401] * 5 + [429] * 3
        # even a valid token from that address waits: the address is cooling down
        assert (await c.get("/v1/me", headers=bearer(token("dispatcher")))).status_code == 429
    claims = jwt.decode(token("dispatcher"), SECRET, algorithms=["HS256"], audience="steward")
    expired = jwt.encode({**claims, "exp": int(time.time()) - 60}, SECRET, algorithm="HS256")
    async with client_for(app, "198.51.100.2") as c:  # expired tokens are honest mistakes: not charged
        codes = [(await c.get("/v1/me", headers=bearer(expired))).status_code for _ in range(8)]
        assert codes == [401] * 8


async def test_limits_off_and_loopback_exemption() -> None:
    async with client_for(
        make_app(rate_limit_enabled=False, rate_limit_address_burst=1), "203.0.113.20"
    ) as c:
        assert {(await c.get("/v1/open")).status_code for _ in range(5)} == {200}
    # dev environment: loopback clients (tests, benchmarks, the dev runner) are exempt by default
    async with client_for(make_app(rate_limit_address_burst=1), "127.0.0.1") as c:
        assert {(await c.get("/v1/open")).status_code for _ in range(5)} == {200}
    for extra in ({"rate_limit_exempt_loopback": False}, {"environment": "production"}):
        async with client_for(
            make_app(rate_limit_address_burst=1, rate_limit_address_per_second=0.01, **extra), "127.0.0.1"
        ) as c:
            assert [(await c.get("/v1/open")).status_code for _ in range(2)] == [200, 429], extra


def test_token_buckets_refill() -> None:
    now = [0.0]
    buckets = TokenBuckets(2.0, 2, clock=lambda: now[0])
    assert buckets.take("a") == 0 and buckets.take("a") == 0
    assert buckets.take("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert buckets.take("a") == 0


# -- 11. metrics ------------------------------------------------------------------------------
async def test_metrics_behind_a_token() -> None:
    async with client_for(make_app()) as open_:
        assert (await open_.get("/metrics")).status_code == 200
    async with client_for(make_app(metrics_token="scrape-me-0123456789")) as c:
        assert (await c.get("/metrics")).status_code == 401
        assert (await c.get("/metrics", headers=bearer("wrong"))).status_code == 401
        resp = await c.get("/metrics", headers=bearer("scrape-me-0123456789"))
        assert resp.status_code == 200 and "steward_http_request_duration_seconds" in resp.text


# -- 10. security log -------------------------------------------------------------------------
async def test_refusals_are_logged_and_counted(client: httpx.AsyncClient) -> None:
    def count(status: str, reason: str) -> float:
        labels = {"service": SERVICE, "transport": "http", "status": status, "reason": reason}
        return REGISTRY.get_sample_value("steward_security_refusals_total", labels) or 0

    before = (count("401", "missing_token"), count("401", "invalid_token"), count("403", "no_known_role"))
    seclog.LOG._last.clear()
    with capture_logs() as logs:
        await client.get("/v1/me")
        await client.get("/v1/me", headers=bearer(token("dispatcher", sub="mallory")[:-3] + "xyz"))
        await client.get("/v1/me", headers=bearer(token("wizard", sub="eve")))
        for _ in range(20):  # a flood is counted in full but logged once per interval
            await client.get("/v1/me", headers=bearer("garbage"))
    after = (count("401", "missing_token"), count("401", "invalid_token"), count("403", "no_known_role"))
    assert after == (before[0] + 1, before[1] + 21, before[2] + 1)
    security = [e for e in logs if e["event"].startswith("security.")]
    bad_sig = next(e for e in security if e.get("claimed") == "210112/mallory")
    assert bad_sig["event"] == "security.unauthenticated" and bad_sig["what"] == "GET /v1/me"
    assert bad_sig["address"] == "127.0.0.1" and bad_sig["reason"] == "invalid_token" and bad_sig["why"]
    assert any(e.get("claimed") == "210112/eve" and e["reason"] == "no_known_role" for e in security)
    assert len(security) <= 5, security


def test_mint_dev_token_still_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError):
        mint_dev_token(secret=SECRET, subject="x", tenant="1", roles=["wizard"])
