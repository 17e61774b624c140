"""Claims: a reviewer's ``pending`` review holds a sequence for them, but only for a while.

Taking a sequence from the queue (or deciding one directly) creates the reviewer's review row
as ``pending``: a claim that counts towards the sequence's overlap, so nobody else is handed it.
A claim lasts ``ClaimRules.ttl``; after that anyone may take the sequence over. Expired claims
are released lazily, when someone asks for work or wants a slot on that sequence, so the
claimant can still finish until then. Two things make a review ``pending``: its creation, and
another reviewer's edit reopening its verdict (``reflectseq.store.edited``); nothing else writes
a pending row, so its ``updated_at`` is its claim time.

Drafts are work in progress, not claims: they do not expire, and their reviewer releases them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from reflectseq.db.base import utcnow
from reflectseq.db.models import Review, Sequence, User
from reflectseq.enums import ReviewStatus
from reflectseq.settings import Settings
from reflectseq.store.audit import AuditAction, record
from reflectseq.store.errors import Conflict, InvalidState, NotFound

UNDECIDED = (ReviewStatus.PENDING, ReviewStatus.DRAFT)


@dataclass(frozen=True)
class ClaimRules:
    """How many reviewers judge a sequence, and how long an untouched claim holds it."""

    overlap: int
    ttl: timedelta

    @classmethod
    def of(cls, settings: Settings) -> ClaimRules:
        return cls(
            overlap=settings.review_overlap, ttl=timedelta(minutes=settings.review_claim_minutes)
        )

    def expires_at(self, review: Review) -> datetime | None:
        """When a pending review's claim lapses (None for drafts and decisions)."""
        if review.status != ReviewStatus.PENDING:
            return None
        return review.updated_at + self.ttl


class ClaimedByOthers(Conflict):
    """Every review slot of the sequence is held by other reviewers (the overlap is reached)."""


def release_expired_claims(
    session: Session, rules: ClaimRules, *, sequence_id: int | None = None
) -> int:
    """Delete claims older than the rules allow (of one sequence, or all); how many went.

    Each release is audited with the reviewer it was taken from, and with the reason and comment
    a reopened verdict kept, which go with the row. ``RETURNING`` reports only the rows this
    transaction deleted, so two reviewers releasing at once log each claim once.
    """
    statement = delete(Review).where(
        Review.status == ReviewStatus.PENDING, Review.updated_at < utcnow() - rules.ttl
    )
    if sequence_id is not None:
        statement = statement.where(Review.sequence_id == sequence_id)
    released = session.execute(
        statement.returning(Review.sequence_id, Review.reviewer_id, Review.reason, Review.comment),
        execution_options={"synchronize_session": False},
    ).all()
    for released_sequence, reviewer_id, reason, comment in released:
        kept = {"reason": reason, "comment": comment}
        record(
            session,
            actor_id=None,
            action=AuditAction.REVIEW_EXPIRE,
            sequence_id=released_sequence,
            details={"reviewer_id": reviewer_id}
            | {name: text for name, text in kept.items() if text is not None},
        )
    return len(released)


def require_free_slot(
    session: Session, rules: ClaimRules, *, sequence_id: int, reviewer_id: int
) -> None:
    """Refuse (``ClaimedByOthers``) when other reviewers hold every slot of the sequence.

    The sequence row is locked first (Postgres), so two reviewers asking for its last slot at
    the same moment are served one after the other and the second is refused.
    """
    locked = session.scalar(select(Sequence.id).where(Sequence.id == sequence_id).with_for_update())
    if locked is None:
        raise NotFound("sequence", sequence_id)
    release_expired_claims(session, rules, sequence_id=sequence_id)
    holders = session.execute(
        select(User.username, Review)
        .join(User, User.id == Review.reviewer_id)
        .where(Review.sequence_id == sequence_id, Review.reviewer_id != reviewer_id)
        .order_by(Review.id)
    ).all()
    if len(holders) < rules.overlap:
        return
    described = ", ".join(
        f"{name} ({_holding(review, rules)})" for name, review in holders[: rules.overlap + 2]
    )
    raise ClaimedByOthers(
        f"Sequence {sequence_id} already has the {rules.overlap} reviewer"
        f"{'s' if rules.overlap != 1 else ''} it needs: {described}. Take another one from the "
        "queue."
    )


def _holding(review: Review, rules: ClaimRules) -> str:
    expires = rules.expires_at(review)
    if expires is None:
        return review.status.value
    return f"claimed until {expires:%Y-%m-%d %H:%M} UTC"


def release_claim(session: Session, *, sequence_id: int, reviewer_id: int) -> ReviewStatus:
    """Give up one's own undecided review (claim or draft) so others can take the sequence.

    A decision is not released: it is changed (accept or reject again) instead.
    """
    review = session.scalar(
        select(Review).where(Review.sequence_id == sequence_id, Review.reviewer_id == reviewer_id)
    )
    if review is None:
        raise NotFound("review", f"of sequence {sequence_id} by you")
    if review.status not in UNDECIDED:
        raise InvalidState(
            f"your review of sequence {sequence_id} is {review.status.value}; only a claim or a "
            "draft can be released"
        )
    status = review.status
    session.delete(review)
    session.flush()
    record(
        session,
        actor_id=reviewer_id,
        action=AuditAction.REVIEW_RELEASE,
        sequence_id=sequence_id,
        details={"from": status.value},
    )
    return status
