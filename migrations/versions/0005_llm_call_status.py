"""LLM call status: answered, failed, timed out, or abandoned (answered for a lost sequence).

Calls whose answer arrived after their sequence was cancelled or taken over were dropped; they
are kept now, with their tokens and cost, as ``abandoned``. Existing calls with an error are
``failed``, the others ``answered``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("answered", "failed", "timed_out", "abandoned")


def upgrade() -> None:
    with op.batch_alter_table("llm_call", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "status",
                sa.Enum(
                    *STATUSES, name="llm_call_status", native_enum=False, create_constraint=True
                ),
                nullable=False,
                server_default="answered",
            )
        )
    op.execute("UPDATE llm_call SET status = 'failed' WHERE error IS NOT NULL")
    with op.batch_alter_table("llm_call", schema=None) as batch_op:
        batch_op.alter_column("status", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("llm_call", schema=None) as batch_op:
        # SQLite's batch copy would keep the column's CHECK constraint without the column.
        batch_op.drop_constraint(op.f("ck_llm_call_llm_call_status"), type_="check")
        batch_op.drop_column("status")
