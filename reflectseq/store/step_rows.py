"""The rows a loop step appends (its LLM call, new messages, blocks), written as Core INSERTs.

Every step of every sequence in flight writes here, a worker holding hundreds of sequences
hundreds of times a second. Nothing reads these rows back in the step's session, so the ORM's
unit of work (identity map, per-object history, flush ordering) bought nothing. Each table gets
one statement per step, returning the ids a later row points to (a call's id for its blocks, a
message's id for the blocks under it). The rows are passed as parameters of a fixed statement,
never as ``values()``: a multi-row ``values()`` statement has no cache key, so SQLAlchemy would
compile it anew for every step. Column defaults (``created_at``, statuses) apply as for the ORM.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence as Seq
from typing import Any, cast

from sqlalchemy import Table, insert, inspect
from sqlalchemy.orm import Session

from reflectseq.db.models import Block, LlmCall, Message

_CALL = cast(Table, LlmCall.__table__)  # typed as a FromClause by the declarative base
_MESSAGE = cast(Table, Message.__table__)
_BLOCK = cast(Table, Block.__table__)


def insert_call(session: Session, call: LlmCall) -> int:
    """Insert a (transient) call row with the attributes set on it; sets and returns its id.

    Attributes never set are left out, so the columns' defaults apply to them.
    """
    values = {key: value for key, value in inspect(call).dict.items() if key in _CALL.c}
    call.id = session.connection().execute(insert(_CALL).returning(_CALL.c.id), values).scalar_one()
    return call.id


def insert_messages(session: Session, rows: Seq[Mapping[str, Any]]) -> dict[int, int]:
    """Insert one sequence's new messages; their ids by message index."""
    if not rows:
        return {}
    inserted = session.connection().execute(
        insert(_MESSAGE).returning(_MESSAGE.c.index, _MESSAGE.c.id), list(rows)
    )
    return {index: message_id for index, message_id in inserted}


def insert_blocks(session: Session, rows: Seq[Mapping[str, Any]]) -> None:
    """Insert blocks (rows of the same columns, as ``BlockSpec`` dumps them)."""
    if rows:
        session.connection().execute(insert(_BLOCK), list(rows))
