"""Export jobs end to end on the real databases: file, manifest, row, gzip, failures."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Export
from reflectseq.db.session import transaction
from reflectseq.enums import ExportFormat, ExportStatus, SequenceStatus
from reflectseq.export.filters import ExportFilters
from reflectseq.export.jobs import create_export, open_export_file, run_export, run_export_to
from reflectseq.export.spec import ExportSpec
from reflectseq.format import parse_json_line, serialize_record
from reflectseq.store.errors import InvalidState
from tests.export.factories import (
    ADD_FINAL,
    ADD_RIGHT,
    ADD_TASK,
    ADD_WRONG,
    REFLECTION_PROMPT,
    SequenceShape,
    store_sequence,
)

EXPECTED_TOKENS = (
    f"<|user|><|text|>{ADD_TASK}\n{REFLECTION_PROMPT}<|endofblock|><|endofmessage|>"
    "<|assistant|><|text|>I will subtract... no, add the numbers.<|endofblock|>"
    f"<|code|>{ADD_WRONG}<|endofblock|>"
    "<|execution|>AssertionError: add(1, 2) returned -1<|endofblock|>"
    "<|text|>The function subtracts; it must add.<|endofblock|>"
    f"<|code|>{ADD_RIGHT}<|endofblock|>"
    "<|execution|>All tests passed.<|endofblock|><|endofmessage|>"
    f"<|user|><|text|>{ADD_TASK}\nAnswer with the complete code in one block.<|endofblock|>"
    "<|endofmessage|>"
    f"<|assistant|><|text|>Here is the solution:\n```python\n{ADD_FINAL}```<|endofblock|>"
    "<|endofmessage|>"
)


def _run(
    factory: sessionmaker[Session], spec: ExportSpec, out_dir: Path
) -> tuple[Export, list[str]]:
    with transaction(factory) as session:
        export_id = create_export(session, spec).id
    export = run_export(factory, export_id, out_dir)
    with open_export_file(export) as handle:
        data = handle.read()
    if spec.gzip:
        data = gzip.decompress(data)
    return export, data.decode("utf-8").splitlines()


def test_reflection_export_matches_hand_written_tokens(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(session_factory) as session:
        store_sequence(session)
    export, lines = _run(session_factory, ExportSpec(), tmp_path)
    assert export.status is ExportStatus.SUCCEEDED
    assert export.record_count == 1
    assert len(lines) == 1
    assert serialize_record(parse_json_line(lines[0])) == EXPECTED_TOKENS


def test_manifest_and_row_describe_the_file(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(session_factory) as session:
        store_sequence(session, SequenceShape(model="model-a", prompt_version="v2"))
        store_sequence(session, SequenceShape(task="Write sub(a, b).", language="js"))
        store_sequence(session, SequenceShape(task="Write mul(a, b).", final_pass=False))
    spec = ExportSpec(format=ExportFormat.GENERATION, gzip=True)
    export, lines = _run(session_factory, spec, tmp_path)
    assert len(lines) == 2
    assert all(parse_json_line(line).type == "generation" for line in lines)
    path = Path(export.path or "")
    assert path.name == f"export-{export.id}-generation.jsonl.gz"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == export.sha256
    manifest = json.loads((tmp_path / f"{path.name}.manifest.json").read_text())
    assert manifest["sha256"] == export.sha256
    assert manifest["export_id"] == export.id
    assert manifest["format"] == "generation"
    assert manifest["gzip"] is True
    assert manifest["filters"]["final_pass"] is True
    assert manifest["counts"]["records"] == 2
    assert manifest["counts"]["by_language"] == {"js": 1, "py": 1}
    assert manifest["counts"]["by_final_pass"] == {"passed": 2}
    assert manifest["counts"]["by_review"] == {"unreviewed": 2}
    assert sorted(c["model"] for c in manifest["generator_configs"]) == [
        "model-a",
        "scripted-model",
    ]
    assert manifest["prompt_versions"] == ["v1", "v2"]
    assert export.counts == manifest["counts"]


def test_gzip_output_is_reproducible(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(session_factory) as session:
        store_sequence(session)
    first, _ = _run(session_factory, ExportSpec(gzip=True), tmp_path / "a")
    second, _ = _run(session_factory, ExportSpec(gzip=True), tmp_path / "b")
    assert first.sha256 == second.sha256


def test_incomplete_completed_sequence_is_counted_not_written(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(session_factory) as session:
        store_sequence(session, SequenceShape(messages=3))
        store_sequence(session, SequenceShape(task="Write sub(a, b)."))
    export, lines = _run(session_factory, ExportSpec(), tmp_path)
    assert len(lines) == 1
    assert export.counts["incomplete"] == 1


def test_a_job_runs_once(session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    with transaction(session_factory) as session:
        export_id = create_export(session, ExportSpec()).id
    run_export(session_factory, export_id, tmp_path)
    with pytest.raises(InvalidState, match="is succeeded, not pending"):
        run_export(session_factory, export_id, tmp_path)


def test_failed_export_leaves_no_file_and_records_the_error(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(session_factory) as session:
        store_sequence(session)
        export_id = create_export(session, ExportSpec()).id
    blocker = tmp_path / "taken"
    blocker.mkdir()
    (blocker / "child").write_text("a directory cannot be replaced by the export file")
    with pytest.raises(OSError):
        run_export_to(session_factory, export_id, blocker)
    with transaction(session_factory) as session:
        export = session.get(Export, export_id)
        assert export is not None
        assert export.status is ExportStatus.FAILED
        assert export.error
        with pytest.raises(InvalidState, match="failed, not succeeded"):
            open_export_file(export)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert [p.name for p in blocker.iterdir()] == ["child"]


def test_running_sequences_are_not_exported(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(session_factory) as session:
        store_sequence(session, SequenceShape(status=SequenceStatus.RUNNING, final_pass=None))
    export, lines = _run(
        session_factory, ExportSpec(filters=ExportFilters(final_pass=None)), tmp_path
    )
    assert lines == []
    assert export.record_count == 0
