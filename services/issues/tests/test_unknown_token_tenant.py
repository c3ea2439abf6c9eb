"""A token of a tenant the registry does not know is refused with 403 ``unknown_token_tenant``,
never answered with a 404 or an empty list (issue 14, point 5, as in the registry and notify)."""

from __future__ import annotations

import grpc
import pytest

from steward.api.issues.v1 import issues_pb2 as pb
from steward.api.issues.v1 import issues_pb2_grpc as pb_grpc
from steward.issues.testing import Issues, auth, token
from steward.kit.grpc import bearer_metadata
from steward.registry.testing import Tree


async def test_a_token_of_an_unknown_tenant_is_refused(issues: Issues, tree: Tree) -> None:
    known = await issues.http.get("/v1/matters", headers=auth(tree.city, "tenant_admin"))
    assert known.status_code == 200, known.text
    for ghost in ("999999", "999999999"):
        r = await issues.http.get("/v1/matters", headers=auth(ghost, "tenant_admin"))
        assert r.status_code == 403, (ghost, r.text)
        assert r.json()["error"]["code"] == "unknown_token_tenant"


async def test_a_token_of_an_unknown_tenant_is_refused_over_grpc(issues: Issues, tree: Tree) -> None:
    channel = grpc.aio.insecure_channel(issues.grpc_target)
    stub = pb_grpc.IssuesServiceStub(channel)
    try:
        known = await stub.ListMatters(
            pb.ListMattersRequest(tenant=tree.city), metadata=bearer_metadata(token(tree.city))
        )
        assert known is not None
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ListMatters(
                pb.ListMattersRequest(tenant="999999"), metadata=bearer_metadata(token("999999"))
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert ("error-code", "unknown_token_tenant") in tuple(err.value.trailing_metadata() or ())
        # a bad token is still the handler's to refuse (UNAUTHENTICATED), not the gate's
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.ListMatters(pb.ListMattersRequest(tenant=tree.city), metadata=bearer_metadata("x.y.z"))
        assert bad.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await channel.close()
