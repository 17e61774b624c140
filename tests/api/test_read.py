"""Reading back: set progress, filtered and paginated sequences, one sequence, languages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.enums import SequenceStatus
from tests.api.seed import seed_set, sequence_ids, set_sequence, write_tree


def test_set_progress_aggregates(
    client: TestClient, reviewer: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    set_id = seed_set(pg_session_factory, size=4)
    first, second, third, _ = sequence_ids(pg_session_factory, set_id)
    done = {"status": SequenceStatus.COMPLETED, "rounds": 2, "tokens_in": 100, "tokens_out": 50}
    set_sequence(pg_session_factory, first, **done, cost=0.5, final_pass=True, reflection_pass=True)
    set_sequence(pg_session_factory, second, **done, cost=0.25, final_pass=False)
    set_sequence(pg_session_factory, third, status=SequenceStatus.RUNNING, rounds=1)

    response = client.get(f"/v1/instruction-sets/{set_id}", headers=reviewer)
    assert response.status_code == 200
    progress = response.json()["progress"]
    assert progress["total"] == 4
    assert progress["by_status"]["completed"] == 2
    assert progress["by_status"]["running"] == 1
    assert progress["by_status"]["pending"] == 1
    assert progress["rounds"] == 5
    assert (progress["tokens_in"], progress["tokens_out"]) == (200, 100)
    assert progress["cost"] == 0.75
    assert progress["pass_rate"] == 0.5
    assert progress["reflection_pass_rate"] == 1.0
    assert progress["finished"] is False


def test_set_listing_pages_with_cursor(
    client: TestClient, reviewer: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    ids = [seed_set(pg_session_factory, name=f"s{i}", size=1) for i in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/instruction-sets", params=params, headers=reviewer).json()
        seen += [item["id"] for item in page["items"]]
        assert all(item["progress"]["total"] == 1 for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


def test_missing_set_is_404(client: TestClient, reviewer: dict[str, str]) -> None:
    response = client.get("/v1/instruction-sets/999999", headers=reviewer)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_sequence_filters_and_pagination(
    client: TestClient, reviewer: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    set_a = seed_set(pg_session_factory, name="a", size=3)
    set_b = seed_set(pg_session_factory, name="b", size=2)
    a_ids = sequence_ids(pg_session_factory, set_a)
    set_sequence(pg_session_factory, a_ids[0], status=SequenceStatus.COMPLETED, final_pass=True)
    set_sequence(pg_session_factory, a_ids[1], status=SequenceStatus.COMPLETED, rounds=3)

    def ids(**params: object) -> list[int]:
        response = client.get("/v1/sequences", params=params, headers=reviewer)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids(instruction_set_id=set_a) == a_ids
    assert ids(status="completed") == a_ids[:2]
    assert ids(final_pass="true") == a_ids[:1]
    assert ids(min_rounds=2) == [a_ids[1]]
    assert ids(max_rounds=0, instruction_set_id=set_a) == [a_ids[0], a_ids[2]]
    assert ids(language="py", instruction_set_id=set_b) == sequence_ids(pg_session_factory, set_b)
    assert ids(review_status="accepted") == []
    assert len(ids(review_status="pending")) == 5
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert ids(created_after=tomorrow) == []
    assert len(ids(created_before=tomorrow)) == 5

    first = client.get("/v1/sequences", params={"limit": 3}, headers=reviewer).json()
    rest = client.get(
        "/v1/sequences", params={"limit": 3, "cursor": first["next_cursor"]}, headers=reviewer
    ).json()
    assert len(first["items"]) == 3
    assert len(rest["items"]) == 2
    assert rest["next_cursor"] is None


def test_bad_cursor_and_filters_are_422(client: TestClient, reviewer: dict[str, str]) -> None:
    for params in [
        {"cursor": "!!!"},
        {"cursor": "LTE"},  # base64 of "-1"
        {"limit": 0},
        {"limit": 10_000},
        {"status": "sleeping"},
        {"language": "Py thon"},
    ]:
        response = client.get("/v1/sequences", params=params, headers=reviewer)
        assert response.status_code == 422, params
        assert response.json()["error"]["details"], params


def test_sequence_detail_has_blocks_in_order(
    client: TestClient, reviewer: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    set_id = seed_set(pg_session_factory, size=1)
    (sequence_id,) = sequence_ids(pg_session_factory, set_id)
    write_tree(pg_session_factory, sequence_id, blocks=20)
    response = client.get(f"/v1/sequences/{sequence_id}", headers=reviewer)
    assert response.status_code == 200
    body = response.json()
    assert body["instruction"]["text"] == "task 0"
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "assistant"]
    blocks = [block for message in body["messages"] for block in message["blocks"]]
    assert len(blocks) == 20
    reflection = body["messages"][1]["blocks"]
    assert [b["index"] for b in reflection] == list(range(len(reflection)))
    assert [b["kind"] for b in reflection[:3]] == ["code", "execution", "analysis"]
    assert reflection[1]["execution_status"] == "failed"
    assert client.get("/v1/sequences/424242", headers=reviewer).status_code == 404


def test_languages(client: TestClient, reviewer: dict[str, str]) -> None:
    languages = {row["code"]: row for row in client.get("/v1/languages", headers=reviewer).json()}
    assert {"py", "js", "rkt", "clj"} <= set(languages)
    assert "python" in languages["py"]["aliases"] or languages["py"]["fence"] == "python"
