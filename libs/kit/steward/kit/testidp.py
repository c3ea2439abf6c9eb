"""A small OIDC identity provider on loopback for tests: discovery, a JWKS with rotatable RSA keys,
and an OAuth2 client-credentials token endpoint issuing short-lived RS256 service tokens (claims
``tenant="*"``, ``roles=["service"]``, the way an IdP client for the services is configured).
It counts JWKS and token requests and can be told to fail, so tests see what services ask of it.

    idp = LocalIdP(clients={"steward-services": "s3cret"}, token_lifetime=4)
    async with idp.serve() as base:
        ...  # STEWARD_JWT_ISSUER=base, STEWARD_JWT_JWKS_URL=idp.jwks_url
        user = idp.issue({"sub": "u1", "tenant": "210100", "roles": ["dispatcher"]})
"""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote_plus

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from steward.kit.testing import serving

_kids = itertools.count(1)


class LocalIdP:
    def __init__(
        self,
        *,
        clients: dict[str, str] | None = None,
        audience: str = "steward",
        token_lifetime: float = 300.0,
    ) -> None:
        self.clients = dict(clients or {})
        self.audience = audience
        self.token_lifetime = token_lifetime
        self.base = ""
        self.published: dict[str, rsa.RSAPrivateKey] = {}  # kid -> key, in the JWKS
        self.removed: dict[str, rsa.RSAPrivateKey] = {}  # taken out of the JWKS (still sign, for tests)
        self.signing_kid = self.add_key()
        self.token_requests = 0
        self.tokens_issued = 0
        self.jwks_requests = 0
        self.failing = False  # the token endpoint answers 503 while set
        self.app = self._build()

    # --- keys ------------------------------------------------------------------------------------

    def add_key(self, kid: str | None = None) -> str:
        """Publish a new RSA key (its kid is returned); tokens are still signed with the current one."""
        kid = kid or f"k{next(_kids)}"
        self.published[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return kid

    def rotate(self) -> str:
        """Publish a new key and sign with it from now on (the old one stays published)."""
        self.signing_kid = self.add_key()
        return self.signing_kid

    def remove_key(self, kid: str) -> None:
        """Take a key out of the JWKS (tokens it signed must stop verifying)."""
        self.removed[kid] = self.published.pop(kid)

    def jwk_set(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.published.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update(kid=kid, use="sig", alg="RS256")
            keys.append(jwk)
        return {"keys": keys}

    # --- tokens ----------------------------------------------------------------------------------

    def issue(self, claims: dict[str, Any], *, kid: str | None = None, lifetime: float | None = None) -> str:
        """An RS256 token with ``iss``/``aud``/``iat``/``exp`` filled in, signed with ``kid``'s key
        (default: the current signing key; a kid that was removed still signs, for tests)."""
        kid = kid or self.signing_kid
        key = self.published.get(kid) or self.removed.get(kid)
        if key is None:  # a key the IdP never published: a forged token
            key = self.removed[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = int(time.time())
        body = {
            "iss": self.base,
            "aud": self.audience,
            "iat": now,
            "exp": now + int(lifetime if lifetime is not None else self.token_lifetime),
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode(body, key, "RS256", {"kid": kid})

    def service_token(self, client_id: str) -> str:
        self.tokens_issued += 1
        return self.issue(
            {"sub": f"service:{client_id}", "azp": client_id, "tenant": "*", "roles": ["service"]}
        )

    @property
    def jwks_url(self) -> str:
        return f"{self.base}/jwks"

    @property
    def token_url(self) -> str:
        return f"{self.base}/token"

    # --- HTTP ------------------------------------------------------------------------------------

    def _client(self, request: Request, form: dict[str, str]) -> str | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            raw = base64.b64decode(header.split(" ", 1)[1]).decode()
            client_id, _, secret = raw.partition(":")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        # RFC 6749 §2.3.1: id and secret are form-encoded before basic authentication
        client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        return client_id if client_id and self.clients.get(client_id) == secret else None

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {
                "issuer": self.base,
                "token_endpoint": self.token_url,
                "jwks_uri": self.jwks_url,
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }

        @app.get("/jwks")
        async def jwks() -> dict[str, Any]:
            self.jwks_requests += 1
            return self.jwk_set()

        @app.post("/token")
        async def token(request: Request) -> JSONResponse:
            self.token_requests += 1
            if self.failing:
                return JSONResponse({"error": "temporarily_unavailable"}, 503)
            form = {k: str(v) for k, v in (await request.form()).items()}
            if form.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "unsupported_grant_type"}, 400)
            client_id = self._client(request, form)
            if client_id is None:
                return JSONResponse({"error": "invalid_client"}, 401)
            return JSONResponse(
                {
                    "access_token": self.service_token(client_id),
                    "token_type": "Bearer",
                    "expires_in": int(self.token_lifetime),
                }
            )

        return app

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Serve on a free loopback port in the current event loop; yields the base URL (the issuer)."""
        async with serving(self.app, name="idp") as base:
            self.base = base
            yield base


__all__ = ["LocalIdP"]
