"""REST API benchmark: a 10k-instruction JSONL submission and the sequence GET under load.

One run, everything real: a throw-away Postgres database, the API as its own uvicorn process,
the load from a second process over loopback. Each figure is printed beside a baseline measured
in the same run on the same machine:

* submission: wall time and peak server RSS of POSTing 10k instructions as one JSONL request,
  beside a bare endpoint of the same kind that only reads and discards the same body;
* sequence GET: p50, p99 and requests/s of ``GET /v1/sequences/{id}`` (a finished sequence of
  20 blocks, with key authentication), once as a plain GET and once revalidated with the ETag
  the first answer carried (``If-None-Match``, answered 304), beside a bare FastAPI endpoint
  returning a constant.

Targets (issues 5 and 17): the submission under 3 s; the GET at >= 0.5x the bare endpoint's
throughput.

    python bench/api.py [--instructions 10000] [--seconds 5] [--concurrency 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis
from sqlalchemy import text

from reflectseq.db.scratch import scratch_database
from reflectseq.db.session import make_engine, make_session_factory, transaction
from reflectseq.enums import ApiRole, BlockKind, ExecutionStatus, Role, SequenceStage
from reflectseq.settings import get_settings
from reflectseq.specs import BlockSpec, GenerationConfigSpec, InstructionSpec
from reflectseq.store.api_keys import create_api_key
from reflectseq.store.instruction_sets import (
    create_instruction_set,
    get_or_create_generation_config,
)
from reflectseq.store.sequences import append_blocks, append_message

REPO = Path(__file__).resolve().parent.parent
SERVER_URL = os.environ.get(
    "REFLECTSEQ_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BENCH_REDIS_URL = "redis://127.0.0.1:6379/12"

API_SERVER = """
import sys, uvicorn
uvicorn.run("api.app:create_app", factory=True, host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning", access_log=False)
"""
BARE_SERVER = """
import sys, uvicorn
from fastapi import FastAPI, Request
app = FastAPI()

@app.get("/constant")
def constant() -> dict[str, str]:
    return {"status": "ok"}

@app.post("/discard")
async def discard(request: Request) -> dict[str, int]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return {"bytes": size}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(code: str, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """A uvicorn process running ``code``; yields its base URL and pid."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(port)], cwd=REPO, env={**os.environ, **env}
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"server on port {port} did not start")
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def memory_kib(pid: int, field: str) -> int:
    """``VmRSS`` or ``VmHWM`` (peak resident set) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def seed(url: str) -> tuple[str, int]:
    """An admin key and a finished-looking sequence with 20 blocks."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        key = create_api_key(session, name="bench", role=ApiRole.ADMIN).plain_key
        config = get_or_create_generation_config(
            session, GenerationConfigSpec(endpoint="local", model="bench-model"), backend="local"
        )
        created = create_instruction_set(
            session,
            name="bench-read",
            config=config,
            instructions=[(0, InstructionSpec(text="Write add(a, b).", language="py"))],
        )
        session.flush()
        sequence_id = session.execute(
            text("SELECT id FROM sequence WHERE instruction_set_id = :s"),
            {"s": created.instruction_set.id},
        ).scalar_one()
        kinds = [BlockKind.CODE, BlockKind.EXECUTION, BlockKind.ANALYSIS]
        reflection = [
            BlockSpec(
                kind=kinds[i % 3],
                content=f"block {i}\n" * 20,
                language="py",
                **(
                    {"execution_status": ExecutionStatus.FAILED, "exit_code": 1}
                    if kinds[i % 3] == BlockKind.EXECUTION
                    else {}
                ),
            )
            for i in range(17)
        ]
        plan = [
            (Role.USER, SequenceStage.REFLECTION, [BlockSpec(kind=BlockKind.TEXT, content="Task")]),
            (Role.ASSISTANT, SequenceStage.REFLECTION, reflection),
            (Role.USER, SequenceStage.ONE_OFF, [BlockSpec(kind=BlockKind.TEXT, content="Again")]),
            (Role.ASSISTANT, SequenceStage.ONE_OFF, [BlockSpec(kind=BlockKind.TEXT, content="ok")]),
        ]
        for index, (role, stage, blocks) in enumerate(plan):
            message = append_message(session, sequence_id, index=index, role=role, stage=stage)
            append_blocks(session, message.id, blocks, start_index=0)
        session.execute(
            text("UPDATE sequence SET status = 'completed', stage = 'done' WHERE id = :s"),
            {"s": sequence_id},
        )
    engine.dispose()
    return key, sequence_id


def jsonl_body(count: int) -> bytes:
    return b"".join(
        json.dumps(
            {
                "text": f"Write a function f{i}(n) that returns n * {i}.",
                "language": "py",
                "tests": f"assert f{i}(2) == {2 * i}",
                "entry_point": f"f{i}",
                "metadata": {"source": "bench", "index": i},
            }
        ).encode()
        + b"\n"
        for i in range(count)
    )


def timed_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = httpx.post(url, content=body, headers=headers, timeout=600)
    return time.perf_counter() - started, response


def wait_until_enqueued(count: int) -> None:
    """The server hands the set to the broker after answering; the load must not overlap it."""
    broker = redis.Redis.from_url(BENCH_REDIS_URL)
    deadline = time.monotonic() + 300
    while broker.llen(get_settings().celery_queue) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the submitted set was not enqueued within 300 s")
        time.sleep(0.5)
    broker.close()


def run_load(
    url: str, key: str, seconds: float, concurrency: int, etag: str = ""
) -> dict[str, float]:
    """Load from a separate process (this script with --load) so client and server compete only
    for the CPU, not for one interpreter. With ``etag`` every request revalidates (304)."""
    completed = subprocess.run(
        [
            sys.executable,
            __file__,
            "--load",
            url,
            "--key",
            key,
            "--etag",
            etag,
            "--seconds",
            str(seconds),
            "--concurrency",
            str(concurrency),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(completed.stdout))


def load_worker(
    url: str, key: str, seconds: float, concurrency: int, etag: str
) -> dict[str, float]:
    """Keep-alive clients in threads hammering ``url``; latency percentiles and throughput."""
    headers = {"Authorization": f"Bearer {key}"}
    if etag:
        headers["If-None-Match"] = etag
    expected = 304 if etag else 200
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client_loop() -> None:
        nonlocal errors
        mine: list[float] = []
        bad = 0
        with httpx.Client(headers=headers) as client:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                if client.get(url).status_code != expected:
                    bad += 1
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            errors += bad

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": quantiles[49] * 1000,
        "p99_ms": quantiles[98] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="Alternating load rounds per side.")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--key", default="", help=argparse.SUPPRESS)
    parser.add_argument("--etag", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        print(
            json.dumps(load_worker(args.load, args.key, args.seconds, args.concurrency, args.etag))
        )
        return

    body = jsonl_body(args.instructions)
    with scratch_database(SERVER_URL, "reflectseq_bench_api") as url:
        key, sequence_id = seed(url)
        env = {
            "REFLECTSEQ_DATABASE_URL": url,
            "REFLECTSEQ_REDIS_URL": BENCH_REDIS_URL,
            "REFLECTSEQ_LOG_LEVEL": "WARNING",
        }
        with server(BARE_SERVER, {}) as (bare, bare_pid), server(API_SERVER, env) as (api, api_pid):
            bare_idle = memory_kib(bare_pid, "VmRSS")
            bare_s, _ = timed_post(f"{bare}/discard", body, {})
            bare_peak = memory_kib(bare_pid, "VmHWM")
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
            api_idle = memory_kib(api_pid, "VmRSS")
            api_s, response = timed_post(f"{api}/v1/instruction-sets?name=bench", body, headers)
            api_peak = memory_kib(api_pid, "VmHWM")
            if response.status_code != 201:
                raise SystemExit(f"submission failed: {response.text[:500]}")
            wait_until_enqueued(args.instructions)
            sequence_url = f"{api}/v1/sequences/{sequence_id}"
            etag = httpx.get(sequence_url, headers={"Authorization": f"Bearer {key}"}).headers[
                "ETag"
            ]
            # Alternating rounds, so that a change in the machine's load hits every side alike.
            rounds = [
                (
                    run_load(sequence_url, key, args.seconds, args.concurrency),
                    run_load(sequence_url, key, args.seconds, args.concurrency, etag),
                    run_load(f"{bare}/constant", key, args.seconds, args.concurrency),
                )
                for _ in range(args.rounds)
            ]
        redis.Redis.from_url(BENCH_REDIS_URL).flushdb()

    mib = len(body) / 2**20
    print(f"submission of {args.instructions} instructions as one JSONL request ({mib:.1f} MiB)")
    print(f"  reflectseq POST /v1/instruction-sets  {api_s:7.2f} s   target < 3 s")
    print(f"  bare endpoint reading the same body   {bare_s:7.2f} s   ratio {api_s / bare_s:.1f}x")
    print(
        f"  server peak RSS: reflectseq {api_peak / 1024:.0f} MiB (idle {api_idle / 1024:.0f}), "
        f"bare {bare_peak / 1024:.0f} MiB (idle {bare_idle / 1024:.0f})"
    )
    print(
        f"GET /v1/sequences/{{id}} (finished, 20 blocks), {args.concurrency} keep-alive clients, "
        f"{args.rounds} alternating rounds of {args.seconds:.0f} s, load from a second process"
    )
    labels = ("reflectseq sequence", "same, If-None-Match", "bare constant")
    for index, figures_of_round in enumerate(rounds, 1):
        for label, figures in zip(labels, figures_of_round, strict=True):
            print(
                f"  round {index} {label:20s} {figures['rps']:7.0f} req/s  "
                f"p50 {figures['p50_ms']:6.1f} ms  p99 {figures['p99_ms']:6.1f} ms  "
                f"errors {figures['errors']:.0f}"
            )
    get_rps, revalidated_rps, bare_rps = (
        statistics.median(figures[side]["rps"] for figures in rounds) for side in range(3)
    )
    print(
        f"  median throughput: reflectseq {get_rps:.0f} req/s ({get_rps / bare_rps:.2f}x), "
        f"revalidated (304) {revalidated_rps:.0f} req/s ({revalidated_rps / bare_rps:.2f}x), "
        f"bare {bare_rps:.0f} req/s   target >= 0.5x"
    )


if __name__ == "__main__":
    main()
