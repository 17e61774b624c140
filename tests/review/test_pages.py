"""The dashboard over HTTP (no browser): auth, CSRF, roles, actions and the rendered pages."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from reflectseq.db.models import Block, Message, Review
from reflectseq.db.review_models import AuditEntry, BlockEdit
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind, ExecutionStatus, ReviewStatus, UserRole
from reflectseq.settings import Settings
from tests.review.conftest import csrf_token, log_in
from tests.review.factories import RIGHT, Attempt, completed_sequences, user


@pytest.fixture
def seeded(db: sessionmaker[Session]) -> list[int]:
    with transaction(db) as session:
        ids = [s.id for s in completed_sequences(session, 3)]
        user(session, "admin", UserRole.ADMIN)
        user(session, "rita")
    return ids


def test_pages_need_a_login(client: TestClient, seeded: list[int]) -> None:
    response = client.get(f"/review/sequences/{seeded[0]}")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/review/login?next=")


def test_wrong_password_and_forged_login_form_are_refused(
    client: TestClient, seeded: list[int]
) -> None:
    token = csrf_token(client.get("/review/login").text)
    wrong = client.post(
        "/review/login",
        data={"username": "rita", "password": "nope nope nope", "csrf_token": token},
    )
    assert wrong.status_code == 401 and "wrong password" in wrong.text
    forged = client.post(
        "/review/login",
        data={"username": "rita", "password": "x", "csrf_token": "forged"},
    )
    assert forged.status_code == 403


def test_posts_without_the_csrf_token_are_refused(
    client: TestClient, seeded: list[int], db: sessionmaker[Session]
) -> None:
    log_in(client, "rita")
    response = client.post(f"/review/sequences/{seeded[0]}/decision", data={"action": "accept"})
    assert response.status_code == 403 and "CSRF" in response.text
    wrong = client.post(
        f"/review/sequences/{seeded[0]}/decision", data={"action": "accept", "csrf_token": "x"}
    )
    assert wrong.status_code == 403
    with transaction(db) as session:
        assert session.scalars(select(Review)).all() == []


def test_reviewers_cannot_open_admin_pages(client: TestClient, seeded: list[int]) -> None:
    token = log_in(client, "rita")
    for path in ("/review/users", "/review/audit", "/review/conflicts"):
        assert client.get(path).status_code == 403
    created = client.post(
        "/review/users",
        data={"username": "mallory", "password": "x" * 12, "role": "admin", "csrf_token": token},
    )
    assert created.status_code == 403
    assert client.get("/review/progress").status_code == 200


def test_admin_creates_a_user_who_can_log_in(client: TestClient, seeded: list[int]) -> None:
    token = log_in(client, "admin")
    response = client.post(
        "/review/users",
        data={
            "username": "newbie",
            "password": "long enough pw",
            "role": "reviewer",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    short = client.post(
        "/review/users",
        data={"username": "shorty", "password": "short", "role": "reviewer", "csrf_token": token},
    )
    assert short.status_code == 400 and "password" in short.text
    client.post("/review/logout", data={"csrf_token": token})
    assert client.get("/review/").status_code == 303  # logged out for real
    log_in(client, "newbie", "long enough pw")


def test_accept_moves_on_and_reject_needs_a_reason(
    client: TestClient, seeded: list[int], db: sessionmaker[Session]
) -> None:
    token = log_in(client, "rita")
    first = client.post("/review/next", data={"csrf_token": token})
    assert first.headers["location"] == f"/review/sequences/{seeded[0]}"
    page = client.get(first.headers["location"])
    assert "Stage 1" in page.text and "Stage 2" in page.text
    accepted = client.post(
        f"/review/sequences/{seeded[0]}/decision", data={"action": "accept", "csrf_token": token}
    )
    assert accepted.headers["location"].startswith(f"/review/sequences/{seeded[1]}?")
    missing = client.post(
        f"/review/sequences/{seeded[1]}/decision", data={"action": "reject", "csrf_token": token}
    )
    assert missing.status_code == 400 and "reason" in missing.text
    client.post(
        f"/review/sequences/{seeded[1]}/decision",
        data={
            "action": "reject",
            "reason": "weak_tests",
            "comment": "trivial",
            "csrf_token": token,
        },
    )
    with transaction(db) as session:
        reviews = {r.sequence_id: r for r in session.scalars(select(Review))}
        assert reviews[seeded[0]].status == ReviewStatus.ACCEPTED
        assert (reviews[seeded[1]].status, reviews[seeded[1]].reason) == (
            ReviewStatus.REJECTED,
            "weak_tests",
        )


def test_edit_and_rerun_a_code_block_in_the_real_sandbox(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        seq = completed_sequences(
            session,
            1,
            attempts=(Attempt("def add(a, b):\n    return a - b\n", ExecutionStatus.FAILED),),
        )[0].id
        user(session, "rita")
        code = session.scalars(
            select(Block)
            .join(Message)
            .where(Message.sequence_id == seq, Block.kind == BlockKind.CODE)
        ).first()
        assert code is not None
    token = log_in(client, "rita")
    response = client.post(
        f"/review/sequences/{seq}/blocks/{code.id}/edits",
        data={"content": RIGHT, "note": "fix the sign", "rerun": "1", "csrf_token": token},
    )
    assert response.status_code == 303
    with transaction(db) as session:
        edit = session.scalars(select(BlockEdit)).one()
        assert (edit.version, edit.run_status) == (1, ExecutionStatus.PASSED)
        assert session.get(Block, code.id).content != RIGHT  # type: ignore[union-attr]
        actions = {e.action for e in session.scalars(select(AuditEntry))}
        assert {"block.edit", "block.rerun"} <= actions
    page = client.get(f"/review/sequences/{seq}").text
    assert "Re-run of v1" in page and "passed" in page


def test_a_sequence_page_shows_kinds_diffs_flags_and_truncation(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        seq = completed_sequences(
            session, 1, flags={"no_asserts": True, "near_duplicate_of": 7}, truncated=True
        )[0].id
        user(session, "rita")
    log_in(client, "rita")
    page = client.get(f"/review/sequences/{seq}")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    html = page.text
    for kind in ("text", "code", "execution", "analysis"):
        assert f'class="block kind-{kind}"' in html
    assert 'class="d-del">-    return a - b' in html and 'class="d-add">+    return a + b' in html
    assert "No asserts" in html and "Near-duplicate" in html and ">truncated<" in html
    assert "verification: passed" in html
    assert '<span class="k">def</span>' in html or 'class="kd"' in html or "hl" in html


def test_a_page_with_50_blocks_and_100_kb_of_output_renders_whole(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    noisy = "x" * 8_000  # 12 executions of 8 KB: about 100 KB of program output
    attempts = tuple(
        Attempt(f"def add(a, b):\n    return a + b + {i}\n", ExecutionStatus.FAILED, stdout=noisy)
        for i in range(12)
    )
    with transaction(db) as session:
        seq = completed_sequences(session, 1, attempts=attempts)[0].id
        user(session, "rita")
        blocks = session.scalars(
            select(Block).join(Message).where(Message.sequence_id == seq)
        ).all()
    assert len(blocks) >= 50
    log_in(client, "rita")
    html = client.get(f"/review/sequences/{seq}").text
    assert html.count("data-block") == len(blocks)
    assert html.count('class="d-add">+    return a + b + ') == 11  # each fix diffed
    assert noisy in html


def test_reruns_draw_on_the_interactive_budget_per_user(
    dashboard_settings: Settings, db: sessionmaker[Session]
) -> None:
    settings = dashboard_settings.model_copy(update={"sandbox_interactive_runs_per_minute": 1})
    with transaction(db) as session:
        seq = completed_sequences(session, 1)[0].id
        user(session, "rita")
        code = session.scalars(
            select(Block)
            .join(Message)
            .where(Message.sequence_id == seq, Block.kind == BlockKind.CODE)
        ).first()
        assert code is not None
    with TestClient(create_app(settings), follow_redirects=False) as client:
        token = log_in(client, "rita")
        edits = f"/review/sequences/{seq}/blocks/{code.id}/edits"
        first = client.post(edits, data={"content": RIGHT, "rerun": "1", "csrf_token": token})
        assert first.status_code == 303
        second = client.post(
            edits, data={"content": RIGHT + "\n", "rerun": "1", "csrf_token": token}
        )
    assert second.status_code == 429
    assert "Not re-run" in second.text and "a minute is spent" in second.text
    assert second.headers["content-security-policy"].startswith("default-src 'self'")
    with transaction(db) as session:
        runs = [
            edit.run_status for edit in session.scalars(select(BlockEdit).order_by(BlockEdit.id))
        ]
    assert runs == [ExecutionStatus.PASSED, None]
