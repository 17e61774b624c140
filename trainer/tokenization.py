"""Turn a training record into token ids, labels and the per-token layout the masks need.

The ids are built block by block by ``reflectseq.record_ids``: the seven special tokens are
inserted as ids, and block contents are tokenized with special tokens *split*, so a program that
prints ``<|endofblock|>`` stays content and cannot break the record's structure (tokenizing the
serialized string, as the reference does, turns that output into a real block end and corrupts
labels and masks).

Alongside ids and labels each token gets a *segment* (what the student may see) and, inside the
reflection, its block number and block type. Masks are computed later from these arrays in the
training step, because the mask rate depends on training progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from reflectseq.format import Record, RecordMessage
from reflectseq.record_ids import MessageIds, RecordIdBuilder

IGNORE_INDEX = -100
IntArray = npt.NDArray[np.int64]


class Segment(IntEnum):
    """Where a token sits, as far as the student pass is concerned."""

    HIDDEN = 0
    """Always hidden from the student: BOS, the first user turn, the reflection's tag and end."""
    REFLECTION = 1
    """A token of a reflection block: hidden or shown by the masking strategy."""
    VISIBLE = 2
    """Always visible: the one-off instruction, the final answer, EOS."""


BLOCK_TYPE_CODES = {"text": 0, "code": 1, "execution": 2}
"""Per-token block type codes; -1 outside the reflection."""


@dataclass(frozen=True)
class EncodedRecord:
    """One record as arrays of equal length, plus where the final answer lies."""

    input_ids: IntArray
    labels: IntArray
    segment: IntArray
    block_id: IntArray
    block_type: IntArray
    is_generation: bool
    answer_start: int
    """Index of the final answer's role token (the last ``<|assistant|>``)."""
    answer_end: int
    """Index of the final answer's ``<|endofmessage|>``."""

    def __len__(self) -> int:
        return len(self.input_ids)


class RecordTokenizer:
    """Encodes records with one tokenizer that already carries the seven special tokens.

    The ids come from ``reflectseq.record_ids`` (the export's over-length flag counts with the
    same builder); this class adds labels and the layout the masks need.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.ids = RecordIdBuilder(tokenizer)

    def encode(self, record: Record) -> EncodedRecord:
        """Ids, labels and layout of one record (BOS only when the tokenizer has one)."""
        ids = self.ids.build(record)
        builder = _LayoutBuilder()
        if ids.bos is not None:
            builder.add([ids.bos], trained=False, segment=Segment.HIDDEN)
        n_messages = len(record.messages)
        answer_start = answer_end = -1
        for index, (message, message_ids) in enumerate(
            zip(record.messages, ids.messages, strict=True)
        ):
            in_reflection = not record.is_generation and index == 1
            # The first user turn is never shown to the student; the last two messages always are.
            message_segment = Segment.HIDDEN if index < n_messages - 2 else Segment.VISIBLE
            if index == n_messages - 1:
                answer_start = len(builder)
            _add_message(builder, message, message_ids, message_segment, in_reflection)
            if index == n_messages - 1:
                answer_end = len(builder) - 1
        builder.add([ids.eos], trained=True, segment=Segment.VISIBLE)
        return builder.build(record.is_generation, answer_start, answer_end)


def _add_message(
    builder: _LayoutBuilder,
    message: RecordMessage,
    ids: MessageIds,
    segment: Segment,
    in_reflection: bool,
) -> None:
    trained = message.role == "assistant"
    builder.add([ids.role], trained, segment)
    for block_index, (block, block_ids) in enumerate(zip(message.content, ids.blocks, strict=True)):
        block_trained = trained and block.type != "execution"
        if in_reflection:
            builder.add_block(block_ids, block_trained, block_index, BLOCK_TYPE_CODES[block.type])
        else:
            builder.add(block_ids, block_trained, segment)
    builder.add([ids.end], trained, segment)


class _LayoutBuilder:
    """Accumulates the parallel per-token arrays of one record."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.labels: list[int] = []
        self.segment: list[int] = []
        self.block_id: list[int] = []
        self.block_type: list[int] = []

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, ids: list[int], trained: bool, segment: Segment) -> None:
        self._extend(ids, trained, segment, -1, -1)

    def add_block(self, ids: list[int], trained: bool, block_id: int, block_type: int) -> None:
        self._extend(ids, trained, Segment.REFLECTION, block_id, block_type)

    def _extend(
        self, ids: list[int], trained: bool, segment: Segment, block_id: int, block_type: int
    ) -> None:
        n = len(ids)
        self.ids += ids
        self.labels += ids if trained else [IGNORE_INDEX] * n
        self.segment += [int(segment)] * n
        self.block_id += [block_id] * n
        self.block_type += [block_type] * n

    def build(self, is_generation: bool, answer_start: int, answer_end: int) -> EncodedRecord:
        def arr(values: list[int]) -> IntArray:
            return np.asarray(values, dtype=np.int64)

        return EncodedRecord(
            input_ids=arr(self.ids),
            labels=arr(self.labels),
            segment=arr(self.segment),
            block_id=arr(self.block_id),
            block_type=arr(self.block_type),
            is_generation=is_generation,
            answer_start=answer_start,
            answer_end=answer_end,
        )
