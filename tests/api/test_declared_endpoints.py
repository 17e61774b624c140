"""LLM endpoints belong to the operator: no submission can make any process dial a URL it chose.

A capture server stands where an attacker's would: it records every connection. Submissions
that name URLs, undeclared endpoints or models off the allow-list are refused with 422 naming
the field and store nothing; sequences of declared endpoints send each endpoint its own key and
nothing else; errors stored for readers are our words, never a remote body.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from reflectseq.db.models import GenerationConfig, InstructionSet, Sequence
from reflectseq.db.session import transaction
from reflectseq.enums import SequenceStatus
from reflectseq.settings import get_settings
from tests.api.conftest import TEST_REDIS_URL
from tests.loop.llm_server import ScriptedLlm, answer, error
from workers.loop.machine import Outcome, run_sequence
from workers.runtime import loop_context

ALPHA_KEY = "sk-alpha-0123456789"
OPERATOR_KEY = "sk-operator-secret-key"
STALE = timedelta(minutes=10)
RIGHT = "```python\ndef add(a, b):\n    return a + b\n```"


class CaptureServer:
    """Accepts TCP connections and records what arrives: the attacker's listener."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen()
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    self.received.append(connection.recv(65536))
                except TimeoutError:
                    self.received.append(b"")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer()
    yield server
    server.close()


