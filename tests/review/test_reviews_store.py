"""The review queue, decisions, edits and agreement figures against the real databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db import block_search
from reflectseq.db.models import Block, Message, Review
from reflectseq.db.review_models import AuditEntry
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind, ExecutionStatus, ReviewStatus, SequenceStatus
from reflectseq.quality.flags import Flag
from reflectseq.sandbox.models import ExecutionResult, StepResult
from reflectseq.store.reviews import (
    InvalidDecision,
    QueueFilter,
    cohens_kappa,
    conflicting_sequences,
    decide,
    edit_block,
    edits_by_block,
    next_review,
    record_rerun,
    review_progress,
    search_sequences,
)
from tests.review.factories import PAIR, RIGHT, SOLO, TRIO, Attempt, completed_sequences, user

EVERYTHING = QueueFilter()


def _blocks(session: Session, sequence_id: int, kind: BlockKind) -> list[Block]:
    return list(
        session.scalars(
            select(Block)
            .join(Message)
            .where(Message.sequence_id == sequence_id, Block.kind == kind)
            .order_by(Message.index, Block.index)
        )
    )


def test_without_overlap_each_sequence_goes_to_one_reviewer(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        ids = [s.id for s in completed_sequences(session, 3)]
        alice, bob = user(session, "alice").id, user(session, "bob").id
    with transaction(session_factory) as session:
        first = next_review(session, reviewer_id=alice, rules=SOLO, filters=EVERYTHING)
        again = next_review(session, reviewer_id=alice, rules=SOLO, filters=EVERYTHING)
        other = next_review(session, reviewer_id=bob, rules=SOLO, filters=EVERYTHING)
        assert first is not None and again is not None and other is not None
        # An undecided claim comes back to its reviewer; the next reviewer gets the next one.
        assert (first.sequence_id, again.sequence_id, other.sequence_id) == (ids[0], ids[0], ids[1])
        skipped = next_review(
            session, reviewer_id=alice, rules=SOLO, filters=EVERYTHING, after_sequence_id=ids[0]
        )
        assert skipped is not None and skipped.sequence_id == ids[2]
        assert (
            next_review(session, reviewer_id=bob, rules=SOLO, filters=QueueFilter(language="rs"))
            is None
        )


def test_overlap_hands_a_sequence_to_n_reviewers_and_never_twice_to_one(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        only = completed_sequences(session, 1)[0].id
        reviewers = [user(session, name).id for name in ("alice", "bob", "carol")]
    with transaction(session_factory) as session:
        for reviewer in reviewers[:2]:
            decide(
                session,
                sequence_id=only,
                reviewer_id=reviewer,
                status=ReviewStatus.ACCEPTED,
                rules=PAIR,
            )
            assert (
                next_review(session, reviewer_id=reviewer, rules=PAIR, filters=EVERYTHING) is None
            )
        assert (
            next_review(session, reviewer_id=reviewers[2], rules=PAIR, filters=EVERYTHING) is None
        )
        assert next_review(session, reviewer_id=reviewers[2], rules=TRIO, filters=EVERYTHING)


def test_filters_and_full_text_search_narrow_the_queue(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        plain = completed_sequences(session, 2, set_name="plain")
        flagged = completed_sequences(
            session,
            1,
            set_name="flagged",
            text="Reverse a linked list",
            flags={"no_asserts": True},
            attempts=(Attempt("def reverse_list(head):\n    pass\n", ExecutionStatus.FAILED),),
        )
        plain[1].status = SequenceStatus.FAILED  # not reviewable
    with transaction(session_factory) as session:

        def found(filters: QueueFilter) -> list[int]:
            return [s.id for s in search_sequences(session, filters, after_id=None, limit=50)[0]]

        assert found(EVERYTHING) == [plain[0].id, flagged[0].id]
        assert found(QueueFilter(final_pass=False)) == [flagged[0].id]
        assert found(QueueFilter(min_rounds=2)) == [plain[0].id]
        assert found(QueueFilter(flag=Flag.NO_ASSERTS)) == [flagged[0].id]
        assert found(QueueFilter(flag=Flag.CONTAMINATION)) == []
        assert found(QueueFilter(instruction_set_id=plain[0].instruction_set_id)) == [plain[0].id]
        assert found(QueueFilter(search="reverse_list")) == [flagged[0].id]
        assert found(QueueFilter(search="subtracts")) == [plain[0].id]
        assert found(QueueFilter(search="no such words")) == []


def test_every_search_path_finds_the_same_sequences(
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Postgres reads a rare word's hits first, or walks sequences for a common one (by its
    statistics or by too many hits); SQLite matches substrings through its trigram index,
    words under three characters by LIKE. Every path finds the same sequences."""
    code = 'def two_sum(a, b):\n    return a + b  # 100%_done "q"\n'
    with transaction(session_factory) as session:
        completed_sequences(session, 1, set_name="plain")
        matching = completed_sequences(
            session, 2, set_name="two", attempts=(Attempt(code, ExecutionStatus.PASSED),)
        )
    expected = [s.id for s in matching]

    def found(search: str) -> list[int]:
        with transaction(session_factory) as session:
            rows, _ = search_sequences(session, QueueFilter(search=search), after_id=None, limit=50)
            return [s.id for s in rows]

    searches = ["two_sum", "TWO_SUM b", "100%_done"]
    for search in searches:
        assert found(search) == expected, search
    assert found("three_sum") == []
    for setting, value in (("HIT_CAP", 0), ("COMMON_SHARE", 0.0)):
        with monkeypatch.context() as patched:
            patched.setattr(block_search, setting, value)
            assert [found(search) for search in searches] == [expected] * len(searches)
    if session_factory.kw["bind"].dialect.name == "sqlite":
        assert found('"q"') == expected  # quotes are literal, not FTS5 syntax
        assert found("wo_s") == expected  # substrings, as the embedded mode always matched
        assert found('q"') == expected  # too short for the trigram index: LIKE


