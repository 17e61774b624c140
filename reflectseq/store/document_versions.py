"""Which version of a sequence's API document is current: what its ETag and cache key name.

A finished sequence (completed, failed or cancelled) no longer grows: after that its document
changes only through writes that touch the sequence row, which set ``updated_at`` (the loop's
lifecycle writes, stored flags), and through review edits, which bump ``document_version``
(``mark_document_changed``). Together the two name one version of the document, read in one
primary-key lookup, far cheaper than building the document itself. A sequence still running gets
no version: blocks are appended to it without touching its row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from reflectseq import __version__
from reflectseq.db.models import Sequence
from reflectseq.enums import TERMINAL_SEQUENCE_STATUSES, SequenceStatus

# Built once with a bound parameter: building the statement per call (and SQLAlchemy deriving its
# cache key) costs more than running it on the hot GET path.
_VERSION_QUERY = select(Sequence.status, Sequence.document_version, Sequence.updated_at).where(
    Sequence.id == bindparam("sequence_id")
)
# The same lookup as psycopg runs it, prepared on the server once per connection: four times
# cheaper than going through SQLAlchemy's execution context and result processing (23 against
# 94 microseconds), which on the GET path is a tenth of the request.
_POSTGRES_VERSION_SQL = "SELECT status, document_version, updated_at FROM sequence WHERE id = %s"


@dataclass(frozen=True)
class DocumentVersion:
    """The row facts that decide whether a sequence's document can still change."""

    sequence_id: int
    status: SequenceStatus
    document_version: int
    updated_at: datetime

    @property
    def etag(self) -> str | None:
        """A strong ETag for a finished sequence's document, None while it can still change.

        The release is part of it, so a new document layout never answers an old ETag.
        """
        if self.status not in TERMINAL_SEQUENCE_STATUSES:
            return None
        stamp = round(self.updated_at.timestamp() * 1_000_000)
        return f'"{__version__}-{self.sequence_id}-{self.document_version}-{stamp}"'


def document_version(reader: Session | Connection, sequence_id: int) -> DocumentVersion | None:
    """The current version of a sequence's document, or None when there is no such sequence.

    Takes a Core connection as well: on the hot GET path this lookup is all the database work.
    """
    driver = _psycopg_autocommit(reader) if isinstance(reader, Connection) else None
    row: Any = None
    if driver is not None:
        try:
            row = driver.execute(_POSTGRES_VERSION_SQL, (sequence_id,), prepare=True).fetchone()
        except psycopg.Error:
            # Asked again through SQLAlchemy, which tells a lost connection from other errors
            # and renews the pool after one failed request, as the read engine expects.
            driver = None
    if driver is None:
        row = reader.execute(_VERSION_QUERY, {"sequence_id": sequence_id}).first()
    if row is None:
        return None
    status, version, updated_at = row
    return DocumentVersion(sequence_id, SequenceStatus(status), version, updated_at)


def _psycopg_autocommit(connection: Connection) -> psycopg.Connection[Any] | None:
    """The connection's psycopg connection when the raw lookup is safe on it, else None.

    Only in autocommit: elsewhere the read would open a transaction SQLAlchemy does not know of.
    timestamptz comes back aware, in the session's time zone; the ETag uses the instant only.
    """
    if connection.dialect.name != "postgresql":
        return None
    driver: psycopg.Connection[Any] = connection.connection.driver_connection  # type: ignore[assignment]
    return driver if driver.autocommit else None


def mark_document_changed(session: Session, sequence_id: int) -> None:
    """Bump the sequence's document version: cached copies and clients' ETags go stale.

    Review edits call this in the transaction that stores them, so the new version becomes
    visible together with the edit.
    """
    session.execute(
        update(Sequence)
        .where(Sequence.id == sequence_id)
        .values(document_version=Sequence.document_version + 1)
        .execution_options(synchronize_session=False)
    )
