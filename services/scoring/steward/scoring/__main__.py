"""``python -m steward.scoring migrate|serve|seed``."""

from __future__ import annotations

import steward.kit.lean  # noqa: F401  (first: keeps rich out of the service process)

# isort: split
import asyncio
from pathlib import Path

import typer

from steward.kit.migrations import upgrade
from steward.scoring.settings import ScoringSettings

cli = typer.Typer(add_completion=False, help="Steward scoring service")
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@cli.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade head)."""
    upgrade(MIGRATIONS, ScoringSettings().database_url)


@cli.command()
def serve() -> None:
    """Run REST + gRPC + the event consumer until SIGTERM."""
    from steward.kit.runtime import serve as run
    from steward.scoring.app import build

    settings = ScoringSettings()
    app, _ = build(settings)
    run(app, settings)


@cli.command()
def seed() -> None:
    """Load demo scores, rankings, surveys and lights (run after the registry's seed); idempotent."""
    from steward.scoring.demo import seed_demo

    print(asyncio.run(seed_demo(ScoringSettings())))


@cli.command()
def replay(tenant: str, scorecard: str, period: str) -> None:
    """Recompute a closed period from its ledger under its frozen rules; exit 1 when it differs."""
    from steward.kit.db import Database
    from steward.scoring.periods import service

    async def run() -> bool:
        db = Database(ScoringSettings().database_url)
        try:
            async with db.read() as session:
                closed = await service.get_closed(session, tenant=tenant, scorecard=scorecard, period=period)
                out = await service.replay(session, closed=closed)
        finally:
            await db.dispose()
        print(out.model_dump_json(indent=2))
        return out.identical

    if not asyncio.run(run()):
        raise typer.Exit(1)


if __name__ == "__main__":
    cli()
