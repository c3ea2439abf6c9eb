"""return visits (回访) on service-log entries

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "return_visits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_code", sa.String(), nullable=False),
        sa.Column("tenant_path", sa.String(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("picked_by", sa.String(), nullable=False),
        sa.Column("picked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("called_by", sa.String(length=100), nullable=True),
        sa.Column("called_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.String(), nullable=False),
        sa.Column("satisfaction", sa.String(length=32), nullable=True),
        sa.Column("recorded_by", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["service_log_entries.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id"),
    )
    op.create_index(
        "ix_return_visits_path_month",
        "return_visits",
        ["tenant_path", "month"],
        unique=False,
        postgresql_ops={"tenant_path": "text_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_return_visits_path_month", table_name="return_visits")
    op.drop_table("return_visits")
