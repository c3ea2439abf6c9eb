"""Sign-in (dev page or OIDC authorisation code), callback, sign-out."""

from __future__ import annotations

import secrets
import warnings
from typing import Any
from urllib.parse import urlencode

import authlib.deprecate  # noqa: F401  first: it installs an "always" filter for its warnings

with warnings.catch_warnings():
    # authlib 1.9 prefers the "httpx2" package and warns, at import, that its httpx fallback is
    # deprecated; httpx is what the platform uses (an import-time line no log handler could format)
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from steward.console.api import ApiError
from steward.console.session import User, same
from steward.console.web import (
    Csrf,
    UserDep,
    form_str,
    render,
    services_of,
    sessions_of,
    settings_of,
)
from steward.kit.auth import KNOWN_ROLES, Role, TokenVerifier, mint_dev_token
from steward.kit.errors import DomainError

router = APIRouter()
OIDC_COOKIE = "steward_oidc"
SIGNIN_ROLES = [r.value for r in Role if r not in (Role.SERVICE, Role.AGENCY)]


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _dev_token(request: Request, *, subject: str, tenant: str, roles: list[str], unit: str | None) -> str:
    settings = settings_of(request)
    assert settings.jwt_dev_secret is not None
    return mint_dev_token(
        secret=settings.jwt_dev_secret.get_secret_value(),
        subject=subject,
        tenant=tenant,
        roles=roles,
        unit=unit,
        ttl_seconds=12 * 3600,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


async def _demo_directory(request: Request) -> dict[str, Any]:
    """Tenants, units and people of the demo data, read with a dev admin token of the root tenant."""
    settings = settings_of(request)
    root = settings.dev_root_tenant
    token = _dev_token(request, subject="console-signin", tenant=root, roles=["platform_admin"], unit=None)
    api = services_of(request).for_token(token)
    tenants = (await api.maybe("registry", "/v1/tenants", {}) or {}).get("items", [])
    people: list[dict[str, Any]] = []
    units: dict[str, dict[str, Any]] = {}
    cursor = None
    for _ in range(10):
        page = await api.maybe("registry", "/v1/people", {}, limit=200, cursor=cursor) or {}
        people += page.get("items", [])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    cursor = None
    for _ in range(10):
        page = await api.maybe("registry", "/v1/units", {}, limit=200, cursor=cursor) or {}
        units.update({u["id"]: u for u in page.get("items", [])})
        cursor = page.get("next_cursor")
        if not cursor:
            break
    names = {t["code"]: t["name"] for t in tenants}
    for p in people:
        unit = units.get(p.get("unit_id") or "", {})
        p["unit_name"] = unit.get("name", "")
        p["unit_kind"] = unit.get("kind", "")
        p["tenant_name"] = names.get(p["tenant"], p["tenant"])
    people.sort(key=lambda p: (p["tenant"], p["unit_kind"] == "enterprise", p["name"]))
    return {"tenants": tenants, "people": people, "names": names}


@router.get("/signin")
async def signin_page(request: Request, next: str | None = None, expired: str | None = None) -> Response:
    settings = settings_of(request)
    if not settings.dev_mode:
        if not settings.oidc_metadata_url:
            return render(
                request, "error.html", 503, message="未配置统一身份认证（STEWARD_OIDC_METADATA_URL）"
            )
        return RedirectResponse("/auth/login?" + urlencode({"next": _safe_next(next)}), status_code=303)
    sessions = sessions_of(request)
    token = sessions.pre_csrf(request)
    directory = await _demo_directory(request)
    response = render(
        request,
        "signin.html",
        csrf=token,
        next=_safe_next(next),
        expired=expired,
        roles=SIGNIN_ROLES,
        **directory,
    )
    sessions.set_pre_csrf(response, token)
    return response


@router.post("/signin/dev")
async def signin_dev(request: Request) -> Response:
    settings = settings_of(request)
    if not settings.dev_mode:
        return render(request, "error.html", 404, message="开发登录仅在开发模式可用")
    sessions = sessions_of(request)
    form = await request.form()
    if not same(form_str(form, "csrf"), request.cookies.get("steward_csrf")):
        return render(request, "error.html", 403, message="表单已失效，请刷新页面后重试")
    role = form_str(form, "role")
    subject = form_str(form, "person")
    tenant = form_str(form, "tenant")
    directory = await _demo_directory(request)
    person = next((p for p in directory["people"] if p.get("subject") == subject), None)
    if role not in KNOWN_ROLES:
        return render(request, "error.html", 422, message="请选择角色")
    unit = None
    name = "开发用户"
    if person is not None:
        tenant = tenant or person["tenant"]
        unit = person.get("unit_id")
        name = person["name"]
    else:
        subject = "dev-user"
    if tenant not in directory["names"]:
        return render(request, "error.html", 422, message="请选择所属地区")
    token = _dev_token(request, subject=subject, tenant=tenant, roles=[role], unit=unit)
    user = User(
        token=token,
        sub=subject,
        tenant=tenant,
        roles=[role],
        unit=unit,
        name=name,
        tenant_name=directory["names"][tenant],
    )
    response = RedirectResponse(_safe_next(form_str(form, "next")), status_code=303)
    sessions.save(response, user)
    response.delete_cookie("steward_csrf", path="/")
    return response


# ---------------------------------------------------------------------------------------- OIDC


def _oidc_serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings_of(request).session_key(), salt="steward-console-oidc")


