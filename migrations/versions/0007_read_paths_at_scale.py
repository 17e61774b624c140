"""Read paths at scale: an indexed block search, and a document version for cached sequence reads.

Postgres gets a GIN index on the ``simple`` text-search vector of each block's content (its first
100,000 characters, so no block can exceed the 1 MB limit of a tsvector), the very expression the
queue search matches against. SQLite gets an external-content FTS5 table with the trigram
tokenizer, kept in step with ``block`` by triggers, so the embedded queue's substring search reads
an index instead of every block. ``(status, language)`` on ``sequence`` lets the dashboard count
completed sequences and list their languages from the index alone. ``sequence.document_version`` is bumped by every review edit; with
``updated_at`` it names the version of a sequence's API document (its ETag and cache key).

A later migration that alters ``block`` in SQLite batch mode (which copies the table and drops the
old one) drops these triggers with it and must create them again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_SEARCH_DDL = (
    "CREATE VIRTUAL TABLE block_search USING fts5("
    "content, content='block', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER block_search_insert AFTER INSERT ON block BEGIN "
    "INSERT INTO block_search(rowid, content) VALUES (new.id, new.content); END",
    "CREATE TRIGGER block_search_delete AFTER DELETE ON block BEGIN "
    "INSERT INTO block_search(block_search, rowid, content) "
    "VALUES ('delete', old.id, old.content); END",
    "CREATE TRIGGER block_search_update AFTER UPDATE OF content ON block BEGIN "
    "INSERT INTO block_search(block_search, rowid, content) "
    "VALUES ('delete', old.id, old.content); "
    "INSERT INTO block_search(rowid, content) VALUES (new.id, new.content); END",
    "INSERT INTO block_search(block_search) VALUES ('rebuild')",
)


def upgrade() -> None:
    with op.batch_alter_table("sequence", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("document_version", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_index(
        op.f("ix_sequence_status_language"), "sequence", ["status", "language"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_block_content_search ON block "
            "USING gin (to_tsvector('simple'::regconfig, left(content, 100000)))"
        )
    else:
        for statement in SQLITE_SEARCH_DDL:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_block_content_search")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER block_search_{trigger}")
        op.execute("DROP TABLE block_search")
    op.drop_index(op.f("ix_sequence_status_language"), table_name="sequence")
    with op.batch_alter_table("sequence", schema=None) as batch_op:
        batch_op.drop_column("document_version")
