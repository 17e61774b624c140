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
from reflectseq.enums import BlockKind, ReviewFilter
from reflectseq.export.filters import ExportFilters
from reflectseq.export.loaded import LoadedSequence
from reflectseq.export.stream import stream_sequences
from reflectseq.export.writers import (
    FINAL_ANSWER,
    REFLECTION_SEQUENCE,
    IncompleteSequence,
    reflection_record,
)
from reflectseq.format import Record
from reflectseq.quality.assertions import asserts_something
from reflectseq.quality.bidi import count_bidi_controls
from reflectseq.quality.contamination import ContaminationIndex
from reflectseq.quality.flags import (
    CONTAMINATION_CHECKED_KEY,
    Flag,
    merge_flags,
    raised_flags,
)
from reflectseq.quality.near_duplicates import NearDuplicateFinder
from reflectseq.quality.over_length import over_length
from reflectseq.quality.special_text import DEFAULT_SPECIAL_TEXTS, SpecialTextFinder
from reflectseq.record_ids import RecordIdBuilder

UPDATE_BATCH = 500


@dataclass(frozen=True)
class LengthLimit:
    """Flag records whose ids, built as the trainer builds them, outnumber ``max_len``."""

    tokenizer_name: str
    ids: RecordIdBuilder
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


def bidi_controls(sequence: LoadedSequence) -> dict[str, int] | None:
    """How many bidirectional control characters the instruction and the blocks hold, if any."""
    texts = [
        sequence.instruction_text or "",
        sequence.instruction_tests or "",
        *(block.content for message in sequence.messages for block in message.blocks),
    ]
    found = count_bidi_controls(texts)
    return {"characters": found} if found else None


def passed_with_errors(sequence: LoadedSequence) -> bool:
    """True when one of the sequence's executions passed while its stderr carried an error.

    Such a pass (bash going on after ``syntax error in expression``, a traceback from a thread)
    is not a clean one: training on it teaches that the error is fine.
    """
    return any(
        block.passed_with_errors for message in sequence.messages for block in message.blocks
    )


class FlagComputer:
    """Computes the flags of one sequence after another (near-duplicates depend on order)."""

    def __init__(
        self,
        contamination: ContaminationIndex,
        near_duplicates: NearDuplicateFinder,
        length_limit: LengthLimit | None = None,
        special_texts: SpecialTextFinder | None = None,
    ) -> None:
        self.contamination = contamination
        self.near_duplicates = near_duplicates
        self.length_limit = length_limit
        self.special_texts = special_texts or SpecialTextFinder(DEFAULT_SPECIAL_TEXTS)
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
            Flag.BIDI_CONTROLS: bidi_controls(sequence),
            Flag.PASSED_WITH_ERRORS: passed_with_errors(sequence),
        }
        try:
            record: Record | None = reflection_record(sequence)
        except IncompleteSequence:
            record = None
        computed[Flag.SPECIAL_TOKEN_TEXT] = (
            None if record is None else self.special_texts.found(record)
        )
        if self.length_limit is not None:
            computed[Flag.OVER_LENGTH] = (
                None
                if record is None
                else over_length(
                    record,
                    self.length_limit.ids,
                    tokenizer_name=self.length_limit.tokenizer_name,
                    max_len=self.length_limit.max_len,
                )
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
