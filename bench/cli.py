"""Command-line start: ``reflectseq --help`` and ``sandbox run`` beside ``python -c pass``.

Each command runs as a fresh process (``python -m reflectseq``, what the ``reflectseq`` script
does), interleaved with the baseline so that drift hits all alike. Prints the median wall time and
the median CPU time (user + system of the child, less sensitive to a busy machine than wall time)
of each, their ratio to the baseline, and one line per command against the 0.5 s target.

    .venv/bin/python bench/cli.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 0.5
"""Wall time each command must start (and, for ``sandbox run``, finish a trivial program) within."""


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv`` (which must succeed)."""
    before = os.times()
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="samples per command")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "reflectseq"]
    with tempfile.TemporaryDirectory() as work:
        program = Path(work, "main.py")
        program.write_text("assert 1 + 1 == 2\n")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "reflectseq --help": [*cli, "--help"],
            "reflectseq sandbox run": [*cli, "sandbox", "run", str(program), "--language", "py"],
        }
        for argv in commands.values():
            timed(argv)  # warm the page cache
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, argv in commands.items():
                samples[name].append(timed(argv))
    print(f"{os.cpu_count()} CPUs; {args.rounds} rounds; load average {os.getloadavg()[0]:.2f}\n")
    header = f"{'command':<26}{'wall ms':>10}{'ratio':>8}{'cpu ms':>10}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    medians = {
        name: (
            statistics.median(wall for wall, _ in runs) * 1000,
            statistics.median(cpu for _, cpu in runs) * 1000,
        )
        for name, runs in samples.items()
    }
    base_wall, base_cpu = medians["python -c pass"]
    for name, (wall, cpu) in medians.items():
        print(
            f"{name:<26}{wall:>10.1f}{wall / base_wall:>7.1f}x{cpu:>10.1f}{cpu / base_cpu:>7.1f}x"
        )
    print()
    for name, (wall, _) in list(medians.items())[1:]:
        verdict = "met" if wall <= TARGET_SECONDS * 1000 else "MISSED"
        print(f"start {name}: median {wall / 1000:.3f} s  target <= {TARGET_SECONDS} s: {verdict}")


if __name__ == "__main__":
    main()
