"""A task's reference solution runs against its tests at submission; a failing one is refused."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Instruction, InstructionSet
from reflectseq.db.session import transaction

NDJSON = {"content-type": "application/x-ndjson"}
RIGHT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"
TESTS = "assert add(2, 3) == 5\n"


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def task(name: str, **extra: Any) -> dict[str, Any]:
    return {"text": f"Write add(a, b). ({name})", "language": "python", "tests": TESTS, **extra}


def stored(factory: sessionmaker[Session]) -> tuple[int, int]:
    with transaction(factory) as session:
        return (
            session.scalar(select(func.count()).select_from(InstructionSet)) or 0,
            session.scalar(select(func.count()).select_from(Instruction)) or 0,
        )


def test_tasks_whose_solution_passes_are_accepted(
    client: TestClient, submitter: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    rows = [task("a", solution=RIGHT), task("b"), task("c", solution=RIGHT, tests=None)]
    response = client.post(
        "/v1/instruction-sets?name=checked", content=jsonl(rows), headers={**submitter, **NDJSON}
    )
    assert response.status_code == 201, response.text
    assert response.json()["instruction_count"] == 3
    with transaction(pg_session_factory) as session:
        metadata = list(session.scalars(select(Instruction.metadata_)))
    assert all("solution" not in str(value) for value in metadata)


def test_a_failing_solution_refuses_the_set_naming_its_line(
    client: TestClient, submitter: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    broken_tests = task("d", solution=RIGHT, tests="assert add(2, 3) == 6\n")
    rows = [task("a", solution=RIGHT), task("b", solution=WRONG), broken_tests]
    response = client.post(
        "/v1/instruction-sets?name=refused", content=jsonl(rows), headers={**submitter, **NDJSON}
    )
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert [(d["line"], d["field"]) for d in details] == [(2, "solution"), (3, "solution")]
    assert "does not pass the tests (failed)" in details[0]["message"]
    assert "AssertionError" in details[0]["message"]
    assert stored(pg_session_factory) == (0, 0)


def test_json_body_names_the_instruction(client: TestClient, submitter: dict[str, str]) -> None:
    body = {"name": "json", "instructions": [task("a"), task("b", solution=WRONG)]}
    response = client.post("/v1/instruction-sets", json=body, headers=submitter)
    assert response.status_code == 422, response.text
    (detail,) = response.json()["error"]["details"]
    assert detail["field"] == "instructions[1].solution"
