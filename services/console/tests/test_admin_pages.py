"""The administration pages and the project edit form without a browser: the services are a stub
transport answering like their REST APIs and recording what the console sent."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from steward.console.app import build
from steward.console.settings import ConsoleSettings
from steward.console.views.admin_subscriptions import event_types

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


@pytest.fixture
def services() -> Services:
    return Services()


@pytest.fixture
async def client(services: Services) -> Any:
    settings = ConsoleSettings(environment="dev", jwt_dev_secret=SECRET, log_json=False)
    app = build(settings, transport=httpx.MockTransport(services))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as c:
        yield c


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


# ------------------------------------------------------------------------------------ the gate


async def test_a_non_admin_gets_the_refusal_page(client: httpx.AsyncClient) -> None:
    await sign_in(client, "dispatcher")
    for path in ("/admin/tenants", "/admin/units", "/admin/people", "/admin/rules", "/admin/subscriptions"):
        resp = await client.get(path)
        assert resp.status_code == 403, path
        assert "无权访问" in resp.text and "本级管理员" in resp.text
    home = await client.get("/")
    assert 'href="/admin/rules"' not in home.text


async def test_a_service_refusal_is_the_chinese_error_page(
    client: httpx.AsyncClient, services: Services
) -> None:
    await sign_in(client, "tenant_admin")
    services.refuse.add("/v1/subscriptions")
    resp = await client.get("/admin/subscriptions")
    assert resp.status_code == 403
    assert "无权访问" in resp.text and "无权操作该地区" in resp.text


async def test_forms_need_the_csrf_token(client: httpx.AsyncClient, services: Services) -> None:
    await sign_in(client, "tenant_admin")
    for path in (
        "/admin/people",
        "/admin/units",
        "/admin/tenants",
        "/admin/rules/save",
        "/admin/subscriptions",
    ):
        resp = await client.post(path, data={"name": "x"})
        assert resp.status_code == 403 and "CSRF" in resp.text, path
    assert services.sent == []


# ---------------------------------------------------------------------------- tenants, units, people


async def test_tenants_listed_as_a_tree_and_created(client: httpx.AsyncClient, services: Services) -> None:
    csrf = await sign_in(client, "tenant_admin")
    page = await client.get("/admin/tenants")
    assert page.status_code == 200 and "浑南区" in page.text and "区级调度" in page.text
    labelled(page.text)
    resp = await client.post(
        "/admin/tenants",
        data={"csrf": csrf, "code": "210112001", "name": "白塔街道", "kind": "street", "parent": "210112"},
    )
    assert resp.status_code == 303
    assert services.sent == [
        (
            "POST",
            "/v1/tenants",
            {"code": "210112001", "name": "白塔街道", "kind": "street", "parent": "210112"},
        )
    ]
    assert "已新增 白塔街道" in (await client.get(resp.headers["location"])).text


async def test_units_listed_and_created_with_the_service_refusal_beside_the_form(
    client: httpx.AsyncClient, services: Services
) -> None:
    csrf = await sign_in(client, "tenant_admin")
    page = await client.get("/admin/units", params={"tenant": "210112"})
    assert "浑南区发改局" in page.text and "职能部门" in page.text
    labelled(page.text)
    bad = await client.post(
        "/admin/units",
        data={"csrf": csrf, "tenant": "210112", "kind": "enterprise", "name": "某公司", "credit_code": "bad"},
    )
    assert bad.status_code == 400 and "统一社会信用代码无效" in bad.text
    assert 'value="某公司"' in bad.text  # what was typed stays
    good = await client.post(
        "/admin/units", data={"csrf": csrf, "tenant": "210112", "kind": "department", "name": "浑南区住建局"}
    )
    assert good.status_code == 303
    assert services.sent[-1] == (
        "POST",
        "/v1/units",
        {"tenant": "210112", "kind": "department", "name": "浑南区住建局", "credit_code": None},
    )


async def test_people_listed_with_units_and_created(client: httpx.AsyncClient, services: Services) -> None:
    csrf = await sign_in(client, "tenant_admin")
    page = await client.get("/admin/people", params={"tenant": "210112"})
    assert "王敏" in page.text and "浑南区发改局" in page.text and "138****5678" in page.text
    labelled(page.text)
    resp = await client.post(
        "/admin/people",
        data={
            "csrf": csrf,
            "tenant": "210112",
            "unit_id": UNIT_ID,
            "name": "李强",
            "title": "代办员",
            "phone": "13800001111",
            "email": "",
            "wecom_id": "",
            "subject": "liqiang",
        },
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/admin/people?tenant=210112"
    assert services.sent == [
        (
            "POST",
            "/v1/people",
            {
                "tenant": "210112",
                "name": "李强",
                "title": "代办员",
                "unit_id": UNIT_ID,
                "phone": "13800001111",
                "subject": "liqiang",
            },
        )
    ]


# ------------------------------------------------------------------------------------------ rules


async def test_rules_are_saved_only_after_the_dry_run_was_shown(
    client: httpx.AsyncClient, services: Services
) -> None:
    csrf = await sign_in(client, "tenant_admin")
    proposal = json.dumps({"dispatch": {"thresholds": {"district": "20000000"}}})
    # saving without a dry run (or with a forged proof) is refused and nothing reaches the registry
    refused = await client.post(
        "/admin/rules/save",
        data={"csrf": csrf, "tenant": "210112", "document": proposal, "proof": "forged", "comment": "x"},
    )
    assert refused.status_code == 400 and "请先试算" in refused.text
    assert services.sent == []

    shown = await client.post(
        "/admin/rules/dry-run", data={"csrf": csrf, "tenant": "210112", "document": proposal}
    )
    assert shown.status_code == 200
    assert "dispatch.thresholds.district" in shown.text and "210112-2026-00001" in shown.text
    labelled(shown.text)
    proof = hidden(shown.text, "proof")
    assert json.loads(hidden(shown.text, "document")) == json.loads(proposal)

    # the proof covers exactly the document that was tried
    changed = json.dumps({"dispatch": {"thresholds": {"district": "1"}}})
    swapped = await client.post(
        "/admin/rules/save",
        data={"csrf": csrf, "tenant": "210112", "document": changed, "proof": proof, "comment": "x"},
    )
    assert swapped.status_code == 400
    saved = await client.post(
        "/admin/rules/save",
        data={
            "csrf": csrf,
            "tenant": "210112",
            "document": proposal,
            "proof": proof,
            "comment": "区级门槛提高到2000万",
            "effective_from": "2027-01-01",
        },
    )
    assert saved.status_code == 303
    assert services.sent[-1] == (
        "PUT",
        "/v1/rules/210112",
        {
            "document": json.loads(proposal),
            "comment": "区级门槛提高到2000万",
            "effective_from": "2027-01-01T00:00:00+08:00",
        },
    )
    assert [s[1] for s in services.sent] == ["/v1/rules/210112/dry-run", "/v1/rules/210112"]
    assert "第4版" in (await client.get(saved.headers["location"])).text


async def test_a_preset_is_dry_run_before_it_is_applied(
    client: httpx.AsyncClient, services: Services
) -> None:
    csrf = await sign_in(client, "tenant_admin")
    page = await client.get("/admin/rules")
    assert "strict-reports" in page.text
    refused = await client.post(
        "/admin/rules/presets/apply", data={"csrf": csrf, "tenant": "210112", "preset": "strict-reports"}
    )
    assert refused.status_code == 400 and services.sent == []
    shown = await client.post(
        "/admin/rules/presets/dry-run", data={"csrf": csrf, "tenant": "210112", "preset": "strict-reports"}
    )
    assert "机器人产业园" in shown.text and 'action="/admin/rules/presets/apply"' in shown.text
    applied = await client.post(
        "/admin/rules/presets/apply",
        data={
            "csrf": csrf,
            "tenant": "210112",
            "preset": "strict-reports",
            "proof": hidden(shown.text, "proof"),
            "comment": "",
        },
    )
    assert applied.status_code == 303
    assert services.sent[-1] == ("POST", "/v1/rules/210112/presets/strict-reports", {"comment": ""})


async def test_invalid_json_is_refused_before_any_call(client: httpx.AsyncClient, services: Services) -> None:
    csrf = await sign_in(client, "tenant_admin")
    resp = await client.post(
        "/admin/rules/dry-run", data={"csrf": csrf, "tenant": "210112", "document": "[1"}
    )
    assert resp.status_code == 400 and "不是有效的 JSON" in resp.text
    assert services.sent == []


# ---------------------------------------------------------------------------------- subscriptions


def test_event_types_split_on_lines_and_commas() -> None:
    assert event_types("matter.*\nproject.registered， report.late") == [
        "matter.*",
        "project.registered",
        "report.late",
    ]


async def test_subscriptions_created_with_the_secret_shown_once_and_disabled(
    client: httpx.AsyncClient, services: Services
) -> None:
    csrf = await sign_in(client, "tenant_admin")
    page = await client.get("/admin/subscriptions")
    assert "市数据局" in page.text and "启用" in page.text
    labelled(page.text)
    created = await client.post(
        "/admin/subscriptions",
        data={
            "csrf": csrf,
            "tenant": "210112",
            "name": "区大数据中心",
            "url": "https://bigdata.example.gov.cn/hook",
            "event_types": "matter.*\nproject.registered",
        },
    )
    assert created.status_code == 201 and "whsec-only-once" in created.text
    assert "whsec-only-once" not in (created.headers.get("set-cookie") or "")
    assert services.sent[-1][2]["event_types"] == ["matter.*", "project.registered"]
    assert "whsec-only-once" not in (await client.get("/admin/subscriptions")).text
    off = await client.post(f"/admin/subscriptions/{SUB_ID}/enabled", data={"csrf": csrf, "enabled": "false"})
    assert off.status_code == 303
    assert services.sent[-1] == ("PATCH", f"/v1/subscriptions/{SUB_ID}", {"enabled": False})
    assert "已停用订阅" in (await client.get("/admin/subscriptions")).text


# ------------------------------------------------------------------------------------ project edit


async def test_project_edit_sends_only_what_changed_and_shows_the_tier(
    client: httpx.AsyncClient, services: Services
) -> None:
    csrf = await sign_in(client, "dispatcher")
    code = PROJECT["code"]
    form = await client.get(f"/projects/{code}/edit")
    assert form.status_code == 200 and 'value="工业机器人研发中心"' in form.text
    labelled(form.text)
    bad = await client.post(
        f"/projects/{code}/edit",
        data={"csrf": csrf, "row_version": "3", "name": PROJECT["name"], "total_investment": "很多"},
    )
    assert bad.status_code == 400 and "金额无效" in bad.text
    saved = await client.post(
        f"/projects/{code}/edit",
        data={
            "csrf": csrf,
            "row_version": "3",
            "name": PROJECT["name"],
            "total_investment": "6亿",
            "funding_type": "enterprise",
            "key_level": "none",
            "industry": "装备制造",
        },
    )
    assert saved.status_code == 200
    method, path, body = services.sent[-1]
    assert (method, path) == ("PATCH", f"/v1/projects/{code}")
    assert body == {"total_investment": "6亿", "expected_version": 3}
    assert "市级调度" in saved.text and "总投资 6亿 达到市级调度标准" in saved.text
    assert 'id="dispatch-reasons"' in saved.text


# ------------------------------------------------------------------------- reports (render cost)


def test_open_periods_validate_each_condition_and_project_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from steward.console.views import reports

    today = reports.today().isoformat()
    period = {"schedule_key": "monthly", "period": "2026-11", "start": "2000-01-01", "due_date": today}
    schedules = [
        {"key": "monthly", "applies_when": {"tiers": ["city"]}, "periods": [period]},
        {
            "key": "quarterly",
            "applies_when": {"tiers": ["city"]},
            "periods": [{**period, "schedule_key": "quarterly"}],
        },
        {"key": "closed", "applies_when": {}, "periods": [{**period, "start": "2999-01-01"}]},
    ]
    projects = [
        {"code": f"210112-2026-{i:05d}", "total_investment": "600000000", "dispatch": {"tier": tier}}
        for i, tier in enumerate(["city", "district"] * 10)
    ]
    seen = {"conditions": 0, "facts": 0}
    conditions, facts = reports.Applicability.model_validate, reports.ProjectFacts.model_validate

    def count(kind: str, validate: Any) -> Any:
        def wrapped(value: Any) -> Any:
            seen[kind] += 1
            return validate(value)

        return wrapped

    monkeypatch.setattr(reports.Applicability, "model_validate", count("conditions", conditions))
    monkeypatch.setattr(reports.ProjectFacts, "model_validate", count("facts", facts))
    found = reports._open_periods(schedules, projects)
    assert {(p["project"]["code"], p["schedule_key"]) for p in found} == {
        (p["code"], key)
        for p in projects
        if p["dispatch"]["tier"] == "city"
        for key in ("monthly", "quarterly")
    }
    assert seen == {"conditions": 1, "facts": 20}  # not one per (schedule, project) pair
