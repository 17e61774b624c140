"""``/metrics`` exposes event metrics and the cluster state read from Postgres and Redis."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.enums import SequenceStatus
from reflectseq.metrics import SANDBOX_SECONDS
from tests.api.seed import seed_set, sequence_ids, set_sequence


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_metrics_report_sequences_by_status_queue_depth_and_events(
    client: TestClient, pg_session_factory: sessionmaker[Session]
) -> None:
    set_id = seed_set(pg_session_factory, size=3)
    first, *_ = sequence_ids(pg_session_factory, set_id)
    set_sequence(pg_session_factory, first, status=SequenceStatus.COMPLETED)
    SANDBOX_SECONDS.labels(language="py", status="passed").observe(0.02)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    assert samples[("reflectseq_sequences", (("status", "pending"),))] == 2
    assert samples[("reflectseq_sequences", (("status", "completed"),))] == 1
    assert samples[("reflectseq_queue_depth", ())] >= 0
    key = ("reflectseq_sandbox_execution_seconds_count", (("language", "py"), ("status", "passed")))
    assert samples[key] >= 1


def test_metrics_need_no_api_key(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 200
