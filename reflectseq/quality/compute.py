"""Computing and storing the quality flags of completed sequences.

Sequences are streamed in id order through the export's reader (constant memory, one snapshot)
and their flags written back in batches through a second session, so flagging a large set
neither holds it in memory nor keeps one long write transaction open.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Sequence
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind
from reflectseq.export.filters import ExportFilters, ReviewFilter
from reflectseq.export.loaded import LoadedSequence
from reflectseq.export.stream import stream_sequences
from reflectseq.export.writers import (
    FINAL_ANSWER,
    REFLECTION_SEQUENCE,
    IncompleteSequence,
    reflection_record,
)
from reflectseq.quality.assertions import asserts_something
from reflectseq.quality.contamination import ContaminationIndex
from reflectseq.quality.flags import (
    CONTAMINATION_CHECKED_KEY,
    Flag,
    merge_flags,
    raised_flags,
)
from reflectseq.quality.near_duplicates import NearDuplicateFinder
from reflectseq.quality.over_length import ContentCounter, over_length

UPDATE_BATCH = 500


@dataclass(frozen=True)
class LengthLimit:
    """Flag records whose token count under ``count`` exceeds ``max_len``."""

    tokenizer_name: str
    count: ContentCounter
    max_len: int


@dataclass
class FlagSummary:
    """What a flag computation found."""

    sequences: int = 0
    flagged: Counter[str] = field(default_factory=Counter)


def _texts(sequence: LoadedSequence, index: int, kinds: set[str]) -> list[str]:
    message = sequence.message(index)
    if message is None:
        return []
    return [block.content for block in message.blocks if block.kind in kinds]


def contamination_fields(sequence: LoadedSequence) -> dict[str, list[str]]:
    """The record fields checked against benchmarks: instruction, code blocks, final answer."""
    return {
        "instruction": [sequence.instruction_text or ""],
        "code": _texts(sequence, REFLECTION_SEQUENCE, {BlockKind.CODE.value}),
        "final_answer": _texts(
            sequence, FINAL_ANSWER, {BlockKind.TEXT.value, BlockKind.CODE.value}
        ),
    }


def tests_assert_nothing(sequence: LoadedSequence) -> bool:
    """True when the tests the sequence ran contain no assertion.

    Those are the instruction's tests when it has some, else the code the model executed while
    reflecting (where it writes its own tests).
    """
    if sequence.instruction_tests and sequence.instruction_tests.strip():
        return not asserts_something(sequence.instruction_tests, sequence.language)
    code = "\n".join(_texts(sequence, REFLECTION_SEQUENCE, {BlockKind.CODE.value}))
    return not asserts_something(code, sequence.language)


class FlagComputer:
    """Computes the flags of one sequence after another (near-duplicates depend on order)."""

    def __init__(
        self,
        contamination: ContaminationIndex,
        near_duplicates: NearDuplicateFinder,
        length_limit: LengthLimit | None = None,
    ) -> None:
        self.contamination = contamination
        self.near_duplicates = near_duplicates
        self.length_limit = length_limit
        self._first_sequence_of_instruction: dict[int, int | None] = {}

    def _near_duplicate_of(self, sequence: LoadedSequence) -> int | None:
        # Several samples of one instruction are not duplicates of each other: the verdict is
        # per instruction and points at the first sequence of the earlier instruction.
        if sequence.instruction_id not in self._first_sequence_of_instruction:
            self._first_sequence_of_instruction[sequence.instruction_id] = self.near_duplicates.add(
                sequence.id, sequence.instruction_text or ""
            )
        return self._first_sequence_of_instruction[sequence.instruction_id]

    def flags(self, sequence: LoadedSequence) -> dict[Flag, Any]:
        """The computed flags of ``sequence`` (falsy values mean "not raised")."""
        computed: dict[Flag, Any] = {
            Flag.CONTAMINATION: [
                match.as_flag()
                for match in self.contamination.matches(contamination_fields(sequence))
            ],
            Flag.NEAR_DUPLICATE: self._near_duplicate_of(sequence),
            Flag.NO_ASSERTS: tests_assert_nothing(sequence),
        }
        if self.length_limit is not None:
            try:
                record = reflection_record(sequence)
            except IncompleteSequence:
                computed[Flag.OVER_LENGTH] = None
            else:
                computed[Flag.OVER_LENGTH] = over_length(
                    record,
                    self.length_limit.count,
                    tokenizer_name=self.length_limit.tokenizer_name,
                    max_len=self.length_limit.max_len,
                )
        return computed


def compute_flags(
    session_factory: sessionmaker[Session],
    computer: FlagComputer,
    *,
    instruction_set_ids: list[int] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> FlagSummary:
    """Compute and store the flags of every completed sequence (of the given sets)."""
    everything = ExportFilters(
        instruction_set_ids=instruction_set_ids or [],
        final_pass=None,
        review=ReviewFilter.ANY,
        exclude_flags=[],
    )
    summary = FlagSummary()
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        if pending:
            with transaction(session_factory) as writer:
                writer.execute(update(Sequence), pending)
            pending.clear()

    with session_factory() as reader:
        for sequence in stream_sequences(reader, everything, with_instruction=True):
            flags = merge_flags(sequence.flags, computer.flags(sequence))
            flags[CONTAMINATION_CHECKED_KEY] = computer.contamination.benchmarks
            summary.sequences += 1
            summary.flagged.update(flag.value for flag in raised_flags(flags))
            if flags != sequence.flags:
                pending.append({"id": sequence.id, "flags": flags})
            if len(pending) >= UPDATE_BATCH:
                flush()
            if on_progress is not None:
                on_progress(summary.sequences)
    flush()
    return summary
