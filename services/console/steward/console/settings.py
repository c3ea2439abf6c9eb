"""Console settings (environment, prefix ``STEWARD_``)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from steward.kit.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    service_name: str = "console"
    http_port: int = 8100

    # the services' public REST base URLs (one ingress may serve them all: same URL everywhere)
    registry_url: str = "http://127.0.0.1:8101"
    issues_url: str = "http://127.0.0.1:8102"
    meetings_url: str | None = None
    scoring_url: str | None = None
    notify_url: str = "http://127.0.0.1:8105"
    api_timeout_seconds: float = Field(default=10.0, gt=0)

    # sessions: signed cookie (no server-side store); the key defaults to one derived from the
    # dev secret in dev mode and must be set outside dev
    session_secret: SecretStr | None = None
    session_cookie: str = "steward_session"
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # the URL users reach the console at (OIDC redirect URI is <public_url>/auth/callback)
    public_url: str = "http://127.0.0.1:8100"

    # production sign-in: OIDC authorisation code (Keycloak-compatible)
    oidc_metadata_url: str | None = (
        None  # e.g. https://sso.example.gov.cn/realms/steward/.well-known/openid-configuration
    )
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scope: str = "openid profile"
    # the claim names the IdP puts the Steward claims under (Keycloak: protocol mappers)
    oidc_name_claim: str = "name"

    # dev sign-in: the demo data's root tenant (the sign-in page lists its subtree)
    dev_root_tenant: str = "210100"

    # the map base tiles: a template such as /tiles/{z}/{x}/{y}.png (same host) or
    # https://tiles.intranet.example/{z}/{x}/{y}.png (the CSP then allows that origin for images
    # only); none: the map renders points on a plain grid
    map_tile_url: str | None = None
    map_tile_max_zoom: int = Field(default=17, ge=3, le=20)

    @field_validator("map_tile_url")
    @classmethod
    def _tile_template(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if not all(k in value for k in ("{z}", "{x}", "{y}")):
            raise ValueError("the tile URL needs {z}, {x} and {y}")
        if parts.scheme not in ("", "http", "https") or (parts.scheme and not parts.netloc):
            raise ValueError("the tile URL is a path or an http(s) URL")
        if parts.netloc and not re.fullmatch(r"[A-Za-z0-9.\-]+(:\d{1,5})?", parts.netloc):
            raise ValueError("the tile URL's host is a plain host name (and port)")
        return value

    @property
    def dev_mode(self) -> bool:
        return self.environment == "dev"

    @property
    def secure_cookies(self) -> bool:
        return not self.dev_mode

    def session_key(self) -> str:
        if self.session_secret is not None:
            return self.session_secret.get_secret_value()
        if self.dev_mode and self.jwt_dev_secret is not None:
            return "console-session:" + self.jwt_dev_secret.get_secret_value()
        raise RuntimeError("set STEWARD_SESSION_SECRET (or STEWARD_JWT_DEV_SECRET in dev mode)")
