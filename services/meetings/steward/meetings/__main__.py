"""``python -m steward.meetings migrate|serve|seed``."""

from __future__ import annotations

import steward.kit.lean  # noqa: F401  (first: keeps rich out of the service process)

# isort: split
import asyncio
from pathlib import Path

import typer

from steward.kit.migrations import upgrade
from steward.meetings.settings import MeetingsSettings

cli = typer.Typer(add_completion=False, help="Steward meetings service")
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@cli.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade head)."""
    upgrade(MIGRATIONS, MeetingsSettings().database_url)


@cli.command()
def serve() -> None:
    """Run REST + gRPC + workers until SIGTERM."""
    from steward.kit.runtime import serve as run
    from steward.meetings.app import build

    settings = MeetingsSettings()
    app, _ = build(settings)
    run(app, settings)


@cli.command()
def seed() -> None:
    """Load the demo meeting series of the Anyang-rule district (run after the registry and issues seeds); idempotent."""
    from steward.kit.db import retry_conflicts
    from steward.meetings.demo import seed_demo

    # the running service's timers touch the same rows: a lost race (deadlock) is simply tried again
    print(asyncio.run(retry_conflicts(lambda: seed_demo(MeetingsSettings()))))


if __name__ == "__main__":
    cli()
