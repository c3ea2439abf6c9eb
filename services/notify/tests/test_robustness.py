"""No 5xx from any input: every REST endpoint (enumerated from the OpenAPI document) is driven with
malformed and hostile input under valid tokens; every answer is < 500 and every 4xx carries the one
error body ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from steward.notify.app import openapi_app
from steward.notify.testing import Notify, auth, scenario
from steward.registry.testing import Registry

SPEC = openapi_app().openapi()
OPERATIONS = [
    (method.upper(), path, op)
    for path, ops in SPEC["paths"].items()
    for method, op in ops.items()
    if path != "/v1/inbox/stream"  # an endless SSE stream: covered below with its own client
]

BAD_IDS = [
    "not-a-uuid",
    "0" * 5000,
    "-1",
    "%00",
    "..%2F..%2Fetc",
    "' OR 1=1 --",
    "区县",
    str(uuid.uuid4()),
]
BAD_TEXT = ["x" * 5000, "%00", "a%00b", "' OR 1=1 --", "区县/../x", "%F0%9F%92%A9", "{{7*7}}"]


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


BAD_CURSORS = [
    "!!!",
    "%00",
    "x" * 5000,
    _cursor([1, 2]),
    _cursor(["x", "y"]),
    _cursor([None, None]),
    _cursor(["2026-01-01T00:00:00+00:00", "nope"]),
    _cursor([{"a": 1}, [1]]),
    _cursor({"a": 1}),
    _cursor(["2026-01-01T00:00:00+00:00"]),
    base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
]

BAD_URLS = [
    "ftp://example.com/hook",
    "javascript:alert(1)//x",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_x",
    "http://[::1]:8080/x",
    "http://[fe80::1%25eth0]/x",
    "http://0x7f000001/x",
    "http://2130706433/x",
    "https://169.254.169.254/latest/meta-data",
    "https://user:pw@example.com/x",
    "https://example.com:99999/x",
    "https://example.com:-1/x",
    "https://example.com:abc/x",
    "https://例子.测试/hook",
    "https://xn--/hook",
    "https://xn--zz-zzzz.com/hook",
    "https://" + "a" * 64 + ".com/hook",
    "https://" + ".".join(["a" * 60] * 5) + ".com/hook",
    "https://a..b/hook",
    "https://\u0000evil.com/x",
    "https://evil.com\u0000.example.com/x",
    "https://[not-an-ip]/x",
    "https:///nohost",
    "https://exa mple.com/x",
    "https://" + "\u200b" * 10 + "/x",
]

HOSTILE_TEMPLATES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ range.__self__ }}",
    "{% for x in range(10**9) %}{% endfor %}",
    "{{ 1/0 }}",
    "{{ '%s %s' % (1,) }}",
    "{{ [].pop() }}",
    "{{ {}['x'].y }}",
    "{{ data.title.nope() }}",
    "{{ 'a' * 100000000 }}",
    "{{ 9 ** 9 ** 9 }}",
    "{{ [1] * 100000000 }}",
    "{{ 'ab'|center(1000000000) }}",
    "{{ 'x'.ljust(1000000000) }}",
    "{{ '{:>1000000000}'.format(1) }}",
    "{% set s = 'aaaaaaaaaaaaaaaa' %}" + "{% set s = s ~ s %}" * 40 + "{{ s|length }}",
    "{% set s = 'aaaaaaaaaaaaaaaa' %}" + "{% set s = s + s %}" * 40 + "{{ s|length }}",
    "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
    "{% for a in range(2000) %}{% for b in range(2000) %}{% for c in range(2000) %}"
    "{% endfor %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "{% for a in range(100000) %}{{ 'x' * 99999 }}{% endfor %}",
    "{{ data|tojson }}{{ event.time|localtime('%Q%') }}",
    "{{ (1).__class__ }}",
    "{% raw %}{{ unterminated",
    "{{",
    "\u0000{{ 1 }}",
]


def check(r: httpx.Response, what: str) -> None:
    assert r.status_code < 500, f"{what} -> {r.status_code}: {r.text[:500]}"
    if r.status_code >= 400:
        body = r.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"{what}: {r.text[:300]}"
        assert isinstance(body["error"].get("code"), str) and body["error"]["code"], what
        assert isinstance(body["error"].get("message"), str), what


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def _wrong_types(schema: dict[str, Any]) -> list[Any]:
    """Bodies with each property of the request schema replaced by hostile values."""
    props = schema.get("properties", {})
    out: list[Any] = [None, [], "x", 1, {}, {"unknown": 1}, [{"a": 1}] * 3]
    hostile: list[Any] = [None, 123, -1, 1e308, True, [], {}, "x" * 100_000, "\u0000", ["\u0000"], {"$ne": 1}]
    for name in props:
        for value in hostile:
            out.append({**{k: "210100" for k in props}, name: value})
    return out


def _schema_of(op: dict[str, Any]) -> dict[str, Any]:
    ref = op["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in ref:
        return dict(SPEC["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]])
    return dict(ref)


@pytest.fixture(scope="module")
async def world(registry: Registry) -> dict[str, Any]:
    sc = await scenario(registry, tag="robust")
    return {"sc": sc}


def _principals(sc: Any) -> list[dict[str, str]]:
    return [
        auth(sc.tenant, "tenant_admin", sub=f"admin-{sc.tenant}"),
        auth(sc.city, "platform_admin", sub="city-admin"),
        auth(sc.tenant, "agency", sub=f"agency-{sc.tenant}"),
        auth(sc.tenant, "agent", sub=f"u-agent-{sc.tenant}"),
        auth(sc.other_district, "tenant_admin", sub="other-admin"),
        auth("999999", "tenant_admin", sub="ghost-admin"),  # a tenant the registry does not know
    ]


async def test_every_endpoint_with_bad_path_query_and_body_never_5xx(
    notify: Notify, world: dict[str, Any]
) -> None:
    sc = world["sc"]
    headers_list = _principals(sc)
    for method, path, op in OPERATIONS:
        path_params = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        query_params = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
        for headers in headers_list[:1] + headers_list[2:3] + headers_list[5:]:
            # bad path values (every path parameter at once and one at a time)
            for bad in BAD_IDS + BAD_TEXT[:2]:
                url = _fill(path, {name: bad for name in path_params})
                r = await notify.http.request(method, url, headers=headers)
                check(r, f"{method} {url}")
            # bad query values
            for name in query_params:
                for bad in [*BAD_TEXT, "-5", "true", "99999999999999999999", *BAD_CURSORS]:
                    url = _fill(path, {n: str(uuid.uuid4()) for n in path_params})
                    r = await notify.http.request(method, url, params={name: bad}, headers=headers)
                    check(r, f"{method} {url}?{name}={bad[:40]}")
        if "requestBody" in op:
            schema = _schema_of(op)
            url = _fill(path, {n: str(uuid.uuid4()) for n in path_params})
            admin = headers_list[0]
            r = await notify.http.request(method, url, headers=admin)  # missing body
            check(r, f"{method} {url} no body")
            for raw in (b"{", b"\xff\xfe", b"null", b'{"a":' * 2000, b"[]" * 10):
                r = await notify.http.request(
                    method, url, content=raw, headers={**admin, "content-type": "application/json"}
                )
                check(r, f"{method} {url} raw {raw[:20]!r}")
            r = await notify.http.request(
                method, url, content=b"a=b", headers={**admin, "content-type": "text/plain"}
            )
            check(r, f"{method} {url} text/plain")
            for body in _wrong_types(schema):
                r = await notify.http.request(method, url, json=body, headers=admin)
                check(r, f"{method} {url} {json.dumps(body)[:120]}")


async def test_cursors_on_real_lists_never_5xx(notify: Notify, world: dict[str, Any]) -> None:
    sc = world["sc"]
    admin = auth(sc.tenant, "tenant_admin", sub=f"admin-{sc.tenant}")
    agency = auth(sc.tenant, "agency", sub=f"agency-cursor-{sc.tenant}")
    r = await notify.http.post(
        "/v1/subscriptions",
        json={"tenant": sc.tenant, "name": "n", "url": "http://127.0.0.1:9/x", "event_types": ["matter.*"]},
        headers=agency,
    )
    assert r.status_code == 201, r.text
    sub_id = r.json()["id"]
    for url, headers in (
        ("/v1/inbox", admin),
        ("/v1/deliveries", admin),
        (f"/v1/subscriptions/{sub_id}/deliveries", agency),
    ):
        for cursor in BAD_CURSORS:
            r = await notify.http.get(url, params={"cursor": cursor}, headers=headers)
            check(r, f"GET {url} cursor={cursor[:40]}")
            assert r.status_code == 422, f"{url} {cursor[:40]}: {r.status_code} {r.text[:200]}"


@pytest.mark.parametrize("source", HOSTILE_TEMPLATES)
async def test_hostile_templates_are_refused_or_bounded(
    notify: Notify, world: dict[str, Any], source: str
) -> None:
    sc = world["sc"]
    admin = auth(sc.tenant, "tenant_admin", sub=f"admin-{sc.tenant}")
    for body in (
        {"tenant": sc.tenant, "key": "matter.overdue", "template": {"subject": source, "body": source}},
        {
            "tenant": sc.tenant,
            "key": "matter.overdue",
            "template": {"subject": "s", "body": "b", "html": source},
        },
    ):
        r = await notify.http.post("/v1/templates/preview", json=body, headers=admin, timeout=20)
        check(r, f"preview {source[:60]}")
        if r.status_code == 200:
            out = r.json()
            assert len(out["body"]) + len(out["html"]) + len(out["subject"]) < 2_000_000, source[:60]
            assert "__globals__" not in out["body"] and "subclasses" not in out["body"], source[:60]
    r = await notify.http.put(
        f"/v1/templates/{sc.tenant}/robust.{abs(hash(source)) % 1000}/zh-CN",
        json={"subject": source, "body": source},
        headers=admin,
        timeout=20,
    )
    check(r, f"put {source[:60]}")


async def test_hostile_preview_events_never_5xx(notify: Notify, world: dict[str, Any]) -> None:
    sc = world["sc"]
    admin = auth(sc.tenant, "tenant_admin", sub=f"admin-{sc.tenant}")
    events: list[Any] = [
        {},
        {"type": 1, "data": "str", "time": "nope"},
        {"type": "steward.x.v1", "data": [1, 2], "tenant": {"a": 1}},
        {"type": "a.b.c.d.e.f", "data": {"deadline": "garbage", "title": "\u0000"}},
        {"type": "steward.matter.overdue.v1", "time": 10**30, "data": {"title": "x" * 100_000}},
        {"data": {"a": {"b": {"c": [None] * 1000}}}},
    ]
    for event in events:
        for key in ("matter.overdue", "digest", "x" * 100, "default"):
            for locale in ("zh-CN", "en", "xx", "\u0000", "x" * 1000):
                r = await notify.http.post(
                    "/v1/templates/preview",
                    json={"tenant": sc.tenant, "key": key, "locale": locale, "event": event},
                    headers=admin,
                )
                check(r, f"preview event={json.dumps(event)[:80]} key={key[:20]} locale={locale[:10]}")


@pytest.mark.parametrize("url", BAD_URLS)
async def test_odd_webhook_urls_are_4xx(notify: Notify, world: dict[str, Any], url: str) -> None:
    sc = world["sc"]
    admin = auth(sc.tenant, "tenant_admin", sub=f"admin-{sc.tenant}")
    agency = auth(sc.tenant, "agency", sub=f"agency-url-{sc.tenant}")
    r = await notify.http.post(
        "/v1/subscriptions",
        json={"tenant": sc.tenant, "name": "n", "url": url, "event_types": ["matter.*"]},
        headers=agency,
    )
    check(r, f"subscription url {url[:60]}")
    r = await notify.http.post(
        "/v1/channel-endpoints",
        json={"tenant": sc.tenant, "channel": "webhook", "name": "n", "url": url},
        headers=admin,
    )
    check(r, f"endpoint url {url[:60]}")


async def test_inbox_stream_with_hostile_headers_never_5xx(notify: Notify, world: dict[str, Any]) -> None:
    sc = world["sc"]
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic Zm9vOmJhcg=="},
        {"Authorization": "Bearer " + "x" * 10000},
    ):
        r = await notify.http.get("/v1/inbox/stream", headers=headers)
        check(r, f"stream {list(headers.values())[:1]}")
        assert r.status_code == 401
    async with notify.http.stream(
        "GET", "/v1/inbox/stream", headers=auth(sc.tenant, "agent", sub="stream-robust")
    ) as r:
        assert r.status_code == 200


async def test_preferences_take_and_give_what_the_document_says(
    notify: Notify, world: dict[str, Any]
) -> None:
    """Quiet hours are wall-clock times documented by a pattern (``format: time`` would demand an
    offset the answer does not have); ``digest`` is a JSON boolean, not 0 or "yes"."""
    import re

    sc = world["sc"]
    me = auth(sc.tenant, "agent", sub="prefs-schema")
    schema = SPEC["components"]["schemas"]["PreferenceOut"]["properties"]["quiet_start"]["anyOf"][0]
    assert "format" not in schema
    for body in (
        {"digest": 0},
        {"digest": "yes"},
        {"quiet_start": 3600, "quiet_end": 7200},
        {"quiet_start": "25:00", "quiet_end": "07:00"},
        {"quiet_start": "22:00+08:00", "quiet_end": "07:00"},
    ):
        r = await notify.http.put("/v1/preferences/me", json=body, headers=me)
        assert r.status_code == 422, (body, r.text)
    r = await notify.http.put(
        "/v1/preferences/me", json={"quiet_start": "22:00", "quiet_end": "07:00", "digest": False}, headers=me
    )
    assert r.status_code == 200, r.text
    got = (await notify.http.get("/v1/preferences/me", headers=me)).json()
    assert (got["quiet_start"], got["quiet_end"], got["digest"]) == ("22:00:00", "07:00:00", False)
    assert re.match(schema["pattern"], got["quiet_start"])


def test_the_inbox_stream_is_documented_as_an_event_stream() -> None:
    content = SPEC["paths"]["/v1/inbox/stream"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"text/event-stream"}
