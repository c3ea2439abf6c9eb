"""The dev platform clock over REST: platform admins move it forward in dev mode only; every move is
audited and announced as ``platform.clock_changed``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from steward.kit.errors import ValidationFailed
from steward.registry.devclock.service import parse_duration
from steward.registry.testing import EventTap, Registry, make_tree, running_registry


@pytest.fixture
async def city(registry: Registry) -> str:
    """A city that exists: tokens of a tenant the registry does not know are refused (403)."""
    return (await make_tree(registry)).city


@pytest.fixture
async def admin(registry: Registry, city: str) -> AsyncIterator[dict[str, str]]:
    auth = registry.auth(city, "platform_admin", sub="clock-admin")
    yield auth
    r = await registry.http.post("/v1/dev/clock", json={"reset": True}, headers=auth)
    assert r.status_code == 200 and r.json()["offset_seconds"] == 0


def test_durations() -> None:
    assert parse_duration("+3d") == timedelta(days=3)
    assert parse_duration("1d6h30m") == timedelta(days=1, hours=6, minutes=30)
    assert parse_duration("90s") == timedelta(seconds=90)
    for bad in ("", "+", "-3d", "3 days", "3d2d", "1w"):
        with pytest.raises(ValidationFailed):
            parse_duration(bad)


async def test_platform_admin_moves_the_clock_forward_audited_and_announced(
    registry: Registry, admin: dict[str, str], tap: EventTap, city: str
) -> None:
    shown = (await registry.http.get("/v1/dev/clock", headers=registry.auth(city, "dispatcher"))).json()
    assert shown["environment"] == "dev" and shown["settable"] is True and shown["offset_seconds"] == 0

    r = await registry.http.post("/v1/dev/clock", json={"advance": "+3d"}, headers=admin)
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["offset_seconds"] == 3 * 86400 and moved["offset"] == "3d 0h 0m 0s"
    ahead = datetime.fromisoformat(moved["now"]) - datetime.now(UTC)
    assert timedelta(days=3) - timedelta(minutes=1) < ahead < timedelta(days=3, minutes=1)
    r = await registry.http.post("/v1/dev/clock", json={"advance": "12h"}, headers=admin)
    assert r.json()["offset_seconds"] == 3.5 * 86400  # moves add up

    events = await tap.collect(f"steward.events.{city}.platform.clock_changed", expect=2)
    mine = [e["data"] for e in events][-2:]
    assert [(e["previous_offset_seconds"], e["offset_seconds"]) for e in mine] == [
        (0, 3 * 86400),
        (3 * 86400, 3.5 * 86400),
    ]
    async with registry.db.read() as s:
        audited = (
            await s.execute(
                text(
                    "SELECT actor, changes FROM steward_audit WHERE action = 'platform.clock_changed' "
                    "ORDER BY at DESC LIMIT 1"
                )
            )
        ).one()
    assert audited.actor == "clock-admin"
    assert audited.changes["offset_seconds"] == [3 * 86400, 3.5 * 86400]


async def test_only_platform_admins_with_valid_requests(
    registry: Registry, admin: dict[str, str], city: str
) -> None:
    r = await registry.http.post(
        "/v1/dev/clock", json={"advance": "1d"}, headers=registry.auth(city, "tenant_admin")
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_required"
    assert (await registry.http.post("/v1/dev/clock", json={"advance": "1d"})).status_code == 401
    for body, code in (
        ({"advance": "soon"}, "invalid_duration"),
        ({"advance": "1d", "reset": True}, "validation_failed"),
        ({}, "validation_failed"),
        ({"advance": "4000d"}, "offset_too_large"),
    ):
        r = await registry.http.post("/v1/dev/clock", json=body, headers=admin)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, (body, r.text)
    shown = (await registry.http.get("/v1/dev/clock", headers=admin)).json()
    assert shown["offset_seconds"] == 0  # nothing moved


async def _moves(registry: Registry) -> int:
    async with registry.db.read() as s:
        return int(
            (
                await s.execute(
                    text("SELECT count(*) FROM steward_audit WHERE action = 'platform.clock_changed'")
                )
            ).scalar_one()
        )


async def test_refused_outside_dev_mode(registry_db_url: str, nats_url: str, city: str) -> None:
    async with running_registry(registry_db_url, nats_url, environment="production") as prod:
        auth = prod.auth(city, "platform_admin")
        before = await _moves(prod)
        r = await prod.http.post("/v1/dev/clock", json={"advance": "+3d"}, headers=auth)
        assert r.status_code == 403 and r.json()["error"]["code"] == "dev_only"
        shown = (await prod.http.get("/v1/dev/clock", headers=auth)).json()
        assert shown["environment"] == "production"
        assert shown["settable"] is False and shown["offset_seconds"] == 0
        assert await _moves(prod) == before
