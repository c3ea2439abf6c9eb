"""indexes for project lists at city scale: newest-first keyset order over the whole subtree, the
owner's projects in that order, and a character-bigram index for the list's text search

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 06:00:00

The list orders by ``(created_at, id)`` descending and continues after a cursor with
``(created_at, id) < (:a, :b)``; ``ix_projects_created`` hands out a page of 50 in that order
whatever the subtree, the remaining filters being checked on the rows it walks (the planner still
takes ``ix_projects_path_created`` for a small subtree). ``steward_bigrams`` makes the text search
(``q``: name, code, national code contain) an index lookup in any database locale — pg_trgm drops
CJK characters under the C locale the embedded server uses; the LIKE predicates recheck the rows.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGRAMS = """
CREATE OR REPLACE FUNCTION steward_bigrams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(t, i, 2)), '{}')
    FROM generate_series(1, length(t) - 1) AS i
$$
"""
SEARCH = "steward_bigrams(lower(name || ' ' || code || ' ' || coalesce(national_code, '')))"


def upgrade() -> None:
    op.execute(BIGRAMS)
    op.create_index("ix_projects_created", "projects", ["created_at", "id"])
    op.drop_index("ix_projects_owner", table_name="projects")
    op.create_index("ix_projects_owner_created", "projects", ["owner_unit_id", "created_at", "id"])
    op.execute(f"CREATE INDEX ix_projects_search ON projects USING gin (({SEARCH}))")


def downgrade() -> None:
    op.drop_index("ix_projects_search", table_name="projects")
    op.drop_index("ix_projects_owner_created", table_name="projects")
    op.create_index("ix_projects_owner", "projects", ["owner_unit_id"])
    op.drop_index("ix_projects_created", table_name="projects")
    op.execute("DROP FUNCTION steward_bigrams(text)")
