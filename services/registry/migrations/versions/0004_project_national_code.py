"""projects carry the national investment project code (全国投资项目代码), unique when present

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("projects", sa.Column("national_code", sa.String(length=24), nullable=True))
    op.create_unique_constraint("projects_national_code_key", "projects", ["national_code"])


def downgrade() -> None:
    op.drop_constraint("projects_national_code_key", "projects", type_="unique")
    op.drop_column("projects", "national_code")
