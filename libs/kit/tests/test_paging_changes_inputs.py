"""The kit's paging helper (keyset + subtree scope), change recording, and input policy."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlmodel import select

from steward.kit.audit import AuditEntry
from steward.kit.changes import record_change
from steward.kit.db import Database
from steward.kit.errors import ValidationFailed
from steward.kit.inputs import (
    Input,
    Name,
    TenantCode,
    bad_text,
    clean,
    ensure_tenant_code,
    is_tenant_code,
)
from steward.kit.outbox import OutboxEvent
from steward.kit.pagination import encode_cursor
from steward.kit.paging import keyset_page, scoped


class _Base(DeclarativeBase):
    metadata = sa.MetaData()  # not SQLModel's: the services' migration checks never see it


class Row(_Base):
    __tablename__ = "kit_test_paged"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    day: Mapped[date] = mapped_column(sa.Date)
    amount: Mapped[Decimal] = mapped_column(sa.Numeric(18, 2))
    n: Mapped[int] = mapped_column(sa.Integer)
    name: Mapped[str] = mapped_column(sa.String)
    tenant_path: Mapped[str] = mapped_column(sa.String)


class Other(_Base):
    __tablename__ = "kit_test_paged_other"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    row_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)


T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PATHS = ["210100", "210100/210112", "210100/210112/210112001", "210100/210113", "210100/2101129"]


@pytest.fixture
async def paged(db: Database) -> Database:
    async with db.engine.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
    async with db.transaction() as session:
        for i in range(25):
            rid = uuid.UUID(int=i + 1)
            session.add(
                Row(
                    id=rid,
                    at=T0 + timedelta(hours=i // 2),  # pairs share a time: the id breaks the tie
                    day=date(2026, 3, 1) + timedelta(days=i // 3),
                    amount=Decimal(i // 4) + Decimal("0.50"),
                    n=i % 7,
                    name=f"n{i % 5}",
                    tenant_path=PATHS[i % len(PATHS)],
                )
            )
            session.add(Other(id=i + 1, row_id=rid))
    return db


async def _all_pages(db: Database, stmt: Any, order: Any, *, limit: int, descending: bool) -> list[Any]:
    seen: list[Any] = []
    cursor: str | None = None
    for _ in range(100):
        async with db.transaction() as session:
            rows, cursor = await keyset_page(
                session, stmt, order=order, cursor=cursor, limit=limit, descending=descending
            )
        assert len(rows) <= limit
        seen.extend(rows)
        if cursor is None:
            return seen
    raise AssertionError("paging never ended")


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("key", ["at", "day", "amount", "n", "name"])
async def test_keyset_pages_cover_every_row_once_in_order(
    paged: Database, key: str, descending: bool
) -> None:
    order = (getattr(Row, key), Row.id)
    rows = await _all_pages(paged, select(Row), order, limit=4, descending=descending)
    keys = [(getattr(r, key), r.id) for r in rows]
    assert len(keys) == 25 and len(set(keys)) == 25
    assert keys == sorted(keys, reverse=descending)


async def test_an_empty_cursor_is_the_first_page(paged: Database) -> None:
    async with paged.transaction() as session:
        first, _ = await keyset_page(session, select(Row), order=(Row.id,), cursor=None, limit=3)
        empty, _ = await keyset_page(session, select(Row), order=(Row.id,), cursor="", limit=3)
    assert [r.id for r in empty] == [r.id for r in first] == [uuid.UUID(int=n) for n in (25, 24, 23)]


async def test_keyset_page_reads_the_key_from_the_right_entity_of_a_join(paged: Database) -> None:
    stmt = select(Row, Other).join(Other, Other.row_id == Row.id)
    rows = await _all_pages(paged, stmt, (Row.at, Row.id), limit=6, descending=True)
    assert len(rows) == 25 and all(o.row_id == r.id for r, o in rows)
    assert [r.id for r, _ in rows] == [
        r.id for r in sorted((r for r, _ in rows), key=lambda r: (r.at, r.id))
    ][::-1]


async def test_scoped_keeps_the_subtree_and_never_a_sibling_with_a_longer_code(paged: Database) -> None:
    stmt = scoped(select(Row), Row.tenant_path, "210100/210112")
    rows = await _all_pages(paged, stmt, (Row.at, Row.id), limit=50, descending=True)
    assert {r.tenant_path for r in rows} == {"210100/210112", "210100/210112/210112001"}
    unscoped = scoped(select(Row), Row.tenant_path, None)
    assert len(await _all_pages(paged, unscoped, (Row.id,), limit=50, descending=True)) == 25


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        encode_cursor(["2026-03-02T09:00:00+00:00"]),  # wrong size
        encode_cursor(["yesterday", str(uuid.UUID(int=3))]),
        encode_cursor(["2026-03-02T09:00:00", str(uuid.UUID(int=3))]),  # no time zone
        encode_cursor(["2026-03-02T09:00:00+00:00", "not-a-uuid"]),
        encode_cursor([17, str(uuid.UUID(int=3))]),
        encode_cursor([None, str(uuid.UUID(int=3))]),
        encode_cursor([True, str(uuid.UUID(int=3))]),
    ],
)
async def test_a_malformed_cursor_is_422_invalid_cursor(paged: Database, cursor: str) -> None:
    async with paged.transaction() as session:
        with pytest.raises(ValidationFailed) as info:
            await keyset_page(session, select(Row), order=(Row.at, Row.id), cursor=cursor, limit=5)
    assert info.value.code == "invalid_cursor" and info.value.status_code == 422


@pytest.mark.parametrize(
    ("order", "values"),
    [
        ("n", ["x", str(uuid.UUID(int=1))]),
        ("n", [2**70, str(uuid.UUID(int=1))]),
        ("amount", ["12.5.1", str(uuid.UUID(int=1))]),
        ("amount", ["NaN", str(uuid.UUID(int=1))]),
        ("day", ["2026-13-01", str(uuid.UUID(int=1))]),
        ("name", [5, str(uuid.UUID(int=1))]),
        ("name", ["a\x00b", str(uuid.UUID(int=1))]),
    ],
)
async def test_cursor_values_must_fit_their_column_type(
    paged: Database, order: str, values: list[Any]
) -> None:
    async with paged.transaction() as session:
        with pytest.raises(ValidationFailed) as info:
            await keyset_page(
                session,
                select(Row),
                order=(getattr(Row, order), Row.id),
                cursor=encode_cursor(values),
                limit=5,
            )
    assert info.value.code == "invalid_cursor"


# -- record_change ---------------------------------------------------------------------------------


async def test_record_change_writes_audit_and_event_in_the_callers_transaction(
    db: Database, kit: Any, tenant: str
) -> None:
    async with db.transaction() as session:
        event = await record_change(
            session,
            actor="u-1",
            tenant=tenant,
            action="update",
            entity="widget",
            entity_id="w-1",
            changes={"n": [1, 2]},
            event=kit.Pinged(n=2),
            source="kit-test",
            subject="w-1",
        )
        none = await record_change(
            session,
            actor="u-1",
            tenant=tenant,
            action="read",
            entity="widget",
            entity_id="w-2",
            source="kit-test",
        )
    assert event is not None and none is None
    assert (event.subject, event.actor, event.tenant, event.source) == ("w-1", "u-1", tenant, "kit-test")
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await record_change(
                session,
                actor="u-1",
                tenant=tenant,
                action="delete",
                entity="widget",
                entity_id="w-3",
                event=kit.Pinged(n=3),
                source="kit-test",
            )
            raise RuntimeError("rolled back")
    async with db.transaction() as session:
        audits = list((await session.execute(sa.select(AuditEntry).order_by(AuditEntry.entity_id))).scalars())
        events = list(
            (await session.execute(sa.select(OutboxEvent).where(OutboxEvent.tenant == tenant))).scalars()
        )
    assert [(a.action, a.entity_id, a.changes) for a in audits] == [
        ("update", "w-1", {"n": [1, 2]}),
        ("read", "w-2", {}),
    ]
    assert [(e.id, e.payload["data"]) for e in events] == [(uuid.UUID(event.id), {"n": 2})]


# -- inputs ----------------------------------------------------------------------------------------


class Body(Input):
    tenant: TenantCode
    name: Name
    tags: list[str] = Field(default_factory=list)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a\x00b", "NUL"),
        ("\ud800", "surrogates"),
        ("bell\x07", "control"),
        ("esc\x1b[0m", "control"),
        ("del\x7f", "control"),
    ],
)
def test_unstorable_text_is_refused_everywhere(value: str, reason: str) -> None:
    assert reason in (bad_text(value) or "")
    with pytest.raises(ValidationError):
        Body.model_validate({"tenant": "210112", "name": "x", "tags": [value]})
    with pytest.raises(ValidationFailed) as info:
        clean(field=value)
    assert info.value.code == "invalid_data" and info.value.status_code == 422


def test_storable_text_passes() -> None:
    for value in ("项目管家", "tab\tand\nnewline\r\n", "emoji 🏗"):
        assert bad_text(value) is None
        clean(field=value, more=[value], nothing=None)
    body = Body.model_validate({"tenant": "210112001", "name": "  二期  ", "tags": ["a"]})
    assert body.name == "二期"


def test_input_refuses_unknown_fields_and_bounds_lengths() -> None:
    with pytest.raises(ValidationError):
        Body.model_validate({"tenant": "210112", "name": "x", "extra": 1})
    with pytest.raises(ValidationError):
        Body.model_validate({"tenant": "210112", "name": ""})
    with pytest.raises(ValidationError):
        Body.model_validate({"tenant": "210112", "name": "x" * 201})
    with pytest.raises(ValidationFailed):
        clean(field="x" * 10_001)


@pytest.mark.parametrize("code", ["210112", "210112001", "210112001001"])
def test_tenant_codes(code: str) -> None:
    assert is_tenant_code(code) and ensure_tenant_code(code) == code

    class M(BaseModel):
        t: TenantCode

    assert M(t=code).t == code


@pytest.mark.parametrize(
    "code", ["", "21011", "2101120", "21011200", "2101120010010", "21011a", "*", "２１０１１２"]
)
def test_not_tenant_codes(code: str) -> None:
    assert not is_tenant_code(code)
    with pytest.raises(ValidationFailed) as info:
        ensure_tenant_code(code, "handling_tenant")
    assert info.value.code == "invalid_tenant" and "handling_tenant" in info.value.message


async def test_input_policy_probe_sees_a_router_without_clean_request() -> None:
    from fastapi import APIRouter, Depends, FastAPI

    from steward.kit.http import create_app
    from steward.kit.inputs import clean_request
    from steward.kit.testing import input_policy_violations

    def app_with(router: APIRouter) -> FastAPI:
        @router.get("/{x}")
        async def get(x: str, q: str | None = None) -> dict[str, str]:
            return {"x": x}

        return create_app(service="t", title="t", version="1", description="", routers=[router])

    guarded = app_with(APIRouter(prefix="/v1/things", dependencies=[Depends(clean_request)]))
    assert await input_policy_violations(guarded) == []
    bare = app_with(APIRouter(prefix="/v1/things"))
    assert len(await input_policy_violations(bare)) == 3


def test_instants_are_iso_8601_text_only() -> None:
    from pydantic import TypeAdapter

    from steward.kit.inputs import Instant

    instant = TypeAdapter(Instant)
    assert instant.validate_python("2026-11-30T09:00:00+08:00") == datetime(2026, 11, 30, 1, tzinfo=UTC)
    assert instant.validate_python("2026-11-30") == datetime(2026, 11, 30)
    for bad in ("0.5", "1700000000", 1700000000, 0.5, "tomorrow"):
        with pytest.raises(ValidationError):
            instant.validate_python(bad)


def test_local_times_are_wall_clock_text_documented_without_format_time() -> None:
    from datetime import time

    from pydantic import TypeAdapter

    from steward.kit.inputs import LocalTime

    local = TypeAdapter(LocalTime)
    assert local.validate_python("22:00") == time(22, 0)
    assert local.dump_json(time(0, 0)) == b'"00:00:00"'
    assert local.dump_python(time(7, 30)) == time(7, 30)  # a time for the database, text for JSON
    assert "format" not in local.json_schema()
    for bad in (3600, "24:00", "22:00+08:00", "10pm"):
        with pytest.raises(ValidationError):
            local.validate_python(bad)
