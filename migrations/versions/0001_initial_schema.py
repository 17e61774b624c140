"""Initial schema: instruction sets, sequences, messages, blocks, LLM calls, reviews, keys, users, exports.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:40:36.957458
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "submitter",
                "reviewer",
                name="api_role",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_key_prefix")),
    )
    op.create_table(
        "generation_config",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("endpoint", sa.String(length=500), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("sampling", JSON_DOC, nullable=False),
        sa.Column("prompt_version", sa.String(length=64), nullable=False),
        sa.Column("max_rounds", sa.Integer(), nullable=False),
        sa.Column("budget_tokens", sa.Integer(), nullable=True),
        sa.Column("budget_cost", sa.Float(), nullable=True),
        sa.Column("show_tests", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "budget_cost IS NULL OR budget_cost > 0",
            name=op.f("ck_generation_config_budget_cost_positive"),
        ),
        sa.CheckConstraint(
            "budget_tokens IS NULL OR budget_tokens > 0",
            name=op.f("ck_generation_config_budget_tokens_positive"),
        ),
        sa.CheckConstraint(
            "max_rounds >= 1", name=op.f("ck_generation_config_max_rounds_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation_config")),
        sa.UniqueConstraint("config_hash", name=op.f("uq_generation_config_config_hash")),
    )
    op.create_table(
        "users",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin", "reviewer", name="user_role", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "export",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column(
            "format",
            sa.Enum(
                "reflection",
                "generation",
                "openai",
                "sharegpt",
                name="export_format",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("filters", JSON_DOC, nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "running",
                "succeeded",
                "failed",
                name="export_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("counts", JSON_DOC, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("path", sa.String(length=1000), nullable=True),
        sa.Column("gzip", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by_key_id", BIG_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_key_id"],
            ["api_key.id"],
            name=op.f("fk_export_created_by_key_id_api_key"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export")),
    )
    op.create_index(op.f("ix_export_created_at"), "export", ["created_at"], unique=False)
    op.create_table(
        "instruction_set",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("generation_config_id", BIG_ID, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("submitted_by_key_id", BIG_ID, nullable=True),
        sa.Column("instruction_count", sa.Integer(), nullable=False),
        sa.Column("duplicate_count", sa.Integer(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("metadata", JSON_DOC, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["generation_config_id"],
            ["generation_config.id"],
            name=op.f("fk_instruction_set_generation_config_id_generation_config"),
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_key_id"],
            ["api_key.id"],
            name=op.f("fk_instruction_set_submitted_by_key_id_api_key"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instruction_set")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_instruction_set_idempotency_key")),
    )
    op.create_index(
        op.f("ix_instruction_set_created_at"), "instruction_set", ["created_at"], unique=False
    )
    op.create_table(
        "instruction",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("instruction_set_id", BIG_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("tests", sa.Text(), nullable=True),
        sa.Column("entry_point", sa.String(length=200), nullable=True),
        sa.Column("metadata", JSON_DOC, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["instruction_set_id"],
            ["instruction_set.id"],
            name=op.f("fk_instruction_instruction_set_id_instruction_set"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instruction")),
        sa.UniqueConstraint(
            "instruction_set_id",
            "content_hash",
            name=op.f("uq_instruction_instruction_set_id_content_hash"),
        ),
        sa.UniqueConstraint(
            "instruction_set_id",
            "position",
            name=op.f("uq_instruction_instruction_set_id_position"),
        ),
    )
    op.create_index(
        op.f("ix_instruction_content_hash"), "instruction", ["content_hash"], unique=False
    )
    op.create_index(op.f("ix_instruction_language"), "instruction", ["language"], unique=False)
    op.create_table(
        "sequence",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("instruction_id", BIG_ID, nullable=False),
        sa.Column("instruction_set_id", BIG_ID, nullable=False),
        sa.Column("generation_config_id", BIG_ID, nullable=False),
        sa.Column("sample_index", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "queued",
                "running",
                "completed",
                "failed",
                "cancelled",
                name="sequence_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "stage",
            sa.Enum(
                "reflection",
                "one_off",
                "verify",
                "done",
                name="sequence_stage",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("reflection_pass", sa.Boolean(), nullable=True),
        sa.Column("final_pass", sa.Boolean(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("flags", JSON_DOC, nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rounds >= 0", name=op.f("ck_sequence_rounds_non_negative")),
        sa.ForeignKeyConstraint(
            ["generation_config_id"],
            ["generation_config.id"],
            name=op.f("fk_sequence_generation_config_id_generation_config"),
        ),
        sa.ForeignKeyConstraint(
            ["instruction_id"],
            ["instruction.id"],
            name=op.f("fk_sequence_instruction_id_instruction"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["instruction_set_id"],
            ["instruction_set.id"],
            name=op.f("fk_sequence_instruction_set_id_instruction_set"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequence")),
        sa.UniqueConstraint(
            "instruction_id",
            "generation_config_id",
            "sample_index",
            name=op.f("uq_sequence_instruction_id_generation_config_id_sample_index"),
        ),
    )
    op.create_index(op.f("ix_sequence_created_at"), "sequence", ["created_at"], unique=False)
    op.create_index(
        op.f("ix_sequence_instruction_set_id_status"),
        "sequence",
        ["instruction_set_id", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_sequence_language_final_pass"),
        "sequence",
        ["language", "final_pass"],
        unique=False,
    )
    op.create_index(
        op.f("ix_sequence_status_heartbeat_at"),
        "sequence",
        ["status", "heartbeat_at"],
        unique=False,
    )
    op.create_table(
        "llm_call",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("sequence_id", BIG_ID, nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("request", JSON_DOC, nullable=False),
        sa.Column("raw_response", JSON_DOC, nullable=True),
        sa.Column("response_text", sa.Text(), nullable=True),
        sa.Column("finish_reason", sa.String(length=32), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["sequence.id"],
            name=op.f("fk_llm_call_sequence_id_sequence"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_call")),
    )
    op.create_index(op.f("ix_llm_call_request_hash"), "llm_call", ["request_hash"], unique=False)
    op.create_index(op.f("ix_llm_call_sequence_id"), "llm_call", ["sequence_id"], unique=False)
    op.create_table(
        "message",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("sequence_id", BIG_ID, nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "user", "assistant", name="message_role", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column(
            "stage",
            sa.Enum(
                "reflection",
                "one_off",
                "verify",
                "done",
                name="message_stage",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('"index" >= 0', name=op.f("ck_message_index_non_negative")),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["sequence.id"],
            name=op.f("fk_message_sequence_id_sequence"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
        sa.UniqueConstraint("sequence_id", "index", name=op.f("uq_message_sequence_id_index")),
    )
    op.create_table(
        "review",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("sequence_id", BIG_ID, nullable=False),
        sa.Column("reviewer_id", BIG_ID, nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "draft",
                "accepted",
                "rejected",
                name="review_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("edits", JSON_DOC, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["users.id"],
            name=op.f("fk_review_reviewer_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["sequence.id"],
            name=op.f("fk_review_sequence_id_sequence"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review")),
        sa.UniqueConstraint(
            "sequence_id", "reviewer_id", name=op.f("uq_review_sequence_id_reviewer_id")
        ),
    )
    op.create_index(
        op.f("ix_review_reviewer_id_status"), "review", ["reviewer_id", "status"], unique=False
    )
    op.create_index(op.f("ix_review_status"), "review", ["status"], unique=False)
    op.create_table(
        "block",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("message_id", BIG_ID, nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "text",
                "code",
                "execution",
                "analysis",
                name="block_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column(
            "execution_status",
            sa.Enum(
                "passed",
                "failed",
                "compile_error",
                "runtime_error",
                "timeout",
                "memory_exceeded",
                "output_exceeded",
                "sandbox_error",
                "toolchain_unavailable",
                name="execution_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("stdout", sa.Text(), nullable=True),
        sa.Column("stderr", sa.Text(), nullable=True),
        sa.Column("compile_duration_s", sa.Float(), nullable=True),
        sa.Column("run_duration_s", sa.Float(), nullable=True),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("llm_call_id", BIG_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'execution') = (execution_status IS NOT NULL)",
            name=op.f("ck_block_execution_status_iff_execution"),
        ),
        sa.CheckConstraint('"index" >= 0', name=op.f("ck_block_index_non_negative")),
        sa.ForeignKeyConstraint(
            ["llm_call_id"],
            ["llm_call.id"],
            name=op.f("fk_block_llm_call_id_llm_call"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
            name=op.f("fk_block_message_id_message"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_block")),
        sa.UniqueConstraint("message_id", "index", name=op.f("uq_block_message_id_index")),
    )


def downgrade() -> None:
    op.drop_table("block")
    op.drop_index(op.f("ix_review_status"), table_name="review")
    op.drop_index(op.f("ix_review_reviewer_id_status"), table_name="review")
    op.drop_table("review")
    op.drop_table("message")
    op.drop_index(op.f("ix_llm_call_sequence_id"), table_name="llm_call")
    op.drop_index(op.f("ix_llm_call_request_hash"), table_name="llm_call")
    op.drop_table("llm_call")
    op.drop_index(op.f("ix_sequence_status_heartbeat_at"), table_name="sequence")
    op.drop_index(op.f("ix_sequence_language_final_pass"), table_name="sequence")
    op.drop_index(op.f("ix_sequence_instruction_set_id_status"), table_name="sequence")
    op.drop_index(op.f("ix_sequence_created_at"), table_name="sequence")
    op.drop_table("sequence")
    op.drop_index(op.f("ix_instruction_language"), table_name="instruction")
    op.drop_index(op.f("ix_instruction_content_hash"), table_name="instruction")
    op.drop_table("instruction")
    op.drop_index(op.f("ix_instruction_set_created_at"), table_name="instruction_set")
    op.drop_table("instruction_set")
    op.drop_index(op.f("ix_export_created_at"), table_name="export")
    op.drop_table("export")
    op.drop_table("users")
    op.drop_table("generation_config")
    op.drop_table("api_key")