def test_decisions_validate_reason_and_comment_and_are_audited(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        seq = completed_sequences(session, 1)[0].id
        alice = user(session, "alice").id
    for reason, comment, field in [
        (None, None, "reason"),
        ("nonsense", None, "reason"),
        ("other", " ", "comment"),
    ]:
        with pytest.raises(InvalidDecision) as caught, transaction(session_factory) as session:
            decide(
                session,
                sequence_id=seq,
                reviewer_id=alice,
                status=ReviewStatus.REJECTED,
                rules=SOLO,
                reason=reason,
                comment=comment,
            )
        assert caught.value.field == field
    with transaction(session_factory) as session:
        assert session.scalars(select(Review)).all() == []  # nothing half-written
        decide(
            session,
            sequence_id=seq,
            reviewer_id=alice,
            status=ReviewStatus.REJECTED,
            rules=SOLO,
            reason="unfaithful_analysis",
            comment="misreads the traceback",
        )
        review = decide(
            session, sequence_id=seq, reviewer_id=alice, status=ReviewStatus.ACCEPTED, rules=SOLO
        )
        assert (review.status, review.reason, review.decided_at is not None) == (
            ReviewStatus.ACCEPTED,
            None,
            True,
        )
    with transaction(session_factory) as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions == ["review.claim", "review.reject", "review.accept"]


def test_edits_are_versioned_keep_the_original_and_store_reruns(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        seq = completed_sequences(session, 1)[0].id
        alice = user(session, "alice").id
        code = _blocks(session, seq, BlockKind.CODE)[0]
        execution = _blocks(session, seq, BlockKind.EXECUTION)[0]
        original = code.content
    with transaction(session_factory) as session:
        first = edit_block(
            session, sequence_id=seq, block_id=code.id, content=RIGHT, editor_id=alice
        )
        second = edit_block(
            session, sequence_id=seq, block_id=code.id, content=RIGHT + "# ok\n", editor_id=alice
        )
        assert (first.version, second.version) == (1, 2)
        with pytest.raises(InvalidDecision, match="unchanged"):
            edit_block(
                session,
                sequence_id=seq,
                block_id=code.id,
                content=RIGHT + "# ok\n",
                editor_id=alice,
            )
        with pytest.raises(InvalidDecision, match="execution blocks cannot be edited"):
            edit_block(
                session, sequence_id=seq, block_id=execution.id, content="x", editor_id=alice
            )
        result = ExecutionResult(
            status=ExecutionStatus.PASSED, run=StepResult(exit_code=0, stdout="ok", duration=0.25)
        )
        stored = record_rerun(
            session, sequence_id=seq, edit_id=second.id, actor_id=alice, result=result
        )
        assert (stored.run_status, stored.run_exit_code, stored.run_stdout) == (
            ExecutionStatus.PASSED,
            0,
            "ok",
        )
    with transaction(session_factory) as session:
        assert session.get(Block, code.id).content == original  # type: ignore[union-attr]
        versions = edits_by_block(session, [code.id])[code.id]
        assert [e.content for e in versions] == [RIGHT, RIGHT + "# ok\n"]
        assert versions[0].editor is not None and versions[0].editor.username == "alice"


def test_cohens_kappa_matches_the_textbook_example() -> None:
    # Wikipedia's worked example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> kappa = 0.4.
    pairs = [(True, True)] * 20 + [(True, False)] * 5 + [(False, True)] * 10 + [(False, False)] * 15
    assert cohens_kappa(pairs) == pytest.approx(0.4)
    assert cohens_kappa([]) is None
    assert cohens_kappa([(True, True)] * 3) is None  # chance agreement is already perfect
    assert cohens_kappa([(True, False), (False, True)]) == pytest.approx(-1.0)


def test_progress_counts_standings_reviewers_and_agreement(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        ids = [s.id for s in completed_sequences(session, 5)]
        alice, bob = user(session, "alice").id, user(session, "bob").id
    verdicts = {  # sequence -> (alice, bob)
        ids[0]: (ReviewStatus.ACCEPTED, ReviewStatus.ACCEPTED),
        ids[1]: (ReviewStatus.REJECTED, ReviewStatus.REJECTED),
        ids[2]: (ReviewStatus.ACCEPTED, ReviewStatus.REJECTED),
    }
    with transaction(session_factory) as session:
        for seq, (a, b) in verdicts.items():
            for reviewer, status in ((alice, a), (bob, b)):
                decide(
                    session,
                    sequence_id=seq,
                    reviewer_id=reviewer,
                    status=status,
                    rules=PAIR,
                    reason="weak_tests" if status == ReviewStatus.REJECTED else None,
                )
        decide(
            session, sequence_id=ids[3], reviewer_id=alice, status=ReviewStatus.DRAFT, rules=SOLO
        )
    with transaction(session_factory) as session:
        progress = review_progress(session)
        conflicts = conflicting_sequences(session)
    assert progress.by_sequence_status == {
        "unreviewed": 1,
        "in_progress": 1,
        "accepted": 1,
        "rejected": 1,
        "conflict": 1,
    }
    assert progress.by_review_status[ReviewStatus.ACCEPTED] == 3
    assert progress.by_reviewer["alice"][ReviewStatus.DRAFT] == 1
    assert progress.overlapping_items == 3
    # 2 of 3 agree; alice accepts 2/3, bob 1/3: p_e = 4/9, kappa = (2/3 - 4/9) / (5/9) = 0.4.
    assert progress.overall_kappa == pytest.approx(0.4)
    assert [(p.first, p.second, p.items, p.agreed) for p in progress.pairs] == [
        ("alice", "bob", 3, 2)
    ]
    assert [(seq, len(reviews)) for seq, reviews in conflicts] == [(ids[2], 2)]
