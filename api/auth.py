"""API-key authentication and role checks.

Keys travel as ``Authorization: Bearer <key>``. Roles are ordered: an admin may do anything a
submitter may, and a submitter anything a reviewer may. Each route states the weakest role it
accepts with ``Depends(require_role(...))``; a missing or unknown key is 401, a known key with
too weak a role is 403.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api.errors import ApiError
from reflectseq.db.session import transaction
from reflectseq.enums import ApiRole
from reflectseq.store.api_keys import hash_key, verify_api_key

ROLE_RANK = {ApiRole.REVIEWER: 0, ApiRole.SUBMITTER: 1, ApiRole.ADMIN: 2}

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An API key from `reflectseq apikey create`, sent as `Bearer <key>`.",
)


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    key_id: int
    name: str
    role: ApiRole

    def may(self, minimum: ApiRole) -> bool:
        """Whether this caller's role is ``minimum`` or stronger."""
        return ROLE_RANK[self.role] >= ROLE_RANK[minimum]


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


class KeyCache:
    """Principals verified recently, by key hash, so most requests need no key lookup.

    Verification is a database round trip; under load it costs more than the rest of a small
    read. Entries live ``ttl_s`` seconds (``api_key_cache_s``), which bounds how long a revoked
    key keeps working in a process that saw it. Keys are held only as their hashes.
    """

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key_hash: str, principal: Principal) -> None:
        if self.ttl_s > 0:
            self._entries[key_hash] = (principal, time.monotonic() + self.ttl_s)


def _verify(factory: sessionmaker[Session], plain_key: str) -> Principal | None:
    with transaction(factory) as session:
        row = verify_api_key(session, plain_key)
        return None if row is None else Principal(key_id=row.id, name=row.name, role=row.role)


async def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller behind the bearer key, or 401.

    A plain coroutine, not a dependency of its own: it runs on every request, and each
    dependency FastAPI resolves costs a small read a measurable share. The session factory
    (needed only when the key is not cached) comes from the app's state for the same reason.
    """
    if credentials is None:
        raise _unauthorized("an API key is required (Authorization: Bearer <key>)")
    cache: KeyCache = request.app.state.key_cache
    key_hash = hash_key(credentials.credentials)
    principal = cache.get(key_hash)
    if principal is None:
        factory = request.app.state.session_factory
        principal = await run_in_threadpool(_verify, factory, credentials.credentials)
        if principal is None:
            raise _unauthorized("the API key is unknown or revoked")
        cache.put(key_hash, principal)
    return principal


def require_role(minimum: ApiRole) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers whose role is ``minimum`` or stronger."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> Principal:
        principal = await authenticate(request, credentials)
        if not principal.may(minimum):
            raise ApiError(
                403,
                f"this needs the {minimum.value} role or stronger; "
                f"the key has the {principal.role.value} role",
            )
        return principal

    return check


Reviewer = Annotated[Principal, Depends(require_role(ApiRole.REVIEWER))]
Submitter = Annotated[Principal, Depends(require_role(ApiRole.SUBMITTER))]
Admin = Annotated[Principal, Depends(require_role(ApiRole.ADMIN))]
