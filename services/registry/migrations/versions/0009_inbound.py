"""the inbound interface: the inbound log, a project's statistics status (入库/纳统) and its monthly
investment as the statistics system counts it

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 03:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(20, 2)


def upgrade() -> None:
    op.create_table(
        "project_inbound_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("system_tenant", sa.String(length=12), nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("project_code", sa.String(length=40), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("target", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_project_inbound_applied",
        "project_inbound_messages",
        ["system", "message_id"],
        unique=True,
        postgresql_where=sa.text("result = 'applied'"),
    )
    op.create_index("ix_project_inbound_received", "project_inbound_messages", ["system", "received_at"])
    op.create_table(
        "project_statistics",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("statistics_code", sa.String(length=64), nullable=True),
        sa.Column("in_library_on", sa.Date(), nullable=True),
        sa.Column("in_statistics_on", sa.Date(), nullable=True),
        sa.Column("reported_by", sa.String(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("project_id"),
    )
    op.create_table(
        "project_monthly_investment",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("cumulative", MONEY, nullable=True),
        sa.Column("reported_by", sa.String(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount >= 0", name="ck_monthly_investment_nonneg"),
        sa.CheckConstraint("cumulative IS NULL OR cumulative >= 0", name="ck_monthly_cumulative_nonneg"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("project_id", "month"),
    )


def downgrade() -> None:
    op.drop_table("project_monthly_investment")
    op.drop_table("project_statistics")
    op.drop_index("ix_project_inbound_received", table_name="project_inbound_messages")
    op.drop_index("uq_project_inbound_applied", table_name="project_inbound_messages")
    op.drop_table("project_inbound_messages")
