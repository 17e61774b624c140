"""Dashboard logins under a flood: server memory, a reviewer's page time, and equal timing.

One run, everything real: a throw-away Postgres database and the API as its own uvicorn
process. A flood of parallel anonymous logins (fresh usernames, so no lock stops them; the
throttle's allowances are raised out of the way) runs against two servers in turn:

* bounded: the default ``REFLECTSEQ_LOGIN_HASH_CONCURRENCY`` (2 password checks at once);
* baseline: 40 at once, as many as the thread pool runs, which is what the server did before
  the bound.

For each the script prints the server's peak RSS, the p50 and max time of a logged-in
reviewer's queue page during the flood, and how the logins were answered. It then times
logins of an unknown user and of a known user with a wrong password, one after the other, to
show that the response time does not tell whether a username exists (ratio near 1).

    python bench/login.py [--seconds 10] [--flooders 40] [--samples 30]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from reflectseq.db.scratch import scratch_database
from reflectseq.db.session import make_engine, make_session_factory, transaction
from reflectseq.enums import UserRole
from reflectseq.store.users import create_user

REPO = Path(__file__).resolve().parent.parent
SERVER_URL = os.environ.get(
    "REFLECTSEQ_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
UNBOUNDED = 40  # the thread pool's size: every login of a flood hashes at once


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def api_server(env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """The API under uvicorn in its own process; yields its base URL and pid."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=REPO,
        env={**os.environ, **env},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the API did not start") from None
                time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise KeyError("VmHWM")


def log_in(client: httpx.Client, username: str, password: str) -> int:
    """One login through the form (its page first, for the form token): the status code."""
    match = TOKEN.search(client.get("/review/login").text)
    token = match.group(1) if match else ""
    data = {"username": username, "password": password, "csrf_token": token}
    return client.post("/review/login", data=data).status_code


def flood(base: str, seconds: float, flooders: int) -> tuple[Counter[int], list[float]]:
    """Anonymous logins from ``flooders`` threads while a reviewer reloads the queue page."""
    answers: Counter[int] = Counter()
    page_times: list[float] = []
    lock = threading.Lock()
    stop_at = 0.0  # set once the reviewer is logged in

    def flooder(number: int) -> None:
        mine: Counter[int] = Counter()
        with httpx.Client(base_url=base, timeout=120) as client:
            attempt = 0
            while time.perf_counter() < stop_at:
                attempt += 1
                mine[log_in(client, f"anon{number}x{attempt}", "wrong password 1")] += 1
        with lock:
            answers.update(mine)

    def reviewer(client: httpx.Client) -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            client.get("/review/").raise_for_status()
            page_times.append(time.perf_counter() - started)

    with httpx.Client(base_url=base, timeout=120) as logged_in:
        if log_in(logged_in, "rita", PASSWORD) != 303:  # before the flood starts
            raise RuntimeError("the reviewer could not log in")
        stop_at = time.perf_counter() + seconds
        threads = [threading.Thread(target=flooder, args=(n,)) for n in range(flooders)]
        threads.append(threading.Thread(target=reviewer, args=(logged_in,)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return answers, page_times


def login_times(base: str, samples: int) -> tuple[float, float]:
    """Median seconds of a wrong-password login for a known and for an unknown username."""
    known: list[float] = []
    unknown: list[float] = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(samples):  # alternating, so that load changes hit both alike
            for username, times in (("rita", known), ("nobody-here", unknown)):
                match = TOKEN.search(client.get("/review/login").text)
                data = {"username": username, "password": "wrong password 1"}
                data["csrf_token"] = match.group(1) if match else ""
                started = time.perf_counter()
                client.post("/review/login", data=data)
                times.append(time.perf_counter() - started)
    return statistics.median(known), statistics.median(unknown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--flooders", type=int, default=40)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()

    with scratch_database(SERVER_URL, "reflectseq_bench_login") as url:
        engine = make_engine(url)
        with transaction(make_session_factory(engine)) as session:
            create_user(session, username="rita", password=PASSWORD, role=UserRole.REVIEWER)
        engine.dispose()
        env = {
            "REFLECTSEQ_DATABASE_URL": url,
            "REFLECTSEQ_REDIS_URL": "",
            "REFLECTSEQ_LOG_LEVEL": "WARNING",
            "REFLECTSEQ_SECRET_KEY": "bench-secret",
            # Out of the way: the flood measures the hashing bound, not the lock.
            "REFLECTSEQ_LOGIN_MAX_FAILURES": "1000000",
            "REFLECTSEQ_LOGIN_MAX_FAILURES_PER_CLIENT": "1000000",
        }
        bounded = {**env, "REFLECTSEQ_LOGIN_HASH_CONCURRENCY": "2"}
        with api_server(bounded) as (base, pid):
            answers, page_times = flood(base, args.seconds, args.flooders)
            results = {"bounded (default)": (peak_rss_mib(pid), answers, page_times)}
            known_s, unknown_s = login_times(base, args.samples)
        baseline = {**env, "REFLECTSEQ_LOGIN_HASH_CONCURRENCY": str(UNBOUNDED)}
        with api_server(baseline) as (base, pid):
            answers, page_times = flood(base, args.seconds, args.flooders)
            results["baseline, unbounded"] = (peak_rss_mib(pid), answers, page_times)

    print(
        f"{args.flooders} threads logging in anonymously for {args.seconds:.0f} s, "
        "one reviewer reloading the queue page"
    )
    for label, (peak, answers, page_times) in results.items():
        answered = ", ".join(f"{status}: {count}" for status, count in sorted(answers.items()))
        print(
            f"  {label:22s} peak RSS {peak:6.0f} MiB   reviewer page p50 "
            f"{statistics.median(page_times) * 1000:7.0f} ms, max {max(page_times) * 1000:7.0f} ms"
            f"   logins answered {answered}"
        )
    (bounded_peak, _, bounded_pages), (baseline_peak, _, baseline_pages) = results.values()
    print(
        f"  ratio bounded/baseline: peak RSS {bounded_peak / baseline_peak:.2f}x, reviewer page "
        f"p50 {statistics.median(bounded_pages) / statistics.median(baseline_pages):.2f}x"
    )
    print(
        f"wrong-password login, median of {args.samples}: known user {known_s * 1000:.1f} ms, "
        f"unknown user {unknown_s * 1000:.1f} ms, ratio {unknown_s / known_s:.2f}"
    )


if __name__ == "__main__":
    main()
