"""Signed session cookie (no server-side store): the user's token and claims, a session-bound CSRF
token and the last-seen time for the idle timeout. HttpOnly, SameSite=Lax, Secure outside dev."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from steward.console.settings import ConsoleSettings

SALT = "steward-console-session"
PRE_CSRF_COOKIE = "steward_csrf"  # double-submit token for the forms shown before sign-in
REFRESH_AFTER = 60  # seconds: re-issue the cookie (sliding idle timeout) at most once a minute


@dataclass
class User:
    token: str
    sub: str
    tenant: str
    roles: list[str]
    unit: str | None = None
    name: str = ""
    tenant_name: str = ""
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    seen: float = field(default_factory=time.time)
    id_token: str | None = None

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def is_enterprise(self) -> bool:
        return "enterprise_contact" in self.roles and not self.has(
            "platform_admin", "tenant_admin", "dispatcher", "supervisor"
        )

    @property
    def can_dispatch(self) -> bool:
        return self.has("platform_admin", "tenant_admin", "dispatcher")

    @property
    def is_admin(self) -> bool:
        return self.has("platform_admin", "tenant_admin")


class SignInRequired(Exception):
    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class Sessions:
    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.serializer = URLSafeTimedSerializer(settings.session_key(), salt=SALT)
        self.idle = settings.session_idle_minutes * 60

    def load(self, request: Request) -> User | None:
        raw = request.cookies.get(self.settings.session_cookie)
        if not raw:
            return None
        try:
            data: dict[str, Any] = self.serializer.loads(raw, max_age=self.idle)
            user = User(**data)
        except (BadSignature, TypeError, ValueError):
            return None
        if time.time() - user.seen > self.idle:
            return None
        return user

    def touch(self, request: Request, user: User) -> None:
        """Mark the session for re-issue (sliding idle timeout)."""
        if time.time() - user.seen > REFRESH_AFTER:
            user.seen = time.time()
            request.state.refresh_session = user

    def save(self, response: Response, user: User) -> None:
        response.set_cookie(
            self.settings.session_cookie,
            self.serializer.dumps(asdict(user)),
            max_age=self.idle,
            httponly=True,
            samesite="lax",
            secure=self.settings.secure_cookies,
            path="/",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            self.settings.session_cookie,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.settings.secure_cookies,
        )

    # ------------------------------------------------------------------ CSRF before sign-in
    def pre_csrf(self, request: Request) -> str:
        return request.cookies.get(PRE_CSRF_COOKIE) or secrets.token_urlsafe(24)

    def set_pre_csrf(self, response: Response, token: str) -> None:
        response.set_cookie(
            PRE_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookies,
            path="/",
        )


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
