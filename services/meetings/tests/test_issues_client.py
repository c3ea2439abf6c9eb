"""The issues client: a deadline on every call; an unreachable issues service (UNAVAILABLE after the
channel's retries) is a clear ``issues_unavailable`` error, never a hang or a bare gRPC error."""

from __future__ import annotations

import time

import pytest

from steward.devtools.infra import free_port
from steward.kit.clients.issues import DecisionMatter, IssuesClient, IssuesUnavailable
from steward.meetings.settings import MeetingsSettings
from steward.meetings.testing import SECRET


async def test_unreachable_issues_service_is_a_clear_error() -> None:
    settings = MeetingsSettings(jwt_dev_secret=SECRET, grpc_call_timeout_seconds=0.5)
    client = IssuesClient(settings, f"127.0.0.1:{free_port()}")
    started = time.monotonic()
    try:
        with pytest.raises(IssuesUnavailable) as err:
            await client.create_decision(
                DecisionMatter(tenant="210106", meeting_id="m", decision_id="d", title="t")
            )
        assert err.value.status_code == 503 and err.value.code == "issues_unavailable"
    finally:
        await client.close()
    assert time.monotonic() - started < 10  # bounded by the deadlines, whatever the retries
