"""inbox messages carry their event's tenant path (the inbox is scoped by tenant and subject)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "inbox_messages",
        sa.Column("tenant_path", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""),
    )
    # messages written before: the path of their inbox delivery (same event, same recipient)
    op.execute(
        """
        UPDATE inbox_messages m SET tenant_path = d.tenant_path
          FROM deliveries d
         WHERE d.event_id = m.event_id AND d.channel = 'inbox' AND d.address = m.recipient_subject
        """
    )


def downgrade() -> None:
    op.drop_column("inbox_messages", "tenant_path")
