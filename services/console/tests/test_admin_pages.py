"""The administration pages without a browser: the services are a stub transport answering like
their REST APIs and recording what the console sent (``admin_stub``)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from steward.console.app import build
from steward.console.settings import ConsoleSettings

from .admin_stub import SECRET, UNIT_ID, Services, hidden, labelled, sign_in


@pytest.fixture
def services() -> Services:
    return Services()


@pytest.fixture
async def client(services: Services) -> Any:
    settings = ConsoleSettings(environment="dev", jwt_dev_secret=SECRET, log_json=False)
    app = build(settings, transport=httpx.MockTransport(services))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as c:
        yield c


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
