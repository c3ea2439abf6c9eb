"""Several servers in one setting: a multi-host database URL and a NATS cluster's URL list."""

from __future__ import annotations

import asyncpg.exceptions as pg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from steward.kit.db import asyncpg_dsn, engine_url
from steward.kit.settings import ServiceSettings
from steward.kit.transient import is_transient

MULTI = "postgresql+asyncpg://postgres@10.0.0.1:5432,10.0.0.2:5433/steward?target_session_attrs=read-write"


def test_a_single_host_url_is_unchanged() -> None:
    url = "postgresql+asyncpg://postgres:s%40cret@db.example:5432/steward?ssl=require"
    assert engine_url(url) == url


def test_a_multi_host_url_becomes_host_query_arguments_for_sqlalchemy() -> None:
    assert engine_url(MULTI) == (
        "postgresql+asyncpg://postgres@/steward"
        "?host=10.0.0.1:5432&host=10.0.0.2:5433&target_session_attrs=read-write"
    )
    engine = create_async_engine(engine_url(MULTI))
    _, kwargs = engine.dialect.create_connect_args(engine.url)
    assert kwargs["host"] == ["10.0.0.1", "10.0.0.2"]
    assert kwargs["port"] == [5432, 5433]
    assert kwargs["target_session_attrs"] == "read-write"
    assert kwargs["user"] == "postgres" and kwargs["database"] == "steward"


def test_a_host_without_port_gets_the_default_port() -> None:
    assert engine_url("postgresql+asyncpg://u:p@pg-1,pg-2:6432/db") == (
        "postgresql+asyncpg://u:p@/db?host=pg-1:5432&host=pg-2:6432"
    )


def test_ipv6_literals_in_a_multi_host_url_are_refused() -> None:
    with pytest.raises(ValueError, match="IPv6"):
        engine_url("postgresql+asyncpg://u@[::1]:5432,[::2]:5432/db")


def test_asyncpg_gets_the_libpq_multi_host_form() -> None:
    assert asyncpg_dsn(MULTI) == MULTI.replace("postgresql+asyncpg://", "postgresql://")


def test_no_writable_server_among_the_hosts_is_transient() -> None:
    assert is_transient(pg.TargetServerAttributeNotMatched("none of the hosts is read-write"))


def test_nats_url_may_list_a_clusters_servers() -> None:
    one = ServiceSettings(nats_url="nats://127.0.0.1:4222")
    assert one.nats_servers == ["nats://127.0.0.1:4222"]
    many = ServiceSettings(nats_url="nats://a:4222, nats://b:4222,nats://c:4222")
    assert many.nats_servers == ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
    assert ServiceSettings().events_stream_replicas == 1
