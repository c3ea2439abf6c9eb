"""Registering the projects of a spreadsheet (.xlsx / .csv) the district already keeps: the upload
form, the registry's template proxied with the user's token, and the registry's answer (created
projects, or every problem row by row; all or nothing). docs/registry-import.md is the API."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Receive, Scope, Send

from steward.console.api import ApiError
from steward.console.projects_common import tenants_of
from steward.console.session import User
from steward.console.web import ApiDep, Csrf, UserDep, render, sessions_of

router = APIRouter()

PATH = "/projects/import"
MAX_FILE_BYTES = 8 * 1024 * 1024  # the registry's limit for one file on this path
MAX_ROWS = 10_000  # the registry's limit of data rows
# the console's own body limit for this form (file + CSRF field + multipart framing); every other
# request keeps STEWARD_MAX_BODY_BYTES
BODY_LIMIT = MAX_FILE_BYTES + 256 * 1024
SHOWN = 500  # created projects listed on the page (the rest are in the projects list)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TYPES = {".xlsx": XLSX, ".csv": "text/csv"}
LIMITS = "每个文件不超过 8 MB、不超过 10,000 行数据（约 10,000 行的 .xlsx 为 0.7 MB，.csv 为 1.5 MB）；更大的表格请分成几个文件导入。"

# the sheet's columns as docs/registry-import.md describes them (header, required, values)
COLUMNS = [
    ("项目名称", True, "文字，不超过 200 字"),
    ("总投资", True, "如 2500万、1.2亿、1,234.50；表头写明单位时（总投资（万元））纯数字按该单位计"),
    ("所属地区", False, "区划代码或本辖区内的地区名称（如 浑南区）；不填为本人所在地区"),
    ("年度计划投资", False, "金额，写法同总投资"),
    ("全国投资项目代码", False, "24 位（含短横线）或 20 位"),
    ("资金来源", False, "企业投资、政府投资或 PPP；不填为企业投资"),
    ("行业", False, "文字"),
    ("重点级别", False, "国家级、省级、市级、区级/县级、无"),
    ("重大项目", False, "是/否"),
    ("项目阶段", False, "招商洽谈、签约、前期、新开工、续建、竣工、投产；不填为招商洽谈"),
    ("建设地点、经度、纬度", False, "地址与经纬度（十进制度）一起填写才会保存"),
    ("计划开工、计划竣工", False, "日期，如 2026-03-01、2026/3/1、2026年3月1日，或月份 2026年3月"),
]

# the registry's codes for a file it cannot take, in the user's words
REFUSALS = {
    "empty_file": "文件是空的，请选择填好的表格。",
    "empty_sheet": "表格在表头下面没有数据行。",
    "no_header": "前 10 行中找不到表头：表头至少要有“项目名称”和“总投资”两列（可下载模板对照）。",
    "unreadable_file": "无法读取该文件：请上传 .xlsx 或 .csv 文件（旧版 .xls 请在 Excel 中另存为 .xlsx 或 .csv）。",
    "too_large_unpacked": "该工作簿解压后超过 100 MB，无法读取。",
}
# a row's problem in the user's words: by the registry's problem type, then by the field
PROBLEM_TYPES = {
    "unknown_tenant": "所属地区不在本辖区内或无法识别：请填写区划代码或本辖区内的地区名称",
    "ambiguous_tenant": "有多个地区同名：请改填区划代码",
    "invalid_owner": "业主单位须是本人可见的企业单位",
    "invalid_stage": "项目不能以停建或终止阶段登记",
    "national_code_taken": "该全国投资项目代码已登记在其他项目上",
    "national_code_repeated": "该全国投资项目代码在表格中出现了不止一次",
    "invalid_boolean": "重大项目只能填“是”或“否”",
    "string_too_long": "内容过长",
}
MONEY = "金额写法不对：应写作 2500万、1.2亿、25000000 或 1,234.50"
DATE = "日期写法不对：应写作 2026-03-01、2026/3/1、2026年3月1日 或 2026年3月"
FIELD_REASONS = {
    "name": "项目名称未填写或过长（不超过 200 字）",
    "total_investment": MONEY,
    "annual_plan_investment": MONEY,
    "tenant": PROBLEM_TYPES["unknown_tenant"],
    "national_code": "全国投资项目代码应为 24 位（含短横线）或 20 位",
    "planned_start": DATE,
    "planned_completion": DATE,
    "funding_type": "资金来源只能填 企业投资、政府投资 或 PPP",
    "key_level": "重点级别只能填 国家级、省级、市级、区级/县级 或 无",
    "stage": "项目阶段只能填 招商洽谈、签约、前期、新开工、续建、竣工 或 投产",
    "location": "建设地点的经纬度不对（十进制度）",
}
MISSING = {"name": "项目名称未填写", "total_investment": "总投资未填写", "tenant": "未填写所属地区"}


def _may_import(user: User) -> bool:
    """The rule the projects list uses for its 登记项目 link."""
    return user.can_dispatch


def _form(request: Request, status: int = 200, **context: Any) -> Response:
    return render(
        request,
        "project_import.html",
        status,
        nav="projects",
        columns=COLUMNS,
        limits=LIMITS,
        accept=",".join(TYPES),
        **context,
    )


def _forbidden(request: Request) -> Response:
    return render(
        request, "error.html", 403, title="无权访问", message="只有可以登记项目的用户才能导入项目表格。"
    )


@router.get(PATH)
async def import_form(request: Request, user: UserDep) -> Response:
    if not _may_import(user):
        return _forbidden(request)
    return _form(request)


@router.get(PATH + "/template.xlsx")
async def import_template(request: Request, user: UserDep, api: ApiDep) -> Response:
    """The registry's template as it made it, fetched with the user's token."""
    resp = await api.call("GET", "registry", "/v1/projects/import/template.xlsx")
    if not isinstance(resp, httpx.Response):  # a JSON answer where a workbook was expected
        raise ApiError(502, "bad_gateway", "登记服务未返回模板文件")
    return Response(
        resp.content,
        media_type=resp.headers.get("content-type", XLSX).split(";")[0] or XLSX,
        headers={
            "Content-Disposition": 'attachment; filename="projects-import-template.xlsx"; '
            f"filename*=UTF-8''{quote('项目导入模板.xlsx')}",
            "Cache-Control": "private, no-store",
        },
    )


@router.post(PATH, dependencies=[Csrf])
async def import_upload(request: Request, user: UserDep, api: ApiDep) -> Response:
    if not _may_import(user):
        return _forbidden(request)
    form = await request.form()
    dry_run = form.get("dry_run") == "on"
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _form(request, 400, error="请选择要导入的表格文件（.xlsx 或 .csv）。", dry_run=dry_run)
    filename = upload.filename.replace("\\", "/").rsplit("/", 1)[-1]
    ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext not in TYPES:
        return _form(request, 400, error=REFUSALS["unreadable_file"], filename=filename, dry_run=dry_run)
    content = await upload.read(MAX_FILE_BYTES + 1)
    if len(content) > MAX_FILE_BYTES:
        return _form(request, 413, too_large=True, filename=filename, dry_run=dry_run)
    if not content:
        return _form(request, 400, error=REFUSALS["empty_file"], filename=filename, dry_run=dry_run)
    try:
        result = await api.upload(
            "registry",
            "/v1/projects/import",
            field="file",
            filename=filename,
            content=content,
            content_type=TYPES[ext],
            dry_run="true" if dry_run else None,
        )
    except ApiError as exc:
        if exc.status in (401, 403) or exc.status >= 500:
            raise  # the session ends / 无权访问 / 服务暂时不可用 pages
        context: dict[str, Any] = {"filename": filename, "dry_run": dry_run}
        if exc.status == 413:
            return _form(request, 413, too_large=True, **context)
        if exc.code == "import_invalid" and isinstance(exc.details, list):
            problems = [_problem(d) for d in exc.details if isinstance(d, dict)]
            return _form(request, 422, problems=problems, **context)
        return _form(
            request, 422 if exc.status == 422 else 400, error=REFUSALS.get(exc.code, exc.text), **context
        )
    names = {t["code"]: t.get("name", t["code"]) for t in await tenants_of(api)}
    items = list(result.get("items") or [])
    return _form(
        request,
        result=result,
        created=items[:SHOWN],
        more=max(len(items) - SHOWN, 0),
        names=names,
        filename=filename,
        dry_run=bool(result.get("dry_run")),
    )


def _problem(detail: dict[str, Any]) -> dict[str, Any]:
    """One row of the problem table: 行, 列, 原因 in Chinese, with the registry's own words kept."""
    kind = str(detail.get("type") or "")
    field = str(detail.get("field") or "").split(".")[0]
    message = str(detail.get("message") or "")
    if kind == "missing" or (kind == "string_too_short" and field in MISSING):
        reason = MISSING.get(field, "必填项未填写")
    else:
        reason = PROBLEM_TYPES.get(kind) or FIELD_REASONS.get(field, "")
    return {
        "row": detail.get("row"),
        "column": detail.get("column") or field,
        "reason": reason or message,
        "detail": message if reason else "",
    }


DRAIN_LIMIT = 64 * 1024 * 1024


async def _drain(receive: Receive, declared: int) -> None:
    """Read and drop an oversized upload (up to :data:`DRAIN_LIMIT`) so the browser, still sending,
    gets the answer instead of a reset connection; a larger one is answered at once."""
    if declared > DRAIN_LIMIT:
        return
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


class ImportBodyLimit:
    """An upload larger than this form takes gets the import page's Chinese 413 instead of the
    kit's JSON refusal (whose body limit, raised for this path to :data:`BODY_LIMIT`, sits inside)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") == PATH and scope.get("method") == "POST":
            declared = dict(scope.get("headers") or []).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > BODY_LIMIT:
                request = Request(scope, receive)
                user = sessions_of(request).load(request)
                request.state.user = user
                if user is not None and _may_import(user):  # only a signed-in importer's upload is drained
                    await _drain(receive, int(declared))
                    response = _form(request, 413, too_large=True)
                else:
                    response = Response(
                        "上传的文件过大（超过 8 MB）", status_code=413, media_type="text/plain; charset=utf-8"
                    )
                response.headers["Connection"] = "close"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
