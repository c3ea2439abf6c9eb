"""circulars (情况通报) issued from a semi-monthly period's summary

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 00:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "circulars",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_code", sa.String(), nullable=False),
        sa.Column("tenant_path", sa.String(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("schedule_key", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("remarks", sa.String(), nullable=False),
        sa.Column("issued_by", sa.String(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(["tenant_code"], ["tenants.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_code", "period", "schedule_key", name="uq_circulars_tenant_period"),
        sa.UniqueConstraint("tenant_code", "year", "number", name="uq_circulars_number"),
    )
    op.create_index(
        "ix_circulars_path",
        "circulars",
        ["tenant_path"],
        unique=False,
        postgresql_ops={"tenant_path": "text_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_circulars_path", table_name="circulars")
    op.drop_table("circulars")
