"""indexes for matter lists at city scale: newest-first keyset order over the whole subtree and per
equality filter the API offers, and a character-bigram index for the list's text search

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 06:00:00

The list orders by ``(filed_at, id)`` descending and continues after a cursor with
``(filed_at, id) < (:a, :b)``. ``ix_matters_filed`` hands out a page of 50 in that order whatever the
subtree (low-cardinality filters such as kind, tier, overdue are checked on the rows it walks);
``(<filter>, filed_at, id)`` indexes serve the selective equality filters (status, category,
responsible unit, handling tenant, project, the enterprise's own matters) in the same order.
``steward_bigrams`` makes the text search (``q``: title, number contain) an index lookup in any
database locale (pg_trgm drops CJK characters under the C locale); the LIKE predicates recheck.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGRAMS = """
CREATE OR REPLACE FUNCTION steward_bigrams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(t, i, 2)), '{}')
    FROM generate_series(1, length(t) - 1) AS i
$$
"""
SEARCH = "steward_bigrams(lower(title || ' ' || number))"
KEYED = ("status", "category", "responsible_unit_id", "handling_tenant", "owner_unit_id")


def upgrade() -> None:
    op.execute(BIGRAMS)
    op.create_index("ix_matters_filed", "matters", ["filed_at", "id"])
    for column in KEYED:
        op.create_index(f"ix_matters_{column}_filed", "matters", [column, "filed_at", "id"])
    op.drop_index("ix_matters_project", table_name="matters")
    op.create_index("ix_matters_project_id_filed", "matters", ["project_id", "filed_at", "id"])
    op.execute(f"CREATE INDEX ix_matters_search ON matters USING gin (({SEARCH}))")


def downgrade() -> None:
    op.drop_index("ix_matters_search", table_name="matters")
    op.drop_index("ix_matters_project_id_filed", table_name="matters")
    op.create_index("ix_matters_project", "matters", ["project_id"])
    for column in KEYED:
        op.drop_index(f"ix_matters_{column}_filed", table_name="matters")
    op.drop_index("ix_matters_filed", table_name="matters")
    op.execute("DROP FUNCTION steward_bigrams(text)")
