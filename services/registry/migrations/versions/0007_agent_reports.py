"""agents' weekly work reports and their once-only notices

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_code", sa.String(), nullable=False),
        sa.Column("tenant_path", sa.String(), nullable=False),
        sa.Column("period_key", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("delay_seconds", sa.Integer(), nullable=False),
        sa.Column("progress_text", sa.String(), nullable=False),
        sa.Column("problems_text", sa.String(), nullable=False),
        sa.Column("projects", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "period_key", name="uq_agent_reports_person_period"),
    )
    op.create_index("ix_agent_reports_person_id", "agent_reports", ["person_id"], unique=False)
    op.create_index(
        "ix_agent_reports_path",
        "agent_reports",
        ["tenant_path"],
        unique=False,
        postgresql_ops={"tenant_path": "text_pattern_ops"},
    )
    op.create_table(
        "agent_report_notices",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("period_key", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("person_id", "period_key", "kind"),
    )


def downgrade() -> None:
    op.drop_table("agent_report_notices")
    op.drop_index("ix_agent_reports_path", table_name="agent_reports")
    op.drop_index("ix_agent_reports_person_id", table_name="agent_reports")
    op.drop_table("agent_reports")
