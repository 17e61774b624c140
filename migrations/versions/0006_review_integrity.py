"""Review integrity: when reviewers last edited a sequence.

An accept only stands for the sequence as it was when accepted; ``sequence.edited_at`` (the
newest block edit) lets exports filtered on accepted sequences compare the two cheaply, without
joining every block edit. Existing edits set it for their sequences.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sequence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE sequence SET edited_at = ("
        " SELECT max(block_edit.created_at) FROM block_edit"
        " JOIN block ON block.id = block_edit.block_id"
        " JOIN message ON message.id = block.message_id"
        " WHERE message.sequence_id = sequence.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("sequence", schema=None) as batch_op:
        batch_op.drop_column("edited_at")
