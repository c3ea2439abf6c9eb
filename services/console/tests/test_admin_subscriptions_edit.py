"""Agency subscriptions, the project edit form and the reports page's validation counts without a
browser, against the stub services of ``admin_stub``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from steward.console.app import build
from steward.console.settings import ConsoleSettings
from steward.console.views.admin_subscriptions import event_types

from .admin_stub import PROJECT, SECRET, SUB_ID, Services, labelled, sign_in


@pytest.fixture
def services() -> Services:
    return Services()


@pytest.fixture
async def client(services: Services) -> Any:
    settings = ConsoleSettings(environment="dev", jwt_dev_secret=SECRET, log_json=False)
    app = build(settings, transport=httpx.MockTransport(services))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as c:
        yield c


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
