"""API keys: hashed at rest, 401 without a valid key, 403 for a too weak role."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from reflectseq.db.models import ApiKey
from reflectseq.db.session import transaction
from reflectseq.enums import ApiRole
from reflectseq.settings import Settings
from reflectseq.store.api_keys import hash_key, revoke_api_key
from tests.api.conftest import bearer


def test_keys_are_stored_as_hashes_only(
    keys: dict[ApiRole, str], pg_session_factory: sessionmaker[Session]
) -> None:
    with transaction(pg_session_factory) as session:
        rows = session.scalars(select(ApiKey)).all()
    stored = {row.key_hash for row in rows}
    assert stored == {hash_key(key) for key in keys.values()}
    for key in keys.values():
        assert all(key not in (row.key_hash, row.prefix, row.name) for row in rows)


def test_missing_key_is_401_with_the_error_shape(client: TestClient) -> None:
    response = client.get("/v1/sequences")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


def test_unknown_and_malformed_keys_are_401(client: TestClient, keys: dict[ApiRole, str]) -> None:
    genuine = keys[ApiRole.ADMIN]
    forged = genuine[:-4] + ("AAAA" if not genuine.endswith("AAAA") else "BBBB")
    for key in [forged, "rsk_short", "not-a-key", genuine + "x"]:
        assert client.get("/v1/sequences", headers=bearer(key)).status_code == 401, key


def test_revoked_key_stops_working(
    client: TestClient, keys: dict[ApiRole, str], pg_session_factory: sessionmaker[Session]
) -> None:
    headers = bearer(keys[ApiRole.REVIEWER])
    assert client.get("/v1/sequences", headers=headers).status_code == 200
    with transaction(pg_session_factory) as session:
        row = session.scalar(select(ApiKey).where(ApiKey.role == ApiRole.REVIEWER))
        assert row is not None
        revoke_api_key(session, row.id)
    assert client.get("/v1/sequences", headers=headers).status_code == 401


def test_roles_are_ordered(client: TestClient, keys: dict[ApiRole, str]) -> None:
    """Reviewers read but may not submit or cancel; submitters and admins may."""
    body = b'{"text": "x", "language": "py"}\n'
    for role, allowed in [
        (ApiRole.REVIEWER, False),
        (ApiRole.SUBMITTER, True),
        (ApiRole.ADMIN, True),
    ]:
        headers = {**bearer(keys[role]), "content-type": "application/x-ndjson"}
        # An empty name fails validation after authorization, so nothing is stored here.
        response = client.post("/v1/instruction-sets?name=", content=body, headers=headers)
        assert response.status_code == (422 if allowed else 403), role
        assert client.get("/v1/languages", headers=headers).status_code == 200
    forbidden = client.post("/v1/instruction-sets/1/cancel", headers=bearer(keys[ApiRole.REVIEWER]))
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden"


def test_verified_keys_are_trusted_for_the_cache_lifetime_only(
    pg_url: str, keys: dict[ApiRole, str], pg_session_factory: sessionmaker[Session]
) -> None:
    client = TestClient(create_app(Settings(database_url=pg_url, api_key_cache_s=0.5)))
    headers = bearer(keys[ApiRole.REVIEWER])
    assert client.get("/v1/sequences", headers=headers).status_code == 200
    with transaction(pg_session_factory) as session:
        row = session.scalar(select(ApiKey).where(ApiKey.role == ApiRole.REVIEWER))
        assert row is not None
        revoke_api_key(session, row.id)
    assert client.get("/v1/sequences", headers=headers).status_code == 200
    time.sleep(0.6)
    assert client.get("/v1/sequences", headers=headers).status_code == 401
