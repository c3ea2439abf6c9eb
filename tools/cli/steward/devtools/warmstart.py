"""What a warm ``steward dev up`` (``make run`` on a data directory used before) leaves out.

Every ``python -m steward.<svc> migrate`` or ``seed`` is a Python process that imports its service
(2–3 s of CPU each on a 2-core machine), and on a warm start they had nothing to do: the databases
stood at head, and every seed found its demo data there and wrote nothing. They took 17 of a warm
start's 28 s on such a machine.

- **Migrations**: the runner reads each service's Alembic heads and its database's version table
  (:func:`steward.kit.migrations.at_head`, no service model imported) and starts ``migrate`` only
  for a database that is behind.
- **Seeds**: after a service's seed succeeds, ``<data-dir>/seeded.json`` records what it ran
  against: the PostgreSQL cluster's system identifier, the database's OID, and a digest of the
  sources the seed runs (the service's package, the kit, the contracts: paths, sizes, modification
  times). A seed runs again when any of them differs — a new database, a re-created cluster, code
  changed — and then every later seed wave runs too, because later seeds build on earlier ones (the
  issues seed files matters on the registry's demo projects). ``--fresh`` removes the record with
  the data directory. Demo data a user deleted by hand comes back only with ``--reseed``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
from pathlib import Path

from steward.devtools.procs import run_sync
from steward.devtools.services import ServiceSpec

RECORD = "seeded.json"
# the packages a seed runs besides its service's own (the rules' presets, the events' schemas …)
SHARED_PACKAGES = ("steward.kit", "steward.rules", "steward.events", "steward.api")


def package_dirs(module: str) -> list[Path]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.submodule_search_locations is None:
        return []
    return [Path(loc) for loc in spec.submodule_search_locations]


def migrations_dir(spec: ServiceSpec) -> Path | None:
    """``services/<svc>/migrations`` beside the service's package (as its ``__main__`` finds it)."""
    for package in package_dirs(spec.module):
        candidate = package.parents[1] / "migrations"
        if (candidate / "env.py").exists():
            return candidate
    return None


def behind(specs: list[ServiceSpec], urls: dict[str, str]) -> list[ServiceSpec]:
    """The services whose database is not at the head of their migrations (or not known to be)."""
    from steward.kit.migrations import at_head

    out = []
    for spec in specs:
        if not spec.database:
            continue  # nothing to migrate (the console)
        scripts = migrations_dir(spec)
        if scripts is None or not at_head(scripts, urls[spec.name]):
            out.append(spec)
    return out


def _files_digest(modules: tuple[str, ...]) -> str:
    """Paths, sizes and modification times of every file in the packages ``modules``."""
    digest = hashlib.sha256()
    for module in modules:
        for root in package_dirs(module):
            for path in sorted(root.rglob("*")):
                if "__pycache__" in path.parts or not path.is_file():
                    continue
                stat = path.stat()
                digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@functools.cache
def _shared_digest() -> str:
    """The shared packages' digest, read once per run (not once per service)."""
    return _files_digest(SHARED_PACKAGES)


def sources_digest(spec: ServiceSpec) -> str:
    """The files the service's seed may run: its own package's and the shared packages'."""
    return f"{_files_digest((spec.module,))}.{_shared_digest()}"


async def _database_identity(url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT system_identifier FROM pg_control_system())::text AS cluster, oid::text AS oid"
            " FROM pg_database WHERE datname = current_database()"
        )
        assert row is not None
        return f"{row['cluster']}/{row['oid']}"
    finally:
        await conn.close()


def seed_key(spec: ServiceSpec, url: str) -> str | None:
    """What the seed of ``spec`` runs against, or None when that cannot be told (then it runs)."""
    if not spec.database:
        return sources_digest(spec)
    try:
        identity = run_sync(lambda: _database_identity(url))
    except Exception:  # e.g. pg_control_system() refused to a non-superuser of a shared server
        return None
    return f"{identity}/{sources_digest(spec)}"


class SeedRecord:
    """``<data-dir>/seeded.json``: service → the key its last successful seed ran with."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / RECORD
        self.keys: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(self.path.read_text())
            if isinstance(loaded, dict):
                self.keys = {str(k): str(v) for k, v in loaded.items()}

    def current(self, name: str, key: str | None) -> bool:
        return key is not None and self.keys.get(name) == key

    def record(self, name: str, key: str | None) -> None:
        if key is None:
            self.keys.pop(name, None)
        else:
            self.keys[name] = key
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.keys, indent=2, sort_keys=True))
        tmp.replace(self.path)

    def forget(self) -> None:
        self.keys = {}
        self.path.unlink(missing_ok=True)
