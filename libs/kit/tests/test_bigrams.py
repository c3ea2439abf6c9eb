"""steward_bigrams in PL/pgSQL (steward.kit.bigrams) gives the keys the SQL definition gave."""

from __future__ import annotations

import asyncpg
import pytest

from steward.kit import bigrams

TEXTS = [
    "",
    "a",
    "ab",
    "aaaa",
    "310102-2026-z-000123 基准问题",
    "沈阳市浑南区 重点项目 重点项目",
    "é ü ß 中文 mixed 123",
    "x" * 300,
]


@pytest.fixture
async def conn(db_url: str) -> asyncpg.Connection:
    c = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        yield c
    finally:
        await c.close()


async def _grams(
    conn: asyncpg.Connection, definition: str, texts: list[str | None]
) -> list[list[str] | None]:
    await conn.execute(definition)
    return [await conn.fetchval("SELECT steward_bigrams($1)", t) for t in texts]


async def test_the_plpgsql_function_gives_the_sql_functions_bigrams(conn: asyncpg.Connection) -> None:
    before = await _grams(conn, bigrams.SQL_FUNCTION, [*TEXTS, None])
    after = await _grams(conn, bigrams.FUNCTION, [*TEXTS, None])
    assert before[-1] is None and after[-1] is None  # STRICT
    for text, old, new in zip(TEXTS, before[:-1], after[:-1], strict=True):
        assert old is not None and new is not None
        assert set(new) == set(old), text  # GIN keeps each key once: the index keys are the same
        assert len(new) == max(len(text) - 1, 0)  # in order, repeats kept
        assert new == [text[i : i + 2] for i in range(len(text) - 1)]


async def test_an_index_built_with_the_sql_function_answers_after_the_replacement(
    conn: asyncpg.Connection,
) -> None:
    await conn.execute(bigrams.SQL_FUNCTION)
    await conn.execute("CREATE TABLE docs (id serial PRIMARY KEY, title text NOT NULL)")
    await conn.execute("CREATE INDEX ix_docs_search ON docs USING gin ((steward_bigrams(lower(title))))")
    await conn.executemany("INSERT INTO docs (title) VALUES ($1)", [(t,) for t in TEXTS if t])
    await conn.execute(bigrams.FUNCTION)  # the migration: no reindex
    await conn.executemany("INSERT INTO docs (title) VALUES ($1)", [("新的重点项目 after",)])
    await conn.execute("SET enable_seqscan = off")
    query = (
        "SELECT title FROM docs WHERE steward_bigrams(lower(title)) @> steward_bigrams(lower($1)) "
        "AND lower(title) LIKE '%' || lower($1) || '%' ORDER BY id"
    )
    plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + query.replace("$1", "'重点项目'")))
    assert "ix_docs_search" in plan
    assert await conn.fetch(query, "重点项目") == [
        ("沈阳市浑南区 重点项目 重点项目",),
        ("新的重点项目 after",),
    ]
    assert [r[0] for r in await conn.fetch(query, "Z-0001")] == ["310102-2026-z-000123 基准问题"]
