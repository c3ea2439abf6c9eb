"""the audit chain's rounds go by index ranges: steward_audit (at, id), steward_audit_chain (entry_at, audit_id)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:40:00

Each round of the chainer (steward.kit.audit_chain) read the audit entries of a time window and the
newest chained entry's time by scanning both tables: a round's cost grew with the tables, not with
what it chains (issue 15: after a load, rounds still catching up were most of the idle CPU).
"""

from collections.abc import Sequence

from alembic import op

from steward.kit import audit_chain

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    audit_chain.create_chain_indexes(op)


def downgrade() -> None:
    audit_chain.drop_chain_indexes(op)
