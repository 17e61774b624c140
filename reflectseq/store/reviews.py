"""Review work: the annotator queue, decisions, versioned block edits and agreement figures.

A ``review`` row is one reviewer's judgement of one sequence. Handing a sequence to a reviewer
creates that row as ``pending`` (a claim, which expires: ``reflectseq.store.claims``), so the
queue never gives one sequence to more reviewers than the overlap asks for, and nobody decides
a sequence whose slots others hold; saving a draft, accepting or rejecting then updates it. An
edit after a verdict reopens it (``reflectseq.store.edited``). Every decision and edit writes an
audit entry in the same transaction.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, select
from sqlalchemy.orm import Session, aliased, joinedload

from reflectseq.db.base import utcnow
from reflectseq.db.block_search import content_matches
from reflectseq.db.models import Block, Message, Review, Sequence, User
from reflectseq.db.review_models import BlockEdit
from reflectseq.enums import BlockKind, ReviewStatus, SequenceStatus
from reflectseq.quality.flags import FLAG_KEYS, Flag
from reflectseq.sandbox.models import ExecutionResult
from reflectseq.storable import unstorable
from reflectseq.store.audit import AuditAction, record
from reflectseq.store.claims import ClaimRules, release_expired_claims, require_free_slot
from reflectseq.store.document_versions import mark_document_changed
from reflectseq.store.edited import DECIDED, is_final_answer, record_answer_verdict, sequence_edited
from reflectseq.store.errors import InvalidState, NotFound, domain_errors

# Why a sequence is rejected. Codes are stored; labels are what the dashboard shows.
REJECT_REASONS: dict[str, str] = {
    "wrong_final_answer": "Final answer is wrong or does not solve the task",
    "unfaithful_analysis": "Analysis misreads the execution result",
    "no_real_fix": "Fixes do not follow from the analysis",
    "weak_tests": "Tests are missing, trivial or wrong",
    "task_unclear": "Instruction is ambiguous or unsolvable",
    "unsafe_code": "Code is harmful or abuses the sandbox",
    "contaminated": "Copies a benchmark task or answer",
    "formatting": "Broken blocks, fences or truncated text",
    "other": "Other (explain in the comment)",
}
# Reasons whose meaning lies entirely in the comment.
COMMENT_REQUIRED_REASONS = frozenset({"other"})
MAX_COMMENT_LENGTH = 5_000
EDITABLE_KINDS = frozenset({BlockKind.TEXT, BlockKind.CODE, BlockKind.ANALYSIS})


class InvalidDecision(InvalidState):
    """A decision or edit that cannot be stored as given; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.problem = message


@dataclass(frozen=True)
class QueueFilter:
    """What a reviewer narrows the queue to; every condition is optional."""

    instruction_set_id: int | None = None
    language: str | None = None
    final_pass: bool | None = None
    min_rounds: int | None = None
    max_rounds: int | None = None
    flag: Flag | None = None
    search: str | None = None


def _conditions(session: Session, filters: QueueFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.instruction_set_id is not None:
        conditions.append(Sequence.instruction_set_id == filters.instruction_set_id)
    if filters.language is not None:
        conditions.append(Sequence.language == filters.language)
    if filters.final_pass is not None:
        conditions.append(Sequence.final_pass.is_(filters.final_pass))
    if filters.min_rounds is not None:
        conditions.append(Sequence.rounds >= filters.min_rounds)
    if filters.max_rounds is not None:
        conditions.append(Sequence.rounds <= filters.max_rounds)
    if filters.flag is not None:
        # Flag writers drop a cleared flag's key, so a present key means the flag is raised.
        conditions.append(Sequence.flags[FLAG_KEYS[filters.flag]].as_string().is_not(None))
    if filters.search and filters.search.strip():
        # A semi-join on the matching blocks: the search index finds them, wherever they lie.
        matching = (
            select(Message.sequence_id)
            .join(Block, Block.message_id == Message.id)
            .where(content_matches(session, Block.id, Block.content, filters.search.strip()))
        )
        conditions.append(Sequence.id.in_(matching))
    return conditions


def _reviewable(session: Session, filters: QueueFilter) -> Select[Sequence]:
    """Finished sequences matching ``filters``: only completed ones have both stages to judge."""
    return select(Sequence).where(
        Sequence.status == SequenceStatus.COMPLETED, *_conditions(session, filters)
    )


def search_sequences(
    session: Session, filters: QueueFilter, *, after_id: int | None, limit: int
) -> tuple[list[Sequence], int | None]:
    """A page of reviewable sequences matching ``filters`` by id, and the id to continue after."""
    query = _reviewable(session, filters)
    if after_id is not None:
        query = query.where(Sequence.id > after_id)
    rows = list(session.scalars(query.order_by(Sequence.id).limit(limit + 1)))
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1].id
    return rows, None


