"""``python -m steward.issues migrate|serve|seed``."""

from __future__ import annotations

import steward.kit.lean  # noqa: F401  (first: keeps rich out of the service process)

# isort: split
import asyncio
from pathlib import Path

import typer

from steward.issues.settings import IssuesSettings
from steward.kit.migrations import upgrade

cli = typer.Typer(add_completion=False, help="Steward issues service")
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@cli.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade head)."""
    upgrade(MIGRATIONS, IssuesSettings().database_url)


@cli.command()
def serve() -> None:
    """Run REST + gRPC + workers until SIGTERM."""
    from steward.issues.app import build
    from steward.kit.runtime import serve as run

    settings = IssuesSettings()
    app, _ = build(settings)
    run(app, settings)


@cli.command()
def seed() -> None:
    """Load demo matters on the registry's demo projects (run after the registry's seed); idempotent."""
    from steward.issues.demo import seed_demo
    from steward.kit.db import retry_conflicts

    # the running service's timers touch the same rows: a lost race (deadlock) is simply tried again
    print(asyncio.run(retry_conflicts(lambda: seed_demo(IssuesSettings()))))


if __name__ == "__main__":
    cli()
