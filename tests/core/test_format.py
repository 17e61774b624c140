"""The ReflectionCoder record format: layout validation and the exact special-token string."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reflectseq.format import (
    Record,
    RecordBlock,
    RecordMessage,
    fenced,
    one_off_prompt,
    parse_json_line,
    serialize_record,
)


def _message(role: str, *blocks: tuple[str, str]) -> RecordMessage:
    return RecordMessage.model_validate(
        {"role": role, "content": [{"type": t, "content": c} for t, c in blocks]}
    )


REFLECTION = Record(
    type="reflection",
    messages=[
        _message("user", ("text", "Write add(a, b).")),
        _message(
            "assistant",
            ("text", "Plan."),
            ("code", "def add(a, b):\n    return a - b\nassert add(1, 2) == 3"),
            ("execution", "AssertionError"),
            ("text", "The sign is wrong."),
            ("code", "def add(a, b):\n    return a + b\nassert add(1, 2) == 3"),
            ("execution", "passed"),
        ),
        _message("user", ("text", "Write add(a, b) that returns the sum.")),
        _message("assistant", ("text", fenced("def add(a, b):\n    return a + b", "python"))),
    ],
)


def test_serialization_matches_the_hand_written_string() -> None:
    expected = (
        "<|user|><|text|>Write add(a, b).<|endofblock|><|endofmessage|>"
        "<|assistant|><|text|>Plan.<|endofblock|>"
        "<|code|>def add(a, b):\n    return a - b\nassert add(1, 2) == 3<|endofblock|>"
        "<|execution|>AssertionError<|endofblock|>"
        "<|text|>The sign is wrong.<|endofblock|>"
        "<|code|>def add(a, b):\n    return a + b\nassert add(1, 2) == 3<|endofblock|>"
        "<|execution|>passed<|endofblock|><|endofmessage|>"
        "<|user|><|text|>Write add(a, b) that returns the sum.<|endofblock|><|endofmessage|>"
        "<|assistant|><|text|>```python\ndef add(a, b):\n    return a + b\n```<|endofblock|>"
        "<|endofmessage|>"
    )
    assert serialize_record(REFLECTION) == expected


def test_json_line_round_trips_byte_for_byte() -> None:
    line = REFLECTION.to_json_line()
    assert line.startswith(
        '{"messages": [{"role": "user", "content": [{"type": "text", "content": '
    )
    assert line.endswith('"type": "reflection"}')
    assert parse_json_line(line) == REFLECTION
    assert parse_json_line(line).to_json_line() == line


def test_generation_records_have_two_messages() -> None:
    record = Record(
        type="generation",
        messages=[_message("user", ("text", "q")), _message("assistant", ("text", "a"))],
    )
    assert record.is_generation
    with pytest.raises(ValidationError, match="needs 4 messages"):
        Record(type="reflection", messages=record.messages)
    with pytest.raises(ValidationError, match="needs 2 messages"):
        Record(type="generation", messages=REFLECTION.messages)


def test_unknown_block_types_and_roles_are_rejected() -> None:
    with pytest.raises(ValidationError):
        RecordBlock.model_validate({"type": "analysis", "content": "x"})
    with pytest.raises(ValidationError):
        RecordMessage.model_validate(
            {"role": "system", "content": [{"type": "text", "content": "x"}]}
        )


def test_one_off_prompt_ends_with_the_assistant_tag() -> None:
    assert one_off_prompt("Sum.") == (
        "<|user|><|text|>Sum.<|endofblock|><|endofmessage|><|assistant|>"
    )


def test_fenced_adds_the_final_newline_once() -> None:
    assert fenced("x = 1", "python") == "```python\nx = 1\n```"
    assert fenced("x = 1\n", "python") == "```python\nx = 1\n```"