def _open_claim(
    session: Session, reviewer_id: int, filters: QueueFilter, after_id: int | None
) -> Review | None:
    """The reviewer's oldest still-pending claim matching ``filters`` (after ``after_id``)."""
    query = (
        select(Review)
        .join(Sequence, Sequence.id == Review.sequence_id)
        .where(Review.reviewer_id == reviewer_id, Review.status == ReviewStatus.PENDING)
        .where(*_conditions(session, filters))
        .order_by(Review.sequence_id)
        .limit(1)
    )
    if after_id is not None:
        query = query.where(Review.sequence_id > after_id)
    return session.scalar(query)


def _claim_new(
    session: Session, reviewer_id: int, overlap: int, filters: QueueFilter, after_id: int | None
) -> Review | None:
    """Claim the lowest-id sequence this reviewer has not seen and fewer than ``overlap`` have.

    ``FOR UPDATE SKIP LOCKED`` (Postgres) lets two reviewers asking at the same moment take
    different sequences instead of both taking the same one past its overlap.
    """
    taken = select(func.count()).where(Review.sequence_id == Sequence.id).scalar_subquery()
    mine = exists().where(Review.sequence_id == Sequence.id, Review.reviewer_id == reviewer_id)
    query = (
        _reviewable(session, filters)
        .where(~mine, taken < overlap)
        .order_by(Sequence.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=Sequence)
    )
    if after_id is not None:
        query = query.where(Sequence.id > after_id)
    sequence = session.scalar(query)
    if sequence is None:
        return None
    review = Review(sequence_id=sequence.id, reviewer_id=reviewer_id)
    with domain_errors():
        session.add(review)
        session.flush()
    record(session, actor_id=reviewer_id, action=AuditAction.REVIEW_CLAIM, sequence_id=sequence.id)
    return review


def next_review(
    session: Session,
    *,
    reviewer_id: int,
    rules: ClaimRules,
    filters: QueueFilter,
    after_sequence_id: int | None = None,
) -> Review | None:
    """The next sequence for a reviewer: an open claim of theirs first, else a new claim.

    Expired claims (everyone's) are released first, so what they held is handed out again.
    ``after_sequence_id`` skips ahead (the "next sequence" key on a sequence left undecided);
    when nothing lies after it the queue wraps around to the start.
    """
    release_expired_claims(session, rules)
    overlap = rules.overlap
    for after in (after_sequence_id, None) if after_sequence_id is not None else (None,):
        review = _open_claim(session, reviewer_id, filters, after) or _claim_new(
            session, reviewer_id, overlap, filters, after
        )
        if review is not None:
            return review
    return None


def get_or_open_review(
    session: Session, *, sequence_id: int, reviewer_id: int, rules: ClaimRules
) -> Review:
    """The reviewer's review of a sequence, opened (as a claim) when there is none yet.

    Opening one needs a free slot: ``ClaimedByOthers`` when other reviewers hold them all.
    """
    review = session.scalar(
        select(Review).where(Review.sequence_id == sequence_id, Review.reviewer_id == reviewer_id)
    )
    if review is not None:
        return review
    sequence = session.get(Sequence, sequence_id)
    if sequence is None:
        raise NotFound("sequence", sequence_id)
    if sequence.status != SequenceStatus.COMPLETED:
        raise InvalidState(f"sequence {sequence_id} is {sequence.status.value}, not completed")
    require_free_slot(session, rules, sequence_id=sequence_id, reviewer_id=reviewer_id)
    review = Review(sequence_id=sequence_id, reviewer_id=reviewer_id)
    with domain_errors():
        session.add(review)
        session.flush()
    record(session, actor_id=reviewer_id, action=AuditAction.REVIEW_CLAIM, sequence_id=sequence_id)
    return review


