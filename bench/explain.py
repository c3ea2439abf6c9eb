"""The list benches' look at a query's plan: the statements a request issued on a table (captured
with a ``before_cursor_execute`` hook), EXPLAIN ANALYZEd warm, and whether any node scans the table
sequentially."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from steward.kit.db import Database

_SCAN = re.compile(
    r"(Index Only Scan Backward|Index Scan Backward|Index Only Scan|Index Scan|Bitmap Heap Scan|Seq Scan)"
    r"(?: using (\S+))? on (\w+)"
)


@contextmanager
def captured(db: Database, table: str) -> Iterator[list[tuple[str, Any]]]:
    """The statements reading ``table`` with an ORDER BY (the list query) while the block runs."""
    seen: list[tuple[str, Any]] = []
    needle = f"FROM {table}"

    def hook(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if needle in statement and "ORDER BY" in statement:
            seen.append((statement, parameters))

    engine = db.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", hook)


async def explain(db: Database, statement: str, parameters: Any) -> tuple[str, float]:
    """The plan of ``statement`` and its execution time in PostgreSQL (ms, EXPLAIN ANALYZE, warm)."""
    async with db.engine.connect() as conn:
        for _ in range(3):  # warm: the last of three runs
            result = await conn.exec_driver_sql("EXPLAIN (ANALYZE, TIMING OFF) " + statement, parameters)
        plan = "\n".join(r[0] for r in result)
    m = re.search(r"Execution Time: ([0-9.]+) ms", plan)
    return plan, float(m.group(1)) if m else 0.0


def plan_summary(plan: str, table: str) -> tuple[bool, str]:
    """(no Seq Scan on ``table``, "top node; scans of the table")."""
    top = plan.splitlines()[0].split("  (")[0].strip() if plan else "?"
    scans = [m for m in _SCAN.finditer(plan) if m.group(3) == table]
    index_path = bool(scans) and not any(m.group(1) == "Seq Scan" for m in scans)
    nodes = sorted({f"{m.group(1)}{' ' + m.group(2) if m.group(2) else ''}" for m in scans})
    return index_path, f"top: {top}; {table}: {', '.join(nodes) or 'no scan'}"
