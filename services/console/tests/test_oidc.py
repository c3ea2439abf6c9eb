"""Production sign-in: OIDC authorisation code with PKCE against a tiny IdP on loopback (discovery,
authorize, token, JWKS, end-session), the way Keycloak answers. The console runs in-process."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

from steward.console.app import build
from steward.console.settings import ConsoleSettings
from steward.kit.testing import serving

CLIENT_ID = "steward-console"
CLIENT_SECRET = "console-secret"
CONSOLE = "https://console.test"


def tiny_idp() -> tuple[FastAPI, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    state: dict[str, Any] = {"codes": {}, "base": ""}
    app = FastAPI()

    def sign(claims: dict[str, Any]) -> str:
        now = int(time.time())
        return jwt.encode(
            {"iss": state["base"], "iat": now, "exp": now + 300, **claims}, key, "RS256", {"kid": "k1"}
        )

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, str]:
        base = state["base"]
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
            "end_session_endpoint": f"{base}/logout",
        }

    @app.get("/jwks")
    async def jwks() -> dict[str, Any]:
        return {"keys": [jwk]}

    @app.get("/authorize")
    async def authorize(request: Request) -> RedirectResponse:
        q = request.query_params
        assert q["client_id"] == CLIENT_ID and q["response_type"] == "code"
        assert q["code_challenge_method"] == "S256" and "openid" in q["scope"]
        code = secrets.token_urlsafe(12)
        state["codes"][code] = dict(q)
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

    @app.post("/token")
    async def token(
        request: Request,
        grant_type: str = Form(),
        code: str = Form(),
        code_verifier: str = Form(),
        redirect_uri: str = Form(),
    ) -> JSONResponse:
        asked = state["codes"].pop(code, None)
        basic = base64.b64decode(request.headers["authorization"].split()[1]).decode()
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
        )
        if (
            asked is None
            or grant_type != "authorization_code"
            or basic != f"{CLIENT_ID}:{CLIENT_SECRET}"
            or challenge != asked["code_challenge"]
            or redirect_uri != asked["redirect_uri"]
        ):
            return JSONResponse({"error": "invalid_grant"}, 400)
        access = sign(
            {
                "sub": "kc-user-1",
                "aud": "steward",
                "tenant": "210112",
                "roles": ["dispatcher"],
                "name": "李科长",
            }
        )
        id_token = sign({"sub": "kc-user-1", "aud": CLIENT_ID, "nonce": asked["nonce"], "name": "李科长"})
        return JSONResponse(
            {"access_token": access, "id_token": id_token, "token_type": "Bearer", "expires_in": 300}
        )

    return app, state


@pytest.fixture
async def idp() -> AsyncIterator[str]:
    app, state = tiny_idp()
    async with serving(app, name="idp") as base:
        state["base"] = base
        yield base


def console_app(idp: str) -> Any:
    return build(
        ConsoleSettings(
            environment="production",
            session_secret="s" * 40,
            public_url=CONSOLE,
            oidc_metadata_url=f"{idp}/.well-known/openid-configuration",
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=CLIENT_SECRET,
            jwt_jwks_url=f"{idp}/jwks",
            jwt_issuer=idp,
            jwt_audience="steward",
            registry_url=idp,  # the home page's service calls get 404s: shown as empty panels
            issues_url=idp,
            notify_url=idp,
            log_json=False,
        )
    )


async def _login(
    console: httpx.AsyncClient, browser: httpx.AsyncClient, *, tamper: bool = False
) -> httpx.Response:
    start = await console.get("/signin", params={"next": "/projects"})
    assert start.status_code == 303 and start.headers["location"].startswith("/auth/login")
    login = await console.get(start.headers["location"])
    assert login.status_code == 303
    at_idp = await browser.get(login.headers["location"])
    assert at_idp.status_code == 302
    back = urlsplit(at_idp.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == f"{CONSOLE}/auth/callback"
    params = {k: v[0] for k, v in parse_qs(back.query).items()}
    if tamper:
        params["state"] = "forged"
    return await console.get("/auth/callback", params=params)


async def test_authorisation_code_sign_in_and_sign_out(idp: str) -> None:
    app = console_app(idp)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=CONSOLE) as console,
        httpx.AsyncClient() as browser,
    ):
        assert (await console.get("/signin/dev")).status_code == 405  # no dev sign-in in production
        done = await _login(console, browser)
        assert done.status_code == 303 and done.headers["location"] == "/projects", done.text
        cookie = done.headers["set-cookie"]
        assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
        home = await console.get("/")
        assert home.status_code == 200 and "李科长" in home.text and "调度员" in home.text
        csrf = home.text.split('name="csrf" value="')[1].split('"')[0]
        out = await console.post("/signout", data={"csrf": csrf})
        assert out.status_code == 303 and out.headers["location"].startswith(f"{idp}/logout?")
        assert (await console.get("/")).status_code == 303


async def test_a_forged_state_is_refused(idp: str) -> None:
    app = console_app(idp)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=CONSOLE) as console,
        httpx.AsyncClient() as browser,
    ):
        refused = await _login(console, browser, tamper=True)
        assert refused.status_code == 400
        assert (await console.get("/")).status_code == 303
