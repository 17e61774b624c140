"""``/v1/exports`` end to end: create, run on a worker, follow, download, manifest, errors.

The embedded tests run the job in a thread of the API process (no broker), the Celery test in
a real ``reflectseq worker`` subprocess on Redis; both on the Postgres test database.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from reflectseq.db.models import Export
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind, ExportStatus
from reflectseq.export.jobs import create_export, run_export
from reflectseq.export.spec import ExportSpec
from reflectseq.format import parse_json_line
from reflectseq.settings import get_settings
from reflectseq.specs import BlockSpec
from tests.api.conftest import TEST_REDIS_URL
from tests.export.factories import SequenceShape, execution, store_sequence
from workers.export_tasks import execute_export, run_export_task

REPO = Path(__file__).resolve().parents[2]
POLL_TIMEOUT_S = 60.0


def _app(monkeypatch: pytest.MonkeyPatch, pg_url: str, **env: str) -> FastAPI:
    monkeypatch.setenv("REFLECTSEQ_DATABASE_URL", pg_url)
    monkeypatch.setenv("REFLECTSEQ_API_KEY_CACHE_S", "0")
    for name, value in env.items():
        monkeypatch.setenv(f"REFLECTSEQ_{name}", value)
    get_settings.cache_clear()
    return create_app()


@pytest.fixture
def embedded(
    pg_url: str, pg_session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The API without a broker: exports run in a thread of the API process."""
    with TestClient(_app(monkeypatch, pg_url, REDIS_URL="")) as test_client:
        yield test_client


@pytest.fixture
def stored(pg_session_factory: sessionmaker[Session]) -> None:
    """Three completed sequences; two pass the default filters (their one-off answer passed)."""
    shapes = [
        SequenceShape(task="Write add(a, b)."),
        SequenceShape(task="Write sub(a, b)."),
        SequenceShape(task="Write mul(a, b).", final_pass=False),
    ]
    with transaction(pg_session_factory) as session:
        for shape in shapes:
            store_sequence(session, shape)


def _wait_until_finished(client: TestClient, headers: dict[str, str], export_id: int) -> Any:
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while True:
        body = client.get(f"/v1/exports/{export_id}", headers=headers).json()
        if body["status"] in {"succeeded", "failed"}:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"export {export_id} still {body['status']}")
        time.sleep(0.1)


