"""POST /v1/execute runs code in the real sandbox (reviewer role or above)."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from reflectseq.settings import get_settings


def test_execute_runs_python_in_the_sandbox(client: TestClient, reviewer: dict[str, str]) -> None:
    passing = client.post(
        "/v1/execute",
        json={"language": "python", "code": "assert sum([1, 2]) == 3\nprint('ok')"},
        headers=reviewer,
    )
    assert passing.status_code == 200, passing.text
    assert passing.json()["status"] == "passed"
    assert passing.json()["run"]["stdout"].strip() == "ok"

    failing = client.post(
        "/v1/execute", json={"language": "py", "code": "assert 1 == 2"}, headers=reviewer
    )
    assert failing.json()["status"] == "failed"
    assert "AssertionError" in failing.json()["run"]["stderr"]


def test_execute_validates_input_and_needs_a_key(
    client: TestClient, reviewer: dict[str, str]
) -> None:
    unknown = client.post("/v1/execute", json={"language": "cobol", "code": ""}, headers=reviewer)
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"][0]["field"] == "language"
    extra = client.post(
        "/v1/execute", json={"language": "py", "code": "", "network": True}, headers=reviewer
    )
    assert extra.status_code == 422
    assert client.post("/v1/execute", json={"language": "py", "code": ""}).status_code == 401


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"run_timeout": 600}, "run_timeout"),
        ({"compile_timeout": 600}, "compile_timeout"),
        ({"memory_mb": 65536}, "memory_mb"),
    ],
)
def test_interactive_runs_may_only_tighten_limits(
    client: TestClient, reviewer: dict[str, str], limits: dict[str, float], field: str
) -> None:
    response = client.post(
        "/v1/execute", json={"language": "py", "code": "print(1)", **limits}, headers=reviewer
    )
    assert response.status_code == 422, response.text
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]
    tighter = client.post(
        "/v1/execute",
        json={"language": "py", "code": "print(1)", "run_timeout": 2, "memory_mb": 256},
        headers=reviewer,
    )
    assert tighter.status_code == 200, tighter.text


def test_each_key_has_a_budget_of_runs_per_minute(
    monkeypatch: pytest.MonkeyPatch, app: FastAPI, reviewer: dict[str, str], admin: dict[str, str]
) -> None:
    monkeypatch.setenv("REFLECTSEQ_SANDBOX_INTERACTIVE_RUNS_PER_MINUTE", "2")
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        run = {"language": "py", "code": "print(1)"}
        statuses = [client.post("/v1/execute", json=run, headers=reviewer) for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        refused = statuses[2]
        assert refused.json()["error"]["code"] == "rate_limited"
        assert "2 interactive runs a minute" in refused.json()["error"]["message"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Another key has its own budget.
        assert client.post("/v1/execute", json=run, headers=admin).status_code == 200


def test_interactive_runs_hold_at_most_their_own_slots(
    client: TestClient, reviewer: dict[str, str], admin: dict[str, str]
) -> None:
    """With one interactive slot (the default), a second run while one is going is refused."""
    slow = {"language": "py", "code": "import time\ntime.sleep(3)\nprint('done')"}
    answers: list[int] = []
    started = threading.Event()

    def run_slow() -> None:
        started.set()
        while True:  # a quick run may hold the slot at the moment this one first asks
            status = client.post("/v1/execute", json=slow, headers=reviewer).status_code
            if status != 429:
                answers.append(status)
                return
            time.sleep(0.05)

    worker = threading.Thread(target=run_slow)
    worker.start()
    started.wait()
    deadline = time.monotonic() + 30
    refused = None
    while refused is None and time.monotonic() < deadline and worker.is_alive():
        quick = client.post("/v1/execute", json={"language": "py", "code": ""}, headers=admin)
        if quick.status_code == 429 and "slot is busy" in quick.json()["error"]["message"]:
            refused = quick
        time.sleep(0.05)
    worker.join()
    assert answers == [200]
    assert refused is not None, "a second run was never refused while the first held the slot"
    assert "Retry-After" in refused.headers


def test_a_nul_character_in_a_file_name_is_refused(
    client: TestClient, reviewer: dict[str, str]
) -> None:
    response = client.post(
        "/v1/execute",
        json={"language": "py", "code": "print(1)", "files": {"data\u0000.txt": "x"}},
        headers=reviewer,
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == "files"
