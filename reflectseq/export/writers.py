"""Pure functions from one loaded sequence to one exported line, per format.

``reflection`` and ``generation`` write the ReflectionCoder record through
``reflectseq.format.Record`` (byte-compatible with what the paper's trainer reads). ``openai``
and ``sharegpt`` write the same four-message conversation with string contents, blocks rendered
either as markdown (text as is, code and execution output fenced) or as the special-token block
strings ``<|type|>content<|endofblock|>`` for trainers that add reflectseq's tokens.

Stored message layout (the loop's contract): 0 user reflection instruction, 1 assistant
reflection sequence, 2 user one-off instruction, 3 assistant final answer followed by the
execution block of its verification. That execution block is dropped: a record's final answer
is text only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

from reflectseq.enums import BlockKind, BlockRendering, ExportFormat
from reflectseq.export.loaded import LoadedBlock, LoadedMessage, LoadedSequence
from reflectseq.format import (
    BLOCK_TOKENS,
    END_OF_BLOCK,
    GENERATION_TYPE,
    REFLECTION_TYPE,
    Record,
    RecordBlockType,
    RecordMessage,
    RecordRole,
    fenced,
)
from reflectseq.quality.special_text import finder_for

REFLECTION_INSTRUCTION, REFLECTION_SEQUENCE, ONE_OFF_INSTRUCTION, FINAL_ANSWER = range(4)

# Analyses are the model's reading of an execution result: the record format calls that text.
_RECORD_TYPES: dict[BlockKind, RecordBlockType] = {
    BlockKind.TEXT: "text",
    BlockKind.ANALYSIS: "text",
    BlockKind.CODE: "code",
    BlockKind.EXECUTION: "execution",
}

EXECUTION_FENCE_LANGUAGE = "output"
SHAREGPT_SPEAKERS: dict[RecordRole, str] = {"user": "human", "assistant": "gpt"}


class IncompleteSequence(ValueError):
    """The stored sequence lacks a message (or any content) the format needs."""


def _message(sequence: LoadedSequence, index: int, role: str) -> LoadedMessage:
    message = sequence.message(index)
    if message is None or message.role != role:
        raise IncompleteSequence(f"sequence {sequence.id} has no {role} message {index}")
    return message


# The record as plain data, shaped exactly as ``Record.model_dump(mode="json")``: the JSONL line
# of the ReflectionCoder formats is this dumped directly, without building (and re-validating)
# a ``Record`` for each of a hundred thousand sequences. The layout is right by construction.
_BlockData = dict[str, str]
_MessageData = dict[str, Any]
RecordData = dict[str, Any]


def _record_block(block: LoadedBlock, *, final_answer: bool, language: str) -> _BlockData:
    if final_answer and block.kind == BlockKind.CODE:
        # A final answer carries its code fenced inside text, as the reference data does.
        return {"type": "text", "content": fenced(block.content, block.language or language)}
    # BlockKind is a StrEnum: the stored string finds its member's entry without a conversion.
    return {"type": _RECORD_TYPES[block.kind], "content": block.content}  # type: ignore[index]


def _record_message(sequence: LoadedSequence, index: int, role: RecordRole) -> _MessageData:
    final_answer = index == FINAL_ANSWER
    blocks = [
        _record_block(block, final_answer=final_answer, language=sequence.language)
        for block in _message(sequence, index, role).blocks
        if not (final_answer and block.kind == BlockKind.EXECUTION)
    ]
    if not blocks:
        raise IncompleteSequence(f"sequence {sequence.id} has an empty message {index}")
    return {"role": role, "content": blocks}


def reflection_data(sequence: LoadedSequence) -> RecordData:
    """The four-message ReflectionCoder record of a sequence, as plain data."""
    return {
        "messages": [
            _record_message(sequence, REFLECTION_INSTRUCTION, "user"),
            _record_message(sequence, REFLECTION_SEQUENCE, "assistant"),
            _record_message(sequence, ONE_OFF_INSTRUCTION, "user"),
            _record_message(sequence, FINAL_ANSWER, "assistant"),
        ],
        "type": REFLECTION_TYPE,
    }


def generation_data(sequence: LoadedSequence) -> RecordData:
    """The two-message one-off record: the one-off instruction and the final answer."""
    return {
        "messages": [
            _record_message(sequence, ONE_OFF_INSTRUCTION, "user"),
            _record_message(sequence, FINAL_ANSWER, "assistant"),
        ],
        "type": GENERATION_TYPE,
    }


def record_json_line(data: RecordData) -> str:
    """``json.dumps(data, ensure_ascii=False)`` of record data, assembled around its strings.

    Every string is escaped by ``encode_basestring``, the C function ``json.dumps`` itself uses
    without ``ensure_ascii``; only the fixed skeleton (keys, ``", "`` and ``": "``) is written
    here. The general encoder spends most of its time on that skeleton, a fifth of an export
    (tests compare the two outputs byte for byte).
    """
    messages = ", ".join(
        '{"role": '
        + encode_basestring(message["role"])
        + ', "content": ['
        + ", ".join(
            '{"type": '
            + encode_basestring(block["type"])
            + ', "content": '
            + encode_basestring(block["content"])
            + "}"
            for block in message["content"]
        )
        + "]}"
        for message in data["messages"]
    )
    return '{"messages": [' + messages + '], "type": ' + encode_basestring(data["type"]) + "}"


def reflection_record(sequence: LoadedSequence) -> Record:
    """The four-message ReflectionCoder record of a sequence."""
    return Record.model_validate(reflection_data(sequence))


def generation_record(sequence: LoadedSequence) -> Record:
    """The two-message one-off record: the one-off instruction and the final answer."""
    return Record.model_validate(generation_data(sequence))


def render_blocks(message: RecordMessage, rendering: BlockRendering, language: str) -> str:
    """One message's blocks as a single string."""
    if rendering is BlockRendering.SPECIAL_TOKENS:
        return "".join(
            f"{BLOCK_TOKENS[block.type]}{block.content}{END_OF_BLOCK}" for block in message.content
        )
    parts = []
    for block in message.content:
        if block.type == "code":
            parts.append(fenced(block.content, language))
        elif block.type == "execution":
            parts.append(fenced(block.content, EXECUTION_FENCE_LANGUAGE))
        else:
            parts.append(block.content)
    return "\n\n".join(parts)