def _start(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/exports", json=body, headers=headers)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/exports/{created['id']}"
    return created


def test_export_runs_and_downloads_with_matching_sha256(
    embedded: TestClient, submitter: dict[str, str], reviewer: dict[str, str], stored: None
) -> None:
    created = _start(embedded, submitter, {"format": "reflection"})
    assert created["status"] in {"pending", "running", "succeeded"}
    assert created["filters"]["final_pass"] is True

    done = _wait_until_finished(embedded, reviewer, created["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["record_count"] == 2
    assert done["counts"]["by_final_pass"] == {"passed": 2}
    assert (
        done["manifest"]["file"] == done["file_name"] == f"export-{created['id']}-reflection.jsonl"
    )
    assert done["manifest"]["generator_models"] == ["scripted-model"]

    download = embedded.get(f"/v1/exports/{created['id']}/download", headers=reviewer)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/x-ndjson"
    assert download.headers["content-disposition"] == (
        f'attachment; filename="{done["file_name"]}"'
    )
    sha256 = hashlib.sha256(download.content).hexdigest()
    assert sha256 == done["sha256"]
    assert download.headers["etag"] == f'"{sha256}"'
    records = [parse_json_line(line) for line in download.text.splitlines()]
    assert [record.type for record in records] == ["reflection", "reflection"]

    manifest = embedded.get(f"/v1/exports/{created['id']}/manifest", headers=reviewer).json()
    assert manifest["sha256"] == sha256
    assert manifest["bytes"] == len(download.content) == done["manifest"]["bytes"]
    assert manifest["export_id"] == created["id"]
    assert manifest["counts"] == done["counts"]


def test_escaping_special_tokens_is_asked_for_recorded_and_applied(
    embedded: TestClient, submitter: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    printing = [
        BlockSpec(kind=BlockKind.CODE, content="print('</s>')", language="py"),
        execution("</s>"),
    ]
    with transaction(pg_session_factory) as session:
        store_sequence(session, SequenceShape(task="Print.", reflection=printing))
    created = _start(embedded, submitter, {"escape_special_tokens": True})
    assert created["escape_special_tokens"] is True
    done = _wait_until_finished(embedded, submitter, created["id"])
    assert (done["status"], done["escape_special_tokens"]) == ("succeeded", True)

    download = embedded.get(f"/v1/exports/{created['id']}/download", headers=submitter)
    assert "</s>" not in download.text
    assert download.text.count("<\u200b/s>") == 2
    manifest = embedded.get(f"/v1/exports/{created['id']}/manifest", headers=submitter).json()
    assert manifest["escape_special_tokens"] is True


def test_gzip_export_is_served_compressed_as_stored(
    embedded: TestClient, admin: dict[str, str], stored: None
) -> None:
    body = {"format": "generation", "gzip": True, "filters": {"final_pass": None}}
    created = _start(embedded, admin, body)
    done = _wait_until_finished(embedded, admin, created["id"])
    assert done["status"] == "succeeded", done["error"]

    download = embedded.get(f"/v1/exports/{created['id']}/download", headers=admin)
    assert download.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in download.headers
    assert download.headers["content-disposition"].endswith('.jsonl.gz"')
    assert hashlib.sha256(download.content).hexdigest() == done["sha256"]
    lines = gzip.decompress(download.content).decode().splitlines()
    assert len(lines) == 3
    assert all(parse_json_line(line).type == "generation" for line in lines)


def test_reviewer_cannot_start_an_export(
    embedded: TestClient, reviewer: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    response = embedded.post("/v1/exports", json={}, headers=reviewer)
    assert response.status_code == 403
    assert embedded.post("/v1/exports", json={}).status_code == 401
    with pg_session_factory() as session:
        assert session.query(Export).count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "csv"}, "format"),
        ({"filters": {"min_rounds": -1}}, "filters.min_rounds"),
        ({"filters": {"languages": "py"}}, "filters.languages"),
        ({"filters": {"exclude_flags": ["shiny"]}}, "filters.exclude_flags[0]"),
        ({"filters": {"created_from": "2026-01-01T00:00:00"}}, "filters.created_from"),
        ({"filters": {"bogus": 1}}, "filters.bogus"),
        ({"rendering": "html"}, "rendering"),
        ({"gzip": "maybe"}, "gzip"),
        ({"filters": {"min_rounds": 3, "max_rounds": 1}}, "filters"),
        ({"filters": {"languages": ["py\u0000"]}}, "filters.languages[0]"),
        ({"filters": {"models": ["m\u0000"]}}, "filters.models[0]"),
        ({"filters": {"min_rounds": 99999999999999999999}}, "filters.min_rounds"),
        ({"filters": {"max_rounds": 2**31}}, "filters.max_rounds"),
        ({"filters": {"instruction_set_ids": [2**63]}}, "filters.instruction_set_ids[0]"),
        ({"filters": {"instruction_set_ids": [0]}}, "filters.instruction_set_ids[0]"),
    ],
)
def test_invalid_requests_name_the_field(
    embedded: TestClient,
    submitter: dict[str, str],
    pg_session_factory: sessionmaker[Session],
    body: dict[str, Any],
    field: str,
) -> None:
    response = embedded.post("/v1/exports", json=body, headers=submitter)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [detail["field"] for detail in error["details"]]
    with pg_session_factory() as session:
        assert session.query(Export).count() == 0


def test_file_and_manifest_are_409_until_the_export_succeeded(
    embedded: TestClient, reviewer: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    with transaction(pg_session_factory) as session:
        pending = create_export(session, ExportSpec()).id
        failed = create_export(session, ExportSpec())
        failed.status, failed.error = ExportStatus.FAILED, "OSError: disk full"
        failed_id = failed.id
    for export_id, status in ((pending, "pending"), (failed_id, "failed")):
        for suffix in ("download", "manifest"):
            response = embedded.get(f"/v1/exports/{export_id}/{suffix}", headers=reviewer)
            assert response.status_code == 409
            assert status in response.json()["error"]["message"]
        detail = embedded.get(f"/v1/exports/{export_id}", headers=reviewer).json()
        assert (detail["status"], detail["manifest"]) == (status, None)


def test_unknown_export_and_missing_file_are_404(
    embedded: TestClient,
    reviewer: dict[str, str],
    pg_session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    for suffix in ("", "/download", "/manifest"):
        response = embedded.get(f"/v1/exports/424242{suffix}", headers=reviewer)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    with transaction(pg_session_factory) as session:
        export_id = create_export(session, ExportSpec()).id
    export = run_export(pg_session_factory, export_id, tmp_path)
    Path(export.path or "").unlink()
    response = embedded.get(f"/v1/exports/{export_id}/download", headers=reviewer)
    assert response.status_code == 404


def test_listing_pages_with_cursor_and_filters_by_status(
    embedded: TestClient, reviewer: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    with transaction(pg_session_factory) as session:
        ids = [create_export(session, ExportSpec()).id for _ in range(5)]
        failed = session.get(Export, ids[1])
        assert failed is not None
        failed.status = ExportStatus.FAILED
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = embedded.get("/v1/exports", params=params, headers=reviewer).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    page = embedded.get("/v1/exports", params={"status": "failed"}, headers=reviewer).json()
    assert [item["id"] for item in page["items"]] == [ids[1]]
    bad = embedded.get("/v1/exports", params={"cursor": "!!"}, headers=reviewer)
    assert bad.status_code == 422


def _finished(export_format: str, status: str) -> float:
    labels = {"format": export_format, "status": status}
    return REGISTRY.get_sample_value("reflectseq_exports_finished_total", labels) or 0.0


def test_redelivered_task_leaves_a_finished_export_alone(
    pg_url: str,
    pg_session_factory: sessionmaker[Session],
    stored: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REFLECTSEQ_DATABASE_URL", pg_url)
    get_settings.cache_clear()
    with transaction(pg_session_factory) as session:
        export_id = create_export(session, ExportSpec()).id
    before = _finished("reflection", "succeeded")

    assert run_export_task(export_id) == "succeeded"  # the task body, as a worker calls it
    with pg_session_factory() as session:
        first = session.get(Export, export_id)
        assert first is not None
        path, sha256 = Path(first.path or ""), first.sha256
    written = path.stat().st_mtime_ns

    assert run_export_task(export_id) is None  # the same message delivered again
    with pg_session_factory() as session:
        again = session.get(Export, export_id)
        assert again is not None
        assert (again.status, again.sha256) == (ExportStatus.SUCCEEDED, sha256)
    assert path.stat().st_mtime_ns == written
    assert _finished("reflection", "succeeded") == before + 1
    assert path.parent == get_settings().data_dir / "exports"


def test_a_failing_export_is_recorded_and_counted(
    pg_session_factory: sessionmaker[Session], stored: None, tmp_path: Path
) -> None:
    with transaction(pg_session_factory) as session:
        export_id = create_export(session, ExportSpec()).id
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("the exports directory cannot be created here")
    before = _finished("reflection", "failed")

    assert execute_export(pg_session_factory, export_id, blocker) is ExportStatus.FAILED

    with pg_session_factory() as session:
        export = session.get(Export, export_id)
        assert export is not None
        assert export.status is ExportStatus.FAILED
        assert export.error is not None
        assert export.error.startswith("the export file could not be written (")
    assert _finished("reflection", "failed") == before + 1


def test_unreachable_broker_fails_the_export_with_503(
    pg_url: str,
    pg_session_factory: sessionmaker[Session],
    submitter: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = _app(monkeypatch, pg_url, REDIS_URL="redis://127.0.0.1:1/0")
    with TestClient(app) as client:
        response = client.post("/v1/exports", json={}, headers=submitter)
    assert response.status_code == 503
    with pg_session_factory() as session:
        (export,) = session.query(Export).all()
        assert export.status is ExportStatus.FAILED
        assert export.error and "could not be queued" in export.error


@pytest.fixture
def celery_client(
    pg_url: str,
    pg_session_factory: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TestClient]:
    """A real ``reflectseq worker`` on a queue of its own, and the API sending exports to it."""
    env = {
        "REFLECTSEQ_DATABASE_URL": pg_url,
        "REFLECTSEQ_REDIS_URL": TEST_REDIS_URL,
        "REFLECTSEQ_CELERY_QUEUE": f"reflectseq-exports-{uuid.uuid4().hex[:8]}",
        "REFLECTSEQ_DATA_DIR": str(tmp_path / "worker-data"),
    }
    command = ["worker", "--concurrency", "1", "--no-beat", "--loglevel", "WARNING"]
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "reflectseq"), *command],
        env={**os.environ, **env},
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        app = _app(
            monkeypatch,
            pg_url,
            REDIS_URL=TEST_REDIS_URL,
            CELERY_QUEUE=env["REFLECTSEQ_CELERY_QUEUE"],
        )
        with TestClient(app) as client:
            yield client
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        Redis.from_url(TEST_REDIS_URL).delete(env["REFLECTSEQ_CELERY_QUEUE"])


def test_export_runs_on_a_celery_worker(
    celery_client: TestClient, admin: dict[str, str], stored: None, tmp_path: Path
) -> None:
    client = celery_client
    created = _start(client, admin, {"format": "sharegpt", "rendering": "special_tokens"})
    done = _wait_until_finished(client, admin, created["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["record_count"] == 2

    download = client.get(f"/v1/exports/{created['id']}/download", headers=admin)
    assert hashlib.sha256(download.content).hexdigest() == done["sha256"]
    assert download.text.count("<|endofblock|>") > 0
    manifest = client.get(f"/v1/exports/{created['id']}/manifest", headers=admin).json()
    assert (manifest["sha256"], manifest["rendering"]) == (done["sha256"], "special_tokens")
    assert Path(tmp_path / "worker-data" / "exports" / done["file_name"]).is_file()
