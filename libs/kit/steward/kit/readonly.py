"""Read sessions outside a transaction, and the guard that keeps them read-only.

A :meth:`steward.kit.db.Database.read` session runs each statement on its own, without BEGIN and
ROLLBACK around it (its engine is the service's engine with SQLAlchemy's ``AUTOCOMMIT`` isolation
level: the same pool, the level set on a connection when a read takes it, restored when it goes
back). Under READ COMMITTED a statement inside a transaction sees what it would see outside one —
what was committed when it started — so the reads are the same, and a read by id is one round trip
instead of three (issue 15: GET of a matter 1.56 → 1.24 ms of the service's CPU, PostgreSQL 0.22 →
0.13).
A read that needs a setting for its next statements (a ranking's ``work_mem``) sets it with
:func:`steward.kit.straight.set_local`: in a read session it begins a transaction first, rolled back
when the session ends, so the setting goes no further.

Outside a transaction a write would commit at once, so a read session refuses every write before
anything is sent, with :class:`WriteInReadSession` (a programming error: 500):

* it does not autoflush, and a flush with changes raises (an attribute set on a loaded object for
  display is simply never written, as before when the session was rolled back);
* a DML statement through ``session.execute`` raises: ORM and Core ``insert`` / ``update`` /
  ``delete``, and a text statement that writes (:func:`writes_sql`);
* a constant statement sent straight through the driver (``steward.kit.straight``: the kit's batched
  writes, ``first_row``) raises the same way.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import ORMExecuteState, Session

READ_ONLY = "steward_read_only"  # session.info: a Database.read() session (True, or IN_TRANSACTION)
IN_TRANSACTION = "transaction"  # a read session that began a transaction (``straight.set_local``)


class WriteInReadSession(RuntimeError):
    """A write attempted through a read session (``Database.read``): use ``Database.transaction``."""


# the first keyword of a statement that writes (or changes the schema, or locks a table)
_WRITE_START = re.compile(
    r"^\s*(?:\(\s*)*(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|COPY|CREATE|ALTER|DROP|GRANT|REVOKE|LOCK|CALL|DO|"
    r"VACUUM|ANALYZE|REINDEX|CLUSTER|REFRESH|COMMENT|SECURITY|NOTIFY|LISTEN|SET|RESET|PREPARE|DISCARD)\b",
    re.IGNORECASE,
)
# a data-modifying CTE: WITH x AS (INSERT … / UPDATE … SET / DELETE FROM … / MERGE INTO …)
_WRITE_INSIDE = re.compile(
    r"\b(INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|MERGE\s+INTO)\b|\bNOTIFY\b|pg_notify\s*\(",
    re.IGNORECASE,
)
_SET_LOCAL = re.compile(r"^\s*SET\s+LOCAL\b", re.IGNORECASE)
_CLASSIFIED: dict[str, bool] = {}


def writes_sql(sql: str) -> bool:
    """Whether a statement's text writes: a write's own keyword first, or a data-modifying CTE or a
    NOTIFY inside (cached per text). A false alarm (a string literal reading ``DELETE FROM``) refuses
    a read, never lets a write through."""
    found = _CLASSIFIED.get(sql)
    if found is None:
        found = bool(_WRITE_START.match(sql) or _WRITE_INSIDE.search(sql))
        if len(_CLASSIFIED) < 4096:
            _CLASSIFIED[sql] = found
    return found


def refuse_if_read_only(session_info: dict[str, Any], sql: str) -> None:
    """Raise when ``sql`` writes and the session is a read session (``SET LOCAL`` is allowed in one
    that runs in a transaction: it changes nothing past the rollback)."""
    mode = session_info.get(READ_ONLY)
    if mode and writes_sql(sql) and not (mode == IN_TRANSACTION and _SET_LOCAL.match(sql)):
        raise WriteInReadSession(f"a write through a read session: {' '.join(sql.split())[:120]}")


@sa.event.listens_for(Session, "before_flush")
def _no_flush(session: Session, flush_context: Any, instances: Any) -> None:
    if session.info.get(READ_ONLY) and (
        session.new or session.deleted or any(session.is_modified(o) for o in session.dirty)
    ):
        raise WriteInReadSession("a flush of changes through a read session")


@sa.event.listens_for(Session, "do_orm_execute")
def _no_dml(state: ORMExecuteState) -> None:
    if not state.session.info.get(READ_ONLY):
        return
    statement = state.statement
    if isinstance(statement, sa.TextClause):
        refuse_if_read_only(state.session.info, statement.text)
    elif getattr(statement, "is_dml", False):  # ORM or Core insert / update / delete
        raise WriteInReadSession(f"a {type(statement).__name__} through a read session")
