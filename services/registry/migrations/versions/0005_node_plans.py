"""milestones remember the node-plan template, their predecessors and duration

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("milestones", sa.Column("template", sa.String(length=64), nullable=True))
    op.add_column(
        "milestones",
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=False, server_default="[]"),
    )
    op.add_column("milestones", sa.Column("duration_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("milestones", "duration_days")
    op.drop_column("milestones", "after")
    op.drop_column("milestones", "template")
