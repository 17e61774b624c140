"""Prometheus metrics: event metrics recorded where the work happens, state read at scrape time.

Two kinds, on purpose:
- *events* (LLM latency and tokens, sandbox durations, finished exports) are counters and
  histograms updated in the process that does the work. Workers serve them on their own port
  (``reflectseq worker --metrics-port``); with ``PROMETHEUS_MULTIPROC_DIR`` set, the forked
  children of one host are aggregated into one scrape.
- *state* (sequences by status, queue depth, exports by status) is read from Postgres and Redis
  when ``/metrics`` is scraped, so every API replica reports the same cluster-wide numbers and no
  process has to be alive to have counted them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160)

LLM_REQUEST_SECONDS = Histogram(
    "reflectseq_llm_request_seconds",
    "Latency of one LLM call, retries included.",
    ["backend", "model", "outcome"],
    buckets=LATENCY_BUCKETS,
)
LLM_TOKENS = Counter(
    "reflectseq_llm_tokens", "Tokens sent to and received from LLMs.", ["model", "direction"]
)
SANDBOX_SECONDS = Histogram(
    "reflectseq_sandbox_execution_seconds",
    "Wall time of one sandbox execution (compile and run).",
    ["language", "status"],
    buckets=LATENCY_BUCKETS,
)
EXPORTS_FINISHED = Counter(
    "reflectseq_exports_finished",
    "Export jobs finished, by format and outcome.",
    ["format", "status"],
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def observe_llm_call(
    *, backend: str, model: str, ok: bool, seconds: float, tokens_in: int, tokens_out: int
) -> None:
    """Record one LLM call (successful or not) with its latency and tokens."""
    outcome = "ok" if ok else "error"
    LLM_REQUEST_SECONDS.labels(backend=backend, model=model, outcome=outcome).observe(seconds)
    LLM_TOKENS.labels(model=model, direction="in").inc(tokens_in)
    LLM_TOKENS.labels(model=model, direction="out").inc(tokens_out)


class StateCollector(Collector):
    """Reads current counts from the database (and the broker's queue length) at scrape time."""

    def __init__(
        self, session_factory: sessionmaker[Session], queue_depth: Callable[[], int | None]
    ) -> None:
        self._session_factory = session_factory
        self._queue_depth = queue_depth

    def collect(self) -> Iterator[Metric]:
        # Imported here: the sandbox and the command line record events without the database.
        from sqlalchemy import func, select  # noqa: PLC0415

        from reflectseq.db.models import Export, Sequence  # noqa: PLC0415

        sequences = GaugeMetricFamily(
            "reflectseq_sequences", "Sequences by status.", labels=["status"]
        )
        exports = GaugeMetricFamily(
            "reflectseq_exports", "Export jobs by status.", labels=["status"]
        )
        with self._session_factory() as session:
            for family, column in ((sequences, Sequence.status), (exports, Export.status)):
                for value, count in session.execute(select(column, func.count()).group_by(column)):
                    family.add_metric([str(value)], count)
        yield sequences
        yield exports
        depth = self._queue_depth()
        if depth is not None:
            yield GaugeMetricFamily(
                "reflectseq_queue_depth", "Tasks waiting on the broker queue.", value=depth
            )


def event_registry() -> CollectorRegistry:
    """The registry of event metrics: this process's, or all forked processes' of this host."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def render(*collectors: Collector) -> bytes:
    """The text exposition of the event metrics plus the given scrape-time collectors."""
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    return generate_latest(event_registry()) + generate_latest(registry)