def openai_record(record: Record, rendering: BlockRendering, language: str) -> dict[str, Any]:
    """``{"messages": [{"role", "content": str}, ...]}``: the reflection conversation as chat."""
    return {
        "messages": [
            {"role": message.role, "content": render_blocks(message, rendering, language)}
            for message in record.messages
        ]
    }


def sharegpt_record(record: Record, rendering: BlockRendering, language: str) -> dict[str, Any]:
    """``{"conversations": [{"from": "human"|"gpt", "value": str}, ...]}`` (LLaMA-Factory)."""
    return {
        "conversations": [
            {
                "from": SHAREGPT_SPEAKERS[message.role],
                "value": render_blocks(message, rendering, language),
            }
            for message in record.messages
        ]
    }


LineWriter = Callable[[LoadedSequence], str]


def line_writer(
    export_format: ExportFormat, rendering: BlockRendering, *, escape_special_tokens: bool = False
) -> LineWriter:
    """The function that turns a sequence into one JSONL line (no newline) for a format.

    With ``escape_special_tokens`` every special-token string in the contents is escaped (see
    ``reflectseq.quality.special_text``), as the reference trainer needs.
    """
    build = generation_data if export_format is ExportFormat.GENERATION else reflection_data

    def record_of(sequence: LoadedSequence) -> Record:
        record = Record.model_validate(build(sequence))
        if escape_special_tokens:
            return finder_for(sequence.flags).escaped(record)
        return record

    if export_format in (ExportFormat.REFLECTION, ExportFormat.GENERATION):
        if escape_special_tokens:
            return lambda sequence: record_of(sequence).to_json_line()
        # The same bytes as ``Record.to_json_line`` (tests compare the two).
        return lambda sequence: record_json_line(build(sequence))
    chat = openai_record if export_format is ExportFormat.OPENAI else sharegpt_record
    return lambda sequence: json.dumps(
        chat(record_of(sequence), rendering, sequence.language), ensure_ascii=False
    )