@pytest.fixture
def scripted() -> Iterator[ScriptedLlm]:
    server = ScriptedLlm()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def declared(
    tmp_path: Path, scripted: ScriptedLlm, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> Path:
    """Settings declaring `alpha` (the scripted server, its own key) besides the defaults."""
    endpoints = tmp_path / "endpoints.toml"
    endpoints.write_text(
        f"""
[endpoints.alpha]
base_url = "{scripted.base_url}"
api_key_env = "ALPHA_KEY"
models = ["alpha-coder", "alpha-coder-large"]
max_concurrency = 4
timeout_s = 10
context_tokens = 8192
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("ALPHA_KEY", ALPHA_KEY)
    monkeypatch.setenv("REFLECTSEQ_LLM_ENDPOINTS_FILE", str(endpoints))
    monkeypatch.setenv("REFLECTSEQ_LLM_API_KEY", OPERATOR_KEY)
    monkeypatch.setenv("REFLECTSEQ_LLM_MAX_RETRIES", "0")
    monkeypatch.setenv("REFLECTSEQ_DATABASE_URL", pg_url)
    monkeypatch.setenv("REFLECTSEQ_REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("REFLECTSEQ_API_KEY_CACHE_S", "0")
    get_settings.cache_clear()
    return endpoints


@pytest.fixture
def api(declared: Path) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def _stored(factory: sessionmaker[Session]) -> tuple[int, int, int]:
    with transaction(factory) as session:
        return (
            session.scalar(select(func.count()).select_from(InstructionSet)) or 0,
            session.scalar(select(func.count()).select_from(Sequence)) or 0,
            session.scalar(select(func.count()).select_from(GenerationConfig)) or 0,
        )


def _submit(client: TestClient, headers: dict[str, str], config: dict[str, Any]) -> Any:
    return client.post(
        "/v1/instruction-sets",
        json={
            "name": "attempt",
            "generation_config": config,
            "instructions": [{"text": "Write add(a, b).", "language": "py"}],
        },
        headers=headers,
    )


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"endpoint": "http://127.0.0.1:{port}/steal", "model": "x"}, "generation_config.endpoint"),
        ({"endpoint": "file:///etc/passwd"}, "generation_config.endpoint"),
        ({"endpoint": "127.0.0.1:{port}"}, "generation_config.endpoint"),
        ({"endpoint": "attacker"}, "generation_config.endpoint"),
        ({"endpoint": "alpha", "model": "gpt-4o"}, "generation_config.model"),
        ({"endpoint": "local", "model": "alpha-coder"}, "generation_config.model"),
        ({"backend": "openai", "model": "x"}, "generation_config.backend"),
        ({"base_url": "http://127.0.0.1:{port}/v1"}, "generation_config.base_url"),
        ({"endpoint": "alpha", "prompt_version": "v99"}, "generation_config.prompt_version"),
    ],
)
def test_a_submission_cannot_choose_where_requests_go(  # noqa: PLR0917 - fixtures
    api: TestClient,
    submitter: dict[str, str],
    capture: CaptureServer,
    pg_session_factory: sessionmaker[Session],
    config: dict[str, str],
    field: str,
) -> None:
    config = {k: v.replace("{port}", str(capture.port)) for k, v in config.items()}
    response = _submit(api, submitter, config)
    assert response.status_code == 422, response.text
    messages = {d["field"]: d["message"] for d in response.json()["error"]["details"]}
    assert field in messages
    if "://" in config.get("endpoint", ""):
        assert "URLs" in messages[field] and "GET /v1/endpoints" in messages[field]
    assert _stored(pg_session_factory) == (0, 0, 0)
    assert capture.received == []


def test_jsonl_submissions_name_endpoints_too(
    api: TestClient,
    submitter: dict[str, str],
    capture: CaptureServer,
    pg_session_factory: sessionmaker[Session],
) -> None:
    response = api.post(
        "/v1/instruction-sets",
        params={
            "name": "jsonl",
            "generation_config": json.dumps({"endpoint": f"http://127.0.0.1:{capture.port}"}),
        },
        content=b'{"text": "Write add(a, b).", "language": "py"}\n',
        headers={**submitter, "content-type": "application/x-ndjson"},
    )
    assert response.status_code == 422, response.text
    assert _stored(pg_session_factory) == (0, 0, 0)


def test_the_endpoint_list_names_models_and_limits_but_no_url_or_key(
    api: TestClient, reviewer: dict[str, str], scripted: ScriptedLlm
) -> None:
    response = api.get("/v1/endpoints", headers=reviewer)
    assert response.status_code == 200, response.text
    by_name = {entry["name"]: entry for entry in response.json()}
    assert set(by_name) == {"local", "alpha"}
    assert by_name["alpha"]["models"] == ["alpha-coder", "alpha-coder-large"]
    assert by_name["alpha"]["default_model"] == "alpha-coder"
    assert by_name["alpha"]["limits"]["max_concurrency"] == 4
    assert by_name["alpha"]["context_tokens"] == 8192
    assert by_name["local"]["default"] is True
    assert str(scripted.port) not in response.text
    assert ALPHA_KEY not in response.text and OPERATOR_KEY not in response.text
    assert api.get("/v1/endpoints").status_code == 401


def test_a_declared_endpoint_gets_its_own_key_and_errors_are_our_words(
    api: TestClient,
    submitter: dict[str, str],
    scripted: ScriptedLlm,
    capture: CaptureServer,
    pg_session_factory: sessionmaker[Session],
) -> None:
    key = "[declared-endpoint]"
    scripted.script(key, [answer(RIGHT)])
    failing = "[remote-body]"
    scripted.script(failing, [error(400, "internal detail: postgres://admin:hunter2@db")])
    response = api.post(
        "/v1/instruction-sets",
        json={
            "name": "declared",
            "generation_config": {"endpoint": "alpha", "max_rounds": 1},
            "instructions": [
                {"text": f"Write add(a, b). {key}", "language": "py"},
                {"text": f"Write sub(a, b). {failing}", "language": "py"},
            ],
        },
        headers=submitter,
    )
    assert response.status_code == 201, response.text
    assert response.json()["generation_config"]["endpoint"] == "alpha"
    assert response.json()["generation_config"]["model"] == "alpha-coder"
    with transaction(pg_session_factory) as session:
        ids = list(session.scalars(select(Sequence.id).order_by(Sequence.id)))
    context = loop_context(get_settings(), session_factory=pg_session_factory)
    for sequence_id in ids:
        run_sequence(context, sequence_id, worker="test", stale_after=STALE)
    assert scripted.authorizations and set(scripted.authorizations) == {f"Bearer {ALPHA_KEY}"}
    assert capture.received == []
    with transaction(pg_session_factory) as session:
        done, failed = (session.get(Sequence, i) for i in ids)
        assert done is not None and done.status == SequenceStatus.COMPLETED
        assert failed is not None and failed.status == SequenceStatus.FAILED
        assert failed.error is not None
        assert "'alpha'" in failed.error and "HTTP 400" in failed.error
        assert "hunter2" not in failed.error and "internal detail" not in failed.error


def test_a_config_whose_endpoint_is_no_longer_declared_fails_without_a_request(
    declared: Path,
    capture: CaptureServer,
    scripted: ScriptedLlm,
    pg_session_factory: sessionmaker[Session],
) -> None:
    from tests.core.factories import make_set

    with transaction(pg_session_factory) as session:
        created = make_set(session, ["Write add(a, b)."])
        created.instruction_set.generation_config.endpoint = "undeclared"
        created.instruction_set.generation_config.backend = "openai"
        session.flush()
        (sequence_id,) = session.scalars(
            select(Sequence.id).where(Sequence.instruction_set_id == created.instruction_set.id)
        )
    context = loop_context(get_settings(), session_factory=pg_session_factory)
    assert run_sequence(context, sequence_id, worker="test", stale_after=STALE) == Outcome.FAILED
    with transaction(pg_session_factory) as session:
        sequence = session.get(Sequence, sequence_id)
        assert sequence is not None and sequence.error is not None
        assert "'undeclared' is not declared" in sequence.error
    assert scripted.authorizations == [] and capture.received == []


def test_without_a_config_a_submission_gets_the_operators_default_endpoint(
    monkeypatch: pytest.MonkeyPatch, declared: Path, submitter: dict[str, str]
) -> None:
    monkeypatch.setenv("REFLECTSEQ_LLM_DEFAULT_ENDPOINT", "alpha")
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        response = client.post(
            "/v1/instruction-sets",
            json={"name": "d", "instructions": [{"text": "Write f.", "language": "py"}]},
            headers=submitter,
        )
    assert response.status_code == 201, response.text
    config = response.json()["generation_config"]
    assert (config["endpoint"], config["model"], config["backend"]) == (
        "alpha",
        "alpha-coder",
        "openai",
    )
