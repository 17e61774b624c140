"""Sandbox overhead: latency and throughput through the sandbox beside a bare subprocess.

For (a) Python with five asserts, (b) C++ compile + run and (c) Java compile + run, the same
commands from the language table run as plain subprocesses in a temporary directory (the
baseline), through ``reflectseq.sandbox.execute`` with a cold start (the sandbox launched when the
program arrives) and with warm starts (``reflectseq.sandbox.warm``: a sandbox of the same shape
launched ahead, used once), interleaved in one process. Each round waits (untimed) until the warm
variant's replacement is ready: the steady state of a worker between programs. Prints median
and p90 latency, executions per second at each concurrency (the median of interleaved bursts) and
each variant's ratio to bare, then ratio lines per case against the targets (Python, warm: median
latency at most 1.2x bare, throughput at 2 slots at least 0.9x bare).

Two figures explain the throughput line. Host CPU per execution (all of the host's busy time over
serial runs, kernel work in other threads included) of bare, warm, and bubblewrap alone with the
sandbox's own command line running ``true`` beside ``true`` bare: with every core busy, a variant
costing C ms runs at most cores / C executions per second, printed beside bare's measured rate
for warm and for bare plus bubblewrap's set-up, the ceiling of any sandbox that sets up fresh
namespaces per program. And the post-run sweep for adopted processes, in a process with one
thread beside one with 256 (a worker's sequences).

    .venv/bin/python bench/sandbox.py [--rounds 20] [--concurrency 1 2] [--cases python c++ java]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reflectseq.enums import ExecutionStatus
from reflectseq.sandbox import ExecutionRequest, build_backend, execute
from reflectseq.sandbox.local import LocalBackend, bwrap_argv
from reflectseq.sandbox.plan import ExecutionPlan, plan_execution
from reflectseq.sandbox.reaping import become_child_subreaper, reap_adopted
from reflectseq.sandbox.seccomp import filter_program
from reflectseq.sandbox.warm import WarmPool, attach_warm_pool
from reflectseq.settings import get_settings

LATENCY_TARGETS = {"python (5 asserts)": 1.2}
"""Median warm/bare latency each case must stay within (compiled cases are dominated by the
compiler, so their ratio is reported, not targeted)."""
THROUGHPUT_TARGETS = {"python (5 asserts)": (2, 0.9)}
"""(slots, least warm/bare executions per second) of each targeted case."""
READY_POLL_SECONDS = 0.002
BURSTS = 5
"""Throughput is the median of this many interleaved bursts per variant."""
CPU_RUNS = 100
"""Serial runs per variant for the host-CPU figures."""
SWEEP_THREADS = 256

CASES = {
    "python (5 asserts)": (
        "py",
        "def add(a, b):\n    return a + b\n\n"
        + "".join(f"assert add({i}, {i}) == {2 * i}\n" for i in range(5)),
    ),
    "c++ compile + run": (
        "cpp",
        "#include <bits/stdc++.h>\nlong add(long a, long b) { return a + b; }\n"
        "int main() { assert(add(2, 3) == 5); assert(add(-1, 1) == 0); }\n",
    ),
    "java compile + run": (
        "java",
        "class Problem {\n  static long add(long a, long b) { return a + b; }\n"
        "  public static void main(String[] args) { assert add(2, 3) == 5; }\n}\n",
    ),
}


def bare(plan: ExecutionPlan) -> None:
    """The plan's commands as plain subprocesses: the cost of the work itself."""
    with tempfile.TemporaryDirectory() as work:
        for name, data in plan.files.items():
            Path(work, name).write_bytes(data)
        env = {**plan.env, "HOME": work, "TMPDIR": work, "GOCACHE": work}
        for argv in (plan.compile, plan.run):
            if argv is None:
                continue
            done = subprocess.run(
                argv, cwd=work, env=env, capture_output=True, stdin=subprocess.DEVNULL, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"bare run failed: {done.stderr[-500:]!r}")


def sandboxed(request: ExecutionRequest, backend: LocalBackend) -> None:
    result = execute(request, backend)
    if result.status != ExecutionStatus.PASSED:
        raise RuntimeError(f"sandboxed run did not pass: {result}")


def wait_until_ready(pool: WarmPool, count: int) -> None:
    """Block until ``count`` warm sandboxes wait, so the next sample starts from steady state."""
    while pool.waiting() < count:
        time.sleep(READY_POLL_SECONDS)


