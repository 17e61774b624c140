"""Turning stored rows and aggregates into response bodies."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.schemas import DuplicateOut, GenerationConfigOut, InstructionSetOut, ProgressOut
from reflectseq.db.models import InstructionSet
from reflectseq.store.instruction_sets import Duplicate
from reflectseq.store.queries import SetProgress, progress_for_sets


def progress_out(progress: SetProgress) -> ProgressOut:
    """The response form of a set's progress."""
    return ProgressOut(
        total=progress.total,
        by_status=progress.by_status,
        finished=progress.finished,
        rounds=progress.rounds,
        tokens_in=progress.tokens_in,
        tokens_out=progress.tokens_out,
        cost=progress.cost,
        pass_rate=progress.pass_rate,
        reflection_pass_rate=progress.reflection_pass_rate,
    )


def instruction_set_out(row: InstructionSet, progress: SetProgress) -> InstructionSetOut:
    """The response form of a set with its progress."""
    return InstructionSetOut(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        cancelled_at=row.cancelled_at,
        instruction_count=row.instruction_count,
        duplicate_count=row.duplicate_count,
        generation_config=GenerationConfigOut.model_validate(row.generation_config),
        progress=progress_out(progress),
    )


def instruction_sets_out(session: Session, rows: list[InstructionSet]) -> list[InstructionSetOut]:
    """Several sets, their progress read in one grouped query."""
    progress = progress_for_sets(session, [row.id for row in rows])
    return [instruction_set_out(row, progress[row.id]) for row in rows]


def duplicates_out(duplicates: list[Duplicate]) -> list[DuplicateOut]:
    """The response form of skipped duplicates."""
    return [DuplicateOut(position=d.position, duplicate_of=d.duplicate_of) for d in duplicates]
