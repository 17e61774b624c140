"""The embedded job: one process runs a whole instruction set with a local pool (no Redis).

Sequences run on threads. That is enough parallelism here: the loop waits on the model (the
local backend's llama.cpp releases the GIL, an endpoint is network I/O) and on sandbox
processes, and threads share one loaded local model instead of loading it per process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Sequence
from reflectseq.enums import SequenceStatus
from workers.loop.machine import LoopContext, Outcome, run_sequence
from workers.runtime import worker_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SetProgress:
    """Where a set stands, for the progress bar."""

    total: int
    completed: int
    failed: int
    rounds: int
    tokens: int
    passed: int

    @property
    def finished(self) -> int:
        """Sequences that reached an end (completed, failed or cancelled)."""
        return self.completed + self.failed


def set_progress(session: Session, set_id: int) -> SetProgress:
    """Counts of a set in one query."""
    row = session.execute(
        select(
            func.count(),
            func.count().filter(Sequence.status == SequenceStatus.COMPLETED),
            func.count().filter(
                Sequence.status.in_([SequenceStatus.FAILED, SequenceStatus.CANCELLED])
            ),
            func.coalesce(func.sum(Sequence.rounds), 0),
            func.coalesce(func.sum(Sequence.tokens_in + Sequence.tokens_out), 0),
            func.count().filter(Sequence.final_pass.is_(True)),
        ).where(Sequence.instruction_set_id == set_id)
    ).one()
    return SetProgress(*(int(value) for value in row))


def run_set(
    context: LoopContext,
    set_id: int,
    *,
    concurrency: int,
    stale_after_s: float,
    on_progress: Callable[[SetProgress], None] | None = None,
) -> SetProgress:
    """Run every unfinished sequence of the set to its end; returns the final counts."""
    factory: sessionmaker[Session] = context.session_factory
    with factory() as session:
        ids = list(
            session.scalars(
                select(Sequence.id)
                .where(
                    Sequence.instruction_set_id == set_id,
                    Sequence.status.in_([SequenceStatus.PENDING, SequenceStatus.QUEUED]),
                )
                .order_by(Sequence.id)
            )
        )
    stale_after = timedelta(seconds=stale_after_s)
    name = worker_name()

    def report() -> SetProgress:
        with factory() as session:
            progress = set_progress(session, set_id)
        if on_progress is not None:
            on_progress(progress)
        return progress

    report()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sequence") as pool:
        futures = {
            pool.submit(run_sequence, context, sequence_id, worker=name, stale_after=stale_after): (
                sequence_id
            )
            for sequence_id in ids
        }
        for future in as_completed(futures):
            error = future.exception()
            if error is not None:
                log.error("sequence %s crashed: %s", futures[future], error)
            elif future.result() == Outcome.FAILED:
                log.info("sequence %s failed", futures[future])
            report()
    return report()
