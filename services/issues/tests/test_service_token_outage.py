"""When the IdP does not issue this service a token, a request that needs the registry answers 503
``service_token_unavailable`` with the error envelope, never a 500 (the registry is up; only the
service's own token is missing)."""

from __future__ import annotations

from steward.issues.testing import auth, running_issues
from steward.kit.clock import Clock
from steward.registry.testing import Registry, Tree


async def test_no_service_token_is_503_not_500(
    registry: Registry, tree: Tree, issues_db_url: str, nats_url: str
) -> None:
    async with running_issues(
        issues_db_url,
        nats_url,
        registry.grpc_target,
        clock=Clock(),
        service_client_id="steward-services",
        service_client_secret="secret",
        service_token_url="http://127.0.0.1:9/token",  # nothing listens: the IdP is down
        service_token_timeout_seconds=1.0,
    ) as svc:
        body = {
            "kind": "complaint",
            "tenant": tree.districts[1],
            "title": "审批窗口推诿扯皮",
            "complaint": {"against_unit": "某审批窗口"},
        }
        r = await svc.http.post("/v1/matters", json=body, headers=auth(tree.city, "dispatcher"))
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "service_token_unavailable"
        again = await svc.http.post("/v1/matters", json=body, headers=auth(tree.city, "dispatcher"))
        assert again.status_code == 503  # inside the backoff window: answered at once, still 503
