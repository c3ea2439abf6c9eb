"""A tamper-evident audit trail: every ``steward_audit`` entry is chained to the one before it.

Writers are untouched (``record_change`` inserts audit rows as before). A chainer in every replica
(:class:`AuditChainer`, started by the runtime) takes the service's advisory lock, finds entries not
yet chained and appends them to ``steward_audit_chain``: position, the entry's id, the previous
link's hash and ``sha256(previous hash + canonical JSON of the entry)``. Changing, deleting or
back-dating an entry after it was chained breaks the chain, which :func:`verify` reports (with
``python -m steward.kit.audit_chain verify <database-url>``). Truncating the newest links is only
evident against an anchor kept elsewhere: :func:`verify` returns the head hash to record.

The chain table comes with each service's migration (:func:`create_chain_table`); a service whose
database does not have it yet is simply not chained (the chainer checks again later).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from steward.kit.db import Database

log = structlog.get_logger(__name__)

CHAIN_TABLE = "steward_audit_chain"
GENESIS = "0" * 64
_LOCK_ID = 0x57A0D17
# a transaction may commit its audit entry a while after the entry's time; rows this much older
# than the newest chained one are still looked for
_LATE_COMMIT_MARGIN = timedelta(minutes=15)
LATE_LOOK_SECONDS = 60.0  # the worker looks back for late commits at most this often
_NO_ID = uuid.UUID(int=0)


def create_chain_table(op: Any) -> None:
    """For a service's Alembic migration: ``audit_chain.create_chain_table(op)``."""
    op.create_table(
        CHAIN_TABLE,
        sa.Column("pos", sa.BigInteger(), nullable=False),
        sa.Column("audit_id", sa.Uuid(), nullable=False),
        sa.Column("entry_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("chained_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("pos"),
        sa.UniqueConstraint("audit_id", name="uq_steward_audit_chain_audit"),
    )


def drop_chain_table(op: Any) -> None:
    op.drop_table(CHAIN_TABLE)


def create_chain_indexes(op: Any) -> None:
    """For a service's Alembic migration: the chainer's rounds by index ranges (the audit entries
    after the newest chained one, and that one), not by scans of both tables."""
    op.create_index("ix_steward_audit_at", "steward_audit", ["at", "id"], if_not_exists=True)
    op.create_index(
        "ix_steward_audit_chain_entry_at", CHAIN_TABLE, ["entry_at", "audit_id"], if_not_exists=True
    )


def drop_chain_indexes(op: Any) -> None:
    op.drop_index("ix_steward_audit_chain_entry_at", table_name=CHAIN_TABLE)
    op.drop_index("ix_steward_audit_at", table_name="steward_audit")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def entry_digest(prev_hash: str, row: Any) -> str:
    """The link hash of an audit row (any object with the audit columns as attributes)."""
    changes = json.loads(row.changes) if isinstance(row.changes, str) else row.changes
    canonical = json.dumps(
        {
            "id": str(row.id),
            "at": _iso(row.at),
            "actor": row.actor,
            "tenant": row.tenant,
            "action": row.action,
            "entity": row.entity,
            "entity_id": row.entity_id,
            "changes": changes,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


async def _has_table(conn: Any) -> bool:
    found = (await conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": CHAIN_TABLE})).scalar()
    return found is not None


_NEWER = """SELECT a.id, a.at, a.actor, a.tenant, a.action, a.entity, a.entity_id, a.changes
               FROM steward_audit a
              WHERE (a.at, a.id) > (:at, :id)
              ORDER BY a.at, a.id
              LIMIT :batch"""
_LATE = f"""SELECT a.id, a.at, a.actor, a.tenant, a.action, a.entity, a.entity_id, a.changes
              FROM steward_audit a
             WHERE a.at >= :since AND (a.at, a.id) <= (:at, :id)
               AND NOT EXISTS (SELECT 1 FROM {CHAIN_TABLE} c WHERE c.audit_id = a.id)
             ORDER BY a.at, a.id
             LIMIT :batch"""


async def chain_pending(db: Database, *, batch: int = 1000, late: bool = True) -> int | None:
    """Chain the entries not chained yet (one batch); the number chained, or None without the table.

    The entries after the newest chained one come by an index range (``ix_steward_audit_at``), so
    a round costs what it chains, not what the table holds. ``late``: when that is less than a
    batch, also look back ``_LATE_COMMIT_MARGIN`` before it for entries committed after newer
    ones (an anti-join over that window: the worker does it at most once a minute)."""
    async with db.engine.begin() as conn:
        if not await _has_table(conn):
            return None
        locked = (
            await conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        ).scalar()
        if not locked:
            return 0  # another replica is chaining
        head = (
            await conn.execute(
                sa.text(f"SELECT pos, hash, entry_at FROM {CHAIN_TABLE} ORDER BY pos DESC LIMIT 1")
            )
        ).first()
        pos, prev = (head.pos, head.hash) if head else (0, GENESIS)
        newest = (
            await conn.execute(
                sa.text(
                    f"SELECT entry_at, audit_id FROM {CHAIN_TABLE} ORDER BY entry_at DESC, audit_id DESC LIMIT 1"
                )
            )
        ).first()
        since, last_id = (
            (newest.entry_at, newest.audit_id) if newest else (datetime.min.replace(tzinfo=UTC), _NO_ID)
        )
        rows = list((await conn.execute(sa.text(_NEWER), {"at": since, "id": last_id, "batch": batch})).all())
        if late and newest is not None and len(rows) < batch:
            params = {
                "since": since - _LATE_COMMIT_MARGIN,
                "at": since,
                "id": last_id,
                "batch": batch - len(rows),
            }
            rows = list((await conn.execute(sa.text(_LATE), params)).all()) + rows
        links = []
        for row in rows:
            pos += 1
            digest = entry_digest(prev, row)
            links.append(
                {"pos": pos, "audit_id": row.id, "entry_at": row.at, "prev_hash": prev, "hash": digest}
            )
            prev = digest
        if links:
            await conn.execute(
                sa.text(
                    f"INSERT INTO {CHAIN_TABLE} (pos, audit_id, entry_at, prev_hash, hash) "
                    "VALUES (:pos, :audit_id, :entry_at, :prev_hash, :hash)"
                ),
                links,
            )
        return len(links)


@dataclass
class ChainReport:
    links: int = 0
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify(db: Database, *, limit_problems: int = 50) -> ChainReport:
    """Walk the chain from the start: every link must follow the previous one, name an existing
    entry whose content still hashes to the stored value, and no entry older than the chain's head
    may be left out of it."""
    report = ChainReport()
    async with db.engine.connect() as conn:
        if not await _has_table(conn):
            report.problems.append(f"{CHAIN_TABLE} does not exist (migration not applied)")
            return report
        result = await conn.stream(
            sa.text(
                f"""SELECT c.pos, c.audit_id AS link_id, c.prev_hash, c.hash, a.id, a.at, a.actor,
                           a.tenant, a.action, a.entity, a.entity_id, a.changes
                      FROM {CHAIN_TABLE} c LEFT JOIN steward_audit a ON a.id = c.audit_id
                     ORDER BY c.pos"""
            )
        )
        prev, expected_pos = GENESIS, 1
        async for row in result:
            if len(report.problems) >= limit_problems:
                break
            if row.pos != expected_pos:
                report.problems.append(f"link {expected_pos}: missing (next is {row.pos})")
            if row.prev_hash != prev:
                report.problems.append(f"link {row.pos}: does not follow link {row.pos - 1}")
            if row.id is None:
                report.problems.append(f"link {row.pos}: audit entry {row.link_id} was deleted")
            elif entry_digest(row.prev_hash, row) != row.hash:
                report.problems.append(f"link {row.pos}: audit entry {row.id} was changed")
            prev, expected_pos = row.hash, row.pos + 1
            report.links += 1
        report.head = prev
        newest = (await conn.execute(sa.text(f"SELECT max(entry_at) FROM {CHAIN_TABLE}"))).scalar()
        if newest is not None:
            stray = (
                await conn.execute(
                    sa.text(
                        f"""SELECT count(*) FROM steward_audit a WHERE a.at < :cut
                             AND NOT EXISTS (SELECT 1 FROM {CHAIN_TABLE} c WHERE c.audit_id = a.id)"""
                    ),
                    {"cut": newest - _LATE_COMMIT_MARGIN},
                )
            ).scalar_one()
            if stray:
                report.problems.append(f"{stray} audit entries older than the chain's head are not in it")
    return report


class AuditChainer:
    """The runtime's worker: chains new entries every ``interval`` seconds."""

    def __init__(self, db: Database, *, interval: float = 5.0) -> None:
        self.db = db
        self.interval = interval
        self._stop = asyncio.Event()

    async def run(self) -> None:
        idle = self.interval
        looked = 0.0
        while not self._stop.is_set():
            wait = self.interval
            try:
                late = time.monotonic() - looked >= LATE_LOOK_SECONDS
                chained = await chain_pending(self.db, late=late)
                if late:
                    looked = time.monotonic()
                if chained is None:
                    wait = max(self.interval, 60.0)  # no table yet: look again in a minute
                elif chained:
                    wait = 0.0 if chained >= 1000 else self.interval
                    idle = self.interval
                else:  # nothing new: look less often while idle, up to a minute (issue 15)
                    wait, idle = idle, min(idle * 2, max(self.interval, min(60.0, 12 * self.interval)))
            except Exception as exc:  # the database restarting: try again later
                log.warning("audit_chain.failed", error=str(exc)[:200])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait or 0.01)

    def stop(self) -> None:
        self._stop.set()


def main(argv: list[str]) -> int:  # pragma: no cover - thin CLI
    if len(argv) != 2 or argv[0] != "verify":
        print("usage: python -m steward.kit.audit_chain verify <database-url>", file=sys.stderr)
        return 2

    async def _run() -> int:
        db = Database(argv[1], pool_size=1)
        try:
            await chain_pending(db)
            report = await verify(db)
        finally:
            await db.dispose()
        for problem in report.problems:
            print(f"BROKEN  {problem}")
        print(f"{'ok' if report.ok else 'BROKEN'}: {report.links} links, head {report.head}")
        return 0 if report.ok else 1

    return asyncio.run(_run())


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
