"""The audit log: an append-only record of who decided, edited, re-ran or changed what, and when.

Entries are written in the same transaction as the change they describe, so the log never
claims a change that was rolled back and never misses one that was committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from reflectseq.db.review_models import AuditEntry


class AuditAction(StrEnum):
    """What an audit entry records."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    REVIEW_CLAIM = "review.claim"
    REVIEW_ACCEPT = "review.accept"
    REVIEW_REJECT = "review.reject"
    REVIEW_DRAFT = "review.draft"
    REVIEW_RELEASE = "review.release"
    REVIEW_EXPIRE = "review.expire"
    REVIEW_REOPEN = "review.reopen"
    BLOCK_EDIT = "block.edit"
    BLOCK_RERUN = "block.rerun"
    ANSWER_REVERIFY = "answer.reverify"
    USER_CREATE = "user.create"
    USER_UPDATE = "user.update"
    USER_PASSWORD = "user.password"


def record(
    session: Session,
    *,
    actor_id: int | None,
    action: AuditAction,
    sequence_id: int | None = None,
    block_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction."""
    entry = AuditEntry(
        actor_id=actor_id,
        action=action.value,
        sequence_id=sequence_id,
        block_id=block_id,
        details=details or {},
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditFilter:
    """Narrow the log to one actor, one sequence or one kind of action."""

    actor_id: int | None = None
    sequence_id: int | None = None
    action: AuditAction | None = None


def list_entries(
    session: Session, filters: AuditFilter, *, before_id: int | None, limit: int
) -> tuple[list[AuditEntry], int | None]:
    """Newest entries first, a page at a time; returns the id to continue before (or None)."""
    query = select(AuditEntry).options(joinedload(AuditEntry.actor))
    if filters.actor_id is not None:
        query = query.where(AuditEntry.actor_id == filters.actor_id)
    if filters.sequence_id is not None:
        query = query.where(AuditEntry.sequence_id == filters.sequence_id)
    if filters.action is not None:
        query = query.where(AuditEntry.action == filters.action.value)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    rows = list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit + 1)))
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1].id
    return rows, None
