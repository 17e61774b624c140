"""Execution integrity: MultiPL-E's verdict beside ours, passed-with-errors, the program that ran.

``execution_status`` now also requires the end-of-tests line on stdout; ``multipl_e_status``
keeps the exit-code verdict published pass rates use. Existing blocks were judged by that verdict
alone, so they get it copied.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXECUTION_STATUSES = (
    "passed",
    "failed",
    "compile_error",
    "runtime_error",
    "timeout",
    "memory_exceeded",
    "output_exceeded",
    "sandbox_error",
    "toolchain_unavailable",
)


def upgrade() -> None:
    with op.batch_alter_table("block", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "multipl_e_status",
                sa.Enum(
                    *EXECUTION_STATUSES,
                    name="multipl_e_status",
                    native_enum=False,
                    create_constraint=True,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("passed_with_errors", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("program", sa.Text(), nullable=True))
    op.execute("UPDATE block SET multipl_e_status = execution_status")
    with op.batch_alter_table("block", schema=None) as batch_op:
        batch_op.alter_column("passed_with_errors", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("block", schema=None) as batch_op:
        batch_op.drop_column("program")
        batch_op.drop_column("passed_with_errors")
        # SQLite's batch copy would keep the column's CHECK constraint without the column.
        batch_op.drop_constraint(op.f("ck_block_multipl_e_status"), type_="check")
        batch_op.drop_column("multipl_e_status")
