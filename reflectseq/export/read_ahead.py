"""Fetching the next batch of an iterator in a thread while the caller works on the current one.

A server-side cursor computes rows only when asked: read batch by batch from one thread, the
database sits idle while Python formats a batch, and Python waits while the database fetches the
next. Asking for the next batch before formatting the current one lets both work at once (the
driver releases the GIL while it waits on the network). One batch ahead is enough to overlap
them and keeps memory at two batches.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_END = object()


def read_ahead(source: Iterator[T]) -> Generator[T, None, None]:
    """The items of ``source`` in order, each fetched (in a worker thread) while the caller
    handles the one before. ``source`` is only ever advanced by that one worker thread; when
    the caller stops early, closing this generator waits for the fetch in flight to finish."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as worker:
        pending = worker.submit(next, source, _END)
        while True:
            item = pending.result()
            if item is _END:
                return
            pending = worker.submit(next, source, _END)
            yield item  # type: ignore[misc]
