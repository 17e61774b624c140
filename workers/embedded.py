"""The embedded job: one process runs a whole instruction set with a local pool (no Redis).

Sequences run on threads. That is enough parallelism here: the loop waits on the model (the
local backend's llama.cpp releases the GIL, an endpoint is network I/O) and on sandbox
processes, and threads share one loaded local model instead of loading it per process.

The threads are daemons, fed from a queue: Ctrl-C stops the run at once instead of waiting for
the calls in flight (an executor would finish every submitted sequence first). What those calls
would have written is lost; every committed step stays, and the interrupted sequences are put
back in the queue so that running the same command again resumes them.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Sequence
from reflectseq.db.session import transaction
from reflectseq.enums import SequenceStatus
from reflectseq.store.loop import requeue_stale
from workers.loop.machine import LoopContext, run_sequence
from workers.runtime import worker_name

log = logging.getLogger(__name__)
# What stops a run: Ctrl-C, and SIGTERM when the caller maps it to KeyboardInterrupt.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How often the main thread wakes from waiting for results (it is where Ctrl-C lands).
WAIT_S = 0.2


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


def _pending(session: Session, set_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Sequence.id)
            .where(
                Sequence.instruction_set_id == set_id,
                Sequence.status.in_([SequenceStatus.PENDING, SequenceStatus.QUEUED]),
            )
            .order_by(Sequence.id)
        )
    )


def log_finished(session: Session, sequence_id: int) -> None:
    """One line for a sequence that ended, as it is stored (a failure with its reason)."""
    sequence = session.get_one(Sequence, sequence_id)
    status = sequence.status
    if status == SequenceStatus.COMPLETED:
        verdict = "final answer passes" if sequence.final_pass else "final answer fails"
        log.info(
            "sequence %s completed: %s, %d rounds, %d tokens",
            sequence_id,
            verdict,
            sequence.rounds,
            sequence.tokens_in + sequence.tokens_out,
        )
    elif status == SequenceStatus.FAILED:
        log.warning("sequence %s failed: %s", sequence_id, sequence.error)
    else:
        log.info("sequence %s stopped (%s)", sequence_id, status)


def run_set(
    context: LoopContext,
    set_id: int,
    *,
    concurrency: int,
    stale_after_s: float,
    on_progress: Callable[[SetProgress], None] | None = None,
) -> SetProgress:
    """Run every unfinished sequence of the set to its end; returns the final counts.

    On ``KeyboardInterrupt`` the threads take no new sequence, the sequences they hold are
    requeued (further interrupts ignored meanwhile), and the interrupt propagates without
    waiting for them. A thread may still be inside llama.cpp then, so the caller should end the
    process without finalizing the interpreter, as ``reflectseq run`` does.
    """
    factory: sessionmaker[Session] = context.session_factory
    with factory() as session:
        ids = _pending(session, set_id)
    stale_after = timedelta(seconds=stale_after_s)
    name = worker_name()
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for sequence_id in ids:
        todo.put(sequence_id)
    finished: queue.SimpleQueue[int] = queue.SimpleQueue()
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                sequence_id = todo.get_nowait()
            except queue.Empty:
                return
            try:
                run_sequence(context, sequence_id, worker=name, stale_after=stale_after)
            except Exception as error:
                log.error("sequence %s crashed: %s", sequence_id, error)
            finished.put(sequence_id)

    def report() -> SetProgress:
        with factory() as session:
            progress = set_progress(session, set_id)
        if on_progress is not None:
            on_progress(progress)
        return progress

    report()
    for number in range(min(concurrency, len(ids))):
        threading.Thread(target=work, name=f"sequence-{number}", daemon=True).start()
    try:
        for _ in ids:
            sequence_id = _next(finished)
            with factory() as session:
                log_finished(session, sequence_id)
            report()
    except KeyboardInterrupt:
        stop.set()
        with interrupts_ignored(), transaction(factory) as session:
            requeue_stale(session, stale_after=timedelta(0), set_id=set_id, queued=False)
        raise
    return report()


@contextmanager
def interrupts_ignored() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM inside (main thread only; elsewhere signals never land).

    A second Ctrl-C, which users press when the first seems slow, would otherwise roll back the
    requeue and leave the sequences marked running.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _next(finished: queue.SimpleQueue[int]) -> int:
    """The next finished sequence, waking now and then so that Ctrl-C is handled at once."""
    while True:
        try:
            return finished.get(timeout=WAIT_S)
        except queue.Empty:
            continue
