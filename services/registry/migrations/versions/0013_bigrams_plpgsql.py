"""steward_bigrams in PL/pgSQL: its plan is kept for the session, not made again on every registration

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 06:00:00

The SQL function behind ix_projects_search was planned on every INSERT into projects (issue 15): see
``steward.kit.bigrams``. The index keeps its keys: GIN stores each bigram once either way.
"""

from collections.abc import Sequence

from alembic import op

from steward.kit import bigrams

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigrams.upgrade(op)


def downgrade() -> None:
    bigrams.downgrade(op)
