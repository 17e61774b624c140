"""POST /v1/instruction-sets: the three body forms, per-line errors, size cap, idempotency."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from reflectseq.db.models import Instruction, InstructionSet, Sequence
from reflectseq.db.session import transaction
from reflectseq.enums import SequenceStatus
from reflectseq.settings import Settings, get_settings
from tests.api.conftest import TEST_REDIS_URL

NDJSON = {"content-type": "application/x-ndjson"}


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def task(i: int, **extra: Any) -> dict[str, Any]:
    return {"text": f"Write f{i}.", "language": "py", "tests": f"assert f{i}() == {i}", **extra}


def counts(factory: sessionmaker[Session]) -> tuple[int, int, int]:
    with transaction(factory) as session:
        return (
            session.scalar(select(func.count()).select_from(InstructionSet)) or 0,
            session.scalar(select(func.count()).select_from(Instruction)) or 0,
            session.scalar(select(func.count()).select_from(Sequence)) or 0,
        )


def test_jsonl_submission_stores_and_queues(
    client: TestClient, submitter: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    rows = [task(i) for i in range(5)]
    rows[3]["language"] = "python"  # an alias: stored under the canonical code
    response = client.post(
        "/v1/instruction-sets",
        params={"name": "first", "generation_config": json.dumps({"max_rounds": 2})},
        content=jsonl(rows),
        headers={**submitter, **NDJSON},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "first"
    assert body["instruction_count"] == 5
    assert body["generation_config"]["max_rounds"] == 2
    assert body["duplicates"] == []
    with transaction(pg_session_factory) as session:
        languages = set(session.scalars(select(Instruction.language)))
        statuses = set(session.scalars(select(Sequence.status)))
    assert languages == {"py"}
    # The background enqueue ran after the response: nothing is left pending.
    assert statuses == {SequenceStatus.QUEUED}


def test_duplicates_are_skipped_and_reported(client: TestClient, submitter: dict[str, str]) -> None:
    rows = [task(0), task(1), task(0, metadata={"source": "other"}), task(1)]
    response = client.post(
        "/v1/instruction-sets?name=dups", content=jsonl(rows), headers={**submitter, **NDJSON}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["instruction_count"] == 2
    assert body["duplicate_count"] == 2
    assert body["duplicates"] == [
        {"position": 3, "duplicate_of": 1},
        {"position": 4, "duplicate_of": 2},
    ]


def test_errors_name_line_and_field_and_store_nothing(
    client: TestClient, submitter: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    rows = [json.dumps(task(i)) for i in range(6)]
    rows[1] = json.dumps({"text": "", "language": "py"})
    rows[3] = json.dumps(task(3, language="brainfuck"))
    rows[4] = "{not json"
    rows[5] = json.dumps(task(5, colour="blue"))
    body = ("\n".join(rows) + "\n").encode()
    response = client.post(
        "/v1/instruction-sets?name=bad", content=body, headers={**submitter, **NDJSON}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    found = {(d["line"], d["field"]) for d in error["details"]}
    assert {(2, "text"), (4, "language"), (6, "colour")} <= found
    assert any(d["line"] == 5 for d in error["details"])
    assert counts(pg_session_factory) == (0, 0, 0)


def test_error_report_is_capped(client: TestClient, submitter: dict[str, str]) -> None:
    body = b"[]\n" * 500
    response = client.post(
        "/v1/instruction-sets?name=many", content=body, headers={**submitter, **NDJSON}
    )
    assert response.status_code == 422
    assert len(response.json()["error"]["details"]) == 20


def test_unstorable_text_is_a_validation_error(
    client: TestClient, submitter: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    rows = [task(0, text="nul \u0000 inside"), task(1, metadata={"x": ["ok", "\ud800"]})]
    response = client.post(
        "/v1/instruction-sets?name=nul", content=jsonl(rows), headers={**submitter, **NDJSON}
    )
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert [d["line"] for d in details] == [1, 2]
    assert details[0]["field"] == "text"
    assert counts(pg_session_factory) == (0, 0, 0)


def test_empty_submission_is_refused(client: TestClient, submitter: dict[str, str]) -> None:
    response = client.post(
        "/v1/instruction-sets?name=empty", content=b"\n\n", headers={**submitter, **NDJSON}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "instructions"


def test_json_body_variant(client: TestClient, submitter: dict[str, str]) -> None:
    payload = {"name": "json", "generation_config": {"temperature": 0.5}, "instructions": [task(0)]}
    response = client.post("/v1/instruction-sets", json=payload, headers=submitter)
    assert response.status_code == 201, response.text
    assert response.json()["generation_config"]["sampling"]["temperature"] == 0.5

    payload["instructions"] = [task(1), {"text": "x", "language": "cobol"}]
    response = client.post("/v1/instruction-sets", json=payload, headers=submitter)
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert details == [
        {
            "line": None,
            "row": None,
            "field": "instructions[1].language",
            "message": "unknown language 'cobol'; see GET /v1/languages",
        }
    ]


def test_multipart_upload(client: TestClient, submitter: dict[str, str]) -> None:
    response = client.post(
        "/v1/instruction-sets",
        data={"name": "upload", "generation_config": json.dumps({"max_rounds": 3})},
        files={"file": ("tasks.jsonl", jsonl([task(0), task(1)]), "application/x-ndjson")},
        headers=submitter,
    )
    assert response.status_code == 201, response.text
    assert response.json()["instruction_count"] == 2
    assert response.json()["generation_config"]["max_rounds"] == 3


def test_unsupported_media_type(client: TestClient, submitter: dict[str, str]) -> None:
    response = client.post(
        "/v1/instruction-sets", content=b"x", headers={**submitter, "content-type": "text/plain"}
    )
    assert response.status_code == 415


def test_too_large_is_413_before_and_while_streaming(
    pg_url: str, submitter: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    client = TestClient(create_app(Settings(database_url=pg_url, max_upload_bytes=1_000)))
    big = jsonl([task(i) for i in range(100)])
    declared = client.post(
        "/v1/instruction-sets?name=big", content=big, headers={**submitter, **NDJSON}
    )
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for i in range(100):
            yield jsonl([task(i)])

    streamed = client.post(
        "/v1/instruction-sets?name=big", content=chunks(), headers={**submitter, **NDJSON}
    )
    assert streamed.status_code == 413
    assert counts(pg_session_factory) == (0, 0, 0)


def test_idempotency_key_replays_and_conflicts(
    client: TestClient, submitter: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    headers = {**submitter, **NDJSON, "Idempotency-Key": "batch-7"}
    body = jsonl([task(0), task(1), task(0)])
    first = client.post("/v1/instruction-sets?name=idem", content=body, headers=headers)
    again = client.post("/v1/instruction-sets?name=idem", content=body, headers=headers)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["duplicates"] == first.json()["duplicates"]
    assert counts(pg_session_factory) == (1, 2, 2)

    other = client.post("/v1/instruction-sets?name=idem", content=jsonl([task(5)]), headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    renamed = client.post("/v1/instruction-sets?name=other", content=body, headers=headers)
    assert renamed.status_code == 409
    assert counts(pg_session_factory) == (1, 2, 2)


def test_idempotency_keys_are_scoped_to_the_api_key(
    client: TestClient,
    submitter: dict[str, str],
    admin: dict[str, str],
    pg_session_factory: sessionmaker[Session],
) -> None:
    body = jsonl([task(0)])
    mine = client.post(
        "/v1/instruction-sets?name=mine",
        content=body,
        headers={**submitter, **NDJSON, "Idempotency-Key": "shared"},
    )
    theirs = client.post(
        "/v1/instruction-sets?name=theirs",
        content=jsonl([task(1)]),
        headers={**admin, **NDJSON, "Idempotency-Key": "shared"},
    )
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    replay = client.post(
        "/v1/instruction-sets?name=mine",
        content=body,
        headers={**submitter, **NDJSON, "Idempotency-Key": "shared"},
    )
    assert replay.status_code == 200 and replay.json()["id"] == mine.json()["id"]
    assert counts(pg_session_factory) == (2, 2, 2)


@pytest.fixture
def own_queue(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A task queue of this test alone (emptied afterwards), so that its length can be checked."""
    from workers import celery_app

    queue = f"reflectseq-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("REFLECTSEQ_CELERY_QUEUE", queue)
    get_settings.cache_clear()
    # The module's app was made with the settings of whichever test imported it first (maybe no
    # Redis at all, so another broker); this test's dispatch must use this test's Redis.
    monkeypatch.setattr(celery_app, "app", celery_app.create_app(get_settings()))
    yield queue
    Redis.from_url(TEST_REDIS_URL).delete(queue)


# Storing and queueing 100,000 sequences takes about a minute on a quiet machine; a loaded one
# may take several. The speed of queueing is measured by bench/enqueue.py, not here.
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_hundred_thousand_instructions_in_one_request(
    client: TestClient,
    submitter: dict[str, str],
    pg_session_factory: sessionmaker[Session],
    own_queue: str,
) -> None:
    def lines() -> Iterator[bytes]:
        for start in range(0, 100_000, 1_000):
            yield jsonl([task(i) for i in range(start, start + 1_000)])

    response = client.post(
        "/v1/instruction-sets?name=large", content=lines(), headers={**submitter, **NDJSON}
    )
    assert response.status_code == 201, response.text[:500]
    assert response.json()["instruction_count"] == 100_000
    assert counts(pg_session_factory) == (1, 100_000, 100_000)
    # The background dispatch (run before the client returns) sent one task per sequence.
    with pg_session_factory() as session:
        statuses = set(session.scalars(select(Sequence.status).distinct()))
    assert statuses == {SequenceStatus.QUEUED}
    assert Redis.from_url(TEST_REDIS_URL).llen(own_queue) == 100_000
