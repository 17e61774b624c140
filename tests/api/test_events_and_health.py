"""Server-sent progress events, liveness and readiness."""

from __future__ import annotations

import json
import threading
import time

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from reflectseq.db.session import transaction
from reflectseq.enums import ApiRole, SequenceStatus
from reflectseq.settings import Settings
from reflectseq.store.api_keys import revoke_api_key, verify_api_key
from tests.api.seed import finish, seed_set


def events(text: str) -> list[tuple[str, dict[str, object]]]:
    """``(event, data)`` pairs of an event-stream body."""
    parsed = []
    for frame in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if "event" in fields:
            parsed.append((fields["event"], json.loads(fields["data"])))
    return parsed


def test_events_follow_progress_until_finished(
    client: TestClient, reviewer: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    set_id = seed_set(pg_session_factory, size=2)
    later = threading.Timer(0.5, finish, (pg_session_factory, set_id, SequenceStatus.COMPLETED))
    later.start()
    started = time.monotonic()
    with client.stream("GET", f"/v1/instruction-sets/{set_id}/events", headers=reviewer) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        body = "".join(stream.iter_text())
    later.join()
    assert time.monotonic() - started < 10
    received = events(body)
    kinds = [kind for kind, _ in received]
    assert kinds[0] == "progress"
    assert kinds[-1] == "done"
    assert received[0][1]["by_status"]["pending"] == 2
    assert received[-1][1]["by_status"]["completed"] == 2
    assert received[-1][1]["finished"] is True


def test_events_of_missing_set_is_404(client: TestClient, reviewer: dict[str, str]) -> None:
    response = client.get("/v1/instruction-sets/987654/events", headers=reviewer)
    assert response.status_code == 404


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_reports_unreachable_dependencies(tmp_path: object) -> None:
    settings = Settings(
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/none",
        redis_url="redis://127.0.0.1:1/0",
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"].startswith("error")
    assert checks["redis"].startswith("error")


def test_a_progress_stream_closes_when_its_key_is_revoked(
    client: TestClient, keys: dict[ApiRole, str], pg_session_factory: sessionmaker[Session]
) -> None:
    set_id = seed_set(pg_session_factory, size=1)
    with transaction(pg_session_factory) as session:
        key = verify_api_key(session, keys[ApiRole.REVIEWER])
        assert key is not None
        key_id = key.id
    revoke = threading.Timer(0.3, _revoke, (pg_session_factory, key_id))
    revoke.start()
    headers = {"Authorization": f"Bearer {keys[ApiRole.REVIEWER]}"}
    with client.stream("GET", f"/v1/instruction-sets/{set_id}/events", headers=headers) as stream:
        body = "".join(stream.iter_text())
    revoke.join()
    kinds = [kind for kind, _ in events(body)]
    assert kinds[-1] == "revoked"
    assert "done" not in kinds


def _revoke(factory: sessionmaker[Session], key_id: int) -> None:
    with transaction(factory) as session:
        revoke_api_key(session, key_id)
