"""OpenAPI documents the error bodies the kit really returns (steward.kit.apidoc): the 422 is
``{"error": ...}``, not FastAPI's ``{"detail": ...}``, and 400/401/403/404/409 are listed where they occur."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from fastapi import APIRouter
from pydantic import BaseModel

from steward.kit.auth import TokenVerifier, mint_dev_token
from steward.kit.errors import Conflict
from steward.kit.http import PrincipalDep, create_app
from steward.kit.settings import ServiceSettings

DOCS = Path(__file__).resolve().parents[3] / "docs" / "api"
REF = "#/components/schemas/ErrorResponse"
SECRET = "apidoc-secret-long-enough-for-hs256!!"


class Thing(BaseModel):
    name: str


def _router() -> APIRouter:
    router = APIRouter(prefix="/v1/things")

    @router.get("")
    async def list_things(principal: PrincipalDep) -> list[str]:
        return []

    return router


def make_app() -> Any:
    router = APIRouter(prefix="/v1/things")

    @router.get("")
    async def list_things(principal: PrincipalDep, tenant: str | None = None) -> list[str]:
        return []

    @router.post("/{thing_id}")
    async def change(principal: PrincipalDep, thing_id: int, body: Thing) -> dict[str, str]:
        raise Conflict("busy")

    @router.post("/batch")
    async def batch(principal: PrincipalDep, body: Thing) -> dict[str, str]:
        return {}  # names things only in its body: an unknown one is a 404 too

    @router.get("/count")
    async def count(principal: PrincipalDep) -> int:
        return 0  # names nothing: no 404

    @router.get("/public/schema")
    async def public() -> dict[str, str]:
        return {}

    app = create_app(service="t", title="t", version="1", routers=[router])
    app.state.verifier = TokenVerifier(ServiceSettings(jwt_dev_secret=SECRET))
    return app


def _codes(doc: dict[str, Any], path: str, method: str) -> set[str]:
    return set(doc["paths"][path][method]["responses"])


def test_operations_list_the_errors_they_can_return() -> None:
    doc = make_app().openapi()
    always = {"429", "503"}
    assert _codes(doc, "/v1/things", "get") == {"200", "401", "403", "404", "422", *always}
    assert _codes(doc, "/v1/things/{thing_id}", "post") == {
        "200", "400", "401", "403", "404", "409", "413", "422", *always
    }  # fmt: skip
    assert _codes(doc, "/v1/things/batch", "post") == {
        "200", "400", "401", "403", "404", "409", "413", "422", *always
    }  # fmt: skip
    assert _codes(doc, "/v1/things/count", "get") == {"200", "401", "403", *always}
    assert _codes(doc, "/v1/things/public/schema", "get") == {"200", *always}
    text = json.dumps(doc)
    assert "HTTPValidationError" not in text and '"detail"' not in text
    response = doc["paths"]["/v1/things/{thing_id}"]["post"]["responses"]["422"]
    assert response["content"]["application/json"]["schema"] == {"$ref": REF}
    body = doc["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"code", "message", "details", "request_id"}
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_every_operation_states_its_security_and_servers_are_listed() -> None:
    doc = make_app().openapi()
    assert doc["paths"]["/v1/things"]["get"]["security"] == [{"HTTPBearer": []}]
    assert doc["paths"]["/v1/things/public/schema"]["get"]["security"] == []  # public, said so
    assert "OpenIDConnect" not in doc["components"]["securitySchemes"]  # no IdP configured
    assert doc["servers"][0]["url"] == "https://{host}"


def test_a_configured_identity_provider_is_documented_as_openid_connect() -> None:
    settings = ServiceSettings(jwt_issuer="https://sso.example.org/realms/steward/")
    app = create_app(service="registry", title="t", version="1", settings=settings, routers=[_router()])
    doc = app.openapi()
    oidc = doc["components"]["securitySchemes"]["OpenIDConnect"]
    assert oidc == {
        "type": "openIdConnect",
        "openIdConnectUrl": "https://sso.example.org/realms/steward/.well-known/openid-configuration",
        "description": oidc["description"],
    }
    assert doc["paths"]["/v1/things"]["get"]["security"] == [{"HTTPBearer": []}, {"OpenIDConnect": []}]
    assert {"url": "http://127.0.0.1:8101", "description": "`make run` (development)"} in doc["servers"]


def test_models_sharing_a_class_name_get_distinct_component_names() -> None:
    for path in sorted(DOCS.glob("*.openapi.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        names = doc["components"]["schemas"]
        assert not [n for n in names if "__" in n], path.name
        titles = [s.get("title", n) for n, s in names.items()]
        assert len(titles) == len(set(titles)), path.name
        refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(doc)))
        assert refs <= set(names), (path.name, refs - set(names))


async def test_documented_schema_matches_real_error_bodies() -> None:
    app = make_app()
    doc = app.openapi()
    schema = {"$ref": REF, "components": doc["components"]}
    transport = httpx.ASGITransport(app=app)
    token = mint_dev_token(secret=SECRET, subject="u", tenant="210100", roles=["dispatcher"])
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        bodies = [
            (await client.get("/v1/things")).json(),  # 401: no token
            (await client.get("/v1/nowhere")).json(),  # 404
            (await client.post("/v1/things/x", json={}, headers=auth)).json(),  # 422 request validation
        ]
        undecodable = await client.post(
            "/v1/things/batch",
            content=b"\xcfk",
            headers={**auth, "Content-Type": "application/json"},
        )
    assert str(undecodable.status_code) in _codes(doc, "/v1/things/batch", "post"), undecodable.text
    bodies.append(undecodable.json())
    for body in bodies:
        jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
        assert body["error"]["details"] is not None
    assert bodies[2]["error"]["details"] and bodies[0]["error"]["details"] == []
    assert undecodable.status_code == 400 and bodies[3]["error"]["code"] == "bad_request"


def test_money_inputs_the_api_accepts_match_the_documented_pattern() -> None:
    doc = json.loads((DOCS / "registry.openapi.json").read_text(encoding="utf-8"))
    money = doc["components"]["schemas"]["ProjectCreate"]["properties"]["total_investment"]
    for accepted in ("2500万", "1.2亿", "500万元", "25000000", "1234.50", "3,000万"):
        assert re.fullmatch(money["pattern"], accepted), accepted
    assert not re.fullmatch(money["pattern"], "lots")
    create = doc["paths"]["/v1/projects"]["post"]["responses"]
    assert {"401", "403", "404", "409", "422"} <= set(create)  # tenant in the body: 404 when not visible


def test_exported_service_documents_use_the_real_error_body() -> None:
    documents = sorted(DOCS.glob("*.openapi.json"))
    assert documents
    for path in documents:
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert "HTTPValidationError" not in doc["components"]["schemas"], path.name
        for route, operations in doc["paths"].items():
            for method, operation in operations.items():
                for code, response in operation["responses"].items():
                    if code.startswith(("4", "5")):
                        schema = response["content"]["application/json"]["schema"]
                        assert schema == {"$ref": REF}, (path.name, route, method, code)


def test_exported_documents_pass_the_linters_security_and_server_rules() -> None:
    """Redocly's recommended ``security-defined``, ``operation-4xx-response`` and ``no-empty-servers``:
    every operation states its security with defined schemes, lists a 4xx, and servers exist."""
    for path in sorted(DOCS.glob("*.openapi.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        schemes = doc["components"]["securitySchemes"]
        assert doc["servers"] and all(s["url"] for s in doc["servers"]), path.name
        for route, operations in doc["paths"].items():
            for method, operation in operations.items():
                where = (path.name, method, route)
                assert "security" in operation, where
                for requirement in operation["security"]:
                    assert set(requirement) <= set(schemes), where
                assert any(code.startswith("4") for code in operation["responses"]), where
                if operation["security"]:
                    assert {"401", "403", "429"} <= set(operation["responses"]), where


def test_exported_documents_are_valid_openapi() -> None:
    from openapi_spec_validator import validate

    documents = sorted(DOCS.glob("*.openapi.json"))
    assert documents
    for path in documents:
        validate(json.loads(path.read_text(encoding="utf-8")))  # raises on the first violation


def test_other_schemes_and_self_declared_errors_are_kept_with_the_envelope() -> None:
    from fastapi import Depends
    from fastapi.security import APIKeyHeader

    signature = APIKeyHeader(name="X-Signature", auto_error=False)
    router = APIRouter(prefix="/v1/inbound")

    @router.post("", responses={401: {"description": "bad signature"}})
    async def inbound(body: Thing, key: str | None = Depends(signature)) -> dict[str, str]:
        return {}

    settings = ServiceSettings(jwt_issuer="https://sso.example.org/realms/steward")
    doc = create_app(service="t", title="t", version="1", settings=settings, routers=[router]).openapi()
    operation = doc["paths"]["/v1/inbound"]["post"]
    assert operation["security"] == [{"APIKeyHeader": []}]  # not replaced by the bearer scheme
    assert operation["responses"]["401"]["description"] == "bad signature"
    assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {"$ref": REF}
