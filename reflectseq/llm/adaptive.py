"""How many requests this process keeps in flight to one endpoint, found by AIMD.

No fixed number suits every server: a one-slot llama.cpp server queues every request beyond the
first (each waits for the whole answer of the one before it), a vLLM server wants hundreds at
once. So the limit is found the way TCP finds its congestion window:

* slow start: from ``INITIAL_LIMIT`` the limit grows by one per successful request (it doubles
  per round trip) until the first sign of overload; after that by one per ``limit`` successes
  (one per round trip);
* a sign of overload halves it: HTTP 429 or 503, a timed-out or stalled request, or a first
  token that took more than ``LATENCY_TOLERANCE`` times (and ``LATENCY_FLOOR_S`` more than) the
  fastest first token of the recent requests, which is how a server that queues shows it;
* one halving per round trip: a request sent before the last decrease says nothing about the
  new limit, so its failure does not decrease it again;
* it grows only while it is used (a limit far above the demand proves nothing) and stays within
  ``[1, ceiling]``; the ceiling is the endpoint's declared ``max_concurrency`` where it has one.

One limiter per endpoint per process, shared by every sequence of the process; the budget shared
by all workers (``ratelimit``) still applies on top of it. Hand-written: the packages offering
AIMD are young single-author projects, and this is a page of code.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

INITIAL_LIMIT = 1
UNDECLARED_CEILING = 1024  # an endpoint without a declared max_concurrency
LATENCY_TOLERANCE = 2.5  # a one-slot server may queue one request: it stays busy
LATENCY_FLOOR_S = 0.5  # a first token this much slower than the fastest is never just noise
LATENCY_WINDOW = 50  # recent first-token times the fastest is taken from

log = logging.getLogger(__name__)


class AdaptiveConcurrency:
    """The in-flight limit of one endpoint in this process; threads wait for a free place."""

    def __init__(
        self,
        name: str,
        *,
        ceiling: int = UNDECLARED_CEILING,
        initial: int = INITIAL_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ceiling < 1:
            raise ValueError("ceiling must be at least 1")
        self.name = name
        self._ceiling = ceiling
        self._clock = clock
        self._changed = threading.Condition()
        self._limit = min(max(initial, 1), ceiling)
        self._in_flight = 0
        self._slow_start = True
        self._credit = 0  # successes towards the next step after slow start
        self._decreased_at = -math.inf
        self._first_tokens: deque[float] = deque(maxlen=LATENCY_WINDOW)

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Requests in flight now."""
        return self._in_flight

    @contextmanager
    def acquire(self) -> Iterator[Permit]:
        """Wait for a free place under the limit and hold it for the block."""
        with self._changed:
            while self._in_flight >= self.limit:
                self._changed.wait()
            self._in_flight += 1
            permit = Permit(self, self._clock(), self._in_flight, self._limit)
        try:
            yield permit
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify()

    def _first_token(self, seconds: float) -> str | None:
        """Record a time to first token; the reason to decrease if it shows a queue."""
        with self._changed:
            fastest = min(self._first_tokens, default=None)
            self._first_tokens.append(seconds)
        if fastest is None:
            return None
        if seconds > fastest * LATENCY_TOLERANCE and seconds > fastest + LATENCY_FLOOR_S:
            return f"first token after {seconds:.1f} s, the fastest recent one {fastest:.1f} s"
        return None

    def _succeeded(self, permit: Permit) -> None:
        with self._changed:
            # Half the limit in force when it was sent was used while it ran.
            used = max(permit.busy, self._in_flight) * 2 >= permit.limit
            if permit.started < self._decreased_at or not used:
                return
            self._credit += 1
            if not self._slow_start and self._credit < self._limit:
                return
            self._credit = 0
            if self._limit < self._ceiling:
                self._limit += 1
                self._changed.notify()

    def _overloaded(self, permit: Permit, reason: str) -> None:
        with self._changed:
            if permit.started < self._decreased_at:
                return
            before = self._limit
            self._limit = max(1, self._limit // 2)
            self._credit = 0
            self._slow_start = False
            self._decreased_at = self._clock()
        log.info(
            "endpoint %r looks overloaded (%s): in-flight limit %d -> %d",
            self.name,
            reason,
            before,
            self.limit,
        )


class Permit:
    """A place under the limit; the request reports through it how it went."""

    def __init__(self, limiter: AdaptiveConcurrency, started: float, busy: int, limit: int) -> None:
        self._limiter = limiter
        self.started = started
        self.busy = busy  # requests in flight, this one included, when it was let through
        self.limit = limit  # the limit then

    def first_token(self, seconds: float) -> None:
        """The first token came after ``seconds``: a slow one is a sign of a queue."""
        reason = self._limiter._first_token(seconds)
        if reason is not None:
            self._limiter._overloaded(self, reason)

    def succeeded(self) -> None:
        """The request was answered: the limit may grow."""
        self._limiter._succeeded(self)

    def overloaded(self, reason: str) -> None:
        """The server is overloaded (429, 503, a timeout, a stall): the limit is halved."""
        self._limiter._overloaded(self, reason)
