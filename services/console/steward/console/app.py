"""Composition of the console: pages, static assets, sessions, the services' clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from steward.console.api import ApiError, Services
from steward.console.session import Sessions, SignInRequired
from steward.console.settings import ConsoleSettings
from steward.console.views import (
    admin,
    auth,
    home,
    inbox,
    live,
    maptiles,
    matters,
    meetings,
    projects,
    projects_import,
    reports,
    scoring,
    service_log,
)
from steward.console.web import HERE, CsrfFailed, render, sessions_of
from steward.kit import security
from steward.kit.http import create_app

VERSION = "0.1.0"
log = structlog.get_logger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def csp_for(settings: ConsoleSettings) -> str:
    """The CSP with the map tiles' origin allowed for images only, when the tiles are on another host."""
    tiles = maptiles.img_source(settings.map_tile_url)
    return CSP.replace("img-src 'self' data:;", f"img-src 'self' data: {tiles};") if tiles else CSP


class SecurityHeaders:
    """Every page may load only the console's own assets (government intranets have no internet)."""

    def __init__(self, app: ASGIApp, csp: str = CSP) -> None:
        self.app = app
        self.csp = csp.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers.append((b"content-security-policy", self.csp))
                headers.append((b"x-frame-options", b"DENY"))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"same-origin"))
            await send(message)

        await self.app(scope, receive, _send)


def build(
    settings: ConsoleSettings | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    settings = settings or ConsoleSettings()
    services = Services(settings, transport=transport)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await services.aclose()

    async def upstream() -> dict[str, object]:
        return {"services": sorted(services.urls)}

    app = create_app(
        service=settings.service_name,
        title="Steward console",
        version=VERSION,
        routers=[
            auth.router,
            home.router,
            projects_import.router,  # before /projects/{code}
            projects.router,
            matters.router,
            reports.router,
            service_log.router,
            inbox.router,
            live.router,
            admin.router,
            *([meetings.router] if settings.meetings_url else []),
            *([scoring.router] if settings.scoring_url else []),
        ],
        lifespan=lifespan,
        readiness=[("services", upstream)],
    )
    app.openapi_url = None
    app.docs_url = None
    app.state.settings = settings
    app.state.instance = settings.instance_id  # /readyz says which process answers
    app.state.services = services
    app.state.sessions = Sessions(settings)
    app.state.verifier = auth.IdTokenVerifier(settings)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    # spreadsheet uploads: up to the registry's 8 MiB; larger ones get the import page's 413
    security.allow_larger_body(app, projects_import.PATH, projects_import.BODY_LIMIT)
    app.add_middleware(projects_import.ImportBodyLimit)
    app.add_middleware(SecurityHeaders, csp=csp_for(settings))

    @app.exception_handler(SignInRequired)
    async def _signin(request: Request, exc: SignInRequired) -> Response:
        target = "/signin?next=" + (request.url.path if request.method == "GET" else "/")
        if exc.reason:
            target += "&expired=1"
        response: Response
        if request.headers.get("hx-request"):
            response = Response("", headers={"HX-Redirect": target})
        else:
            response = RedirectResponse(target, status_code=303)
        sessions_of(request).clear(response)
        return response

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return render(request, "error.html", 403, message="表单已失效（CSRF 校验失败），请刷新页面后重试")

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Response:
        if exc.status == 401:
            return await _signin(request, SignInRequired("expired"))
        status = exc.status if 400 <= exc.status < 500 else 503
        titles = {403: "无权访问", 404: "未找到", 503: "服务暂时不可用"}
        return render(request, "error.html", status, message=exc.text, title=titles.get(status, "请求未完成"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(("/healthz", "/readyz", "/metrics", "/static")):
            return Response(str(exc.detail), status_code=exc.status_code)
        title = "页面不存在" if exc.status_code == 404 else "请求未完成"
        return render(request, "error.html", exc.status_code, message=str(exc.detail), title=title)

    return app