def latencies(run: Callable[[], None], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


def throughput(run: Callable[[], None], jobs: int, concurrency: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(run) for _ in range(jobs)]:
            future.result()
    return jobs / (time.perf_counter() - started)


def host_cpu_ms(run: Callable[[], object], runs: int = CPU_RUNS) -> float:
    """The host's busy CPU time per call of ``run`` (every process and kernel thread counted)."""

    def busy_s() -> float:
        ticks = [int(field) for field in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait

    started = busy_s()
    for _ in range(runs):
        run()
    return (busy_s() - started) / runs * 1000


def bubblewrap_alone(plan: ExecutionPlan, scratch_mb: int) -> Callable[[], None]:
    """bubblewrap with the sandbox's command line (namespaces, mounts, filter) running ``true``."""

    def run() -> None:
        status_read, status_write = os.pipe()
        seccomp = os.memfd_create("seccomp")
        try:
            os.write(seccomp, filter_program())
            os.lseek(seccomp, 0, os.SEEK_SET)
            argv = bwrap_argv(
                plan,
                file_fds={},
                status_fd=status_write,
                seccomp_fd=seccomp,
                scratch_mb=scratch_mb,
                command=["/usr/bin/true"],
            )
            subprocess.run(argv, pass_fds=(status_write, seccomp), env={}, check=True)
        finally:
            for fd in (status_read, status_write, seccomp):
                os.close(fd)

    return run


def sweep_ms(threads: int, runs: int = 200) -> float:
    """One post-run sweep for adopted processes, in a process with ``threads`` threads."""
    release = threading.Event()
    idle = [threading.Thread(target=release.wait, daemon=True) for _ in range(threads - 1)]
    for thread in idle:
        thread.start()
    try:
        started = time.perf_counter()
        for _ in range(runs):
            reap_adopted()
        return (time.perf_counter() - started) / runs * 1000
    finally:
        release.set()


def cpu_figures(
    plan: ExecutionPlan, warm: Callable[[], None], scratch_mb: int, bare_rate: float
) -> None:
    """Host CPU per execution, the throughput ceilings it sets, and the sweep's cost.

    ``bare_rate`` is bare's executions per second at the targeted slots, measured above: with
    every core busy, a variant costing C ms of host CPU per execution runs at most cores / C
    executions per second, which is compared with it.
    """
    bare_ms = host_cpu_ms(lambda: bare(plan))
    warm_ms = host_cpu_ms(warm)
    true_ms = host_cpu_ms(lambda: subprocess.run(["/usr/bin/true"], check=True))
    setup_ms = host_cpu_ms(bubblewrap_alone(plan, scratch_mb)) - true_ms
    cores = os.cpu_count() or 1

    def ceiling(cpu_ms: float) -> str:
        rate = cores * 1000 / cpu_ms
        return f"{rate:.0f} exec/s = {rate / bare_rate:.2f}x bare's {bare_rate:.0f}"

    print(
        f"host CPU per execution: bare {bare_ms:.2f} ms, warm {warm_ms:.2f} ms, bubblewrap's own "
        f"set-up {setup_ms:.2f} ms (its command line running true, beside true)"
    )
    print(f"at most, {cores} cores busy: warm {ceiling(warm_ms)}")
    print(f"at most, {cores} cores busy: bare + bubblewrap's set-up {ceiling(bare_ms + setup_ms)}")
    become_child_subreaper()
    one, many = sweep_ms(1), sweep_ms(SWEEP_THREADS)
    print(
        f"post-run sweep: {many:.3f} ms with {SWEEP_THREADS} threads beside {one:.3f} ms with "
        f"one ({many / one:.2f}x)"
    )


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def local_backend() -> LocalBackend:
    backend = build_backend(get_settings())
    if not isinstance(backend, LocalBackend):
        raise SystemExit("the bench measures the local (bubblewrap) backend")
    return backend


def ratio_line(label: str, what: str, ratio: float, target: float, at_most: bool) -> str:
    met = ratio <= target if at_most else ratio >= target
    sign = "<=" if at_most else ">="
    return f"ratio {label}: {what} = {ratio:.2f}x  target {sign} {target:.2f}x: " + (
        "met" if met else "MISSED"
    )


def print_ratios(summary: list[tuple[str, dict[str, dict[str, float]]]]) -> None:
    """Each case's ratio lines, against its targets where it has them."""
    for label, by_metric in summary:
        median = by_metric["median ms"]
        print(f"ratio {label}: median latency cold/bare = {median['cold'] / median['bare']:.2f}x")
        if label in LATENCY_TARGETS:
            print(
                ratio_line(
                    label,
                    "median latency warm/bare",
                    median["warm"] / median["bare"],
                    LATENCY_TARGETS[label],
                    at_most=True,
                )
            )
        slots, least = THROUGHPUT_TARGETS.get(label, (0, 0.0))
        rates = by_metric.get(f"exec/s @{slots}")
        if rates is not None:
            print(
                ratio_line(
                    label, f"exec/s @{slots} warm/bare", rates["warm"] / rates["bare"], least, False
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="latency samples per variant")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--cases", nargs="+", default=[], help="only the cases whose label starts with one of these"
    )
    args = parser.parse_args()
    cases = {
        label: case
        for label, case in CASES.items()
        if not args.cases or any(label.startswith(prefix) for prefix in args.cases)
    }
    settings = get_settings()
    memory = settings.sandbox_memory_mb
    cold_backend, warm_backend = local_backend(), local_backend()
    pool = attach_warm_pool(warm_backend, per_shape=max(args.concurrency))
    print(
        f"{os.cpu_count()} CPUs; {args.rounds} rounds; concurrency {args.concurrency}; "
        f"load average {os.getloadavg()[0]:.2f}\n"
    )
    names = ("bare", "cold", "warm")
    header = f"{'case':<22}{'metric':<14}" + "".join(f"{n:>9}" for n in names)
    header += f"{'cold/bare':>11}{'warm/bare':>11}"
    print(header)
    print("-" * len(header))
    summary = []
    for label, (language, code) in cases.items():
        request = ExecutionRequest(language=language, code=code)
        plan = plan_execution(request, default_memory_mb=memory)
        compiled = plan.compile is not None
        rounds = max(3, args.rounds // 4) if compiled else args.rounds
        variants: dict[str, Callable[[], None]] = {
            "bare": lambda plan=plan: bare(plan),
            "cold": lambda request=request: sandboxed(request, cold_backend),
            "warm": lambda request=request: sandboxed(request, warm_backend),
        }
        for run in variants.values():
            run()  # warm caches (page cache, JIT-less start-up paths); the first warm run is cold
        samples: dict[str, list[float]] = {name: [] for name in names}
        wait_until_ready(pool, 1)
        for _ in range(rounds):  # interleaved, so drift hits all alike
            for name, run in variants.items():
                samples[name] += latencies(run, 1)
            # Untimed: the replacement is launched before the next sample of any variant, so
            # its launch neither slows the others' samples nor is missing for the next warm one.
            wait_until_ready(pool, 1)
        rows = [
            ("median ms", {k: statistics.median(v) * 1000 for k, v in samples.items()}),
            ("p90 ms", {k: p90(v) * 1000 for k, v in samples.items()}),
        ]
        for concurrency in args.concurrency:
            jobs = max(2 * concurrency, rounds * concurrency // BURSTS)
            bursts: dict[str, list[float]] = {name: [] for name in names}
            for _ in range(BURSTS):  # interleaved short bursts, like the latency samples
                for name, run in variants.items():
                    if name == "warm":
                        wait_until_ready(pool, concurrency)
                    bursts[name].append(throughput(run, jobs, concurrency))
            rows.append(
                (f"exec/s @{concurrency}", {k: statistics.median(v) for k, v in bursts.items()})
            )
        for metric, values in rows:
            ratios = "".join(f"{values[n] / values['bare']:>10.2f}x" for n in names[1:])
            print(
                f"{label:<22}{metric:<14}" + "".join(f"{values[n]:>9.2f}" for n in names) + ratios
            )
        print()
        summary.append((label, dict(rows)))
        if label in THROUGHPUT_TARGETS:

            def warm_run(request: ExecutionRequest = request) -> None:
                wait_until_ready(pool, 1)
                sandboxed(request, warm_backend)

            slots = THROUGHPUT_TARGETS[label][0]
            bare_rate = dict(rows)[f"exec/s @{slots}"]["bare"]
            cpu_figures(plan, warm_run, settings.sandbox_scratch_mb, bare_rate)
            print()
    pool.close()
    print_ratios(summary)


if __name__ == "__main__":
    main()
