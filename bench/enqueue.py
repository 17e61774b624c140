"""Queueing many sequence tasks: the batched publish beside one ``apply_async`` per sequence.

Both send the same Celery messages (``workers.tasks.run_sequence_task``, one per sequence id)
to a Redis queue of their own, which is emptied afterwards; no worker consumes them and no
database is involved (queueing rows in Postgres is one UPDATE either way). The baseline is the
earlier dispatch loop, ``run_sequence_task.apply_async(args=[id], queue=...)`` per id; ours is
``workers.publish.publish_tasks`` (one message built by Celery and kombu, varied per
sequence, pushed in batches).

Usage: ``python bench/enqueue.py [--count 100000] [--baseline-count 20000]
[--redis redis://127.0.0.1:6379/14]``. The baseline is run on fewer messages (it is slow) and
its rate compared; both queues' lengths are checked to hold every message sent.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--baseline-count", type=int, default=20_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    os.environ["REFLECTSEQ_REDIS_URL"] = args.redis

    # Imported once the broker is set: the Celery app reads the settings when it is created.
    from redis import Redis  # noqa: PLC0415

    from workers.celery_app import RUN_TASK, app  # noqa: PLC0415
    from workers.publish import publish_tasks  # noqa: PLC0415
    from workers.tasks import run_sequence_task  # noqa: PLC0415

    redis = Redis.from_url(args.redis)

    def baseline(ids: list[int], queue: str) -> None:
        for sequence_id in ids:
            run_sequence_task.apply_async(args=[sequence_id], queue=queue)

    def ours(ids: list[int], queue: str) -> None:
        publish_tasks(app, RUN_TASK, ids, queue=queue, redis=redis)

    rates = {}
    for name, send, count in (
        ("apply_async per sequence", baseline, args.baseline_count),
        ("batched publish", ours, args.count),
    ):
        queue = f"bench-enqueue-{uuid.uuid4().hex[:8]}"
        ids = list(range(1, count + 1))
        started = time.perf_counter()
        send(ids, queue)
        seconds = time.perf_counter() - started
        queued = redis.llen(queue)
        redis.delete(queue)
        assert queued == count, f"{name}: {queued} of {count} messages in the queue"
        rates[name] = count / seconds
        print(f"{name:>26}: {count:>7,} messages in {seconds:7.2f} s = {rates[name]:9,.0f}/s")
    ratio = rates["batched publish"] / rates["apply_async per sequence"]
    print(f"{'ratio':>26}: {ratio:.1f}x the baseline's rate")
    print(f"{'100,000 sequences':>26}: {100_000 / rates['batched publish']:.1f} s (ours)")


if __name__ == "__main__":
    main()
