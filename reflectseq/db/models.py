"""The relational model: instruction sets, sequences and their blocks, reviews, keys, exports.

Shape (DESIGN.md section 3): ``instruction_set -< instruction -< sequence -< message -< block``.
Raw LLM responses live in ``llm_call`` apart from the parsed blocks, so a parser change can
re-parse without new calls. Unique constraints make duplicate messages, blocks, instructions and
reviews impossible at the database level, whatever a retried task or a double click does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    column,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from reflectseq.db.base import Base, BigId, JsonDoc, str_enum, utcnow
from reflectseq.db.block_search import postgres_search_vector
from reflectseq.enums import (
    ApiRole,
    BlockKind,
    ExecutionStatus,
    ExportFormat,
    ExportStatus,
    LlmCallStatus,
    ReviewStatus,
    Role,
    SequenceStage,
    SequenceStatus,
    UserRole,
)

SHA256_HEX = 64


class TimestampMixin:
    """Creation and last-update times, maintained by SQLAlchemy."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class GenerationConfig(Base):
    """How sequences are generated: which model, how sampled, which prompts, which limits.

    Configs are immutable and shared: ``config_hash`` (over every field) makes identical configs
    one row, so sequences can be grouped by the exact setup that produced them.
    """

    __tablename__ = "generation_config"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    config_hash: Mapped[str] = mapped_column(String(SHA256_HEX), unique=True)
    backend: Mapped[str] = mapped_column(String(32))
    endpoint: Mapped[str] = mapped_column(String(500))  # a declared endpoint's name
    model: Mapped[str] = mapped_column(String(200))
    sampling: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    prompt_version: Mapped[str] = mapped_column(String(64))
    max_rounds: Mapped[int] = mapped_column(Integer)
    budget_tokens: Mapped[int | None] = mapped_column(Integer)
    budget_cost: Mapped[float | None] = mapped_column(Float)
    show_tests: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint("max_rounds >= 1", name="max_rounds_positive"),
        CheckConstraint(
            "budget_tokens IS NULL OR budget_tokens > 0", name="budget_tokens_positive"
        ),
        CheckConstraint("budget_cost IS NULL OR budget_cost > 0", name="budget_cost_positive"),
    )


