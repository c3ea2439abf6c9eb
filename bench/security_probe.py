"""Replays issue 14's security probes against the kit's app factory with production settings (no
loopback exemption) and prints what is served and what is refused:

    .venv/bin/python -m bench.security_probe

- 600 requests from one principal in a burst (issue: "600 requests in 3 s all served");
- 600 requests with a bad signature from one address (issue: "600 bad signatures all answered");
- a 50 MB body (issue: "read and parsed before a 422"): bytes read before the 413;
- the cost of the security middleware per request (headers, limits, body counting).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
from fastapi import APIRouter
from pydantic import BaseModel

from steward.kit.auth import TokenVerifier, mint_dev_token
from steward.kit.http import PrincipalDep, create_app
from steward.kit.settings import ServiceSettings

SECRET = "security-probe-secret-long-enough-for-hs256"


class Body(BaseModel):
    text: str


def app(**extra: Any) -> Any:
    router = APIRouter()

    @router.get("/v1/projects")
    async def projects(principal: PrincipalDep) -> dict[str, str]:
        return {"tenant": principal.tenant}

    @router.post("/v1/echo")
    async def echo(body: Body) -> dict[str, int]:
        return {"length": len(body.text)}

    settings = ServiceSettings(jwt_dev_secret=SECRET, environment="production", **extra)
    application = create_app(service="probe", title="probe", version="0", routers=[router], settings=settings)
    application.state.verifier = TokenVerifier(settings)
    return application


def client(application: Any, address: str = "203.0.113.50") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://probe")


async def main() -> None:
    token = mint_dev_token(secret=SECRET, subject="prober", tenant="210112", roles=["dispatcher"])
    auth = {"Authorization": f"Bearer {token}"}

    async with client(app()) as c:
        start = time.perf_counter()
        codes = Counter([(await c.get("/v1/projects", headers=auth)).status_code for _ in range(600)])
        took = time.perf_counter() - start
    print(f"600 requests, one principal, {took:.2f}s: {dict(codes)}")

    forged = {"Authorization": f"Bearer {token[:-4]}AAAA"}
    async with client(app()) as c:
        codes = Counter([(await c.get("/v1/projects", headers=forged)).status_code for _ in range(600)])
    print(f"600 bad signatures, one address: {dict(codes)}")

    read = 0

    async def body() -> Any:
        nonlocal read
        yield b'{"text": "'
        for _ in range(50 * 1024):
            read += 1024
            yield b"x" * 1024
        yield b'"}'

    async with client(app()) as c:
        r = await c.post("/v1/echo", content=body(), headers={"content-type": "application/json"})
    print(f"50 MB streamed body: {r.status_code} after {read / 1024:.0f} KiB read (limit 1024 KiB)")
    async with client(app()) as c:
        r = await c.post(
            "/v1/echo", content=b"x" * (50 * 1024 * 1024), headers={"content-type": "application/json"}
        )
    print(f"50 MB body with Content-Length: {r.status_code}")

    n = 1000
    best: dict[str, float] = {}
    for _ in range(3):  # interleaved, best of three: the machine may be busy
        for label, extra in (("limits on", {}), ("limits off", {"rate_limit_enabled": False})):
            application = app(rate_limit_principal_burst=10**6, **extra)
            async with client(application) as c:
                start = time.perf_counter()
                for _ in range(n):
                    await c.get("/v1/projects", headers=auth)
                per = (time.perf_counter() - start) / n
            best[label] = min(best.get(label, per), per)
    for label, per in best.items():
        print(f"authenticated GET, {label}: {per * 1e6:.0f} µs per request (in-process, best of 3)")


if __name__ == "__main__":
    asyncio.run(main())
