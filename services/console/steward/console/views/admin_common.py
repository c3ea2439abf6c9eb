"""Plumbing the administration pages share: the tenant-admin gate, write calls, the signed proof
that a rules change was dry-run (and its diff shown) before it may be saved."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from steward.console.api import Api, ApiError
from steward.console.session import User
from steward.console.web import current_user, settings_of

PROOF_SALT = "steward-console-rules-dry-run"
PROOF_MAX_AGE = 30 * 60  # seconds: a dry run older than this must be repeated before saving
UNIT_KINDS = {
    "department": "职能部门",
    "enterprise": "企业",
    "zone_committee": "园区管委会",
    "township": "乡镇（街道）",
    "other": "其他",
}
TENANT_KINDS = {
    "city": "市",
    "district": "区",
    "county": "县（市）",
    "zone": "开发区（园区）",
    "township": "乡镇",
    "street": "街道",
}


def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    """Administration is for tenant (and platform) admins; the services check again on every call."""
    if not user.is_admin:
        raise ApiError(403, "role_required", "管理功能仅限本级管理员（tenant_admin）使用")
    return user


AdminDep = Annotated[User, Depends(admin_user)]


def items(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        return list(data.get("items", []))
    return list(data) if isinstance(data, list) else []


async def write(api: Api, method: str, service: str, path: str, body: Any) -> Any:
    return await api.call(method, service, path, json=body)


def user_error(exc: ApiError) -> bool:
    """A refusal the form can show next to its fields (the rest goes to the error page)."""
    return 400 <= exc.status < 500 and exc.status not in (401, 403)


# ---------------------------------------------------------------------------- dry-run proof


def _digest(subject: Any) -> str:
    canonical = json.dumps(subject, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings_of(request).session_key(), salt=PROOF_SALT)


def proof_for(request: Request, user: User, tenant: str, subject: Any) -> str:
    """Issued with a valid dry-run result: binds the session, the tenant and exactly what was tried
    (an override document or a preset name)."""
    return _serializer(request).dumps({"s": user.csrf, "t": tenant, "d": _digest(subject)})


def proof_ok(request: Request, user: User, tenant: str, subject: Any, proof: str) -> bool:
    try:
        data = _serializer(request).loads(proof, max_age=PROOF_MAX_AGE)
    except BadSignature:
        return False
    return bool(
        isinstance(data, dict)
        and data.get("s") == user.csrf
        and data.get("t") == tenant
        and data.get("d") == _digest(subject)
    )
