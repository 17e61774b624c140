"""The writers on hand-built sequences: exact JSON lines and special-token strings."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from reflectseq.enums import ExportFormat
from reflectseq.export.loaded import LoadedBlock, LoadedMessage, LoadedSequence
from reflectseq.export.writers import (
    BlockRendering,
    IncompleteSequence,
    generation_record,
    line_writer,
    reflection_record,
)
from reflectseq.format import Record, parse_json_line, serialize_record


def _sequence(*messages: tuple[str, list[LoadedBlock]], sequence_id: int = 7) -> LoadedSequence:
    return LoadedSequence(
        id=sequence_id,
        instruction_set_id=1,
        instruction_id=1,
        generation_config_id=1,
        language="py",
        final_pass=True,
        rounds=2,
        review="unreviewed",
        messages=tuple(
            LoadedMessage(index=index, role=role, blocks=tuple(blocks))
            for index, (role, blocks) in enumerate(messages)
        ),
    )


STORED = _sequence(
    ("user", [LoadedBlock("text", "Write inc(x).")]),
    (
        "assistant",
        [
            LoadedBlock("text", "Try:"),
            LoadedBlock("code", "def inc(x):\n    return x\nassert inc(1) == 2", "py"),
            LoadedBlock("execution", "AssertionError"),
            LoadedBlock("analysis", "It forgot the +1."),
            LoadedBlock("code", "def inc(x):\n    return x + 1\nassert inc(1) == 2", "py"),
            LoadedBlock("execution", "passed"),
        ],
    ),
    ("user", [LoadedBlock("text", "Write inc(x) returning x + 1.")]),
    (
        "assistant",
        [
            LoadedBlock("text", "```python\ndef inc(x):\n    return x + 1\n```"),
            LoadedBlock("execution", "passed"),
        ],
    ),
)

EXPECTED_REFLECTION_TOKENS = (
    "<|user|><|text|>Write inc(x).<|endofblock|><|endofmessage|>"
    "<|assistant|><|text|>Try:<|endofblock|>"
    "<|code|>def inc(x):\n    return x\nassert inc(1) == 2<|endofblock|>"
    "<|execution|>AssertionError<|endofblock|>"
    "<|text|>It forgot the +1.<|endofblock|>"
    "<|code|>def inc(x):\n    return x + 1\nassert inc(1) == 2<|endofblock|>"
    "<|execution|>passed<|endofblock|><|endofmessage|>"
    "<|user|><|text|>Write inc(x) returning x + 1.<|endofblock|><|endofmessage|>"
    "<|assistant|><|text|>```python\ndef inc(x):\n    return x + 1\n```<|endofblock|>"
    "<|endofmessage|>"
)


def test_reflection_record_serializes_to_the_hand_written_string() -> None:
    assert serialize_record(reflection_record(STORED)) == EXPECTED_REFLECTION_TOKENS


def test_reflection_line_is_the_reference_json_layout() -> None:
    line = line_writer(ExportFormat.REFLECTION, BlockRendering.FENCES)(STORED)
    assert line.startswith('{"messages": [{"role": "user", "content": [{"type": "text", "content"')
    assert line.endswith('"type": "reflection"}')
    document = json.loads(line)
    assert [m["role"] for m in document["messages"]] == ["user", "assistant", "user", "assistant"]
    # analysis became text; the final answer's verification execution is gone
    assert [b["type"] for b in document["messages"][1]["content"]] == [
        "text",
        "code",
        "execution",
        "text",
        "code",
        "execution",
    ]
    assert document["messages"][3]["content"] == [
        {"type": "text", "content": "```python\ndef inc(x):\n    return x + 1\n```"}
    ]
    assert parse_json_line(line) == reflection_record(STORED)


@pytest.mark.parametrize(
    ("export_format", "build"),
    [(ExportFormat.REFLECTION, reflection_record), (ExportFormat.GENERATION, generation_record)],
)
def test_lines_are_the_bytes_of_the_validated_record(
    export_format: ExportFormat, build: Callable[[LoadedSequence], Record]
) -> None:
    """The line is dumped from plain data; it must equal the validated record's own line."""
    awkward = 'caf\u00e9 \u2028 \x00\x1f "quoted" \\ \ud83d\ude00 <|code|>\n\t'
    tricky = _sequence(
        ("user", [LoadedBlock("text", awkward)]),
        ("assistant", [LoadedBlock("code", awkward, "py"), LoadedBlock("execution", awkward)]),
        ("user", [LoadedBlock("text", awkward)]),
        ("assistant", [LoadedBlock("code", awkward, None), LoadedBlock("analysis", awkward)]),
    )
    for sequence in (STORED, tricky):
        line = line_writer(export_format, BlockRendering.FENCES)(sequence)
        assert line == build(sequence).to_json_line()


