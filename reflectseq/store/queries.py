"""Read-side queries of the API: set progress, filtered listings and keyset pagination.

Progress is aggregated in the database (one grouped query for any number of sets), never by
loading rows: a set has up to hundreds of thousands of sequences. Listings page by id (keyset
pagination), so a page costs the same at the start and at the end of a large table, and rows
inserted while a client pages do not shift the pages it has not read yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic_core import to_json
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from reflectseq.db.models import Block, Instruction, InstructionSet, Message, Review, Sequence
from reflectseq.enums import TERMINAL_SEQUENCE_STATUSES, ReviewStatus, SequenceStatus


@dataclass
class SetProgress:
    """How far a set has come: counts by status and the running totals of its sequences."""

    total: int = 0
    by_status: dict[SequenceStatus, int] = field(
        default_factory=lambda: dict.fromkeys(SequenceStatus, 0)
    )
    rounds: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    final_passed: int = 0
    final_judged: int = 0
    reflection_passed: int = 0
    reflection_judged: int = 0

    @property
    def finished(self) -> bool:
        """True when no sequence of the set can change any more."""
        return all(
            count == 0
            for status, count in self.by_status.items()
            if status not in TERMINAL_SEQUENCE_STATUSES
        )

    @property
    def pass_rate(self) -> float | None:
        """Share of verified one-off answers that passed; None before the first verdict."""
        return self.final_passed / self.final_judged if self.final_judged else None

    @property
    def reflection_pass_rate(self) -> float | None:
        """Share of judged reflection stages whose tests passed."""
        return self.reflection_passed / self.reflection_judged if self.reflection_judged else None


def _true_count(column: InstrumentedAttribute[bool | None]) -> ColumnElement[int]:
    """How many rows have ``column`` true (NULL and false count as not)."""
    return func.coalesce(func.sum(case((column.is_(True), 1), else_=0)), 0)


def progress_for_sets(session: Session, set_ids: Iterable[int]) -> dict[int, SetProgress]:
    """Progress of each set in ``set_ids`` in one grouped query (sets with no rows get zeros)."""
    ids = list(set_ids)
    result = {set_id: SetProgress() for set_id in ids}
    if not ids:
        return result
    rows = session.execute(
        select(
            Sequence.instruction_set_id,
            Sequence.status,
            func.count(),
            func.coalesce(func.sum(Sequence.rounds), 0),
            func.coalesce(func.sum(Sequence.tokens_in), 0),
            func.coalesce(func.sum(Sequence.tokens_out), 0),
            func.coalesce(func.sum(Sequence.cost), 0.0),
            _true_count(Sequence.final_pass),
            func.count(Sequence.final_pass),
            _true_count(Sequence.reflection_pass),
            func.count(Sequence.reflection_pass),
        )
        .where(Sequence.instruction_set_id.in_(ids))
        .group_by(Sequence.instruction_set_id, Sequence.status)
    )
    for set_id, status, count, rounds, t_in, t_out, cost, fp, fj, rp, rj in rows:
        progress = result[set_id]
        progress.by_status[SequenceStatus(status)] = count
        progress.total += count
        progress.rounds += int(rounds)
        progress.tokens_in += int(t_in)
        progress.tokens_out += int(t_out)
        progress.cost += float(cost)
        progress.final_passed += int(fp)
        progress.final_judged += int(fj)
        progress.reflection_passed += int(rp)
        progress.reflection_judged += int(rj)
    return result


def set_progress(session: Session, set_id: int) -> SetProgress:
    """Progress of one set."""
    return progress_for_sets(session, [set_id])[set_id]


_Row = TypeVar("_Row", InstructionSet, Sequence)


def _page(
    session: Session,
    query: Select[_Row],
    id_column: InstrumentedAttribute[int],
    after_id: int | None,
    limit: int,
) -> tuple[list[_Row], int | None]:
    """Up to ``limit`` rows after ``after_id``; one extra row is read to know if more follow."""
    if after_id is not None:
        query = query.where(id_column > after_id)
    rows = list(session.scalars(query.order_by(id_column).limit(limit + 1)))
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1].id
    return rows, None


def list_instruction_sets(
    session: Session, *, after_id: int | None, limit: int
) -> tuple[list[InstructionSet], int | None]:
    """A page of sets by ascending id, and the id to continue after (None on the last page)."""
    return _page(session, select(InstructionSet), InstructionSet.id, after_id, limit)


@dataclass(frozen=True)
class SequenceFilter:
    """The conditions ``GET /v1/sequences`` accepts; every one is optional."""

    instruction_set_id: int | None = None
    status: SequenceStatus | None = None
    language: str | None = None
    final_pass: bool | None = None
    review_status: ReviewStatus | None = None
    min_rounds: int | None = None
    max_rounds: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def _review_condition(status: ReviewStatus) -> ColumnElement[bool]:
    """A sequence "is" accepted/rejected/draft when some review says so; it is pending when
    it has no review yet or a review still pending."""
    has = exists().where(and_(Review.sequence_id == Sequence.id, Review.status == status))
    if status == ReviewStatus.PENDING:
        return or_(has, not_(exists().where(Review.sequence_id == Sequence.id)))
    return has


def list_sequences(
    session: Session, filters: SequenceFilter, *, after_id: int | None, limit: int
) -> tuple[list[Sequence], int | None]:
    """A page of sequences matching ``filters`` by ascending id, and the id to continue after."""
    query = select(Sequence)
    conditions: list[ColumnElement[bool]] = []
    if filters.instruction_set_id is not None:
        conditions.append(Sequence.instruction_set_id == filters.instruction_set_id)
    if filters.status is not None:
        conditions.append(Sequence.status == filters.status)
    if filters.language is not None:
        conditions.append(Sequence.language == filters.language)
    if filters.final_pass is not None:
        conditions.append(Sequence.final_pass == filters.final_pass)
    if filters.review_status is not None:
        conditions.append(_review_condition(filters.review_status))
    if filters.min_rounds is not None:
        conditions.append(Sequence.rounds >= filters.min_rounds)
    if filters.max_rounds is not None:
        conditions.append(Sequence.rounds <= filters.max_rounds)
    if filters.created_after is not None:
        conditions.append(Sequence.created_at >= filters.created_after)
    if filters.created_before is not None:
        conditions.append(Sequence.created_at < filters.created_before)
    if conditions:
        query = query.where(*conditions)
    return _page(session, query, Sequence.id, after_id, limit)


SEQUENCE_FIELDS = (
    "id",
    "instruction_set_id",
    "instruction_id",
    "generation_config_id",
    "sample_index",
    "language",
    "status",
    "stage",
    "rounds",
    "reflection_pass",
    "final_pass",
    "tokens_in",
    "tokens_out",
    "cost",
    "error",
    "attempt",
    "flags",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
)
INSTRUCTION_FIELDS = ("id", "position", "text", "language", "tests", "entry_point", "metadata")
BLOCK_FIELDS = (
    "index",
    "kind",
    "content",
    "language",
    "execution_status",
    "exit_code",
    "stdout",
    "stderr",
    "compile_duration_s",
    "run_duration_s",
    "truncated",
    "multipl_e_status",
    "passed_with_errors",
    "program",
    "llm_call_id",
)


def _sequence_statements() -> tuple[Select[Any], Select[Any]]:
    """The two statements of the portable ``sequence_document``, built once: constructing a
    select with dozens of columns costs more than running it."""
    sequence, instruction = Sequence.__table__, Instruction.__table__
    message, block = Message.__table__, Block.__table__
    head = (
        select(
            *(sequence.c[name] for name in SEQUENCE_FIELDS),
            *(instruction.c[name].label(f"instruction__{name}") for name in INSTRUCTION_FIELDS),
        )
        .join_from(sequence, instruction, instruction.c.id == sequence.c.instruction_id)
        .where(sequence.c.id == bindparam("sequence_id"))
    )
    body = (
        select(
            message.c.index.label("message_index"),
            message.c.role,
            message.c.stage,
            *(block.c[name] for name in BLOCK_FIELDS),
        )
        .join_from(message, block, block.c.message_id == message.c.id, isouter=True)
        .where(message.c.sequence_id == bindparam("sequence_id"))
        .order_by(message.c.index, block.c.index)
    )
    return head, body


_SEQUENCE_HEAD, _SEQUENCE_BODY = _sequence_statements()


def sequence_document(session: Session, sequence_id: int) -> dict[str, Any] | None:
    """A sequence with its instruction, messages and blocks as plain data, in two queries."""
    params = {"sequence_id": sequence_id}
    head = session.execute(_SEQUENCE_HEAD, params).mappings().first()
    if head is None:
        return None
    document: dict[str, Any] = {name: head[name] for name in SEQUENCE_FIELDS}
    document["instruction"] = {name: head[f"instruction__{name}"] for name in INSTRUCTION_FIELDS}
    messages: list[dict[str, Any]] = []
    for row in session.execute(_SEQUENCE_BODY, params).mappings():
        if not messages or messages[-1]["index"] != row["message_index"]:
            messages.append(
                {
                    "index": row["message_index"],
                    "role": row["role"],
                    "stage": row["stage"],
                    "blocks": [],
                }
            )
        if row["index"] is not None:
            messages[-1]["blocks"].append({name: row[name] for name in BLOCK_FIELDS})
    document["messages"] = messages
    return document


def _json_pairs(alias: str, fields: tuple[str, ...]) -> str:
    return ", ".join(f"'{field}', {alias}.\"{field}\"" for field in fields)


# The same document built by Postgres in one statement: the API hands the text on as it is.
_SEQUENCE_JSON_SQL = text(
    f"""
