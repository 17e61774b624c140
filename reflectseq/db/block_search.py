"""Searching block contents through each backend's index (created by migration 0005).

Postgres matches words with its full-text search: ``websearch_to_tsquery`` (quoted phrases,
``-word``, ``or``) against the ``simple`` vector of a block, which lowercases but does not stem,
so code identifiers match as written (``two_sum`` is the phrase ``two <-> sum``). A GIN index on
exactly that vector serves the match; the expression here and the index must stay identical, or
the planner falls back to computing the vector of every block. pg_trgm's substring matching was
left aside: its index over every block's full text is several times the size of the text, and
reviewers search for words and identifiers, which the word index finds.

SQLite, the embedded single-user mode, keeps its substring semantics (every word appears in the
block, case-insensitively) with an FTS5 table using the trigram tokenizer: a quoted term of three
or more characters is a substring match served by the index. Shorter words cannot use a trigram
index and are checked with ``LIKE`` on the rows the other words narrowed down to.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, and_, bindparam, column, func, literal_column, select
from sqlalchemy import table as table_clause
from sqlalchemy.orm import QueryableAttribute

# Only a block's first characters are indexed: a tsvector is limited to 1 MB, and 100,000
# characters of at most 4 bytes each can never reach it, so no insert fails on the index.
SEARCHED_CHARS = 100_000
SEARCH_CONFIG: ColumnElement[str] = literal_column("'simple'::regconfig")
SQLITE_SEARCH_TABLE = "block_search"
POSTGRES_SEARCH_INDEX = "ix_block_content_search"
TRIGRAM = 3

_fts = table_clause(SQLITE_SEARCH_TABLE, column("rowid"))


def postgres_search_vector(
    content: ColumnElement[str] | QueryableAttribute[str],
) -> ColumnElement[object]:
    """The text-search vector the GIN index ``ix_block_content_search`` holds."""
    return func.to_tsvector(SEARCH_CONFIG, func.left(content, literal_column(str(SEARCHED_CHARS))))


def is_sqlite_search_table(name: str | None) -> bool:
    """Whether a table is the FTS5 table or one of the shadow tables SQLite keeps for it."""
    return name is not None and (
        name == SQLITE_SEARCH_TABLE or name.startswith(f"{SQLITE_SEARCH_TABLE}_")
    )


def autogenerate_filter(dialect: str) -> Any:
    """An Alembic ``include_object`` hook leaving the search index out of model comparisons.

    The FTS5 tables cannot be described by the metadata, and the Postgres index does not exist
    on SQLite; without this, autogenerate would propose dropping the one and creating the other.
    """

    def include(item: object, name: str | None, kind: str, reflected: bool, other: object) -> bool:
        if kind == "table":
            return not is_sqlite_search_table(name)
        return not (kind == "index" and name == POSTGRES_SEARCH_INDEX and dialect != "postgresql")

    return include


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _fts5_phrase(word: str) -> str:
    """A word as an FTS5 string: double quotes make every character literal."""
    return '"' + word.replace('"', '""') + '"'


def content_matches(
    dialect: str,
    block_id: QueryableAttribute[int],
    content: QueryableAttribute[str],
    search: str,
) -> ColumnElement[bool]:
    """Whether the block with ``block_id`` and ``content`` matches ``search``."""
    if dialect == "postgresql":
        query = func.websearch_to_tsquery(SEARCH_CONFIG, search)
        return postgres_search_vector(content).op("@@")(query)
    words = search.split()
    indexed = [word for word in words if len(word) >= TRIGRAM]
    conditions = [
        content.ilike(f"%{_escape_like(word)}%", escape="\\")
        for word in words
        if len(word) < TRIGRAM
    ]
    if indexed:
        match = " AND ".join(_fts5_phrase(word) for word in indexed)
        matching = select(_fts.c.rowid).where(
            literal_column(SQLITE_SEARCH_TABLE).op("MATCH")(bindparam(None, match, String))
        )
        conditions.insert(0, block_id.in_(matching))
    return and_(*conditions)
