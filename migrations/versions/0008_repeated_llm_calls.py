"""LLM call status ``repeated``: an answer that sent a failed program again, sampled anew.

Such an answer is not run and not stored as blocks; its call is kept with its tokens and cost,
like every other call. The status column's CHECK constraint gains the value.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "ck_llm_call_llm_call_status"
BEFORE = ("answered", "failed", "timed_out", "abandoned")
AFTER = (*BEFORE, "repeated")


def _allow(statuses: tuple[str, ...]) -> None:
    with op.batch_alter_table("llm_call", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch_op.create_check_constraint(op.f(CONSTRAINT), sa.column("status").in_(statuses))


def upgrade() -> None:
    _allow(AFTER)


def downgrade() -> None:
    # Answers that were not used, as ``abandoned`` ones are not.
    op.execute("UPDATE llm_call SET status = 'abandoned' WHERE status = 'repeated'")
    _allow(BEFORE)
