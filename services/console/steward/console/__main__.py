"""``python -m steward.console serve`` (``migrate`` and ``seed`` are no-ops: the console keeps no data)."""

from __future__ import annotations

import steward.kit.lean  # noqa: F401  (first: keeps rich out of the service process)

# isort: split
import typer

from steward.console.settings import ConsoleSettings

cli = typer.Typer(add_completion=False, help="Steward web console")


@cli.command()
def migrate() -> None:
    """Nothing to migrate: the console has no database."""


@cli.command()
def seed() -> None:
    """Nothing to seed: the console shows the services' data."""


@cli.command()
def serve() -> None:
    """Serve the console until SIGTERM."""
    from steward.console.app import build
    from steward.kit.runtime import serve as run

    settings = ConsoleSettings()
    run(build(settings), settings)


if __name__ == "__main__":
    cli()
