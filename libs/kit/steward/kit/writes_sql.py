"""The text of a write batch's one statement (:mod:`steward.kit.writes`): data-modifying CTEs, one
per queued part, from the batch's shape, built once per shape and kept (the hot paths send the same
shapes every time)."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# (table, columns, ON CONFLICT clause, how each column's value is given) of each part, the NOTIFY
# channels, for conditional batches the (part, part it depends on or -1, reports) of each part, and
# the statement a taken value comes from → the statement's text. A hot path sends the same shape
# every time: its SQL is built once, and SQLAlchemy has no statement tree to walk for a cache key
# (building and keying Core INSERTs cost more CPU than running them).
_Part = tuple[str, tuple[str, ...], str, tuple[int, ...]]
Shape = tuple[tuple[_Part, ...], tuple[str, ...], tuple[tuple[int, bool], ...], sa.TextClause | None]
_STATEMENTS: dict[Shape, sa.TextClause] = {}
_MAX_STATEMENTS = 512
# how a column's value is given when a value is taken (see Taken): a parameter, the taken value
# itself, a JSON document or a text with the taken value in place of its token, or a JSON document
# without the token, as the JSON text it was serialised to when it was looked through for the token
PLAIN, IS_TAKEN, HOLDS_TAKEN, TEXT_HOLDS_TAKEN, JSON_TEXT = 0, 1, 2, 3, 4
AS_TEXT = (HOLDS_TAKEN, JSON_TEXT)  # sent as text, cast to the column's JSON type
HOLDING = (IS_TAKEN, HOLDS_TAKEN, TEXT_HOLDS_TAKEN)  # the taken value is in it once written


@functools.cache
def names(part: int, columns: int) -> tuple[str, ...]:
    """The parameter names of a part's columns (the statement's text names them the same way)."""
    return tuple(f"p{part}_{j}" for j in range(columns))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _placeholder(name: str, how: int, column: sa.Column[Any]) -> str:
    if how == IS_TAKEN:
        return "(SELECT value FROM t)"
    if how == HOLDS_TAKEN:  # the document comes as JSON text; the token, escaped as JSON, replaced
        kind = "JSONB" if isinstance(column.type, postgresql.JSONB) else "JSON"
        escaped = "(SELECT substr(to_json(value)::text, 2, length(to_json(value)::text) - 2) FROM t)"
        return f"CAST(replace(:{name}, :tk, {escaped}) AS {kind})"
    if how == TEXT_HOLDS_TAKEN:
        return f"replace(:{name}, :tk, (SELECT value FROM t))"
    if how == JSON_TEXT:
        return f"CAST(:{name} AS {'JSONB' if isinstance(column.type, postgresql.JSONB) else 'JSON'})"
    return ":" + name


def statement(shape: Shape, tables: list[sa.Table]) -> sa.TextClause:
    cached = _STATEMENTS.pop(shape, None)
    if cached is not None:
        _STATEMENTS[shape] = cached  # the most recently used last: the first one is evicted
        return cached
    parts, channels, links, take = shape
    ctes: list[str] = []
    binds: list[sa.BindParameter[Any]] = []
    if take is not None:
        ctes.append(f"t AS ({take.text})")
        binds += list(take._bindparams.values())
        if any(m in (HOLDS_TAKEN, TEXT_HOLDS_TAKEN) for _, _, _, marks in parts for m in marks):
            binds.append(sa.bindparam("tk", type_=sa.Text()))
    for i, ((_, columns, conflict, marks), table) in enumerate(zip(parts, tables, strict=True)):
        params = names(i, len(columns))
        hows = marks or (PLAIN,) * len(columns)
        binds += [
            sa.bindparam(n, type_=sa.Text() if how in AS_TEXT else table.c[c].type)
            for n, c, how in zip(params, columns, hows, strict=True)
            if how != IS_TAKEN
        ]
        after, reports = links[i] if links else (-1, False)
        placeholders = ", ".join(
            _placeholder(n, how, table.c[c]) for n, c, how in zip(params, columns, hows, strict=True)
        )
        rows = (
            f"SELECT {placeholders} WHERE EXISTS (SELECT FROM w{after})"
            if after >= 0
            else f"VALUES ({placeholders})"
        )
        ctes.append(
            f"w{i} AS (INSERT INTO {_quoted(table.name)} ({', '.join(_quoted(c) for c in columns)}) "
            f"{rows}{' ' + conflict if conflict else ''}{' RETURNING 1' if reports else ''})"
        )
    selected = [f"EXISTS (SELECT FROM w{i}) AS r{i}" for i, (_, reports) in enumerate(links) if reports]
    selected += [f"pg_notify(:n{k}, '')" for k in range(len(channels))]
    binds += [sa.bindparam(f"n{k}", value=ch, type_=sa.String()) for k, ch in enumerate(channels)]
    if take is not None:
        selected.append("(SELECT value FROM t) AS taken")
    sql = (f"WITH {', '.join(ctes)} " if ctes else "") + f"SELECT {', '.join(selected) or '1'}"
    clause = sa.text(sql).bindparams(*binds)
    if len(_STATEMENTS) >= _MAX_STATEMENTS:  # many shapes (attendance of 1…500 people): the least
        del _STATEMENTS[next(iter(_STATEMENTS))]  # recently used goes, the hot paths' stay
    _STATEMENTS[shape] = clause
    return clause