def find_review(session: Session, *, sequence_id: int, reviewer_id: int) -> Review | None:
    """The reviewer's review of a sequence, if they have one."""
    return session.scalar(
        select(Review).where(Review.sequence_id == sequence_id, Review.reviewer_id == reviewer_id)
    )


def reviews_of(session: Session, sequence_id: int) -> list[Review]:
    """Every review of a sequence, oldest first."""
    return list(
        session.scalars(select(Review).where(Review.sequence_id == sequence_id).order_by(Review.id))
    )


def open_reviews_of(session: Session, reviewer_id: int, *, limit: int = 100) -> list[Review]:
    """The reviewer's unfinished work (claims and drafts), oldest sequence first."""
    return list(
        session.scalars(
            select(Review)
            .where(
                Review.reviewer_id == reviewer_id,
                Review.status.in_((ReviewStatus.PENDING, ReviewStatus.DRAFT)),
            )
            .order_by(Review.sequence_id)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class ReviewSummary:
    """One sequence's review state as a queue row shows it."""

    mine: ReviewStatus | None
    reviews: int


def review_summaries(
    session: Session, sequence_ids: Iterable[int], *, reviewer_id: int
) -> dict[int, ReviewSummary]:
    """For each sequence: the reviewer's own status and how many reviews it has (one query)."""
    ids = list(sequence_ids)
    found: dict[int, list[Review]] = defaultdict(list)
    for review in session.scalars(select(Review).where(Review.sequence_id.in_(ids))):
        found[review.sequence_id].append(review)
    return {
        sequence_id: ReviewSummary(
            mine=next((r.status for r in found[sequence_id] if r.reviewer_id == reviewer_id), None),
            reviews=len(found[sequence_id]),
        )
        for sequence_id in ids
    }


def reviewable_languages(session: Session) -> list[str]:
    """Languages of the completed sequences, for the queue's language filter.

    A loose index scan over ``(status, language)``: a recursive query steps from one language
    to the next with one index probe each, instead of reading every sequence for a DISTINCT
    (a handful of languages, a million sequences).
    """
    completed = Sequence.status == SequenceStatus.COMPLETED
    languages = (
        select(func.min(Sequence.language).label("language"))
        .where(completed)
        .cte("languages", recursive=True)
    )
    following = (
        select(func.min(Sequence.language))
        .where(completed, Sequence.language > languages.c.language)
        .scalar_subquery()
    )
    languages = languages.union_all(select(following).where(languages.c.language.is_not(None)))
    return list(
        session.scalars(
            select(languages.c.language)
            .where(languages.c.language.is_not(None))
            .order_by(languages.c.language)
        )
    )


def _require_storable(field: str, text: str) -> None:
    """Refuse what the database cannot hold (a NUL character) as the named field's problem."""
    found = unstorable(text)
    if found is not None:
        raise InvalidDecision(field, found[1])


def _clean_comment(comment: str | None) -> str | None:
    text = (comment or "").strip()
    _require_storable("comment", text)
    if len(text) > MAX_COMMENT_LENGTH:
        raise InvalidDecision("comment", f"must be at most {MAX_COMMENT_LENGTH} characters")
    return text or None


_ACTIONS = {
    ReviewStatus.ACCEPTED: AuditAction.REVIEW_ACCEPT,
    ReviewStatus.REJECTED: AuditAction.REVIEW_REJECT,
    ReviewStatus.DRAFT: AuditAction.REVIEW_DRAFT,
}


def decide(
    session: Session,
    *,
    sequence_id: int,
    reviewer_id: int,
    status: ReviewStatus,
    rules: ClaimRules,
    reason: str | None = None,
    comment: str | None = None,
) -> Review:
    """Accept, reject or save a draft of the reviewer's review (changing one's mind is allowed).

    A reviewer without a review of the sequence needs a free slot (``ClaimedByOthers``).

    A rejection needs a known reason code; ``other`` also needs a comment. A draft may hold a
    reason (a rejection being written); an acceptance drops it, so it never carries a stale one.
    """
    if status not in _ACTIONS:
        raise InvalidDecision("status", f"must be one of {', '.join(_ACTIONS)}")
    text = _clean_comment(comment)
    reason = reason or None
    if status == ReviewStatus.REJECTED and reason is None:
        raise InvalidDecision("reason", "a rejection needs one of the listed reason codes")
    if status == ReviewStatus.ACCEPTED:
        reason = None
    if reason is not None and reason not in REJECT_REASONS:
        raise InvalidDecision("reason", f"unknown reason code '{reason}'")
    if status == ReviewStatus.REJECTED and reason in COMMENT_REQUIRED_REASONS and text is None:
        raise InvalidDecision("comment", f"reason '{reason}' needs a comment")
    review = get_or_open_review(
        session, sequence_id=sequence_id, reviewer_id=reviewer_id, rules=rules
    )
    previous = review.status
    review.status = status
    review.reason = reason
    review.comment = text
    review.decided_at = utcnow() if status in DECIDED else None
    session.flush()
    record(
        session,
        actor_id=reviewer_id,
        action=_ACTIONS[status],
        sequence_id=sequence_id,
        details={"from": previous.value, "reason": review.reason, "comment": text},
    )
    return review


# --- Block edits -------------------------------------------------------------------------


def block_of_sequence(session: Session, *, sequence_id: int, block_id: int) -> Block:
    """A block, checked to belong to the sequence (URLs carry both; they must agree)."""
    block = session.scalar(
        select(Block)
        .join(Message, Message.id == Block.message_id)
        .where(Block.id == block_id, Message.sequence_id == sequence_id)
    )
    if block is None:
        raise NotFound("block", f"{block_id} of sequence {sequence_id}")
    return block


def edit_block(
    session: Session,
    *,
    sequence_id: int,
    block_id: int,
    content: str,
    editor_id: int,
    note: str | None = None,
) -> BlockEdit:
    """Store a new version of a block's text; the block row keeps the original untouched.

    Execution blocks are the sandbox's evidence and cannot be edited: a changed program gets
    a new verdict by re-running it instead. The sequence is then reopened for review
    (``sequence_edited``); an edited final answer awaits its re-verification. This is the one
    place review edits are written, so it is also where the sequence's document version is
    bumped (cached copies go stale).
    """
    _require_storable("content", content)
    _require_storable("note", note or "")
    block = block_of_sequence(session, sequence_id=sequence_id, block_id=block_id)
    if block.kind not in EDITABLE_KINDS:
        raise InvalidDecision("block", f"{block.kind.value} blocks cannot be edited; re-run code")
    current = latest_content(session, block)
    if content == current:
        raise InvalidDecision("content", "is unchanged")
    highest = session.scalar(
        select(func.max(BlockEdit.version)).where(BlockEdit.block_id == block_id)
    )
    edit = BlockEdit(
        block_id=block_id,
        version=(highest or 0) + 1,
        content=content,
        editor_id=editor_id,
        note=(note or "").strip()[:500] or None,
    )
    with domain_errors():
        session.add(edit)
        session.flush()
    mark_document_changed(session, sequence_id)
    record(
        session,
        actor_id=editor_id,
        action=AuditAction.BLOCK_EDIT,
        sequence_id=sequence_id,
        block_id=block_id,
        details={
            "version": edit.version,
            "kind": block.kind.value,
            "chars_before": len(current),
            "chars_after": len(content),
            "note": edit.note,
        },
    )
    sequence_edited(session, edit=edit, editor_id=editor_id)
    return edit


def latest_content(session: Session, block: Block) -> str:
    """The newest text of a block: its latest edit, or the original."""
    edit = session.scalar(
        select(BlockEdit)
        .where(BlockEdit.block_id == block.id)
        .order_by(BlockEdit.version.desc())
        .limit(1)
    )
    return edit.content if edit is not None else block.content


def edits_by_block(session: Session, block_ids: Iterable[int]) -> dict[int, list[BlockEdit]]:
    """Every edit of the given blocks, oldest version first, grouped by block (one query)."""
    ids = list(block_ids)
    grouped: dict[int, list[BlockEdit]] = defaultdict(list)
    if not ids:
        return grouped
    rows = session.scalars(
        select(BlockEdit)
        .where(BlockEdit.block_id.in_(ids))
        .options(joinedload(BlockEdit.editor))
        .order_by(BlockEdit.block_id, BlockEdit.version)
    )
    for edit in rows:
        grouped[edit.block_id].append(edit)
    return grouped


def get_edit(session: Session, *, sequence_id: int, edit_id: int) -> BlockEdit:
    """An edit, checked to belong to a block of the sequence."""
    edit = session.get(BlockEdit, edit_id)
    if edit is None:
        raise NotFound("block edit", edit_id)
    block_of_sequence(session, sequence_id=sequence_id, block_id=edit.block_id)
    return edit


def record_rerun(
    session: Session, *, sequence_id: int, edit_id: int, actor_id: int, result: ExecutionResult
) -> BlockEdit:
    """Store the sandbox verdict of an edited block beside the edit it judged.

    For the final answer (its code run with the task's tests) the verdict also becomes the
    sequence's ``final_pass``, if the edit is still the newest version.
    """
    edit = get_edit(session, sequence_id=sequence_id, edit_id=edit_id)
    step = result.run or result.compile
    edit.run_status = result.status
    edit.run_exit_code = step.exit_code if step else None
    edit.run_stdout = step.stdout if step else ""
    edit.run_stderr = (step.stderr if step else "") or (result.message or "")
    edit.run_duration_s = sum(s.duration for s in (result.compile, result.run) if s is not None)
    edit.run_truncated = bool(step and step.truncated)
    edit.run_at = utcnow()
    session.flush()
    record(
        session,
        actor_id=actor_id,
        action=AuditAction.BLOCK_RERUN,
        sequence_id=sequence_id,
        block_id=edit.block_id,
        details={
            "version": edit.version,
            "status": result.status.value,
            "exit_code": edit.run_exit_code,
        },
    )
    if is_final_answer(edit.block):
        record_answer_verdict(session, edit=edit, actor_id=actor_id, result=result)
    return edit


# --- Progress and agreement ----------------------------------------------------------------


def cohens_kappa(pairs: Iterable[tuple[bool, bool]]) -> float | None:
    """Cohen's kappa of two raters' accept (True) / reject (False) verdicts on the same items.

    kappa = (p_o - p_e) / (1 - p_e), with p_o the observed agreement and p_e the agreement
    expected by chance from each rater's own accept rate. None when there is nothing to compare,
    or when chance agreement is already 1 (both raters gave a single identical verdict to every
    item), where kappa is undefined.
    """
    counts = Counter(pairs)
    total = sum(counts.values())
    if total == 0:
        return None
    observed = (counts[(True, True)] + counts[(False, False)]) / total
    first_yes = (counts[(True, True)] + counts[(True, False)]) / total
    second_yes = (counts[(True, True)] + counts[(False, True)]) / total
    expected = first_yes * second_yes + (1 - first_yes) * (1 - second_yes)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


@dataclass(frozen=True)
class PairAgreement:
    """How two reviewers agree on the sequences both of them decided."""

    first: str
    second: str
    items: int
    agreed: int
    kappa: float | None


@dataclass
class ReviewProgress:
    """The numbers of the progress page."""

    reviewable: int = 0
    by_sequence_status: dict[str, int] = field(default_factory=dict)
    by_review_status: dict[ReviewStatus, int] = field(
        default_factory=lambda: dict.fromkeys(ReviewStatus, 0)
    )
    by_reviewer: dict[str, dict[ReviewStatus, int]] = field(default_factory=dict)
    pairs: list[PairAgreement] = field(default_factory=list)
    overall_kappa: float | None = None
    overlapping_items: int = 0


# A sequence's standing from all its reviews, in the order the progress page lists them.
SEQUENCE_STANDINGS = ("unreviewed", "in_progress", "accepted", "rejected", "conflict")


def _sequence_standings(session: Session) -> dict[str, int]:
    """How many completed sequences are unreviewed, in progress, accepted, rejected, disputed.

    Only the reviews are grouped (they are few beside the sequences): a review is only ever
    opened on a completed sequence (``get_or_open_review``, the queue), so the reviewed
    sequences are completed ones. The unreviewed are the rest of the completed count, which an
    index-only scan of ``(status, language)`` gives without reading the sequences themselves.
    """
    accepted = func.sum(case((Review.status == ReviewStatus.ACCEPTED, 1), else_=0))
    rejected = func.sum(case((Review.status == ReviewStatus.REJECTED, 1), else_=0))
    per_sequence = (
        select(accepted.label("accepted"), rejected.label("rejected"))
        .group_by(Review.sequence_id)
        .subquery()
    )
    standing = case(
        (and_(per_sequence.c.accepted > 0, per_sequence.c.rejected > 0), "conflict"),
        (per_sequence.c.accepted > 0, "accepted"),
        (per_sequence.c.rejected > 0, "rejected"),
        else_="in_progress",
    ).label("standing")
    counts = dict.fromkeys(SEQUENCE_STANDINGS, 0)
    for name, count in session.execute(select(standing, func.count()).group_by(standing)):
        counts[str(name)] = int(count)
    completed = session.scalar(
        select(func.count()).where(Sequence.status == SequenceStatus.COMPLETED)
    )
    # Two statements may see two moments of a busy table: never report a negative count.
    counts["unreviewed"] = max(0, int(completed or 0) - sum(counts.values()))
    return counts


def _agreement(session: Session, progress: ReviewProgress) -> None:
    """Pairwise kappa per pair of reviewers, and kappa over every overlapping pair of verdicts."""
    first, second = aliased(Review), aliased(Review)
    first_user, second_user = aliased(User), aliased(User)
    rows = session.execute(
        select(first_user.username, second_user.username, first.status, second.status)
        .join(second, and_(second.sequence_id == first.sequence_id, second.id != first.id))
        .join(first_user, first_user.id == first.reviewer_id)
        .join(second_user, second_user.id == second.reviewer_id)
        .where(first.reviewer_id < second.reviewer_id)
        .where(first.status.in_(DECIDED), second.status.in_(DECIDED))
    )
    by_pair: dict[tuple[str, str], list[tuple[bool, bool]]] = defaultdict(list)
    for name_a, name_b, status_a, status_b in rows:
        by_pair[(name_a, name_b)].append(
            (status_a == ReviewStatus.ACCEPTED, status_b == ReviewStatus.ACCEPTED)
        )
    everything: list[tuple[bool, bool]] = []
    for (name_a, name_b), verdicts in sorted(by_pair.items()):
        everything.extend(verdicts)
        progress.pairs.append(
            PairAgreement(
                first=name_a,
                second=name_b,
                items=len(verdicts),
                agreed=sum(a == b for a, b in verdicts),
                kappa=cohens_kappa(verdicts),
            )
        )
    progress.overlapping_items = len(everything)
    progress.overall_kappa = cohens_kappa(everything)


def review_progress(session: Session) -> ReviewProgress:
    """Counts by status and by reviewer, and agreement where reviews overlap (grouped queries)."""
    progress = ReviewProgress()
    progress.by_sequence_status = _sequence_standings(session)
    progress.reviewable = sum(progress.by_sequence_status.values())
    for status, count in session.execute(
        select(Review.status, func.count()).group_by(Review.status)
    ):
        progress.by_review_status[ReviewStatus(status)] = int(count)
    for username, status, count in session.execute(
        select(User.username, Review.status, func.count())
        .join(User, User.id == Review.reviewer_id)
        .group_by(User.username, Review.status)
    ):
        row = progress.by_reviewer.setdefault(username, dict.fromkeys(ReviewStatus, 0))
        row[ReviewStatus(status)] = int(count)
    _agreement(session, progress)
    return progress


def conflicting_sequences(session: Session, *, limit: int = 200) -> list[tuple[int, list[Review]]]:
    """Sequences with at least one accept and one reject, each with all its reviews."""
    accepted = func.sum(case((Review.status == ReviewStatus.ACCEPTED, 1), else_=0))
    rejected = func.sum(case((Review.status == ReviewStatus.REJECTED, 1), else_=0))
    ids = list(
        session.scalars(
            select(Review.sequence_id)
            .group_by(Review.sequence_id)
            .having(accepted > 0, rejected > 0)
            .order_by(Review.sequence_id)
            .limit(limit)
        )
    )
    reviews = session.scalars(
        select(Review).where(Review.sequence_id.in_(ids)).order_by(Review.sequence_id, Review.id)
    )
    grouped: dict[int, list[Review]] = {sequence_id: [] for sequence_id in ids}
    for review in reviews:
        grouped[review.sequence_id].append(review)
    return list(grouped.items())
