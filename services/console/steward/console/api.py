"""Calls to the services' public REST APIs with the signed-in user's token (authorisation stays
in the services: the console never sees more than the user may)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from steward.console.settings import ConsoleSettings

SERVICES = ("registry", "issues", "notify", "meetings", "scoring")


class ApiError(Exception):
    """A service answered 4xx/5xx or could not be reached."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []

    @property
    def text(self) -> str:
        """A line for the user (the service's message plus the fields it names)."""
        parts = [self.message]
        for d in self.details if isinstance(self.details, list) else []:
            if isinstance(d, dict):
                loc = ".".join(str(x) for x in d.get("loc", []) if x not in ("body", "query"))
                parts.append(f"{loc}: {d.get('message', '')}" if loc else str(d.get("message", "")))
        return "；".join(p for p in parts if p)


class Services:
    """One pooled HTTP client per service; :meth:`for_token` binds a user's bearer token."""

    def __init__(self, settings: ConsoleSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.urls: dict[str, str] = {}
        for name in SERVICES:
            url = getattr(settings, f"{name}_url", None)
            if url:
                self.urls[name] = url.rstrip("/")
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self.http = httpx.AsyncClient(
            timeout=settings.api_timeout_seconds, limits=limits, transport=transport, trust_env=False
        )

    def available(self, name: str) -> bool:
        return name in self.urls

    def for_token(self, token: str, request_id: str | None = None) -> Api:
        return Api(self, token, request_id)

    async def aclose(self) -> None:
        await self.http.aclose()


@dataclass
class Api:
    services: Services
    token: str
    request_id: str | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if self.request_id:
            headers["X-Request-ID"] = self.request_id
        return headers

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Any = None,
        timeout_seconds: float | None = None,
    ) -> Any:
        base = self.services.urls.get(service)
        if base is None:
            raise ApiError(503, "service_unavailable", f"{service} 服务未配置")
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            resp = await self.services.http.request(
                method,
                base + path,
                params=clean,
                json=json,
                files=files,
                headers=self._headers(),
                timeout=httpx.USE_CLIENT_DEFAULT if timeout_seconds is None else timeout_seconds,
            )
        except httpx.HTTPError as exc:
            raise ApiError(503, "service_unavailable", f"{service} 服务暂时无法访问") from exc
        if resp.status_code >= 400:
            try:
                err = resp.json().get("error", {})
            except ValueError:
                err = {}
            raise ApiError(
                resp.status_code,
                str(err.get("code") or "error"),
                str(err.get("message") or resp.reason_phrase),
                err.get("details"),
            )
        if resp.status_code == 204 or not resp.content:
            return None
        if "json" in resp.headers.get("content-type", ""):
            return resp.json()
        return resp

    async def get(self, service: str, path: str, **params: Any) -> Any:
        return await self.call("GET", service, path, params=params)

    async def post(self, service: str, path: str, body: Any = None) -> Any:
        return await self.call("POST", service, path, json=body if body is not None else {})

    async def upload(
        self,
        service: str,
        path: str,
        *,
        field: str,
        filename: str,
        content: bytes,
        content_type: str,
        **params: Any,
    ) -> Any:
        """One file as a multipart upload (a spreadsheet import); the JSON answer, errors as :meth:`call`.
        A large sheet takes the service a while: at least a minute before giving up."""
        return await self.call(
            "POST",
            service,
            path,
            params=params,
            files={field: (filename, content, content_type)},
            timeout_seconds=max(60.0, self.services.settings.api_timeout_seconds),
        )

    async def raw(self, service: str, path: str, **params: Any) -> httpx.Response:
        """A non-JSON download (e.g. the XLSX summary), returned as the service sent it."""
        base = self.services.urls[service]
        resp = await self.services.http.get(base + path, params=params, headers=self._headers())
        if resp.status_code >= 400:
            raise ApiError(resp.status_code, "error", resp.text[:200])
        return resp

    async def maybe(self, service: str, path: str, default: Any = None, **params: Any) -> Any:
        """GET that yields ``default`` when the user may not see it (403/404) or the service is away;
        401 still propagates (the session must end)."""
        try:
            return await self.get(service, path, **params)
        except ApiError as exc:
            if exc.status == 401:
                raise
            return default


async def gather(*aws: Any) -> list[Any]:
    return list(await asyncio.gather(*aws))
