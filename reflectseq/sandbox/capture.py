"""Bounded capture of one output stream: the head and the tail survive, the middle is dropped.

A failing assertion is usually printed last, so keeping only the head (as MultiPL-E does) would
often cut off exactly what the model needs to read; we keep both ends and mark the gap.
"""

from __future__ import annotations

OMISSION_MARKER = "\n... [{omitted} bytes omitted] ...\n"


def _printable(data: bytearray) -> str:
    return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


class BoundedCapture:
    """Accumulates a byte stream, remembering at most ``limit`` bytes (half head, half tail)."""

    def __init__(self, limit: int) -> None:
        self._head_limit = limit // 2
        self._tail_limit = limit - self._head_limit
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        """Append a chunk read from the stream."""
        self.total += len(data)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            if len(self._tail) > self._tail_limit:
                del self._tail[: len(self._tail) - self._tail_limit]

    @property
    def truncated(self) -> bool:
        """True when bytes were dropped from the middle."""
        return self.total > len(self._head) + len(self._tail)

    def text(self) -> str:
        """The kept bytes as text, with a marker where bytes were dropped.

        Bad UTF-8 and NUL characters become U+FFFD: the text is stored in Postgres, whose text
        columns refuse NUL, and a program printing one must not fail the sequence that ran it.
        """
        head = _printable(self._head)
        tail = _printable(self._tail)
        if not self.truncated:
            return head + tail
        omitted = self.total - len(self._head) - len(self._tail)
        return head + OMISSION_MARKER.format(omitted=omitted) + tail
