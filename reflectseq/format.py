"""The training-record format of ReflectionCoder, as pure data and functions (no database).

A record is ``{"messages": [{"role", "content": [{"type", "content"}, ...]}, ...], "type"}``.
A reflection record has four messages: the reflection instruction, the reflection sequence
(text, code and execution blocks; analyses export as text), the one-off instruction (which
restates the problem, because the student never sees message one) and the final answer (a text
block holding a fenced code block). A ``generation`` record has the last two only.

The special-token serialization is ``<|role|>`` + for each block ``<|type|>content<|endofblock|>``
+ ``<|endofmessage|>``. The exporter, the trainer and the evaluation prompt all use this module, so
the three can never disagree on the format.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

USER_TOKEN = "<|user|>"
ASSISTANT_TOKEN = "<|assistant|>"
TEXT_TOKEN = "<|text|>"
CODE_TOKEN = "<|code|>"
EXECUTION_TOKEN = "<|execution|>"
END_OF_BLOCK = "<|endofblock|>"
END_OF_MESSAGE = "<|endofmessage|>"

SPECIAL_TOKENS: tuple[str, ...] = (
    USER_TOKEN,
    ASSISTANT_TOKEN,
    TEXT_TOKEN,
    CODE_TOKEN,
    EXECUTION_TOKEN,
    END_OF_BLOCK,
    END_OF_MESSAGE,
)

ROLE_TOKENS = {"user": USER_TOKEN, "assistant": ASSISTANT_TOKEN}
BLOCK_TOKENS = {"text": TEXT_TOKEN, "code": CODE_TOKEN, "execution": EXECUTION_TOKEN}

GENERATION_TYPE = "generation"
REFLECTION_TYPE = "reflection"

RecordRole = Literal["user", "assistant"]
RecordBlockType = Literal["text", "code", "execution"]


class RecordBlock(BaseModel):
    """One block of a record message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: RecordBlockType
    content: str


class RecordMessage(BaseModel):
    """One message of a record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: RecordRole
    content: list[RecordBlock] = Field(min_length=1)


class Record(BaseModel):
    """One training record; validation enforces the message layout its ``type`` implies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: list[RecordMessage]
    type: str = Field(min_length=1)

    @model_validator(mode="after")
    def _layout(self) -> Record:
        expected = 2 if self.type == GENERATION_TYPE else 4
        roles = [message.role for message in self.messages]
        if roles != ["user", "assistant"] * (expected // 2):
            raise ValueError(
                f"a {self.type!r} record needs {expected} messages alternating user/assistant, "
                f"got {roles}"
            )
        return self

    @property
    def is_generation(self) -> bool:
        """True for a plain one-off record (SFT only, no distillation)."""
        return self.type == GENERATION_TYPE

    def to_json_line(self) -> str:
        """The record as one JSONL line, keys in the reference order, without a newline."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False)


def parse_json_line(line: str) -> Record:
    """Parse and validate one JSONL line."""
    return Record.model_validate_json(line)


def serialize_message(message: RecordMessage) -> str:
    """``<|role|>`` + each block as ``<|type|>content<|endofblock|>`` + ``<|endofmessage|>``."""
    blocks = "".join(
        f"{BLOCK_TOKENS[block.type]}{block.content}{END_OF_BLOCK}" for block in message.content
    )
    return f"{ROLE_TOKENS[message.role]}{blocks}{END_OF_MESSAGE}"


def serialize_record(record: Record) -> str:
    """The whole record in the special-token format (no BOS/EOS: those are the tokenizer's)."""
    return "".join(serialize_message(message) for message in record.messages)


def one_off_prompt(instruction: str) -> str:
    """The inference prompt of a reflectseq-trained model: a user turn, then the assistant tag."""
    user = RecordMessage(role="user", content=[RecordBlock(type="text", content=instruction)])
    return serialize_message(user) + ASSISTANT_TOKEN


def fenced(code: str, language: str) -> str:
    """A markdown code fence, the way final answers carry their code."""
    body = code if code.endswith("\n") else code + "\n"
    return f"```{language}\n{body}```"
