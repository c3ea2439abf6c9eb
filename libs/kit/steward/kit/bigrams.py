"""``steward_bigrams(text) → text[]``: the character bigrams of a text, for the lists' text search.

A GIN index on ``steward_bigrams(lower(<searched columns>))`` makes a "contains" search an index
lookup in any database locale (pg_trgm drops CJK characters under the C locale), the LIKE
predicates rechecking the rows; a search term's bigrams are matched with ``@>``.

Every insert into an indexed table evaluates the function once per index expression. First written
in SQL (``array_agg(DISTINCT substr(t, i, 2)) FROM generate_series(...)``), it was planned again on
every INSERT statement: the executor builds the index expression's state per statement, and a SQL
function's plan lives in that state. PL/pgSQL keeps its expressions' plans for the session. The
array may repeat a bigram: GIN keeps each key once, and ``@>`` is indifferent to repeats, so an
index built with the first definition holds the same keys and stays valid.

Measured (issue 15), single-row INSERTs into a table with only this GIN index, PostgreSQL backend
CPU per insert (4,000 each): 105–110 µs with the SQL function, 65–75 µs with this one, 40–43 µs
without the index.
"""

from __future__ import annotations

from typing import Any

FUNCTION = """
CREATE OR REPLACE FUNCTION steward_bigrams(t text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    grams text[] := '{}';
BEGIN
    FOR i IN 1 .. length(t) - 1 LOOP
        grams := grams || substr(t, i, 2);
    END LOOP;
    RETURN grams;
END
$$
"""

# the first definition (migrations issues 0004, registry 0011), for a downgrade
SQL_FUNCTION = """
CREATE OR REPLACE FUNCTION steward_bigrams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(t, i, 2)), '{}')
    FROM generate_series(1, length(t) - 1) AS i
$$
"""


def upgrade(op: Any) -> None:
    op.execute(FUNCTION)


def downgrade(op: Any) -> None:
    op.execute(SQL_FUNCTION)
