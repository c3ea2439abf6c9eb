"""Text the database cannot store is refused up front on every route of the issues service: a NUL
character in a path or query string answers 422 ``invalid_data`` (``steward.kit.inputs``)."""

from __future__ import annotations

from steward.issues.app import openapi_app
from steward.kit.testing import input_policy_violations


async def test_nul_in_path_or_query_is_422_on_every_route() -> None:
    assert await input_policy_violations(openapi_app()) == []
