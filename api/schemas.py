"""Request and response bodies of the REST API (they are the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reflectseq.enums import (
    BlockKind,
    ExecutionStatus,
    Role,
    SequenceStage,
    SequenceStatus,
)
from reflectseq.specs import GenerationConfigSpec, InstructionSpec

MAX_SET_NAME_CHARS = 200


class ErrorDetail(BaseModel):
    """One problem with the request: ``line`` is the JSONL or CSV line (1-based) and ``row``
    the Parquet row (1-based) when the problem is in one."""

    line: int | None = None
    row: int | None = None
    field: str | None = Field(default=None, description="Dotted path of the offending field.")
    message: str


class ErrorBody(BaseModel):
    """What went wrong, machine-readable (``code``) and for people (``message``)."""

    code: str = Field(description="Stable identifier, e.g. `validation_error`, `not_found`.")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx response."""

    error: ErrorBody


class SubmissionHeader(BaseModel):
    """Name and generation config of a submitted set (everything but the instructions)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_SET_NAME_CHARS)
    generation_config: GenerationConfigSpec = Field(default_factory=GenerationConfigSpec)


class InstructionSetSubmission(SubmissionHeader):
    """The JSON variant of a submission. Large sets are better sent as JSONL (streamed)."""

    instructions: list[InstructionSpec] = Field(min_length=1)


class ProgressOut(BaseModel):
    """Aggregate state of a set's sequences."""

    total: int
    by_status: dict[SequenceStatus, int]
    finished: bool = Field(description="True when every sequence has reached a final status.")
    rounds: int = Field(description="Executed reflection attempts over all sequences.")
    tokens_in: int
    tokens_out: int
    cost: float
    pass_rate: float | None = Field(
        description="Share of verified one-off answers that passed; null before the first."
    )
    reflection_pass_rate: float | None


class EndpointLimitsOut(BaseModel):
    """Limits of an endpoint over all workers; 0 means unlimited."""

    requests_per_minute: int
    tokens_per_minute: int
    max_concurrency: int
    timeout_s: float


class EndpointOut(BaseModel):
    """A declared LLM endpoint, as submitters may name it (no URL, no key)."""

    name: str
    kind: str = Field(description="`openai` (an OpenAI-compatible server) or `local`.")
    models: list[str] = Field(description="Models a generation config may name here.")
    default_model: str
    default: bool = Field(description="Whether a config without `endpoint` gets this one.")
    context_tokens: int | None
    limits: EndpointLimitsOut


class GenerationConfigOut(BaseModel):
    """The stored generation config a set runs with."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    backend: str
    endpoint: str | None
    model: str
    sampling: dict[str, Any]
    prompt_version: str
    max_rounds: int
    budget_tokens: int | None
    budget_cost: float | None
    show_tests: bool


class InstructionSetOut(BaseModel):
    """A set with its progress."""

    id: int
    name: str
    created_at: datetime
    cancelled_at: datetime | None
    instruction_count: int
    duplicate_count: int
    generation_config: GenerationConfigOut
    progress: ProgressOut


class DuplicateOut(BaseModel):
    """An instruction that was skipped because an earlier one has the same content hash.

    Positions are JSONL line numbers (1-based) or JSON array indexes (0-based).
    """

    position: int
    duplicate_of: int


class SubmissionOut(InstructionSetOut):
    """The answer to a submission: the stored set and the duplicates left out."""

    duplicates: list[DuplicateOut]


class InstructionSetPage(BaseModel):
    """One page of sets; pass ``next_cursor`` as ``cursor`` to get the next one."""

    items: list[InstructionSetOut]
    next_cursor: str | None


class ActionOut(BaseModel):
    """The outcome of cancel / retry: how many sequences it touched."""

    instruction_set_id: int
    affected: int


class SequenceOut(BaseModel):
    """A sequence without its messages."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    instruction_set_id: int
    instruction_id: int
    generation_config_id: int
    sample_index: int
    language: str
    status: SequenceStatus
    stage: SequenceStage
    rounds: int
    reflection_pass: bool | None
    final_pass: bool | None
    tokens_in: int
    tokens_out: int
    cost: float
    error: str | None
    attempt: int
    flags: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SequencePage(BaseModel):
    """One page of sequences; pass ``next_cursor`` as ``cursor`` to get the next one."""

    items: list[SequenceOut]
    next_cursor: str | None


class InstructionOut(BaseModel):
    """The task a sequence works on."""

    id: int
    position: int
    text: str
    language: str
    tests: str | None
    entry_point: str | None
    metadata: dict[str, Any]


class BlockOut(BaseModel):
    """One block; the execution fields are set on execution blocks only."""

    index: int
    kind: BlockKind
    content: str
    language: str | None
    execution_status: ExecutionStatus | None
    exit_code: int | None
    stdout: str | None
    stderr: str | None
    compile_duration_s: float | None
    run_duration_s: float | None
    truncated: bool
    multipl_e_status: ExecutionStatus | None = Field(
        description="MultiPL-E's exit-code verdict; execution_status also needs the tests to "
        "have run to their end."
    )
    passed_with_errors: bool = Field(description="Passed, but stderr carries an error.")
    program: str | None = Field(description="The source that ran (code block plus tests).")
    llm_call_id: int | None


class MessageOut(BaseModel):
    """One turn with its blocks in order."""

    index: int
    role: Role
    stage: SequenceStage
    blocks: list[BlockOut]


class SequenceDetailOut(SequenceOut):
    """A sequence with its instruction and every message and block, in order."""

    instruction: InstructionOut
    messages: list[MessageOut]


class LanguageOut(BaseModel):
    """A language of the sandbox's table."""

    model_config = ConfigDict(from_attributes=True)

    code: str = Field(description="The canonical code instructions are stored with.")
    name: str
    fence: str = Field(description="Markdown code-fence tag.")
    aliases: list[str] = Field(description="Other names a submission may use.")


class HealthOut(BaseModel):
    """Liveness: the process answers."""

    status: str


class ReadyOut(BaseModel):
    """Readiness: each dependency and whether it answered."""

    status: str
    checks: dict[str, str]
