"""Searching block contents through each backend's index (created by migration 0005).

Postgres matches words with its full-text search: ``websearch_to_tsquery`` (quoted phrases,
``-word``, ``or``) against the ``simple`` vector of a block, which lowercases but does not stem,
so code identifiers match as written (``two_sum`` is the phrase ``two <-> sum``). A GIN index on
exactly that vector serves the match; the expression here and the index must stay identical, or
the planner falls back to computing the vector of every block. Unless the statistics know a word
as common, its matching blocks are listed through the index before the queue query runs (see
``_postgres_hits``), so a rare or absent word never sends the planner walking every block.
pg_trgm's substring matching was left aside: its index over every block's full text is several
times the size of the text, and reviewers search for words and identifiers, which the word index
finds.

SQLite, the embedded single-user mode, keeps its substring semantics (every word appears in the
block, case-insensitively) with an FTS5 table using the trigram tokenizer: a quoted term of three
or more characters is a substring match served by the index. Shorter words cannot use a trigram
index and are checked with ``LIKE`` on the rows the other words narrowed down to.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    and_,
    any_,
    bindparam,
    column,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy import table as table_clause
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute, Session

# Only a block's first characters are indexed: a tsvector is limited to 1 MB, and 100,000
# characters of at most 4 bytes each can never reach it, so no insert fails on the index.
SEARCHED_CHARS = 100_000
SEARCH_CONFIG: ColumnElement[str] = literal_column("'simple'::regconfig")
SQLITE_SEARCH_TABLE = "block_search"
POSTGRES_SEARCH_INDEX = "ix_block_content_search"
TRIGRAM = 3

# Past this many matching blocks a word counts as common (0.2% of a million blocks).
HIT_CAP = 2_000
# A word the statistics put in this share of the blocks is common without looking.
COMMON_SHARE = 0.05

_fts = table_clause(SQLITE_SEARCH_TABLE, column("rowid"))
_block = table_clause("block", column("id"), column("content"))


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


def _estimated_share(session: Session, match: ColumnElement[bool]) -> float:
    """The planner's estimate of the share of blocks ``match`` selects (planning only)."""
    statement = select(_block.c.id).where(match).compile(dialect=session.get_bind().dialect)
    connection = session.connection()
    plan = connection.exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) {statement}", statement.params
    ).scalar_one()
    blocks = connection.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = 'block'::regclass")
    ).scalar_one()
    return float(plan[0]["Plan"]["Plan Rows"]) / max(float(blocks), 1.0)


def _postgres_hits(session: Session, match: ColumnElement[bool]) -> list[int] | None:
    """Ids of the blocks ``match`` selects, read through the GIN index; None for a common word.

    The planner cannot see what computing a vector costs (a few hundred times what it assumes),
    nor how rare a word it has no statistics for is: it guesses 0.5% of the blocks, and with the
    queue's ``LIMIT`` it then walks sequences in id order, vectorizing block after block, which
    for a word found nowhere means every block (a minute at a million). So unless its statistics
    know the word as common (``COMMON_SHARE``, well above that guess), the hits are read first,
    sequential scans ruled out inside a savepoint rolled back at once (which ends the setting).
    More than ``HIT_CAP`` of them also make the word common: walking in order finds its
    matches early.
    """
    if _estimated_share(session, match) >= COMMON_SHARE:
        return None
    savepoint = session.begin_nested()
    try:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        hits = list(session.scalars(select(_block.c.id).where(match).limit(HIT_CAP + 1)))
    finally:
        savepoint.rollback()
    return hits if len(hits) <= HIT_CAP else None


def content_matches(
    session: Session,
    block_id: QueryableAttribute[int],
    content: QueryableAttribute[str],
    search: str,
) -> ColumnElement[bool]:
    """The condition selecting the blocks (``block_id``, ``content``) that match ``search``.

    On Postgres, a word with at most ``HIT_CAP`` blocks becomes the list of those blocks; a
    more common one stays a condition, which the planner rightly serves by walking sequences
    in order (matches come early).
    """
    if session.get_bind().dialect.name == "postgresql":
        query = func.websearch_to_tsquery(SEARCH_CONFIG, search)
        hits = _postgres_hits(session, postgres_search_vector(_block.c.content).op("@@")(query))
        if hits is not None:
            return block_id == any_(bindparam(None, hits, ARRAY(BigInteger)))
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
