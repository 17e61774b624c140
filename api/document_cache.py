"""Serialized sequence documents kept in this process, keyed by the ETag of their version.

A key names one version of one document (``reflectseq.store.document_versions``), so an entry
never needs invalidating: an edit makes a new key, and the old entry ages out of the LRU order.
Keeping the bytes here rather than in Redis saves the request a second round trip; every request
still reads the current version from the database, so several API processes never disagree.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class DocumentCache:
    """A least-recently-used map from ETag to document bytes, bounded by the bytes it holds."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()  # routes run in the thread pool

    def get(self, etag: str) -> bytes | None:
        with self._lock:
            body = self._entries.get(etag)
            if body is not None:
                self._entries.move_to_end(etag)
            return body

    def put(self, etag: str, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        with self._lock:
            previous = self._entries.pop(etag, None)
            self._size += len(body) - (len(previous) if previous is not None else 0)
            self._entries[etag] = body
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, as RFC 9110 asks)."""
    if if_none_match is None:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates
