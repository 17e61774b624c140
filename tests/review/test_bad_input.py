"""Bad input to the dashboard gets a 400 page (HTML, security headers) and stores nothing."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from reflectseq.db.models import Block, Message, Review
from reflectseq.db.review_models import AuditEntry, BlockEdit
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind, UserRole
from reflectseq.settings import Settings
from reflectseq.specs import BlockSpec
from reflectseq.store.sequences import append_blocks
from tests.review.conftest import csrf_token, log_in
from tests.review.factories import completed_sequences, user

HUGE = "9" * 20  # beyond the 64-bit id columns


@pytest.fixture
def seeded(db: sessionmaker[Session]) -> int:
    with transaction(db) as session:
        sequence_id = completed_sequences(session, 1)[0].id
        user(session, "admin", UserRole.ADMIN)
        user(session, "rita")
    return sequence_id


def assert_page(response: httpx.Response, status: int, *words: str) -> None:
    """A dashboard page (not the API's JSON) with its status, headers and message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.headers["x-frame-options"] == "DENY"
    for word in words:
        assert word in response.text


def _count(db: sessionmaker[Session], model: type) -> int:
    with transaction(db) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _block(db: sessionmaker[Session], sequence_id: int, kind: BlockKind) -> Block:
    with transaction(db) as session:
        block = session.scalars(
            select(Block)
            .join(Message)
            .where(Message.sequence_id == sequence_id, Block.kind == kind)
            .order_by(Block.id)
        ).first()
        assert block is not None
        return block


@pytest.mark.parametrize(
    ("path", "word"),
    [
        ("/review/?set=²", "set"),
        (f"/review/?set={HUGE}", "set"),
        ("/review/?min_rounds=99999999999", "min_rounds"),
        (f"/review/?after={HUGE}", "after"),
        ("/review/?q=two%00sum", "NUL"),
        ("/review/?language=p%00y", "NUL"),
        (f"/review/sequences/{HUGE}", "sequence_id"),
        ("/review/sequences/0", "sequence_id"),
        ("/review/audit?before=%C2%B2", "before"),
        (f"/review/audit?sequence={HUGE}", "sequence"),
    ],
)
def test_bad_parameters_get_a_400_page(
    client: TestClient, seeded: int, path: str, word: str
) -> None:
    log_in(client, "admin")
    assert_page(client.get(path), 400, word)


def test_bad_form_posts_get_a_400_page_and_store_nothing(
    client: TestClient, seeded: int, db: sessionmaker[Session]
) -> None:
    token = log_in(client, "rita")
    text = _block(db, seeded, BlockKind.TEXT)
    decision = f"/review/sequences/{seeded}/decision"
    edits = f"/review/sequences/{seeded}/blocks/{text.id}/edits"
    for path, data, word in [
        (decision, {"action": "draft", "comment": "nul \x00 here"}, "comment"),
        (decision, {"action": "reject", "reason": "other\x00"}, "reason"),
        (decision, {"comment": "no action"}, "action"),
        (edits, {"content": "new \x00 text"}, "content"),
        (edits, {"content": "new text", "note": "why\x00"}, "note"),
        (edits, {"content": "x" * 200_001}, "content"),
        (f"/review/sequences/{seeded}/blocks/{HUGE}/edits", {"content": "x"}, "block_id"),
        (f"/review/sequences/{seeded}/edits/{HUGE}/rerun", {}, "edit_id"),
        ("/review/next", {"after": "²"}, "after"),
        ("/review/next", {"filters": "q=a%00b"}, "NUL"),
    ]:
        assert_page(client.post(path, data={**data, "csrf_token": token}), 400, word)
    assert _count(db, Review) == 0
    assert _count(db, BlockEdit) == 0


def test_a_block_the_sandbox_cannot_run_is_not_rerun_nor_stored(
    client: TestClient, seeded: int, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        message = session.scalars(
            select(Message).where(Message.sequence_id == seeded, Message.index == 1)
        ).one()
        (json_block,) = append_blocks(
            session,
            message.id,
            [BlockSpec(kind=BlockKind.CODE, content='{"a": 1}', language="json")],
            start_index=len(message.blocks),
        )
        json_block_id = json_block.id
    token = log_in(client, "rita")
    form = client.get(f"/review/sequences/{seeded}/blocks/{json_block_id}/edit?fragment=1")
    assert form.status_code == 200 and "Save edit" in form.text
    assert "Save and re-run" not in form.text  # a JSON block cannot run
    edit = f"/review/sequences/{seeded}/blocks/{json_block_id}/edits"
    refused = client.post(edit, data={"content": '{"a": 2}', "rerun": "1", "csrf_token": token})
    assert_page(refused, 400, "cannot be re-run")
    assert _count(db, BlockEdit) == 0
    saved = client.post(edit, data={"content": '{"a": 2}', "csrf_token": token})
    assert saved.status_code == 303  # editing without a re-run is fine
    with transaction(db) as session:
        edit_id = session.scalars(select(BlockEdit.id)).one()
    rerun = client.post(
        f"/review/sequences/{seeded}/edits/{edit_id}/rerun", data={"csrf_token": token}
    )
    assert_page(rerun, 400, "cannot be re-run")
    with transaction(db) as session:
        assert session.get(BlockEdit, edit_id).run_status is None  # type: ignore[union-attr]


def test_a_rerun_whose_program_prints_a_nul_is_stored(
    client: TestClient, seeded: int, db: sessionmaker[Session]
) -> None:
    token = log_in(client, "rita")
    code = _block(db, seeded, BlockKind.CODE)
    printing = "import sys\nsys.stdout.write('a\\x00b')\n\ndef add(a, b):\n    return a + b\n"
    response = client.post(
        f"/review/sequences/{seeded}/blocks/{code.id}/edits",
        data={"content": printing, "rerun": "1", "csrf_token": token},
    )
    assert response.status_code == 303
    with transaction(db) as session:
        assert session.scalars(select(BlockEdit.run_stdout)).one() == "a\ufffdb"


def test_a_nul_in_the_login_name_is_a_failed_login(
    client: TestClient, seeded: int, db: sessionmaker[Session]
) -> None:
    token = csrf_token(client.get("/review/login").text)
    response = client.post(
        "/review/login", data={"username": "ri\x00ta", "password": "x" * 12, "csrf_token": token}
    )
    assert_page(response, 401, "wrong password")
    with transaction(db) as session:
        entry = session.scalars(select(AuditEntry)).one()
        assert entry.details == {"username": "ri\ufffdta"}


def test_unknown_paths_and_server_errors_get_pages_the_api_keeps_json(
    dashboard_settings: Settings, db: sessionmaker[Session], seeded: int
) -> None:
    app = create_app(dashboard_settings)

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/review/broken", broken)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        log_in(client, "rita")
        assert_page(client.get("/review/no-such-page"), 404, "Not found")
        assert_page(client.get("/review/broken"), 500, "has been logged")
        assert "a bug" not in client.get("/review/broken").text
        api = client.get("/v1/no-such-route")
        assert api.status_code == 404
        assert api.json()["error"]["code"] == "not_found"
