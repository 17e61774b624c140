"""API keys: creation (the plain key is returned once), verification and revocation.

A key looks like ``rsk_<prefix>_<secret>``. Only the SHA-256 of the whole key is stored. A slow
password hash is not needed: the secret has 256 bits of entropy, so the hash cannot be reversed
by guessing, and a fast hash keeps per-request verification cheap. The public prefix finds the
row with an indexed lookup; the hashes are then compared in constant time so that response
timing tells an attacker nothing about how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from reflectseq.db.base import utcnow
from reflectseq.db.models import ApiKey
from reflectseq.enums import ApiRole
from reflectseq.store.errors import InvalidState, NotFound, domain_errors

KEY_SCHEME = "rsk"
PREFIX_HEX_CHARS = 12
SECRET_BYTES = 32
# Writing last_used_at on every request would turn each read into a write; once a minute
# is precise enough to spot unused keys.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewApiKey:
    """A freshly created key: the stored row and the plain key, which is never stored."""

    row: ApiKey
    plain_key: str


def hash_key(plain_key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(plain_key.encode("utf-8")).hexdigest()


def _split(plain_key: str) -> str | None:
    """The prefix of a well-formed key, or None."""
    parts = plain_key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or len(parts[1]) != PREFIX_HEX_CHARS:
        return None
    return parts[1]


def create_api_key(session: Session, *, name: str, role: ApiRole) -> NewApiKey:
    """Create a key with ``role``; the caller shows ``plain_key`` once and forgets it."""
    prefix = secrets.token_hex(PREFIX_HEX_CHARS // 2)
    plain_key = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    row = ApiKey(name=name, prefix=prefix, key_hash=hash_key(plain_key), role=role)
    with domain_errors():
        session.add(row)
        session.flush()
    return NewApiKey(row=row, plain_key=plain_key)


def verify_api_key(session: Session, plain_key: str) -> ApiKey | None:
    """The active key row matching ``plain_key``, or None (unknown, malformed or revoked)."""
    prefix = _split(plain_key)
    if prefix is None:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, hash_key(plain_key)):
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
    return row


def api_key_active(session: Session, key_id: int) -> bool:
    """Whether the key exists and is not revoked (long-lived streams ask this again and again)."""
    revoked = session.execute(select(ApiKey.revoked_at).where(ApiKey.id == key_id)).first()
    return revoked is not None and revoked[0] is None


def list_api_keys(session: Session) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_api_key(session: Session, key_id: int) -> ApiKey:
    """Revoke a key; it stops working at once. Revoking twice is ``InvalidState``."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound("API key", key_id)
    if row.revoked_at is not None:
        raise InvalidState(f"API key {key_id} is already revoked")
    row.revoked_at = utcnow()
    session.flush()
    return row
