"""The enterprise's satisfaction survey (满意度测评) behind a one-time link. The scoring service
treats the signed link as the credential (no sign-in), so this page needs no session either: it
calls the service's public answer endpoint without a token. It answers at ``/survey/<token>`` and at
the service's own path ``/v1/scoring/surveys/answer/<token>``, so pointing the scoring service's
``STEWARD_PUBLIC_BASE_URL`` at the console turns the links it sends into this page. The form carries
a double-submit CSRF token like the sign-in form."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import ApiError
from steward.console.session import PRE_CSRF_COOKIE, same
from steward.console.views.scoring_common import LEVELS_ZH
from steward.console.web import form_str, redirect, render, services_of, sessions_of

router = APIRouter()
TOKEN = re.compile(r"^[A-Za-z0-9._-]{10,200}$")
MESSAGES = {
    "invalid": "链接无效：未找到这份测评。请核对短信或邮件中的链接是否完整。",
    "already_answered": "本次测评已经提交过了，每个链接只能提交一次。感谢您的评价！",
    "link_expired": "该测评链接已过期，无法再提交。如需反映意见，请联系项目所在地营商环境建设部门。",
    "unavailable": "测评服务暂时无法访问，请稍后再试。",
    "done": "您的评价已记录。每个链接只能提交一次，无需再次提交。",
}


async def _call(request: Request, method: str, token: str, body: Any = None) -> httpx.Response:
    services = services_of(request)
    base = services.urls.get("scoring")
    if base is None:
        raise ApiError(503, "service_unavailable", MESSAGES["unavailable"])
    try:
        return await services.http.request(
            method,
            f"{base}/v1/scoring/surveys/answer/{quote(token, safe='')}",
            json=body,
            headers={"Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        raise ApiError(503, "service_unavailable", MESSAGES["unavailable"]) from exc


def _code(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error", {}).get("code") or "")
    except ValueError:
        return ""


def _closed(request: Request, reason: str, status: int) -> Response:
    return render(request, "survey_closed.html", status, message=MESSAGES[reason], reason=reason)


def _expired(form: dict[str, Any]) -> bool:
    raw = str(form.get("expires_at") or "")
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return False
    return at.replace(tzinfo=at.tzinfo or UTC) <= datetime.now(UTC)


async def _form(request: Request, token: str) -> dict[str, Any] | Response:
    if not TOKEN.match(token):
        return _closed(request, "invalid", 404)
    resp = await _call(request, "GET", token)
    if resp.status_code in (400, 404, 422):
        return _closed(request, "invalid", 404)
    if resp.status_code >= 400:
        return _closed(request, "unavailable", 503)
    form: dict[str, Any] = resp.json()
    if form.get("answered"):
        return _closed(request, "already_answered", 200)
    if _expired(form):
        return _closed(request, "link_expired", 410)
    return form


def _page(
    request: Request,
    token: str,
    form: dict[str, Any],
    *,
    chosen: dict[str, str] | None = None,
    comment: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    sessions = sessions_of(request)
    csrf = sessions.pre_csrf(request)
    response = render(
        request,
        "survey.html",
        status,
        form=form,
        token=token,
        csrf=csrf,
        chosen=chosen or {},
        comment=comment,
        error=error,
        levels_zh=LEVELS_ZH,
        action=request.url.path,
    )
    sessions.set_pre_csrf(response, csrf)
    return response


@router.get("/survey/{token}")
@router.get("/v1/scoring/surveys/answer/{token}")
async def survey_page(request: Request, token: str) -> Response:
    form = await _form(request, token)
    if isinstance(form, Response):
        return form
    return _page(request, token, form)


@router.post("/survey/{token}")
@router.post("/v1/scoring/surveys/answer/{token}")
async def survey_answer(request: Request, token: str) -> Response:
    posted = await request.form()
    if not same(form_str(posted, "csrf"), request.cookies.get(PRE_CSRF_COOKIE)):
        return render(request, "survey_closed.html", 403, message="表单已失效，请重新打开测评链接后再提交。")
    form = await _form(request, token)
    if isinstance(form, Response):
        return form
    items = [str(i["key"]) for i in form.get("items", [])]
    levels = {str(lv["key"]) for lv in form.get("levels", [])}
    chosen = {k: form_str(posted, f"item-{k}") for k in items}
    chosen = {k: v for k, v in chosen.items() if v in levels}
    comment = form_str(posted, "comment")[:2000]
    missing = [i["name_zh"] for i in form.get("items", []) if str(i["key"]) not in chosen]
    if missing:
        error = "请对每一项作出评价，尚未选择：" + "、".join(missing)
        return _page(request, token, form, chosen=chosen, comment=comment, error=error, status=422)
    resp = await _call(request, "POST", token, {"answers": chosen, "comment": comment})
    if resp.status_code >= 400:
        code = _code(resp)
        if code in ("already_answered", "link_expired"):
            return _closed(request, code, 409 if code == "already_answered" else 410)
        if resp.status_code == 404:
            return _closed(request, "invalid", 404)
        if resp.status_code == 422:
            return _page(
                request,
                token,
                form,
                chosen=chosen,
                comment=comment,
                error="提交未成功：请检查每一项的评价后重试",
                status=422,
            )
        return _closed(request, "unavailable", 503)
    overall = LEVELS_ZH.get(str(resp.json().get("overall") or ""), "")
    thanks = "提交成功，感谢您的评价！" + (f"总体评价：{overall}。" if overall else "")
    return redirect(request, f"/survey/{quote(token, safe='')}/done", flash=thanks)


@router.get("/survey/{token}/done")
async def survey_done(request: Request, token: str) -> Response:
    """After the answer (the flash thanks); a link not answered yet goes back to its form."""
    form = await _form(request, token)
    if isinstance(form, Response) and form.status_code == 200:  # answered
        return render(request, "survey_closed.html", message=MESSAGES["done"], reason="done")
    if isinstance(form, Response):
        return form
    return redirect(request, f"/survey/{quote(token, safe='')}")
