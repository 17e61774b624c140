"""Limits on password checking: throttled guesses and a bounded amount of hashing at once.

Guessing: failed logins are counted per username and per client address. The
``login_max_failures``-th failure (per client: ``login_max_failures_per_client``) locks the key
for ``login_lockout_s``, every further one for twice as long, up to ``login_lockout_max_s``; while
locked, attempts are refused with 429 and Retry-After before any password is checked, so they
cost next to nothing and teach nothing. A successful login clears its username's count (not
its client's, or one valid account would reset the guessing of others).

Hashing: argon2id with argon2-cffi's defaults takes 64 MiB and tens of milliseconds per
verification, and FastAPI runs up to 40 requests at once, so a flood of anonymous logins used to
take gigabytes. ``HashingSlots`` lets ``login_hash_concurrency`` verifications run at once per
process; a login that finds no free slot within ``HASH_WAIT_S`` gets 503 instead of queueing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

import redis
from fastapi import Depends, Request

from api.review.failure_counters import (
    FailureCounters,
    LocalFailureCounters,
    RedisFailureCounters,
)
from reflectseq.settings import Settings

HASH_WAIT_S = 2.0
BUSY_RETRY_AFTER_S = 1
BUSY_MESSAGE = "The server is busy checking other passwords; please try again in a moment."
REDIS_TIMEOUT_S = 1.0
REDIS_PREFIX = "reflectseq:login"
MAX_DOUBLINGS = 30  # 2**30 lockouts exceed any sensible maximum; keeps the power finite


class HashingBusy(Exception):
    """Every hashing slot stayed taken for ``HASH_WAIT_S``."""


class HashingSlots:
    """At most ``size`` password hashes or verifications at once in this process."""

    def __init__(self, size: int, *, wait_s: float = HASH_WAIT_S) -> None:
        self._free = threading.BoundedSemaphore(size)
        self._wait_s = wait_s

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for the block; ``HashingBusy`` when none frees up in time."""
        if not self._free.acquire(timeout=self._wait_s):
            raise HashingBusy
        try:
            yield
        finally:
            self._free.release()


def client_address(request: Request) -> str:
    """The address failures are counted under: the client's IP, an IPv6 client's /64.

    One IPv6 host commonly holds a whole /64, so counting single IPv6 addresses would give an
    attacker billions of fresh counters. Behind a reverse proxy, uvicorn takes the client from
    X-Forwarded-For when the proxy's address is in ``FORWARDED_ALLOW_IPS``.
    """
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(getattr(address, "ipv4_mapped", None) or address)


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures are free and how long the locks after them last."""

    max_failures: int
    max_failures_per_client: int
    lockout_s: float
    lockout_max_s: float

    def lock_after(self, failures: int, allowed: int) -> float:
        """Seconds to lock a key after its ``failures``-th failure (0 before ``allowed``)."""
        if failures < allowed:
            return 0.0
        doublings = min(failures - allowed, MAX_DOUBLINGS)
        return float(min(self.lockout_s * 2**doublings, self.lockout_max_s))


class LoginThrottle:
    """Counts failed password checks and says how long a username or client must wait."""

    def __init__(self, counters: FailureCounters, policy: ThrottlePolicy) -> None:
        self._counters = counters
        self._policy = policy

    @staticmethod
    def _user_key(username: str) -> str:
        # Hashed: keys stay short and Redis never holds what people typed as usernames.
        return "user:" + hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()[:32]

    @staticmethod
    def _client_key(client: str) -> str:
        return f"client:{client}"

    def retry_after(self, username: str, client: str) -> int:
        """Whole seconds before this username or client may try again (0: it may now)."""
        wait = max(
            self._counters.locked_for(self._user_key(username)),
            self._counters.locked_for(self._client_key(client)),
        )
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, username: str, client: str) -> None:
        """Count a wrong password for both keys, locking those beyond their allowance."""
        for key, allowed in (
            (self._user_key(username), self._policy.max_failures),
            (self._client_key(client), self._policy.max_failures_per_client),
        ):
            failures = self._counters.add_failure(key, forget_after_s=self._policy.lockout_max_s)
            lock = self._policy.lock_after(failures, allowed)
            if lock > 0:
                self._counters.lock(key, lock)

    def succeeded(self, username: str) -> None:
        """Forget the username's failures after a correct password."""
        self._counters.clear(self._user_key(username))


class Throttled(Exception):
    """The username or the client is locked for ``retry_after`` more seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"locked for {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginLimits:
    """The throttle and the hashing slots of one app."""

    throttle: LoginThrottle
    slots: HashingSlots

    def _refuse_if_locked(self, username: str, client: str) -> None:
        wait = self.throttle.retry_after(username, client)
        if wait:
            raise Throttled(wait)

    @contextmanager
    def password_check(self, username: str, client: str) -> Iterator[None]:
        """Room for one password check of ``username`` from ``client``.

        ``Throttled`` while either is locked, ``HashingBusy`` when no slot frees in time. The
        lock is checked again once the slot is held: guesses sent in parallel all pass the first
        check, and only the second one stops those that queued behind the failure that locked.
        Record the outcome (``throttle.failed`` / ``succeeded``) inside the block, for the same
        reason.
        """
        self._refuse_if_locked(username, client)
        with self.slots.slot():
            self._refuse_if_locked(username, client)
            yield


def login_limits_for(settings: Settings, *, redis_prefix: str = REDIS_PREFIX) -> LoginLimits:
    """Counters in Redis when the deployment has one (shared by every API process), else here.

    ``redis_prefix`` starts every Redis key: processes with the same prefix share their counts.
    """
    counters: FailureCounters = LocalFailureCounters()
    if settings.redis_url:
        client = redis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            socket_timeout=REDIS_TIMEOUT_S,
        )
        counters = RedisFailureCounters(client, prefix=redis_prefix)
    policy = ThrottlePolicy(
        max_failures=settings.login_max_failures,
        max_failures_per_client=settings.login_max_failures_per_client,
        lockout_s=settings.login_lockout_s,
        lockout_max_s=settings.login_lockout_max_s,
    )
    return LoginLimits(
        LoginThrottle(counters, policy), HashingSlots(settings.login_hash_concurrency)
    )


async def _login_limits(request: Request) -> LoginLimits:
    limits: LoginLimits = request.app.state.login_limits
    return limits


AppLoginLimits = Annotated[LoginLimits, Depends(_login_limits)]