SELECT json_build_object(
    {_json_pairs("s", SEQUENCE_FIELDS)},
    'instruction', json_build_object({_json_pairs("i", INSTRUCTION_FIELDS)}),
    'messages', COALESCE((
        SELECT json_agg(json_build_object(
            'index', m."index", 'role', m.role, 'stage', m.stage,
            'blocks', COALESCE((
                SELECT json_agg(json_build_object({_json_pairs("b", BLOCK_FIELDS)})
                                ORDER BY b."index")
                FROM block b WHERE b.message_id = m.id
            ), '[]'::json)
        ) ORDER BY m."index")
        FROM message m WHERE m.sequence_id = s.id
    ), '[]'::json)
)::text
FROM sequence s JOIN instruction i ON i.id = s.instruction_id
WHERE s.id = :sequence_id
"""
)


def sequence_document_json(session: Session, sequence_id: int) -> bytes | None:
    """``sequence_document`` as JSON bytes, or None when there is no such sequence.

    This is the API's hottest read (the dashboard opens sequences one after another). On
    Postgres the database assembles the JSON in one round trip, so no row passes through
    Python objects; other databases take the portable two-query path.
    """
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(_SEQUENCE_JSON_SQL, {"sequence_id": sequence_id}).scalar()
        return None if found is None else str(found).encode("utf-8")
    document = sequence_document(session, sequence_id)
    return None if document is None else to_json(document)
