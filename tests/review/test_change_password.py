"""The change-password page over HTTP: current password, CSRF, the rules, and the sessions."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from reflectseq.db.review_models import AuditEntry
from reflectseq.db.session import transaction
from reflectseq.settings import Settings
from reflectseq.store.users import authenticate
from tests.review.conftest import log_in
from tests.review.factories import PASSWORD, user

NEW = "seven purple elephants"


def _password_is(db: sessionmaker[Session], password: str) -> bool:
    with transaction(db) as session:
        return authenticate(session, "rita", password) is not None


def test_a_user_changes_their_password_and_other_sessions_end(
    client: TestClient, dashboard_settings: Settings, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        user(session, "rita")
    token = log_in(client, "rita")
    with TestClient(create_app(dashboard_settings), follow_redirects=False) as elsewhere:
        log_in(elsewhere, "rita")
        form = client.get("/review/password")
        assert form.status_code == 200 and 'name="current_password"' in form.text
        assert "At least 12 characters" in form.text
        changed = client.post(
            "/review/password",
            data={
                "current_password": PASSWORD,
                "new_password": NEW,
                "repeat_password": NEW,
                "csrf_token": token,
            },
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == "/review/password?changed=1"
        assert "Password changed" in client.get(changed.headers["location"]).text
        assert elsewhere.get("/review/").status_code == 303  # sent to the login page
    assert client.get("/review/").status_code == 200  # this browser got a fresh session
    assert _password_is(db, NEW) and not _password_is(db, PASSWORD)
    with transaction(db) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.password"))
        assert [e.details for e in entry] == [{"user": "rita", "via": "dashboard"}]


def test_the_change_needs_the_csrf_token_the_current_password_and_a_good_new_one(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        user(session, "rita")
    token = log_in(client, "rita")

    def change(current: str, new: str, repeat: str | None = None, csrf: str = token) -> str:
        response = client.post(
            "/review/password",
            data={
                "current_password": current,
                "new_password": new,
                "repeat_password": new if repeat is None else repeat,
                "csrf_token": csrf,
            },
        )
        assert response.status_code in (400, 403), response.status_code
        return f"{response.status_code} {response.text}"

    assert change(PASSWORD, NEW, csrf="forged").startswith("403")
    assert "current password is wrong" in change("not my password", NEW)
    assert "differ" in change(PASSWORD, NEW, repeat="seven purple elephant")
    assert "at least 12 characters" in change(PASSWORD, "short one")
    assert "most used passwords" in change(PASSWORD, "Password1234!")
    assert "one character repeated" in change(PASSWORD, "zzzzzzzzzzzzzz")
    assert "must differ from the current one" in change(PASSWORD, PASSWORD)
    assert _password_is(db, PASSWORD)


def test_wrong_current_passwords_are_throttled_like_logins(
    client: TestClient, db: sessionmaker[Session], dashboard_settings: Settings
) -> None:
    with transaction(db) as session:
        user(session, "rita")
    token = log_in(client, "rita")
    data = {"new_password": NEW, "repeat_password": NEW, "csrf_token": token}
    for _ in range(dashboard_settings.login_max_failures):
        wrong = client.post("/review/password", data={**data, "current_password": "guess one"})
        assert wrong.status_code == 400
    locked = client.post("/review/password", data={**data, "current_password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert _password_is(db, PASSWORD)
