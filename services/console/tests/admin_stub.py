"""The stub services behind the administration pages' tests: a transport answering like the
registry's, notify's and issues' REST APIs and recording what the console sent; sign-in and form
helpers."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

SECRET = "unit-test-secret-0123456789abcdef"
UNIT_ID = "7a3c9a52-4c1c-4b59-9d7e-3f0f2c1b9d11"
SUB_ID = "0d9c7f1e-2b8a-4c55-8e0b-5b7d3f1a2c44"
TENANTS = [
    {"code": "210100", "name": "沈阳市", "kind": "city", "parent": None, "path": "210100", "level": "city"},
    {
        "code": "210112",
        "name": "浑南区",
        "kind": "district",
        "parent": "210100",
        "path": "210100/210112",
        "level": "district",
    },
]
DRY_RUN = {
    "tenant": "210112",
    "valid": True,
    "errors": [],
    "changes": [
        {"path": "dispatch.thresholds.district", "op": "replace", "old": "10000000", "new": "20000000"}
    ],
    "projects_examined": 12,
    "dispatch_changes": [
        {
            "project_id": "p1",
            "code": "210112-2026-00001",
            "name": "机器人产业园",
            "field": "tier",
            "current": "district",
            "proposed": "none",
        }
    ],
    "roster_changes": [],
}
PROJECT = {
    "id": "11111111-1111-1111-1111-111111111111",
    "code": "210112-2026-00007",
    "national_code": None,
    "tenant": "210112",
    "name": "工业机器人研发中心",
    "owner_unit_id": None,
    "total_investment": "25000000.00",
    "annual_plan_investment": None,
    "funding_type": "enterprise",
    "industry": "装备制造",
    "key_level": "none",
    "major": False,
    "stage": "negotiating",
    "stage_zh": "洽谈",
    "dispatch": {
        "tier": "district",
        "on_platform": True,
        "steward_required": False,
        "named_responsibility": False,
        "reasons": ["总投资 2500万 达到区级调度标准"],
        "rules_versions": ["210100@1"],
        "derived_at": "2026-11-01T00:00:00Z",
    },
    "location": None,
    "planned_start": None,
    "planned_completion": None,
    "row_version": 3,
}


class Services:
    """The registry and notify as far as these pages use them; ``sent`` keeps every write."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []
        self.refuse: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if "authorization" not in request.headers:
            return httpx.Response(401, json={"error": {"code": "missing_token", "message": "missing"}})
        body = json.loads(request.content) if request.content else None
        if method != "GET":
            self.sent.append((method, path, body))
        if path in self.refuse:
            return httpx.Response(403, json={"error": {"code": "forbidden", "message": "无权操作该地区"}})
        return self.answer(method, path, body)

    def answer(self, method: str, path: str, body: Any) -> httpx.Response:
        ok = httpx.Response
        if path == "/v1/tenants":
            if method == "POST":
                return ok(201, json={**body, "path": "210100/210112/" + body["code"], "level": "zone"})
            return ok(200, json={"items": TENANTS})
        if path == "/v1/units":
            if method == "POST":
                if body.get("credit_code") == "bad":
                    return ok(422, json={"error": {"code": "validation", "message": "统一社会信用代码无效"}})
                return ok(201, json={**body, "id": UNIT_ID, "created_at": "2026-11-30T00:00:00Z"})
            return ok(
                200,
                json={
                    "items": [
                        {
                            "id": UNIT_ID,
                            "tenant": "210112",
                            "kind": "department",
                            "name": "浑南区发改局",
                            "credit_code": None,
                            "created_at": "2026-01-01T00:00:00Z",
                        }
                    ]
                },
            )
        if path == "/v1/people":
            if method == "POST":
                return ok(201, json={**body, "id": "p-new", "created_at": "2026-11-30T00:00:00Z"})
            return ok(
                200,
                json={
                    "items": [
                        {
                            "id": "p1",
                            "tenant": "210112",
                            "unit_id": UNIT_ID,
                            "name": "王敏",
                            "title": "科长",
                            "phone": "138****5678",
                            "email": None,
                            "subject": "wangmin",
                            "created_at": "2026-01-01T00:00:00Z",
                        }
                    ]
                },
            )
        if path == "/v1/rules/presets":
            return ok(
                200, json={"items": [{"name": "strict-reports", "summary": "月报提前", "document": {}}]}
            )
        if path.endswith("/effective"):
            return ok(
                200,
                json={
                    "tenant": "210112",
                    "at": "2026-11-30T00:00:00Z",
                    "document": {"reports": {}},
                    "versions": [
                        {"tenant": "210100", "version": 1, "effective_from": "2026-01-01T00:00:00Z"}
                    ],
                },
            )
        if path.endswith("/versions"):
            return ok(200, json={"items": []})
        if path.endswith("/dry-run"):
            return ok(200, json=DRY_RUN)
        if method == "PUT" and path == "/v1/rules/210112":
            return ok(201, json={"tenant": "210112", "version": 4})
        if method == "POST" and path == "/v1/rules/210112/presets/strict-reports":
            return ok(201, json={"tenant": "210112", "version": 5})
        if path == "/v1/subscriptions":
            if method == "POST":
                return ok(
                    201,
                    json={
                        **body,
                        "id": SUB_ID,
                        "owner_subject": "dev-user",
                        "created_at": "2026-11-30T00:00:00Z",
                        "secret": "whsec-only-once",
                    },
                )
            return ok(
                200,
                json={
                    "items": [
                        {
                            "id": SUB_ID,
                            "tenant": "210112",
                            "owner_subject": "dev-user",
                            "name": "市数据局",
                            "url": "https://data.example.gov.cn/hook",
                            "event_types": ["matter.*"],
                            "enabled": True,
                            "created_at": "2026-11-01T00:00:00Z",
                        }
                    ]
                },
            )
        if path == f"/v1/subscriptions/{SUB_ID}":
            return ok(200, json={"id": SUB_ID, "name": "市数据局", "enabled": body["enabled"]})
        if path == f"/v1/projects/{PROJECT['code']}":
            if method == "PATCH":
                if body.get("total_investment") == "很多":
                    return ok(422, json={"error": {"code": "validation", "message": "金额无效"}})
                dispatch = {**PROJECT["dispatch"], "tier": "city", "reasons": ["总投资 6亿 达到市级调度标准"]}
                return ok(200, json={**PROJECT, **body, "dispatch": dispatch})
            return ok(200, json=PROJECT)
        if path in ("/v1/projects", "/v1/matters", "/v1/inbox", "/v1/reports"):
            return ok(200, json={"items": [], "next_cursor": None})
        return ok(404, json={"error": {"code": "not_found", "message": "not found"}})


async def sign_in(client: httpx.AsyncClient, role: str, tenant: str = "210112") -> str:
    page = await client.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    resp = await client.post(
        "/signin/dev", data={"csrf": token.group(1), "person": "", "role": role, "tenant": tenant}
    )
    assert resp.status_code == 303, resp.text
    home = await client.get("/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert csrf is not None
    return csrf.group(1)


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, name
    return (
        found.group(1)
        .replace("&#34;", '"')
        .replace("&quot;", '"')
        .replace("&#39;", "'")
        .replace("&amp;", "&")
    )


def labelled(html: str) -> None:
    """Every visible form field has a <label for=…> (accessibility basics)."""
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if 'type="hidden"' in tag or 'type="checkbox"' in tag:
            continue
        ident = re.search(r'id="([^"]+)"', tag)
        assert ident is not None, tag
        assert f'for="{ident.group(1)}"' in html, tag
