"""``python -m steward.registry migrate|serve|seed``."""

from __future__ import annotations

import steward.kit.lean  # noqa: F401  (first: keeps rich out of the service process)

# isort: split
import asyncio
from pathlib import Path

import typer

from steward.kit.migrations import upgrade
from steward.registry.settings import RegistrySettings

cli = typer.Typer(add_completion=False, help="Steward registry service")
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@cli.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade head)."""
    upgrade(MIGRATIONS, RegistrySettings().database_url)


@cli.command()
def serve() -> None:
    """Run REST + gRPC + workers until SIGTERM."""
    from steward.kit.runtime import serve as run
    from steward.registry.app import build

    settings = RegistrySettings()
    app, _ = build(settings)
    run(app, settings)


@cli.command()
def seed() -> None:
    """Load the demo data (Shenyang and its districts); idempotent."""
    from steward.registry.demo import seed_demo

    print(asyncio.run(seed_demo(RegistrySettings())))


if __name__ == "__main__":
    cli()
