"""Tables of the review dashboard: login sessions, versioned block edits and the audit log.

They live apart from ``models.py`` because only the dashboard writes them; ``models.py`` imports
this module at its end so that ``Base.metadata`` (and Alembic) sees every table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from reflectseq.db.base import Base, BigId, JsonDoc, str_enum, utcnow
from reflectseq.db.models import SHA256_HEX, Block, User
from reflectseq.enums import ExecutionStatus


class WebSession(Base):
    """A dashboard login, held server-side so that logout and deactivation end it at once.

    The browser's cookie carries a random token; only its SHA-256 is stored (like API keys), so
    a leaked database row cannot be replayed as a cookie. ``csrf_token`` is the synchronizer
    token every form of this session must send back.
    """

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(SHA256_HEX), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    user: Mapped[User] = relationship()

    __table_args__ = (Index(None, "user_id"), Index(None, "expires_at"))


class BlockEdit(Base):
    """One version of a reviewer's edit of a block; the block row itself keeps the original.

    Versions count per block from 1, so the newest edit is the highest version and every
    earlier one stays readable. A re-run of the edited code stores its sandbox verdict here,
    beside the text it judged.
    """

    __tablename__ = "block_edit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    block_id: Mapped[int] = mapped_column(ForeignKey("block.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_status: Mapped[ExecutionStatus | None] = mapped_column(
        str_enum(ExecutionStatus, "block_edit_run_status")
    )
    run_exit_code: Mapped[int | None] = mapped_column(Integer)
    run_stdout: Mapped[str | None] = mapped_column(Text)
    run_stderr: Mapped[str | None] = mapped_column(Text)
    run_duration_s: Mapped[float | None] = mapped_column(Float)
    run_truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    run_at: Mapped[datetime | None]

    block: Mapped[Block] = relationship()
    editor: Mapped[User | None] = relationship()

    __table_args__ = (UniqueConstraint("block_id", "version"),)


class AuditEntry(Base):
    """Who did what, when: every review decision, edit, re-run, login and user change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    sequence_id: Mapped[int | None] = mapped_column(ForeignKey("sequence.id", ondelete="SET NULL"))
    block_id: Mapped[int | None] = mapped_column(ForeignKey("block.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    actor: Mapped[User | None] = relationship()

    __table_args__ = (
        Index(None, "created_at"),
        Index(None, "sequence_id"),
        Index(None, "actor_id"),
    )
