"""POST /v1/execute runs code in the real sandbox (reviewer role or above)."""

from __future__ import annotations

from fastapi.testclient import TestClient


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
