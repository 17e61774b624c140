"""Login throttling and bounded password hashing, through HTTP against the real app.

The third failure locks here. Locks last 30 s where a test needs them to hold while it works,
and 3 s where it waits for one to pass; the counts live in the process or in the real Redis
(under a key prefix of each test's own, since tests run in parallel), as in a deployment.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.review.failure_counters import LocalFailureCounters, RedisFailureCounters
from api.review.login_limits import LoginLimits, ThrottlePolicy, login_limits_for
from reflectseq.db.review_models import AuditEntry
from reflectseq.db.session import transaction
from reflectseq.settings import Settings
from tests.review.conftest import CSRF_FIELD, served
from tests.review.factories import PASSWORD, user

THROTTLE_REDIS_URL = "redis://127.0.0.1:6379/13"
HOLDING_LOCK_S = 30.0  # outlasts any test's requests, however loaded the machine
PASSING_LOCK_S = 3.0  # short enough to wait for


def _settings(pg_url: str, tmp_path: Path, lock_s: float, **overrides: object) -> Settings:
    """Settings whose third failed login locks for ``lock_s`` (every later one too)."""
    return Settings.model_validate(
        {
            "database_url": pg_url,
            "data_dir": tmp_path / "data",
            "secret_key": "test-secret",
            "login_max_failures": 3,
            "login_lockout_s": lock_s,
            "login_lockout_max_s": lock_s,
            **overrides,
        }
    )


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own (tests run in parallel), its keys removed after."""
    prefix = f"test:login:{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(THROTTLE_REDIS_URL)
    keys = client.keys(f"{prefix}:*")
    if keys:
        client.delete(*keys)
    client.close()


def _app(settings: Settings, redis_prefix: str) -> FastAPI:
    """The app; with Redis, its counts under ``redis_prefix``."""
    app = create_app(settings)
    if settings.redis_url:
        app.state.login_limits = login_limits_for(settings, redis_prefix=redis_prefix)
    return app


ThrottledApp = Callable[..., FastAPI]


@pytest.fixture(params=["in-process", "redis"])
def throttled_app(
    request: pytest.FixtureRequest,
    pg_url: str,
    tmp_path: Path,
    db: sessionmaker[Session],
    redis_prefix: str,
) -> ThrottledApp:
    """Makes the app with the given lock, counting in the process or in Redis."""
    redis_url = THROTTLE_REDIS_URL if request.param == "redis" else ""

    def make(lock_s: float, **overrides: object) -> FastAPI:
        settings = _settings(pg_url, tmp_path, lock_s, redis_url=redis_url, **overrides)
        return _app(settings, redis_prefix)

    return make


