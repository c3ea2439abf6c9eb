"""The service log page (服务台账) without a browser: the registry is a stub transport answering
like its REST API and recording what the console sent."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from steward.console.app import build
from steward.console.settings import ConsoleSettings

from .admin_stub import PROJECT, SECRET, Services, labelled, sign_in

ENTRY_ID = "5e0c1f7a-9a1b-4c2d-8e3f-1a2b3c4d5e6f"
RETURNED_ID = "6f1d2a8b-0b2c-4d3e-9f4a-2b3c4d5e6f70"


def entry(ident: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "project_id": PROJECT["id"],
        "project_code": PROJECT["code"],
        "tenant": "210112",
        "kind": "visit",
        "on_site": True,
        "visited_at": "2026-11-27T01:30:00Z",
        "place": "项目现场",
        "participants": [{"name": "李强", "unit": "浑南区营商局", "role_key": "leader", "person_id": None}],
        "problems_solved": "协调施工用电",
        "matter_ids": [],
        "status": status,
        "submitted_by": "steward-li",
        "submitted_at": "2026-11-27T08:00:00Z",
        "reviewed_by": None,
        "reviewed_at": None,
        "return_reason": None,
        "counts": status == "approved",
        "row_version": 1,
        **extra,
    }


class Registry(Services):
    """The admin stub plus the service log; ``queries`` keeps the list calls' parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/service-log" and request.method == "GET":
            self.queries.append(dict(request.url.params))
        return super().__call__(request)

    def answer(self, method: str, path: str, body: Any) -> httpx.Response:
        if path == "/v1/projects":
            return httpx.Response(200, json={"items": [PROJECT], "next_cursor": None})
        if path == "/v1/service-log":
            if method == "POST":
                if body["project"] == "bad":
                    return httpx.Response(
                        422, json={"error": {"code": "ledger_fields_missing", "message": "台账缺少地点"}}
                    )
                return httpx.Response(201, json=entry(ENTRY_ID, "submitted"))
            items = [
                entry(ENTRY_ID, "submitted"),
                entry(RETURNED_ID, "returned", return_reason="未写明解决的问题", reviewed_by="yingshang"),
            ]
            return httpx.Response(200, json={"items": items})
        if path.startswith("/v1/service-log/"):
            return httpx.Response(200, json=entry(ENTRY_ID, "approved"))
        return super().answer(method, path, body)


@pytest.fixture
def services() -> Registry:
    return Registry()


@pytest.fixture
async def client(services: Registry) -> Any:
    settings = ConsoleSettings(environment="dev", jwt_dev_secret=SECRET, log_json=False)
    app = build(settings, transport=httpx.MockTransport(services))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as c:
        yield c


async def test_the_list_shows_entries_with_their_status_and_reason(client: httpx.AsyncClient) -> None:
    await sign_in(client, "steward")
    page = await client.get("/service-log")
    assert page.status_code == 200
    text = page.text
    assert PROJECT["name"] in text and "2026年11月27日 09:30" in text  # Beijing time
    assert "走访" in text and "一线现场" in text and "李强（浑南区营商局）" in text
    assert "待审核" in text and "已退回" in text and "退回原因：未写明解决的问题" in text
    assert 'id="service-log-form"' in text
    assert "审核通过" not in text  # a steward does not review
    labelled(text)
    home = await client.get("/")
    assert 'href="/service-log"' in home.text


async def test_filters_go_to_the_api(client: httpx.AsyncClient, services: Registry) -> None:
    await sign_in(client, "steward")
    page = await client.get(
        "/service-log",
        params={"project": PROJECT["code"], "status": "returned"},
        headers={"HX-Request": "true"},
    )
    assert page.status_code == 200 and 'id="service-log-list"' in page.text
    assert services.queries[-1] == {"project": PROJECT["code"], "status": "returned", "limit": "100"}
    await client.get("/service-log", params={"status": "nonsense"})
    assert "status" not in services.queries[-1]


async def test_the_form_posts_exactly_the_api_body(client: httpx.AsyncClient, services: Registry) -> None:
    csrf = await sign_in(client, "steward")
    resp = await client.post(
        "/service-log",
        data={
            "csrf": csrf,
            "project": PROJECT["code"],
            "visited_at": "2026-11-27T09:30",
            "kind": "field_review",
            "on_site": "on",
            "place": "项目现场",
            "participants": "李强｜浑南区营商局｜leader\n王敏\n",
            "problems_solved": "协调施工用电",
            "matter_ids": "M-2026-0001，M-2026-0002",
        },
    )
    assert resp.status_code == 303
    assert services.sent[-1] == (
        "POST",
        "/v1/service-log",
        {
            "project": PROJECT["code"],
            "visited_at": "2026-11-27T09:30:00+08:00",
            "kind": "field_review",
            "on_site": True,
            "place": "项目现场",
            "participants": [
                {"name": "李强", "unit": "浑南区营商局", "role_key": "leader"},
                {"name": "王敏", "unit": ""},
            ],
            "problems_solved": "协调施工用电",
            "matter_ids": ["M-2026-0001", "M-2026-0002"],
        },
    )
    after = await client.get(resp.headers["location"])
    assert "已登记" in after.text


async def test_a_refused_entry_is_shown_beside_the_form(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client, "steward")
    resp = await client.post("/service-log", data={"csrf": csrf, "project": "bad", "visited_at": ""})
    assert resp.status_code == 303
    after = await client.get(resp.headers["location"])
    assert "未能登记：台账缺少地点" in after.text


async def test_review_calls_the_right_endpoints_with_the_csrf_token(
    client: httpx.AsyncClient, services: Registry
) -> None:
    csrf = await sign_in(client, "supervisor")
    page = await client.get("/service-log")
    assert f'action="/service-log/{ENTRY_ID}/approve"' in page.text
    assert f'action="/service-log/{RETURNED_ID}/approve"' not in page.text  # only submitted ones
    labelled(page.text)
    resp = await client.post(f"/service-log/{ENTRY_ID}/approve", data={"csrf": csrf})
    assert resp.status_code == 303
    assert services.sent[-1] == ("POST", f"/v1/service-log/{ENTRY_ID}/approve", {})
    resp = await client.post(f"/service-log/{ENTRY_ID}/return", data={"csrf": csrf, "reason": "缺少照片"})
    assert resp.status_code == 303
    assert services.sent[-1] == ("POST", f"/v1/service-log/{ENTRY_ID}/return", {"reason": "缺少照片"})
    # htmx sends the token as a header
    resp = await client.post(
        f"/service-log/{ENTRY_ID}/approve", headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    assert resp.headers.get("hx-redirect") == "/service-log"


async def test_forms_need_the_csrf_token(client: httpx.AsyncClient, services: Registry) -> None:
    await sign_in(client, "supervisor")
    before = len(services.sent)
    for path in ("/service-log", f"/service-log/{ENTRY_ID}/approve", f"/service-log/{ENTRY_ID}/return"):
        resp = await client.post(path, data={"csrf": "forged", "reason": "x"})
        assert resp.status_code == 403 and "CSRF" in resp.text, path
    assert len(services.sent) == before


async def test_a_service_refusal_is_the_chinese_error_page(
    client: httpx.AsyncClient, services: Registry
) -> None:
    csrf = await sign_in(client, "supervisor")
    services.refuse.add(f"/v1/service-log/{ENTRY_ID}/approve")
    resp = await client.post(f"/service-log/{ENTRY_ID}/approve", data={"csrf": csrf})
    assert resp.status_code == 403
    assert "无权访问" in resp.text and "无权操作该地区" in resp.text
