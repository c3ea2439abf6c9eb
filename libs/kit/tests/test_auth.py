"""JWT bearer authentication (docs/architecture.md): dev HMAC tokens and a JWKS-served RSA key."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from steward.kit.auth import (
    KNOWN_ROLES,
    Principal,
    Role,
    TokenVerifier,
    bearer_token,
    mint_dev_token,
    principal_from_claims,
)
from steward.kit.errors import Forbidden, Unauthenticated
from steward.kit.settings import ServiceSettings

SECRET = "kit-test-secret-which-is-long-enough-for-hs256"


def dev_settings(**kw: Any) -> ServiceSettings:
    return ServiceSettings(jwt_dev_secret=SECRET, **kw)


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "u-1",
        "tenant": "210112",
        "roles": ["dispatcher"],
        "iss": "steward-dev",
        "aud": "steward",
        "iat": now,
        "exp": now + 600,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def hs(c: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(c, secret, algorithm="HS256")


def rejected(verifier: TokenVerifier, token: str) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as info:
        verifier.verify(token)
    assert info.value.status_code == 401
    return info.value


def test_mint_and_verify_round_trip() -> None:
    token = mint_dev_token(
        secret=SECRET, subject="u-7", tenant="210112", roles=["steward", "liaison"], unit="unit-3"
    )
    p = TokenVerifier(dev_settings()).verify(token)
    assert p == Principal(
        subject="u-7", tenant="210112", roles=frozenset({"steward", "liaison"}), unit="unit-3"
    )
    assert p.claims["iss"] == "steward-dev"
    assert p.has("liaison") and not p.has("dispatcher")


def test_mint_rejects_unknown_roles() -> None:
    with pytest.raises(ValueError, match="unknown roles: wizard"):
        mint_dev_token(secret=SECRET, subject="u", tenant="t", roles=["wizard"])


def test_expired_token() -> None:
    token = mint_dev_token(secret=SECRET, subject="u", tenant="t", roles=[], ttl_seconds=-60)
    assert rejected(TokenVerifier(dev_settings()), token).code == "token_expired"


@pytest.mark.parametrize(
    ("token_claims", "secret"),
    [
        pytest.param(claims(aud="someone-else"), SECRET, id="wrong-audience"),
        pytest.param(claims(iss="evil"), SECRET, id="wrong-issuer"),
        pytest.param(claims(), "another-secret-that-is-long-enough-too!", id="wrong-secret"),
        pytest.param(claims(exp=None), SECRET, id="no-exp"),
        pytest.param(claims(sub=None), SECRET, id="no-sub"),
        pytest.param(claims(aud=None), SECRET, id="no-aud"),
        pytest.param(claims(tenant=None), SECRET, id="no-tenant"),
        pytest.param(claims(tenant=""), SECRET, id="empty-tenant"),
        pytest.param(claims(roles="dispatcher"), SECRET, id="roles-not-a-list"),
        pytest.param(claims(roles=["dispatcher", 3]), SECRET, id="role-not-a-string"),
    ],
)
def test_invalid_tokens(token_claims: dict[str, Any], secret: str) -> None:
    assert rejected(TokenVerifier(dev_settings()), hs(token_claims, secret)).code == "invalid_token"


def test_garbage_token() -> None:
    assert rejected(TokenVerifier(dev_settings()), "not.a.jwt").code == "invalid_token"
    assert rejected(TokenVerifier(dev_settings()), "").code == "invalid_token"


def test_alg_none_is_rejected() -> None:
    token = jwt.encode(claims(), None, algorithm="none")
    err = rejected(TokenVerifier(dev_settings()), token)
    assert err.code == "invalid_token"
    assert "none" in err.message


def test_hmac_tokens_need_a_dev_secret() -> None:
    assert rejected(TokenVerifier(ServiceSettings(jwt_dev_secret=None)), hs(claims())).code == "invalid_token"


def test_hmac_not_in_configured_algorithms() -> None:
    verifier = TokenVerifier(dev_settings(jwt_algorithms=["RS256"]))
    assert rejected(verifier, hs(claims())).code == "invalid_token"


def test_unknown_roles_are_filtered() -> None:
    p = TokenVerifier(dev_settings()).verify(hs(claims(roles=["dispatcher", "wizard", "root"])))
    assert p.roles == frozenset({"dispatcher"})
    assert "wizard" not in KNOWN_ROLES


def test_principal_from_claims_defaults() -> None:
    p = principal_from_claims({"sub": 42, "tenant": "210112"})
    assert p.subject == "42" and p.roles == frozenset() and p.unit is None


def test_require_and_is_enterprise() -> None:
    contact = Principal("u", "210112", frozenset({Role.ENTERPRISE_CONTACT.value}))
    assert contact.is_enterprise
    with pytest.raises(Forbidden) as info:
        contact.require(Role.DISPATCHER, Role.TENANT_ADMIN)
    assert info.value.code == "role_required"
    contact.require(Role.ENTERPRISE_CONTACT)
    for stronger in ("platform_admin", "tenant_admin", "dispatcher", "supervisor"):
        assert not Principal("u", "t", frozenset({"enterprise_contact", stronger})).is_enterprise
    assert Principal("u", "t", frozenset({"enterprise_contact", "auditor"})).is_enterprise
    assert not Principal("u", "t", frozenset({"steward"})).is_enterprise


@pytest.mark.parametrize(
    ("header", "expected"),
    [("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer   tok  ", "tok"), ("BEARER x", "x")],
)
def test_bearer_token_parsing(header: str, expected: str) -> None:
    assert bearer_token(header) == expected


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Token abc"])
def test_bearer_token_rejects(header: str | None) -> None:
    with pytest.raises(Unauthenticated) as info:
        bearer_token(header)
    assert info.value.code == "missing_token"


# -- JWKS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(rsa_key: rsa.RSAPrivateKey) -> Iterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwk.update({"kid": "kit-key-1", "use": "sig", "alg": "RS256"})
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/realms/steward/protocol/openid-connect/certs"
    finally:
        server.shutdown()
        server.server_close()


def rs(key: rsa.RSAPrivateKey, c: dict[str, Any], kid: str = "kit-key-1") -> str:
    return jwt.encode(c, key, algorithm="RS256", headers={"kid": kid})


def test_rs256_token_through_jwks(rsa_key: rsa.RSAPrivateKey, jwks_url: str) -> None:
    verifier = TokenVerifier(
        ServiceSettings(jwt_jwks_url=jwks_url, jwt_issuer="https://idp", jwt_audience="api")
    )
    p = verifier.verify(rs(rsa_key, claims(iss="https://idp", aud="api", roles=["auditor"])))
    assert p.tenant == "210112" and p.roles == frozenset({"auditor"})


def test_jwks_rejects_foreign_key_unknown_kid_and_expired(rsa_key: rsa.RSAPrivateKey, jwks_url: str) -> None:
    verifier = TokenVerifier(ServiceSettings(jwt_jwks_url=jwks_url))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert rejected(verifier, rs(other, claims())).code == "invalid_token"
    assert rejected(verifier, rs(rsa_key, claims(), kid="unknown-kid")).code == "invalid_token"
    assert rejected(verifier, rs(rsa_key, claims(exp=int(time.time()) - 60))).code == "token_expired"


def test_algorithm_confusion_with_public_key_as_hmac_secret(
    rsa_key: rsa.RSAPrivateKey, jwks_url: str
) -> None:
    """An HS256 token 'signed' with the public key must not pass where only JWKS is configured."""
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import hashlib
    import hmac as hmac_mod

    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = jwt.utils.base64url_encode(json.dumps(claims()).encode())
    signing_input = header + b"." + payload
    sig = jwt.utils.base64url_encode(hmac_mod.new(pem, signing_input, hashlib.sha256).digest())
    token = (signing_input + b"." + sig).decode()
    assert rejected(TokenVerifier(ServiceSettings(jwt_jwks_url=jwks_url)), token).code == "invalid_token"


def test_rs256_without_jwks_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    assert rejected(TokenVerifier(dev_settings()), rs(rsa_key, claims())).code == "invalid_token"
