"""A token of a tenant the registry does not know is refused with 403 ``unknown_token_tenant``,
never answered with a 404 or an empty list (issue 14, point 5, as in the registry and notify)."""

from __future__ import annotations

from steward.issues.testing import Issues, auth
from steward.registry.testing import Tree


async def test_a_token_of_an_unknown_tenant_is_refused(issues: Issues, tree: Tree) -> None:
    known = await issues.http.get("/v1/matters", headers=auth(tree.city, "tenant_admin"))
    assert known.status_code == 200, known.text
    for ghost in ("999999", "999999999"):
        r = await issues.http.get("/v1/matters", headers=auth(ghost, "tenant_admin"))
        assert r.status_code == 403, (ghost, r.text)
        assert r.json()["error"]["code"] == "unknown_token_tenant"
