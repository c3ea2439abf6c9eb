"""the audit trail is chained: steward_audit_chain (steward.kit.audit_chain)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 00:05:00
"""

from collections.abc import Sequence

from alembic import op

from steward.kit import audit_chain

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    audit_chain.create_chain_table(op)  # entries written so far are chained by the first chainer run


def downgrade() -> None:
    audit_chain.drop_chain_table(op)
