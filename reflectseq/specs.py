"""Validated inputs of the store layer, shared by the API, the CLI and the workers.

They check shape and bounds only. Whether a language can run is the sandbox's business and is
checked by the callers that know the language table.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reflectseq.enums import BlockKind, ExecutionStatus

MAX_INSTRUCTION_CHARS = 200_000
MAX_TESTS_CHARS = 200_000
MAX_INT32 = 2**31 - 1  # the budget column is a 32-bit integer
# Ids are 64-bit columns: a larger number names no row and would only reach the database as an
# out-of-range parameter error.
MAX_ID = 2**63 - 1
# Endpoint names, not URLs: a submission picks among what the operator declared.
ENDPOINT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class InstructionSpec(BaseModel):
    """One programming task as submitted."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    text: str = Field(min_length=1, max_length=MAX_INSTRUCTION_CHARS)
    language: str = Field(min_length=1, max_length=16, pattern=r"^[a-z][a-z0-9_+-]*$")
    tests: str | None = Field(default=None, max_length=MAX_TESTS_CHARS)
    entry_point: str | None = Field(default=None, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    solution: str | None = Field(
        default=None,
        max_length=MAX_TESTS_CHARS,
        description="A reference solution: the API runs it once against the tests and refuses "
        "the task if it fails. It is not stored and not shown to the model.",
    )

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    def content_hash(self) -> str:
        """Identity of the task: the same text, language, tests and entry point hash alike.

        Metadata is left out on purpose: two copies of a task with different source tags are
        still the same task and would produce duplicate training data.
        """
        payload = json.dumps(
            [self.text.strip(), self.language, (self.tests or "").strip(), self.entry_point or ""],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class GenerationConfigSpec(BaseModel):
    """How to generate: model, sampling, prompts and limits."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str | None = Field(
        default=None,
        json_schema_extra={"pattern": ENDPOINT_NAME_PATTERN},
        description=(
            "Name of an endpoint the operator declared (GET /v1/endpoints); never a URL. "
            "Empty: the operator's default endpoint."
        ),
    )
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="A model the endpoint allows. Empty: the endpoint's default model.",
    )
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(default=1024, ge=16, le=65_536)
    seed: int | None = None
    max_continuations: int = Field(
        default=2,
        ge=0,
        le=8,
        description=(
            "How often an answer cut off at max_tokens is continued (the partial answer is sent "
            "back and the model asked to go on). 0, or still cut off after that many: the answer "
            "is kept as it is and the sequence flagged truncated_answer."
        ),
    )
    resample_repeats: int = Field(
        default=2,
        ge=0,
        le=4,
        description=(
            "How often a stage-1 answer whose program repeats an earlier round's (which failed) "
            "is sampled again, at a raised temperature and another seed, before it is run; when "
            "every sample repeats, stage 1 ends there (flag stalled) without running it. The "
            "discarded answers are kept as calls with status repeated. 0: repeats are run and "
            "answered with the repeated-code prompt."
        ),
    )
    prompt_version: str = Field(
        default="v2",
        min_length=1,
        max_length=64,
        description=(
            "Prompt wording (workers/prompts/<version>.toml). v2 states the harness contract of "
            "the task's language; v1 is kept to reproduce older datasets."
        ),
    )
    max_rounds: int = Field(default=4, ge=1, le=32)
    budget_tokens: int | None = Field(default=None, gt=0, le=MAX_INT32)
    budget_cost: float | None = Field(default=None, gt=0)
    show_tests: bool = True

    @field_validator("endpoint")
    @classmethod
    def _endpoint_name(cls, value: str | None) -> str | None:
        """A name, never a URL: say so plainly, since pasting a URL is the natural mistake."""
        if value is not None and not re.fullmatch(ENDPOINT_NAME_PATTERN, value):
            raise ValueError(
                "must name an endpoint the operator declared (see GET /v1/endpoints); "
                "URLs and other strings are not accepted"
            )
        return value

    def sampling(self) -> dict[str, Any]:
        """The sampling parameters as stored."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            # Stored with the sampling: together with max_tokens it bounds an answer's length.
            "max_continuations": self.max_continuations,
            "resample_repeats": self.resample_repeats,
        }

    def config_hash(self) -> str:
        """Stable hash over every field, so identical configs share one row."""
        return hashlib.sha256(self.model_dump_json().encode("utf-8")).hexdigest()


class BlockSpec(BaseModel):
    """A block to append to a message. Execution blocks carry the sandbox result fields."""

    model_config = ConfigDict(extra="forbid")

    kind: BlockKind
    content: str
    language: str | None = None
    execution_status: ExecutionStatus | None = None
    exit_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None
    compile_duration_s: float | None = None
    run_duration_s: float | None = None
    truncated: bool = False
    multipl_e_status: ExecutionStatus | None = None
    passed_with_errors: bool = False
    program: str | None = None
    llm_call_id: int | None = None

    @model_validator(mode="after")
    def _execution_fields_match_kind(self) -> BlockSpec:
        if (self.kind == BlockKind.EXECUTION) != (self.execution_status is not None):
            raise ValueError("execution blocks, and only they, carry an execution_status")
        return self
