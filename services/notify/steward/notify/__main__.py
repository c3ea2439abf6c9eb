"""``python -m steward.notify migrate|serve|seed``."""

from __future__ import annotations

import steward.kit.lean  # noqa: F401  (first: keeps rich out of the service process)

# isort: split
import asyncio
from pathlib import Path

import typer

from steward.kit.migrations import upgrade
from steward.notify.settings import NotifySettings

cli = typer.Typer(add_completion=False, help="Steward notify service")
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@cli.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade head)."""
    upgrade(MIGRATIONS, NotifySettings().database_url)


@cli.command()
def serve() -> None:
    """Run REST + event consumer + delivery worker until SIGTERM."""
    from steward.kit.runtime import serve as run
    from steward.notify.app import build

    settings = NotifySettings()
    app, _ = build(settings)
    run(app, settings)


@cli.command()
def seed() -> None:
    """Demo data: example template overrides and a disabled example agency subscription; idempotent."""
    from steward.notify.demo import seed_demo

    print(asyncio.run(seed_demo(NotifySettings())))


if __name__ == "__main__":
    cli()
