"""What a reviewer's edit does to its sequence: the verdicts given before it stop counting.

``sequence_edited`` is the single place every block edit goes through once it is stored. It

* stamps ``sequence.edited_at``, which exports compare with the latest accept (an accept only
  stands for the text that was accepted) and which readers caching a sequence's rendering
  (say an ETag of ``GET /v1/sequences/{id}``) can key on: whatever changes how a sequence
  reads after generation moves this stamp;
* reopens the sequence for review, audited, so that it is judged anew as it now reads: the
  editor's own accept or reject becomes their draft, another reviewer's becomes that reviewer's
  claim again (reason and comment kept), which expires like any claim
  (``reflectseq.store.claims``): a reviewer who does not come back does not hold the sequence
  for ever;
* for the final answer, sets ``final_pass`` to unknown until the edited answer's code has been
  re-verified (``record_answer_verdict``): its text is exported, so its old verdict must not be.

The block rows keep the generated originals and the execution blocks keep the loop's evidence.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reflectseq.db.base import utcnow
from reflectseq.db.models import Block, Review, Sequence
from reflectseq.db.review_models import BlockEdit
from reflectseq.enums import BlockKind, ReviewStatus, Role, SequenceStage
from reflectseq.sandbox.models import ExecutionResult
from reflectseq.store.audit import AuditAction, record
from reflectseq.store.errors import NotFound

DECIDED = (ReviewStatus.ACCEPTED, ReviewStatus.REJECTED)


def is_final_answer(block: Block) -> bool:
    """Whether a block is the one-off answer's text: the final answer exports carry.

    The loop stores that message as one text block (with the code fenced inside it) followed
    by the execution block of its verification.
    """
    message = block.message
    return (
        block.kind == BlockKind.TEXT
        and message.stage == SequenceStage.ONE_OFF
        and message.role == Role.ASSISTANT
    )


def sequence_edited(session: Session, *, edit: BlockEdit, editor_id: int) -> None:
    """Apply a just-stored edit to its sequence (see the module docstring), in the same txn."""
    block = edit.block
    sequence = block.message.sequence
    sequence.edited_at = edit.created_at
    details: dict[str, object] = {"block_id": block.id, "version": edit.version}
    reopened = session.scalars(
        select(Review)
        .where(Review.sequence_id == sequence.id, Review.status.in_(DECIDED))
        .order_by(Review.id)
        .with_for_update()
    ).all()
    for review in reopened:
        previous = review.status
        review.status = (
            ReviewStatus.DRAFT if review.reviewer_id == editor_id else ReviewStatus.PENDING
        )
        review.decided_at = None
        review.updated_at = edit.created_at  # a reopened claim runs from the edit
        record(
            session,
            actor_id=editor_id,
            action=AuditAction.REVIEW_REOPEN,
            sequence_id=sequence.id,
            details={
                **details,
                "reviewer_id": review.reviewer_id,
                "from": previous.value,
                "to": review.status.value,
            },
        )
    if is_final_answer(block) and sequence.final_pass is not None:
        record(
            session,
            actor_id=editor_id,
            action=AuditAction.ANSWER_REVERIFY,
            sequence_id=sequence.id,
            block_id=block.id,
            details={**details, "final_pass": None, "was": sequence.final_pass},
        )
        sequence.final_pass = None
    session.flush()


def _is_latest(session: Session, edit: BlockEdit) -> bool:
    newest = session.scalar(
        select(func.max(BlockEdit.version)).where(BlockEdit.block_id == edit.block_id)
    )
    return newest == edit.version


def record_answer_verdict(
    session: Session,
    *,
    edit: BlockEdit,
    actor_id: int,
    result: ExecutionResult | None,
    unverifiable: str | None = None,
) -> None:
    """Make a re-verification of an edited final answer the sequence's ``final_pass``.

    ``result`` is the sandbox's verdict on the answer's code with the task's tests; None with
    ``unverifiable`` saying why when the answer holds no code to run (which fails it, as the
    loop fails such an answer). A verdict on a version that is no longer the newest is kept on
    that version only.
    """
    if not is_final_answer(edit.block):
        raise NotFound("final answer edit", edit.id)
    if result is None:
        edit.run_status = None
        edit.run_stdout = ""
        edit.run_stderr = unverifiable or "nothing to run"
        edit.run_at = utcnow()
    if not _is_latest(session, edit):
        session.flush()
        return
    sequence: Sequence = edit.block.message.sequence
    passed = result is not None and result.passed
    record(
        session,
        actor_id=actor_id,
        action=AuditAction.ANSWER_REVERIFY,
        sequence_id=sequence.id,
        block_id=edit.block_id,
        details={
            "version": edit.version,
            "final_pass": passed,
            "was": sequence.final_pass,
            "status": result.status.value if result is not None else unverifiable,
        },
    )
    sequence.final_pass = passed
    session.flush()