class ApiKey(Base):
    """An API credential. Only a hash is stored; the key itself is shown once at creation."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(SHA256_HEX), unique=True)
    role: Mapped[ApiRole] = mapped_column(str_enum(ApiRole, "api_role"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class User(Base):
    """A dashboard login (admin or reviewer)."""

    __tablename__ = "users"  # "user" is reserved in Postgres

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole] = mapped_column(str_enum(UserRole, "user_role"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class InstructionSet(TimestampMixin, Base):
    """A batch of instructions submitted together and generated with one config."""

    __tablename__ = "instruction_set"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    generation_config_id: Mapped[int] = mapped_column(ForeignKey("generation_config.id"))
    # Scoped per API key: one submitter's key can neither replay nor block another's.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    submitted_by_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_key.id", ondelete="SET NULL")
    )
    instruction_count: Mapped[int] = mapped_column(Integer, default=0)
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_at: Mapped[datetime | None]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonDoc, default=dict)

    generation_config: Mapped[GenerationConfig] = relationship()
    instructions: Mapped[list[Instruction]] = relationship(
        back_populates="instruction_set", passive_deletes=True, order_by="Instruction.position"
    )

    __table_args__ = (
        Index(None, "created_at"),
        UniqueConstraint("submitted_by_key_id", "idempotency_key"),
    )


class Instruction(Base):
    """One programming task: its text, language and optional tests."""

    __tablename__ = "instruction"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instruction_set_id: Mapped[int] = mapped_column(
        ForeignKey("instruction_set.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(16))
    tests: Mapped[str | None] = mapped_column(Text)
    entry_point: Mapped[str | None] = mapped_column(String(200))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonDoc, default=dict)
    content_hash: Mapped[str] = mapped_column(String(SHA256_HEX))

    instruction_set: Mapped[InstructionSet] = relationship(back_populates="instructions")

    __table_args__ = (
        UniqueConstraint("instruction_set_id", "position"),
        UniqueConstraint("instruction_set_id", "content_hash"),
        Index(None, "content_hash"),
        Index(None, "language"),
    )


class Sequence(TimestampMixin, Base):
    """One run of the two-stage construction for one instruction.

    ``instruction_set_id`` and ``language`` repeat the instruction's values on purpose: the list
    and export queries filter on them for every row, and a join per row would dominate.
    """

    __tablename__ = "sequence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instruction_id: Mapped[int] = mapped_column(ForeignKey("instruction.id", ondelete="CASCADE"))
    instruction_set_id: Mapped[int] = mapped_column(
        ForeignKey("instruction_set.id", ondelete="CASCADE")
    )
    generation_config_id: Mapped[int] = mapped_column(ForeignKey("generation_config.id"))
    sample_index: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[SequenceStatus] = mapped_column(
        str_enum(SequenceStatus, "sequence_status"), default=SequenceStatus.PENDING
    )
    stage: Mapped[SequenceStage] = mapped_column(
        str_enum(SequenceStage, "sequence_stage"), default=SequenceStage.REFLECTION
    )
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    reflection_pass: Mapped[bool | None] = mapped_column(Boolean)
    final_pass: Mapped[bool | None] = mapped_column(Boolean)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    flags: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    # Bumped by every review edit; with updated_at it versions the API document (ETag, cache).
    document_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    heartbeat_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # The newest reviewer edit of one of its blocks: an accept older than this no longer counts.
    edited_at: Mapped[datetime | None]

    instruction: Mapped[Instruction] = relationship()
    generation_config: Mapped[GenerationConfig] = relationship()
    messages: Mapped[list[Message]] = relationship(
        back_populates="sequence", passive_deletes=True, order_by="Message.index"
    )

    __table_args__ = (
        UniqueConstraint("instruction_id", "generation_config_id", "sample_index"),
        CheckConstraint("rounds >= 0", name="rounds_non_negative"),
        Index(None, "instruction_set_id", "status"),
        Index(None, "status", "heartbeat_at"),
        Index(None, "status", "language"),
        Index(None, "language", "final_pass"),
        Index(None, "created_at"),
    )


class Message(Base):
    """One turn of a sequence, in order."""

    __tablename__ = "message"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequence.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    role: Mapped[Role] = mapped_column(str_enum(Role, "message_role"))
    stage: Mapped[SequenceStage] = mapped_column(str_enum(SequenceStage, "message_stage"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sequence: Mapped[Sequence] = relationship(back_populates="messages")
    blocks: Mapped[list[Block]] = relationship(
        back_populates="message", passive_deletes=True, order_by="Block.index"
    )

    __table_args__ = (
        UniqueConstraint("sequence_id", "index"),
        CheckConstraint('"index" >= 0', name="index_non_negative"),
    )


class LlmCall(Base):
    """One request to a model and its raw answer, kept verbatim for re-parsing and accounting."""

    __tablename__ = "llm_call"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sequence_id: Mapped[int | None] = mapped_column(ForeignKey("sequence.id", ondelete="CASCADE"))
    request_hash: Mapped[str] = mapped_column(String(SHA256_HEX))
    model: Mapped[str] = mapped_column(String(200))
    request: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    raw_response: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    response_text: Mapped[str | None] = mapped_column(Text)
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    latency_s: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    status: Mapped[LlmCallStatus] = mapped_column(
        str_enum(LlmCallStatus, "llm_call_status"), default=LlmCallStatus.ANSWERED
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index(None, "request_hash"), Index(None, "sequence_id"))


class Block(Base):
    """One typed piece of a message: text, code, an execution result or an analysis."""

    __tablename__ = "block"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[BlockKind] = mapped_column(str_enum(BlockKind, "block_kind"))
    content: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    execution_status: Mapped[ExecutionStatus | None] = mapped_column(
        str_enum(ExecutionStatus, "execution_status")
    )
    exit_code: Mapped[int | None] = mapped_column(Integer)
    stdout: Mapped[str | None] = mapped_column(Text)
    stderr: Mapped[str | None] = mapped_column(Text)
    compile_duration_s: Mapped[float | None] = mapped_column(Float)
    run_duration_s: Mapped[float | None] = mapped_column(Float)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    # MultiPL-E's exit-code verdict, kept beside execution_status (which also requires the
    # end-of-tests line), so pass rates stay comparable with published ones.
    multipl_e_status: Mapped[ExecutionStatus | None] = mapped_column(
        str_enum(ExecutionStatus, "multipl_e_status")
    )
    passed_with_errors: Mapped[bool] = mapped_column(Boolean, default=False)
    # The source that ran, when the sandbox assembled it from the code block and the tests.
    program: Mapped[str | None] = mapped_column(Text)
    llm_call_id: Mapped[int | None] = mapped_column(ForeignKey("llm_call.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    message: Mapped[Message] = relationship(back_populates="blocks")

    __table_args__ = (
        UniqueConstraint("message_id", "index"),
        CheckConstraint('"index" >= 0', name="index_non_negative"),
        CheckConstraint(
            "(kind = 'execution') = (execution_status IS NOT NULL)",
            name="execution_status_iff_execution",
        ),
        # The queue search's word index (Postgres; SQLite's FTS5 table is outside the metadata).
        Index(
            "ix_block_content_search",
            postgres_search_vector(column("content")),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
    )


class Review(TimestampMixin, Base):
    """One reviewer's judgement of one sequence; ``edits`` keeps every block edit, versioned."""

    __tablename__ = "review"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequence.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[ReviewStatus] = mapped_column(
        str_enum(ReviewStatus, "review_status"), default=ReviewStatus.PENDING
    )
    reason: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    edits: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list)
    decided_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("sequence_id", "reviewer_id"),
        Index(None, "status"),
        Index(None, "reviewer_id", "status"),
    )


class Export(Base):
    """A training-data export: what was asked for, what came out, and where it lies."""

    __tablename__ = "export"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    format: Mapped[ExportFormat] = mapped_column(str_enum(ExportFormat, "export_format"))
    filters: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    status: Mapped[ExportStatus] = mapped_column(
        str_enum(ExportStatus, "export_status"), default=ExportStatus.PENDING
    )
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    sha256: Mapped[str | None] = mapped_column(String(SHA256_HEX))
    path: Mapped[str | None] = mapped_column(String(1000))
    gzip: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_key.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index(None, "created_at"),)
