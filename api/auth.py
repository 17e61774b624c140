"""API-key authentication and role checks.

Keys travel as ``Authorization: Bearer <key>``. Roles are ordered: an admin may do anything a
submitter may, and a submitter anything a reviewer may. Each route states the weakest role it
accepts with ``Depends(require_role(...))``; a missing or unknown key is 401, a known key with
too weak a role is 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import SessionFactory
from api.errors import ApiError
from reflectseq.db.session import transaction
from reflectseq.enums import ApiRole
from reflectseq.store.api_keys import verify_api_key

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


def authenticate(
    factory: SessionFactory,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The caller behind the bearer key, or 401."""
    if credentials is None:
        raise _unauthorized("an API key is required (Authorization: Bearer <key>)")
    with transaction(factory) as session:
        row = verify_api_key(session, credentials.credentials)
        if row is None:
            raise _unauthorized("the API key is unknown or revoked")
        return Principal(key_id=row.id, name=row.name, role=row.role)


def require_role(minimum: ApiRole) -> Callable[[Principal], Principal]:
    """A dependency admitting callers whose role is ``minimum`` or stronger."""

    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
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
