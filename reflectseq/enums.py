"""The closed vocabularies shared by the database, the API, the workers and the exporters."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Who wrote a message."""

    USER = "user"
    ASSISTANT = "assistant"


class BlockKind(StrEnum):
    """What a block holds. ``analysis`` reads an execution result; it exports as text."""

    TEXT = "text"
    CODE = "code"
    EXECUTION = "execution"
    ANALYSIS = "analysis"


class SequenceStatus(StrEnum):
    """Lifecycle of one sequence (the loop's state machine drives it)."""

    PENDING = "pending"  # stored, not yet handed to a worker
    QUEUED = "queued"  # a task for it is on the broker
    RUNNING = "running"  # a worker holds it
    COMPLETED = "completed"  # both stages done; see final_pass for the verdict
    FAILED = "failed"  # gave up (LLM errors, budget exhausted before any answer, ...)
    CANCELLED = "cancelled"


TERMINAL_SEQUENCE_STATUSES = frozenset(
    {SequenceStatus.COMPLETED, SequenceStatus.FAILED, SequenceStatus.CANCELLED}
)


class LlmCallStatus(StrEnum):
    """How an LLM call ended; every call is kept, whether its answer was used or not."""

    ANSWERED = "answered"  # its answer went into the sequence
    FAILED = "failed"  # an error answer (HTTP error, refused as too long, withheld)
    TIMED_OUT = "timed_out"  # no answer in time; tokens and cost are the prompt's estimate
    ABANDONED = "abandoned"  # answered after the sequence stopped being its worker's
    REPEATED = "repeated"  # its program repeated an earlier round's, so the model was asked again


class SequenceStage(StrEnum):
    """Where a sequence is within the two-stage construction."""

    REFLECTION = "reflection"  # stage 1: generate -> execute -> analyze -> fix
    ONE_OFF = "one_off"  # stage 2: re-answer in one go
    VERIFY = "verify"  # executing the one-off answer
    DONE = "done"


class ExecutionStatus(StrEnum):
    """Outcome of one sandbox execution (DESIGN.md section 3, "Sandbox")."""

    PASSED = "passed"
    FAILED = "failed"
    COMPILE_ERROR = "compile_error"
    RUNTIME_ERROR = "runtime_error"
    TIMEOUT = "timeout"
    MEMORY_EXCEEDED = "memory_exceeded"
    OUTPUT_EXCEEDED = "output_exceeded"
    SANDBOX_ERROR = "sandbox_error"
    TOOLCHAIN_UNAVAILABLE = "toolchain_unavailable"


class ReviewStatus(StrEnum):
    """An annotator's verdict on a sequence."""

    PENDING = "pending"
    DRAFT = "draft"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class ApiRole(StrEnum):
    """Roles of API keys, strongest first."""

    ADMIN = "admin"
    SUBMITTER = "submitter"
    REVIEWER = "reviewer"


class UserRole(StrEnum):
    """Roles of dashboard logins."""

    ADMIN = "admin"
    REVIEWER = "reviewer"


class ExportStatus(StrEnum):
    """Lifecycle of an export job."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ExportFormat(StrEnum):
    """Training-data formats an export can write."""

    REFLECTION = "reflection"
    GENERATION = "generation"
    OPENAI = "openai"
    SHAREGPT = "sharegpt"


class ReviewFilter(StrEnum):
    """Which review verdicts an export accepts."""

    ACCEPTED = "accepted"  # accepted after its latest edit, none rejected
    NOT_REJECTED = "not_rejected"  # no reviewer rejected (unreviewed ones included)
    ANY = "any"


class Template(StrEnum):
    """The prompt template of an evaluation run (``reflectseq.evaluation.prompts`` builds them)."""

    SPECIAL = "special"
    CHAT = "chat"
    RAW = "raw"


class BlockRendering(StrEnum):
    """How ``openai`` and ``sharegpt`` exports turn a message's blocks into one string."""

    FENCES = "fences"  # text as is; code fenced in its language; execution output fenced
    SPECIAL_TOKENS = "special_tokens"  # <|text|>...<|endofblock|><|code|>...<|endofblock|>
