"""Sequence lifecycle writes of the loop: queueing, claiming, ownership, reaping, cancelling.

Ownership is what makes redelivered tasks harmless. A worker *claims* a sequence, which bumps
``attempt``; every later step commits only while the sequence is still ``running`` under that
attempt (``owned_sequence``). A second delivery of the same task, a reaped sequence picked up
elsewhere, or a cancellation all change that, and the old holder's next commit turns into a
no-op instead of a duplicate block.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, Update, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from reflectseq.db.base import utcnow
from reflectseq.db.models import Sequence
from reflectseq.enums import SequenceStatus
from reflectseq.store.errors import InvalidState
from reflectseq.store.instruction_sets import get_instruction_set

OPEN_STATUSES = (SequenceStatus.PENDING, SequenceStatus.QUEUED, SequenceStatus.RUNNING)


@dataclass(frozen=True)
class Claim:
    """A worker's hold on a sequence: valid while ``attempt`` is unchanged and it is running."""

    sequence_id: int
    attempt: int

    @classmethod
    def of(cls, sequence: Sequence) -> Claim:
        """The claim a freshly claimed row stands for."""
        return cls(sequence_id=sequence.id, attempt=sequence.attempt)


def claim(
    session: Session, sequence_id: int, *, worker: str, stale_after: timedelta
) -> Sequence | None:
    """Take a queued sequence (or one whose holder stopped heartbeating) for this worker.

    Returns the claimed row, or None when there is nothing to do: the sequence is finished,
    cancelled, still held by a live worker, or gone. One conditional ``UPDATE ... RETURNING``:
    the condition is evaluated under the row lock (Postgres re-checks it against a row a
    concurrent claim just changed; SQLite serializes writers), so two deliveries can never both
    claim it.
    """
    now = utcnow()
    takeable = or_(
        Sequence.status.in_([SequenceStatus.PENDING, SequenceStatus.QUEUED]),
        and_(
            Sequence.status == SequenceStatus.RUNNING,
            or_(Sequence.heartbeat_at.is_(None), Sequence.heartbeat_at < now - stale_after),
        ),
    )
    return session.scalar(
        update(Sequence)
        .where(Sequence.id == sequence_id, takeable)
        .values(
            status=SequenceStatus.RUNNING,
            attempt=Sequence.attempt + 1,
            worker=worker,
            heartbeat_at=now,
            started_at=func.coalesce(Sequence.started_at, now),
            error=None,
            updated_at=now,
        )
        .returning(Sequence)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class OwnedFacts:
    """What a step needs back from the sequence row it updated: its counters and outcome."""

    id: int
    instruction_set_id: int
    rounds: int
    tokens_in: int
    tokens_out: int
    cost: float
    flags: dict[str, Any] | None
    final_pass: bool | None


_SEQUENCE = cast(Table, Sequence.__table__)  # typed as a FromClause by the declarative base
_OWNED_COLUMNS = tuple(_SEQUENCE.c[name] for name in OwnedFacts.__dataclass_fields__)


@dataclass(frozen=True)
class Added:
    """A column change that adds ``amount`` to the stored value (in SQL: concurrent adds add up)."""

    amount: float


def owned_sequence(session: Session, held: Claim, **changes: Any) -> OwnedFacts | None:
    """Heartbeat the sequence and apply ``changes`` if it is still running under this claim.

    ``changes`` are column values, or ``Added`` amounts for counters. Returns the updated row's
    facts, or None when the claim is lost (nothing is changed then). It is the first statement
    of a step's transaction: the row lock it takes holds until the step commits, so a
    cancellation or the reaper cannot slip between the check and the step's writes. One round
    trip for check, heartbeat and the step's own column changes.

    Every step of every sequence runs it, so it is a Core UPDATE returning only the facts a step
    reads (the ORM's bulk UPDATE returning whole entities cost a worker a fifth of its CPU per
    model call), built once per shape of changes with the values as parameters: building the
    statement anew for each step cost more CPU than sending it.
    """
    shape = tuple(sorted((key, isinstance(value, Added)) for key, value in changes.items()))
    parameters = {
        f"new_{key}": value.amount if isinstance(value, Added) else value
        for key, value in changes.items()
    }
    row = (
        session.connection()
        .execute(
            _owned_update(shape),
            {
                "held_id": held.sequence_id,
                "held_attempt": held.attempt,
                "now": utcnow(),
                **parameters,
            },
        )
        .first()
    )
    return None if row is None else OwnedFacts(*row)


@lru_cache(maxsize=256)
def _owned_update(shape: tuple[tuple[str, bool], ...]) -> Update:
    """The ownership UPDATE setting (or, where flagged, adding to) the columns of ``shape``."""
    values: dict[str, Any] = {"heartbeat_at": bindparam("now"), "updated_at": bindparam("now")}
    for key, added in shape:
        column = _SEQUENCE.c[key]
        value = bindparam(f"new_{key}", type_=column.type)
        values[key] = column + value if added else value
    return (
        update(_SEQUENCE)
        .where(
            _SEQUENCE.c.id == bindparam("held_id"),
            _SEQUENCE.c.attempt == bindparam("held_attempt"),
            _SEQUENCE.c.status == SequenceStatus.RUNNING,
        )
        .values(values)
        .returning(*_OWNED_COLUMNS)
    )


def add_to_sequence(session: Session, sequence_id: int, **amounts: Added) -> None:
    """Add to a sequence's counters whoever holds it (a call it was not ours to make still cost)."""
    session.execute(
        update(_SEQUENCE)
        .where(_SEQUENCE.c.id == sequence_id)
        .values({key: _SEQUENCE.c[key] + added.amount for key, added in amounts.items()})
    )


def heartbeat_held(session: Session, worker: str) -> int:
    """Refresh the heartbeat of every sequence ``worker`` holds; returns how many.

    The process's liveness, apart from its progress: a sequence waiting minutes on a slow model
    commits no step, yet its worker is alive. Rows locked by a step being committed right now are
    skipped (``SKIP LOCKED``): that commit heartbeats them itself, and waiting for it could
    deadlock against a step that updates several sequences at once.
    """
    held = (
        select(Sequence.id)
        .where(Sequence.status == SequenceStatus.RUNNING, Sequence.worker == worker)
        .with_for_update(skip_locked=True)
    )
    result = session.execute(
        update(Sequence)
        .where(Sequence.id.in_(held))
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _queue(session: Session, set_id: int, from_status: SequenceStatus, **changes: Any) -> list[int]:
    """Move the set's sequences in ``from_status`` to queued; their ids, to send one task each."""
    if get_instruction_set(session, set_id).cancelled_at is not None:
        raise InvalidState(f"instruction set {set_id} is cancelled")
    ids = session.scalars(
        update(Sequence)
        .where(Sequence.instruction_set_id == set_id, Sequence.status == from_status)
        .values(status=SequenceStatus.QUEUED, updated_at=utcnow(), **changes)
        .returning(Sequence.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(ids)


def queue_pending(session: Session, set_id: int) -> list[int]:
    """Mark the set's pending sequences queued and return their ids (to send one task each)."""
    return _queue(session, set_id, SequenceStatus.PENDING)


def requeue_failed(session: Session, set_id: int) -> list[int]:
    """Mark the set's failed sequences queued again; the loop resumes from their stored state."""
    return _queue(session, set_id, SequenceStatus.FAILED, error=None, finished_at=None)


def cancel_set(session: Session, set_id: int) -> int:
    """Cancel a set: stamp it and cancel every sequence not finished yet; returns how many.

    Running sequences are cancelled too: their worker's next ownership check fails and it stops.
    Cancelling twice is harmless (the second call cancels nothing).
    """
    instruction_set = get_instruction_set(session, set_id)
    now = utcnow()
    if instruction_set.cancelled_at is None:
        instruction_set.cancelled_at = now
    result = session.execute(
        update(Sequence)
        .where(Sequence.instruction_set_id == set_id, Sequence.status.in_(OPEN_STATUSES))
        .values(status=SequenceStatus.CANCELLED, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(result.rowcount)  # type: ignore[attr-defined]


def requeue_stale(
    session: Session,
    *,
    stale_after: timedelta,
    now: datetime | None = None,
    set_id: int | None = None,
    queued: bool = True,
) -> list[int]:
    """Sequences a task was lost for, made ready for a fresh task; returns their ids.

    Two cases: ``running`` without a heartbeat for ``stale_after`` (the worker died), and, with
    ``queued``, ``queued`` untouched for as long (the task message was lost before a worker got
    it). A stale holder that wakes up again loses its claim at its next ownership check, because
    the new claim bumps ``attempt``. ``set_id`` limits the search to one instruction set.
    """
    current = now or utcnow()
    cutoff = current - stale_after
    abandoned = and_(
        Sequence.status == SequenceStatus.RUNNING,
        or_(Sequence.heartbeat_at.is_(None), Sequence.heartbeat_at < cutoff),
    )
    if queued:
        lost = and_(Sequence.status == SequenceStatus.QUEUED, Sequence.updated_at < cutoff)
        abandoned = or_(abandoned, lost)
    if set_id is not None:
        abandoned = and_(abandoned, Sequence.instruction_set_id == set_id)
    return sorted(
        session.scalars(
            update(Sequence)
            .where(abandoned)
            .values(status=SequenceStatus.QUEUED, updated_at=current)
            .returning(Sequence.id)
            .execution_options(synchronize_session=False)
        )
    )


def release(session: Session, held: Claim) -> bool:
    """Give a claimed sequence back to the queue (its task failed and will be retried)."""
    result = session.execute(
        update(Sequence)
        .where(
            Sequence.id == held.sequence_id,
            Sequence.attempt == held.attempt,
            Sequence.status == SequenceStatus.RUNNING,
        )
        .values(status=SequenceStatus.QUEUED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def fail_open_sequences(session: Session, set_ids: Seq[int], error: str) -> int:
    """Fail every unfinished sequence of these sets at once (the endpoint rejects every call)."""
    now = utcnow()
    result = session.execute(
        update(Sequence)
        .where(
            and_(Sequence.instruction_set_id.in_(list(set_ids)), Sequence.status.in_(OPEN_STATUSES))
        )
        .values(status=SequenceStatus.FAILED, error=error, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
