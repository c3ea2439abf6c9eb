"""Shared view plumbing: templates, the signed-in user, the API bound to their token, CSRF."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from steward.console import fmt
from steward.console.api import Api, Services
from steward.console.session import Sessions, SignInRequired, User, same
from steward.console.settings import ConsoleSettings

HERE = Path(__file__).resolve().parent
FLASH_COOKIE = "steward_flash"
templates = Jinja2Templates(directory=str(HERE / "templates"))
fmt.register(templates.env)


class CsrfFailed(Exception):
    pass


def settings_of(request: Request) -> ConsoleSettings:
    settings: ConsoleSettings = request.app.state.settings
    return settings


def sessions_of(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def current_user(request: Request) -> User:
    user = sessions_of(request).load(request)
    if user is None:
        raise SignInRequired("expired" if request.cookies.get(settings_of(request).session_cookie) else "")
    sessions_of(request).touch(request, user)
    request.state.user = user
    return user


def user_api(request: Request, user: Annotated[User, Depends(current_user)]) -> Api:
    return services_of(request).for_token(user.token, getattr(request.state, "request_id", None))


async def csrf_protect(request: Request, user: Annotated[User, Depends(current_user)]) -> None:
    """Every state-changing request carries the session's CSRF token (form field or htmx header)."""
    sent = request.headers.get("x-csrf-token")
    if not sent:
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not same(sent, user.csrf):
        raise CsrfFailed()


UserDep = Annotated[User, Depends(current_user)]
ApiDep = Annotated[Api, Depends(user_api)]
Csrf = Depends(csrf_protect)


def _finish(request: Request, response: Response) -> Response:
    user = getattr(request.state, "refresh_session", None)
    if user is not None:
        sessions_of(request).save(response, user)
    return response


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    user = getattr(request.state, "user", None)
    settings = settings_of(request)
    flash = request.cookies.get(FLASH_COOKIE)
    context.setdefault("flash", unquote(flash) if flash else None)
    base = {
        "request": request,
        "user": user,
        "dev_mode": settings.dev_mode,
        "has_meetings": services_of(request).available("meetings"),
        "has_scoring": services_of(request).available("scoring"),
        "nav": context.pop("nav", ""),
    }
    base.update(context)
    started = time.perf_counter()
    response = templates.TemplateResponse(request, template, base, status_code=status_code)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    # the console's own share of the response time (the services' share is the rest)
    response.headers["Server-Timing"] = f"render;dur={(time.perf_counter() - started) * 1000:.2f}"
    return _finish(request, response)


def redirect(request: Request, url: str, *, flash: str | None = None) -> Response:
    """303 to ``url`` (``HX-Redirect`` for htmx); ``flash`` is shown once on the next page (a
    short-lived cookie, never a query parameter anyone could put in a link)."""
    if request.headers.get("hx-request"):
        response: Response = HTMLResponse("", headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(
            FLASH_COOKIE,
            quote(flash[:500]),
            max_age=60,
            httponly=True,
            samesite="lax",
            secure=settings_of(request).secure_cookies,
            path="/",
        )
    return _finish(request, response)


def form_str(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def form_opt(form: Any, name: str) -> str | None:
    return form_str(form, name) or None


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]
