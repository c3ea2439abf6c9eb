"""Keyset pagination cursors, tenant-subtree helpers, errors, ids and the audit trail."""

from __future__ import annotations

import base64
import itertools
import time
import uuid
from datetime import UTC, datetime

import grpc
import pytest
import sqlalchemy as sa

from steward.kit import audit
from steward.kit.audit import AuditEntry
from steward.kit.auth import Principal
from steward.kit.db import Database
from steward.kit.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
    pydantic_details,
)
from steward.kit.ids import id_time_ns, new_id
from steward.kit.pagination import decode_cursor, encode_cursor
from steward.kit.settings import ServiceSettings
from steward.kit.tenancy import ancestry_of, ensure_visible, ensure_writable, in_subtree, subtree_prefix

# -- pagination ------------------------------------------------------------------------------------


def test_cursor_round_trip() -> None:
    values = ["2026-03-02T09:00:00+00:00", 17, "0199b5c4-7a3e-7c4e-9a57-3b3c2f6a1d20", None, "项目"]
    cursor = encode_cursor(values)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor  # URL-safe, unpadded
    assert decode_cursor(cursor, size=5) == values


def test_cursor_stringifies_non_json_values() -> None:
    when = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    row_id = uuid.UUID("0199b5c4-7a3e-7c4e-9a57-3b3c2f6a1d20")
    assert decode_cursor(encode_cursor([when, row_id]), size=2) == [str(when), str(row_id)]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "not base64 at all",
        "a",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        base64.urlsafe_b64encode(b"{not json").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b"null").decode(),
        base64.urlsafe_b64encode(b'"x"').decode(),
        encode_cursor([1]),  # wrong size
        encode_cursor([1, 2, 3]),
    ],
)
def test_malformed_cursor(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        decode_cursor(cursor, size=2)
    assert info.value.code == "invalid_cursor"
    assert info.value.status_code == 422


# -- tenancy ---------------------------------------------------------------------------------------

CITY, DISTRICT, OTHER, ZONE = "210100", "210112", "210113", "210112001"


def test_ancestry_and_prefix() -> None:
    assert ancestry_of(f"{CITY}/{DISTRICT}/{ZONE}") == [CITY, DISTRICT, ZONE]
    assert ancestry_of(f"/{CITY}//{DISTRICT}/") == [CITY, DISTRICT]
    assert ancestry_of("") == []
    assert subtree_prefix(f"{CITY}/{DISTRICT}") == f"{CITY}/{DISTRICT}/"
    assert subtree_prefix(f"{CITY}/{DISTRICT}/") == f"{CITY}/{DISTRICT}/"


def test_in_subtree() -> None:
    zone = [CITY, DISTRICT, ZONE]
    assert in_subtree(CITY, zone) and in_subtree(DISTRICT, zone) and in_subtree(ZONE, zone)
    assert not in_subtree(OTHER, zone)
    assert not in_subtree(ZONE, [CITY, DISTRICT])  # a child never sees its parent
    assert not in_subtree("2101", zone), "codes match whole, never by prefix"


def test_subtree_prefix_does_not_match_a_sibling_with_a_longer_code() -> None:
    prefix = subtree_prefix(f"{CITY}/{DISTRICT}")
    assert f"{CITY}/{DISTRICT}/{ZONE}".startswith(prefix)
    assert not f"{CITY}/{DISTRICT}9/x".startswith(prefix)


def test_ensure_visible_and_writable() -> None:
    district_user = Principal("u", DISTRICT, frozenset({"dispatcher"}))
    ensure_visible(district_user, [CITY, DISTRICT, ZONE])
    ensure_writable(district_user, [CITY, DISTRICT])
    with pytest.raises(NotFound) as nf:
        ensure_visible(district_user, [CITY, OTHER], what="project")
    assert nf.value.message == "project not found" and nf.value.status_code == 404
    with pytest.raises(NotFound):
        ensure_visible(district_user, [CITY])
    with pytest.raises(Forbidden) as fb:
        ensure_writable(district_user, [CITY, OTHER])
    assert fb.value.code == "tenant_out_of_scope" and fb.value.status_code == 403


# -- errors, ids, settings -------------------------------------------------------------------------


def test_error_classes_map_to_http_and_grpc() -> None:
    cases = [
        (ValidationFailed("x"), 422, grpc.StatusCode.INVALID_ARGUMENT, "validation_failed"),
        (NotFound("x"), 404, grpc.StatusCode.NOT_FOUND, "not_found"),
        (Conflict("x"), 409, grpc.StatusCode.ALREADY_EXISTS, "conflict"),
        (InvalidTransition("x"), 409, grpc.StatusCode.FAILED_PRECONDITION, "invalid_transition"),
        (Forbidden("x"), 403, grpc.StatusCode.PERMISSION_DENIED, "forbidden"),
    ]
    for err, status, code, name in cases:
        assert (err.status_code, err.grpc_code, err.code) == (status, code, name)
        assert 400 <= err.status_code < 500


def test_error_body_and_code_override_is_per_instance() -> None:
    err = NotFound("gone", code="project_not_found", details=[{"loc": ["id"]}])
    assert err.to_body("r1") == {
        "error": {
            "code": "project_not_found",
            "message": "gone",
            "details": [{"loc": ["id"]}],
            "request_id": "r1",
        }
    }
    assert NotFound("again").code == "not_found", "an override must not leak into the class"
    assert DomainError("plain").to_body() == {
        "error": {"code": "bad_request", "message": "plain", "details": []}
    }


def test_pydantic_details() -> None:
    assert pydantic_details([{"loc": ("body", "items", 0), "msg": "bad", "type": "value_error"}]) == [
        {"loc": ["body", "items", "0"], "message": "bad", "type": "value_error"}
    ]


def test_new_id_is_time_ordered_uuid7() -> None:
    ids = [new_id() for _ in range(200)]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == 200
    assert ids == sorted(ids)


def test_new_ids_keep_the_clocks_time_when_made_faster_than_one_per_millisecond() -> None:
    """A per-millisecond counter would put the last of these ~100 s ahead of the clock."""
    before = time.time_ns()
    ids = [new_id() for _ in range(100_000)]
    after = time.time_ns()
    assert len(set(ids)) == len(ids) and all(a < b for a, b in itertools.pairwise(ids))
    made = [id_time_ns(i) for i in (ids[0], ids[-1])]
    step = 1_000_000 // 4096 + 1
    assert before - step <= made[0] <= made[1] <= after + 1_000_000, (before, made, after)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_SERVICE_NAME", "issues")
    monkeypatch.setenv("STEWARD_OUTBOX_POLL_SECONDS", "2.5")
    monkeypatch.setenv("STEWARD_JWT_ALGORITHMS", '["RS256"]')
    monkeypatch.setenv("STEWARD_JWT_DEV_SECRET", "s3cret")
    s = ServiceSettings()
    assert s.service_name == "issues" and s.outbox_poll_seconds == 2.5 and s.jwt_algorithms == ["RS256"]
    assert "s3cret" not in repr(s)
    monkeypatch.setenv("STEWARD_HTTP_PORT", "70000")
    with pytest.raises(ValueError):
        ServiceSettings()


# -- audit -----------------------------------------------------------------------------------------


async def test_audit_record_is_part_of_the_transaction(db: Database) -> None:
    async with db.transaction() as session:
        await audit.record(
            session,
            actor="u-1",
            tenant=DISTRICT,
            action="update",
            entity="project",
            entity_id="p-1",
            changes={"phone": ["***", "***"]},
        )
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await audit.record(
                session, actor="u-1", tenant=DISTRICT, action="delete", entity="project", entity_id="p-2"
            )
            raise RuntimeError("rolled back")
    async with db.transaction() as session:
        rows = list((await session.execute(sa.select(AuditEntry))).scalars())
        assert [(r.actor, r.action, r.entity_id, r.changes) for r in rows] == [
            ("u-1", "update", "p-1", {"phone": ["***", "***"]})
        ]
        assert rows[0].at.tzinfo is not None