async def _metadata(request: Request) -> dict[str, Any]:
    cached: dict[str, Any] | None = getattr(request.app.state, "oidc_metadata", None)
    if cached is None:
        resp = await services_of(request).http.get(str(settings_of(request).oidc_metadata_url))
        resp.raise_for_status()
        cached = dict(resp.json())
        request.app.state.oidc_metadata = cached
    return cached


def _client(request: Request) -> AsyncOAuth2Client:
    settings = settings_of(request)
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
    return AsyncOAuth2Client(
        client_id=settings.oidc_client_id,
        client_secret=secret,
        scope=settings.oidc_scope,
        redirect_uri=settings.public_url.rstrip("/") + "/auth/callback",
        code_challenge_method="S256",
        trust_env=False,
    )


@router.get("/auth/login")
async def oidc_login(request: Request, next: str | None = None) -> Response:
    settings = settings_of(request)
    if not settings.oidc_metadata_url or not settings.oidc_client_id:
        return render(request, "error.html", 503, message="未配置统一身份认证")
    meta = await _metadata(request)
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    async with _client(request) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"],
            state=state,
            nonce=nonce,
            code_verifier=verifier,
        )
    response = RedirectResponse(url, status_code=303)
    blob = _oidc_serializer(request).dumps(
        {"state": state, "nonce": nonce, "verifier": verifier, "next": _safe_next(next)}
    )
    response.set_cookie(
        OIDC_COOKIE, blob, max_age=600, httponly=True, samesite="lax", secure=settings.secure_cookies
    )
    return response


@router.get("/auth/callback")
async def oidc_callback(request: Request, code: str = "", state: str = "", error: str = "") -> Response:
    settings = settings_of(request)
    if error or not code:
        return render(request, "error.html", 401, message=f"统一身份认证未通过：{error or '缺少授权码'}")
    try:
        saved = _oidc_serializer(request).loads(request.cookies.get(OIDC_COOKIE, ""), max_age=600)
    except BadSignature:
        return render(request, "error.html", 400, message="登录请求已过期，请重新登录")
    if not same(state, saved.get("state")):
        return render(request, "error.html", 400, message="登录请求校验失败（state）")
    meta = await _metadata(request)
    async with _client(request) as client:
        try:
            token = await client.fetch_token(
                meta["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=saved["verifier"],
            )
        except Exception:
            return render(request, "error.html", 401, message="无法从统一身份认证获取令牌")
    access = str(token.get("access_token", ""))
    try:
        principal = await request.app.state.verifier.averify(access)
    except DomainError as exc:
        return render(request, "error.html", 401, message=f"令牌无效：{exc.message}")
    id_claims: dict[str, Any] = {}
    id_token = token.get("id_token")
    if id_token:
        try:
            id_claims = await request.app.state.verifier.aclaims(id_token, audience=settings.oidc_client_id)
        except DomainError as exc:
            return render(request, "error.html", 401, message=f"身份令牌无效：{exc.message}")
        if not same(id_claims.get("nonce"), saved.get("nonce")):
            return render(request, "error.html", 401, message="身份令牌校验失败（nonce）")
    user = User(
        token=access,
        sub=principal.subject,
        tenant=principal.tenant,
        roles=sorted(principal.roles),
        unit=principal.unit,
        name=str(
            id_claims.get(settings.oidc_name_claim) or principal.claims.get("name") or principal.subject
        ),
        id_token=None,
    )
    try:
        tenant = await services_of(request).for_token(access).get("registry", f"/v1/tenants/{user.tenant}")
        user.tenant_name = tenant.get("name", "")
    except ApiError:
        user.tenant_name = user.tenant
    response = RedirectResponse(saved.get("next") or "/", status_code=303)
    response.delete_cookie(OIDC_COOKIE)
    sessions_of(request).save(response, user)
    return response


@router.post("/signout", dependencies=[Csrf])
async def signout(request: Request, user: UserDep) -> Response:
    settings = settings_of(request)
    target = "/signin"
    if not settings.dev_mode and settings.oidc_metadata_url:
        meta = await _metadata(request)
        end = meta.get("end_session_endpoint")
        if end:
            target = (
                end
                + "?"
                + urlencode(
                    {"client_id": settings.oidc_client_id, "post_logout_redirect_uri": settings.public_url}
                )
            )
    response = RedirectResponse(target + ("?signed_out=1" if target == "/signin" else ""), status_code=303)
    sessions_of(request).clear(response)
    request.state.refresh_session = None
    return response


class IdTokenVerifier(TokenVerifier):
    """The kit's verifier (issuer, signature, expiry) also for ID tokens (audience = client id)."""

    async def aclaims(self, token: str, *, audience: str | None) -> dict[str, Any]:
        import asyncio

        import jwt

        def run() -> dict[str, Any]:
            try:
                header = jwt.get_unverified_header(token)
                alg = header.get("alg", "")
                if alg not in self.algorithms or self.jwks is None:
                    raise jwt.InvalidTokenError(f"algorithm {alg!r} not accepted")
                key = self.jwks.get_signing_key_from_jwt(token).key
                return dict(jwt.decode(token, key, algorithms=[alg], audience=audience, issuer=self.issuer))
            except jwt.PyJWTError as exc:
                from steward.kit.errors import Unauthenticated

                raise Unauthenticated(f"invalid id token: {exc}", code="invalid_token") from exc

        return await asyncio.to_thread(run)
