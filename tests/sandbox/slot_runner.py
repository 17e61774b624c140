"""A separate reflectseq process for the slot tests: runs sleeping programs, records its leases.

Started as ``python slot_runner.py OUT COUNT`` with the sandbox settings in the environment. It
builds the real local backend, prints ``ready``, waits for a line on stdin (so that several
runners start their programs together), runs COUNT programs at the settings' concurrency and
writes their statuses and the slots it held (uid, from, to; CLOCK_MONOTONIC, which every process
of the host shares) to OUT as JSON. Each recorded interval lies inside the time the slot was
really held, so two overlapping intervals of one uid prove that a uid was shared.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from reflectseq.sandbox import ExecutionRequest, execute_many, get_backend
from reflectseq.sandbox.local import LocalBackend
from reflectseq.sandbox.slots import SlotPool

PROGRAM = "import time\ntime.sleep(0.3)\nprint('done')\n"


class RecordingPool(SlotPool):
    """A slot pool that notes when each of its leases was held."""

    def __init__(self, pool: SlotPool) -> None:
        super().__init__(pool.uid_base, pool.size, private_uids=pool.private_uids)
        self.held: list[tuple[int | None, float, float]] = []

    @contextlib.contextmanager
    def lease(self) -> Iterator[int | None]:
        with super().lease() as uid:
            start = time.monotonic()
            try:
                yield uid
            finally:
                self.held.append((uid, start, time.monotonic()))


def main(out: Path, count: int) -> None:
    backend = get_backend()
    assert isinstance(backend, LocalBackend)
    pool = RecordingPool(backend.slots)
    backend.slots = pool
    print("ready", flush=True)
    sys.stdin.readline()
    request = ExecutionRequest(language="py", code=PROGRAM, run_timeout=120)  # a loaded host
    requests = [request] * count
    results = execute_many(requests)
    report = {
        "results": [result.model_dump(mode="json") for result in results],
        "held": pool.held,
    }
    out.write_text(json.dumps(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
