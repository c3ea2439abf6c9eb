"""the inbound log: messages of other systems, applied once per (system, message id)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "procedure_inbound_messages",
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
        "uq_procedure_inbound_applied",
        "procedure_inbound_messages",
        ["system", "message_id"],
        unique=True,
        postgresql_where=sa.text("result = 'applied'"),
    )
    op.create_index("ix_procedure_inbound_received", "procedure_inbound_messages", ["system", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_procedure_inbound_received", table_name="procedure_inbound_messages")
    op.drop_index("uq_procedure_inbound_applied", table_name="procedure_inbound_messages")
    op.drop_table("procedure_inbound_messages")