class LoginForm:
    """Posts the login form the way a browser does, each time with the latest form token."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.token = self.token_of(client.get("/review/login"))

    @staticmethod
    def token_of(page: httpx.Response) -> str:
        """The form token a login page carries."""
        match = CSRF_FIELD.search(page.text)
        return match.group(1) if match else ""

    def post(self, username: str, password: str) -> httpx.Response:
        response = self.client.post(
            "/review/login",
            data={"username": username, "password": password, "csrf_token": self.token},
        )
        if response.status_code != 303:
            self.token = self.token_of(response)
        return response


def test_100_wrong_passwords_then_the_right_one_is_refused(
    throttled_app: ThrottledApp, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        user(session, "rita")
    with TestClient(throttled_app(HOLDING_LOCK_S), follow_redirects=False) as client:
        form = LoginForm(client)
        statuses = [form.post("rita", f"wrong guess {n:03}").status_code for n in range(100)]
        assert statuses == [401] * 3 + [429] * 97  # the third failure locked the account
        refused = form.post("rita", PASSWORD)
        assert refused.status_code == 429 and "Too many failed logins" in refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= HOLDING_LOCK_S
        assert refused.headers["content-security-policy"].startswith("default-src 'self'")
    with transaction(db) as session:
        failed = session.scalars(select(AuditEntry).where(AuditEntry.action == "login_failed"))
        # Refused attempts checked no password and left no entry.
        assert len(failed.all()) == 3


def test_the_right_password_works_again_once_the_lock_passed(
    throttled_app: ThrottledApp, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        user(session, "rita")
    with TestClient(throttled_app(PASSING_LOCK_S), follow_redirects=False) as client:
        form = LoginForm(client)
        for _ in range(3):
            form.post("rita", "wrong password 1")
        refused = form.post("rita", PASSWORD)
        assert refused.status_code == 429
        time.sleep(int(refused.headers["retry-after"]))
        assert form.post("rita", PASSWORD).status_code == 303


def test_one_client_guessing_many_usernames_is_locked_too(
    throttled_app: ThrottledApp, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        user(session, "rita")
    app = throttled_app(HOLDING_LOCK_S, login_max_failures_per_client=5)
    with TestClient(app, follow_redirects=False) as client:
        form = LoginForm(client)
        # A different username each time, so only the client's count can lock.
        for n in range(5):
            assert form.post(f"user{n}", "wrong password 1").status_code == 401
        assert form.post("rita", PASSWORD).status_code == 429


def test_locks_are_shared_by_every_api_process_through_redis(
    pg_url: str, tmp_path: Path, db: sessionmaker[Session], redis_prefix: str
) -> None:
    with transaction(db) as session:
        user(session, "rita")
    settings = _settings(pg_url, tmp_path, HOLDING_LOCK_S, redis_url=THROTTLE_REDIS_URL)
    with TestClient(_app(settings, redis_prefix), follow_redirects=False) as one:
        form = LoginForm(one)
        for _ in range(settings.login_max_failures):
            assert form.post("rita", "wrong password 1").status_code == 401
    with TestClient(_app(settings, redis_prefix), follow_redirects=False) as other:
        assert LoginForm(other).post("rita", PASSWORD).status_code == 429


def test_redis_out_of_reach_falls_back_to_counting_in_the_process() -> None:
    unreachable = redis.Redis.from_url(
        "redis://127.0.0.1:1/0", socket_connect_timeout=0.5, socket_timeout=0.5
    )
    counters = RedisFailureCounters(unreachable, prefix="test:login")
    assert counters.add_failure("user:x", forget_after_s=60) == 1
    assert counters.add_failure("user:x", forget_after_s=60) == 2
    counters.lock("user:x", 60)
    assert counters.locked_for("user:x") > 59
    counters.clear("user:x")
    assert counters.locked_for("user:x") == 0


def test_locks_double_per_failure_up_to_the_maximum() -> None:
    policy = ThrottlePolicy(
        max_failures=5, max_failures_per_client=20, lockout_s=30, lockout_max_s=900
    )
    assert [policy.lock_after(n, 5) for n in range(3, 11)] == [0, 0, 30, 60, 120, 240, 480, 900]
    assert policy.lock_after(10_000, 5) == 900


def test_in_process_counters_stay_bounded() -> None:
    counters = LocalFailureCounters(max_keys=2)
    for key in ("a", "b", "c"):
        counters.add_failure(key, forget_after_s=60)
        counters.lock(key, 60)
    assert counters.locked_for("a") == 0  # the least recently touched key went first
    assert counters.locked_for("b") > 0 and counters.locked_for("c") > 0


def test_a_login_finding_every_hashing_slot_busy_gets_503(
    dashboard_settings: Settings, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        user(session, "rita")
    app = create_app(dashboard_settings)
    limits: LoginLimits = app.state.login_limits
    with TestClient(app, follow_redirects=False) as client:
        form = LoginForm(client)
        with ExitStack() as taken:
            for _ in range(dashboard_settings.login_hash_concurrency):
                taken.enter_context(limits.slots.slot())
            busy = form.post("rita", PASSWORD)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert "busy" in busy.text
        with transaction(db) as session:
            assert session.scalars(select(AuditEntry)).all() == []  # no password was checked
        assert form.post("rita", PASSWORD).status_code == 303


def _login_over_http(base_url: str, username: str) -> int:
    """One login from a browser of its own (its own form token): the status code."""
    with httpx.Client(base_url=base_url, timeout=60) as browser:
        token = LoginForm.token_of(browser.get("/review/login"))
        response = browser.post(
            "/review/login",
            data={"username": username, "password": "wrong password 1", "csrf_token": token},
        )
        return response.status_code


def test_guesses_sent_in_parallel_stop_at_the_lock(
    pg_url: str, tmp_path: Path, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        user(session, "rita")
    # With one hashing slot no more than the allowed guesses are checked (with n slots, n - 1
    # more can be under way when the lock comes); on a loaded machine some may get 503 instead.
    settings = _settings(pg_url, tmp_path, HOLDING_LOCK_S, login_hash_concurrency=1)
    with served(create_app(settings)) as base_url, ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda _: _login_over_http(base_url, "rita"), range(20)))
    assert 1 <= statuses.count(401) <= settings.login_max_failures, statuses
    assert set(statuses) <= {401, 429, 503}, statuses
    with transaction(db) as session:
        checked = session.scalars(select(AuditEntry).where(AuditEntry.action == "login_failed"))
        assert len(checked.all()) == statuses.count(401)


def test_a_flood_of_parallel_logins_gets_quick_refusals_not_errors(
    pg_url: str, tmp_path: Path, db: sessionmaker[Session]
) -> None:
    app = create_app(_settings(pg_url, tmp_path, HOLDING_LOCK_S, login_hash_concurrency=1))
    with served(app) as base_url, ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(lambda n: _login_over_http(base_url, f"anon{n}"), range(40)))
    assert 401 in statuses
    assert set(statuses) <= {401, 429, 503}, statuses
