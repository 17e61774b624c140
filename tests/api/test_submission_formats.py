"""POST /v1/instruction-sets with other layouts and formats: presets, field mappings, JSON
arrays, CSV and Parquet, and the errors that name the parameter, line or row, and field."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Instruction, InstructionSet
from reflectseq.db.session import transaction
from reflectseq.ingest.records import MEDIA_TYPE_OF, InputFormat
from tests.ingest.layouts import FORMATS, LAYOUTS, check_tasks, encode


def stored_tasks(factory: sessionmaker[Session], set_id: int) -> list[dict[str, Any]]:
    with transaction(factory) as session:
        rows = session.scalars(
            select(Instruction)
            .where(Instruction.instruction_set_id == set_id)
            .order_by(Instruction.position)
        )
        return [
            {"text": r.text, "language": r.language, "tests": r.tests, "metadata": r.metadata_}
            for r in rows
        ]


def set_count(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        return session.scalar(select(func.count()).select_from(InstructionSet)) or 0


@pytest.mark.parametrize("input_format", FORMATS, ids=str)
@pytest.mark.parametrize("preset", sorted(LAYOUTS))
def test_each_preset_in_each_format(
    *,
    client: TestClient,
    submitter: dict[str, str],
    pg_session_factory: sessionmaker[Session],
    preset: str,
    input_format: InputFormat,
) -> None:
    layout = LAYOUTS[preset]
    response = client.post(
        "/v1/instruction-sets",
        params={"name": f"{preset}-{input_format}", "preset": preset},
        content=encode(layout.rows, input_format),
        headers={**submitter, "content-type": MEDIA_TYPE_OF[input_format]},
    )
    assert response.status_code == 201, response.text
    check_tasks(stored_tasks(pg_session_factory, response.json()["id"]), layout)


def test_upload_is_read_by_its_file_name_with_field_options(
    client: TestClient, submitter: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    rows = [{"question": "Sum a list.", "test": "assert total([1]) == 1"}]
    response = client.post(
        "/v1/instruction-sets",
        params={"field": ["text=question", "tests=test"], "language": "python"},
        data={"name": "upload"},
        files={"file": ("mine.parquet", encode(rows, InputFormat.PARQUET), "")},
        headers=submitter,
    )
    assert response.status_code == 201, response.text
    (task,) = stored_tasks(pg_session_factory, response.json()["id"])
    assert (task["text"], task["tests"], task["language"]) == (
        "Sum a list.",
        "assert total([1]) == 1",
        "py",
    )


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"field": "txt=instruction"}, "query.field", "unknown field 'txt'"),
        ({"field": "text"}, "query.field", "is not FIELD=COLUMN"),
        ({"preset": "alpaca-ish"}, "query.preset", "unknown preset 'alpaca-ish'"),
        ({"language": "cobol"}, "query.language", "unknown language 'cobol'"),
    ],
)
def test_a_bad_mapping_is_422_naming_the_parameter(
    *,
    client: TestClient,
    submitter: dict[str, str],
    pg_session_factory: sessionmaker[Session],
    params: dict[str, str],
    field: str,
    message: str,
) -> None:
    response = client.post(
        "/v1/instruction-sets",
        params={"name": "bad", **params},
        content=encode(LAYOUTS["evol-instruct"].rows, InputFormat.JSONL),
        headers={**submitter, "content-type": MEDIA_TYPE_OF[InputFormat.JSONL]},
    )
    assert response.status_code == 422
    (detail,) = response.json()["error"]["details"]
    assert detail["field"] == field
    assert message in detail["message"]
    assert set_count(pg_session_factory) == 0


@pytest.mark.parametrize(
    ("input_format", "where"),
    [
        (InputFormat.JSONL, {"line": 2, "row": None, "field": "text"}),
        (InputFormat.CSV, {"line": 3, "row": None, "field": "text"}),
        (InputFormat.PARQUET, {"line": None, "row": 2, "field": "text"}),
        (InputFormat.JSON, {"line": None, "row": None, "field": "instructions[1].text"}),
    ],
    ids=str,
)
def test_a_column_the_rows_lack_is_422_naming_where_and_the_field(
    *,
    client: TestClient,
    submitter: dict[str, str],
    pg_session_factory: sessionmaker[Session],
    input_format: InputFormat,
    where: dict[str, Any],
) -> None:
    rows = [{"instruction": "Write add."}, {"instrution": "A typo in the column name."}]
    response = client.post(
        "/v1/instruction-sets",
        params={"name": "typo", "preset": "evol-instruct"},
        content=encode(rows, input_format),
        headers={**submitter, "content-type": MEDIA_TYPE_OF[input_format]},
    )
    assert response.status_code == 422
    (detail,) = response.json()["error"]["details"]
    assert {key: detail[key] for key in where} == where
    assert detail["message"] == "Field required (column 'instruction')"
    assert set_count(pg_session_factory) == 0


def test_a_broken_parquet_body_is_422(client: TestClient, submitter: dict[str, str]) -> None:
    response = client.post(
        "/v1/instruction-sets?name=broken",
        content=b"PAR1 and then nothing",
        headers={**submitter, "content-type": MEDIA_TYPE_OF[InputFormat.PARQUET]},
    )
    assert response.status_code == 422
    assert "not a Parquet file" in response.json()["error"]["details"][0]["message"]


def test_the_same_body_under_another_mapping_is_no_replay(
    client: TestClient, submitter: dict[str, str]
) -> None:
    rows = [{"instruction": "Write add.", "prompt": "Write sub.", "language": "py"}]
    body = encode(rows, InputFormat.JSONL)
    headers = {**submitter, "content-type": "application/x-ndjson", "Idempotency-Key": "k1"}
    first = client.post(
        "/v1/instruction-sets",
        params={"name": "m", "field": "text=instruction"},
        content=body,
        headers=headers,
    )
    again = client.post(
        "/v1/instruction-sets",
        params={"name": "m", "field": "text=instruction"},
        content=body,
        headers=headers,
    )
    other = client.post(
        "/v1/instruction-sets",
        params={"name": "m", "field": "text=prompt"},
        content=body,
        headers=headers,
    )
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