def test_generation_record_is_the_one_off_pair() -> None:
    assert serialize_record(generation_record(STORED)) == (
        "<|user|><|text|>Write inc(x) returning x + 1.<|endofblock|><|endofmessage|>"
        "<|assistant|><|text|>```python\ndef inc(x):\n    return x + 1\n```<|endofblock|>"
        "<|endofmessage|>"
    )
    line = line_writer(ExportFormat.GENERATION, BlockRendering.FENCES)(STORED)
    assert json.loads(line)["type"] == "generation"


def test_final_answer_code_block_is_fenced_into_text() -> None:
    stored = _sequence(
        *[(m.role, list(m.blocks)) for m in STORED.messages[:3]],
        ("assistant", [LoadedBlock("code", "def inc(x):\n    return x + 1", "py")]),
    )
    final = reflection_record(stored).messages[3].content
    assert [(b.type, b.content) for b in final] == [
        ("text", "```py\ndef inc(x):\n    return x + 1\n```")
    ]


def test_openai_fences_blocks() -> None:
    line = line_writer(ExportFormat.OPENAI, BlockRendering.FENCES)(STORED)
    messages = json.loads(line)["messages"]
    assert messages[0] == {"role": "user", "content": "Write inc(x)."}
    assert messages[1]["content"] == (
        "Try:\n\n"
        "```py\ndef inc(x):\n    return x\nassert inc(1) == 2\n```\n\n"
        "```output\nAssertionError\n```\n\n"
        "It forgot the +1.\n\n"
        "```py\ndef inc(x):\n    return x + 1\nassert inc(1) == 2\n```\n\n"
        "```output\npassed\n```"
    )
    assert messages[3]["content"] == "```python\ndef inc(x):\n    return x + 1\n```"


def test_openai_special_tokens_and_sharegpt() -> None:
    openai = json.loads(line_writer(ExportFormat.OPENAI, BlockRendering.SPECIAL_TOKENS)(STORED))
    assert openai["messages"][2]["content"] == (
        "<|text|>Write inc(x) returning x + 1.<|endofblock|>"
    )
    sharegpt = json.loads(line_writer(ExportFormat.SHAREGPT, BlockRendering.FENCES)(STORED))
    assert [turn["from"] for turn in sharegpt["conversations"]] == ["human", "gpt", "human", "gpt"]
    assert sharegpt["conversations"][0]["value"] == "Write inc(x)."


def test_missing_final_answer_is_incomplete() -> None:
    stored = _sequence(*[(m.role, list(m.blocks)) for m in STORED.messages[:3]])
    with pytest.raises(IncompleteSequence, match="sequence 7 has no assistant message 3"):
        reflection_record(stored)


def test_final_answer_of_only_an_execution_is_incomplete() -> None:
    stored = _sequence(
        *[(m.role, list(m.blocks)) for m in STORED.messages[:3]],
        ("assistant", [LoadedBlock("execution", "passed")]),
    )
    with pytest.raises(IncompleteSequence, match="empty message 3"):
        generation_record(stored)
