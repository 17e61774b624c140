"""``reflectseq export --hf``: a directory the ``datasets`` library loads as is, whose card's
counts are the manifest's, and ``--push-to-hub`` as far as it goes offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import datasets
import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from reflectseq.cli import app
from reflectseq.db.session import transaction
from tests.export.factories import SequenceShape, store_sequence

runner = CliRunner()
CONTAMINATED = {
    "contamination": [
        {"benchmark": "humaneval", "task_id": "HumanEval/0", "method": "substring", "field": "code"}
    ],
    "contamination_checked": ["humaneval"],
}


@pytest.fixture
def stored(pg_session_factory: sessionmaker[Session]) -> None:
    """Two Python records, one failing; one JavaScript record; one contaminated record."""
    with transaction(pg_session_factory) as session:
        store_sequence(session, SequenceShape(flags={"contamination_checked": ["humaneval"]}))
        store_sequence(session, SequenceShape(task="Write sub(a, b).", final_pass=False))
        store_sequence(session, SequenceShape(task="Write double(x).", language="js"))
        store_sequence(session, SequenceShape(task="Copied.", flags=CONTAMINATED))


def _export(pg_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["export", "--database-url", pg_url, *args])
    return result.exit_code, result.output


def _front_matter_and_body(card: str) -> tuple[dict[str, Any], str]:
    _, front, body = card.split("---\n", 2)
    return yaml.safe_load(front), body


def _table(body: str, heading: str) -> dict[str, int]:
    """The two-column table under ``### heading`` as a dict."""
    section = body.split(f"### {heading}\n", 1)[1].lstrip("\n").split("\n\n", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines()[2:]]
    return {key.strip(): int(value) for key, value in rows if key.strip() != "(none)"}


@pytest.mark.parametrize("export_format", ["reflection", "sharegpt"])
def test_hf_directory_loads_with_datasets_and_its_card_counts_are_the_manifests(
    stored: None, pg_url: str, tmp_path: Path, export_format: str
) -> None:
    out = tmp_path / "my-dataset"
    code, output = _export(
        pg_url, "--hf", "--out", str(out), "--format", export_format, "--final-pass", "any"
    )
    assert code == 0, output
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["records"] == 3 and counts["excluded_by_flag"] == {"contamination": 1}

    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert list(loaded) == ["train"]
    assert loaded["train"].num_rows == counts["records"]
    lines = (out / "data" / "train.jsonl").read_text().splitlines()
    assert loaded["train"][0] == json.loads(lines[0])  # the records, unchanged

    metadata, body = _front_matter_and_body((out / "README.md").read_text())
    assert datasets.Features._from_yaml_list(metadata["dataset_info"]["features"]) == (
        loaded["train"].features
    )
    assert metadata["dataset_info"]["splits"] == [
        {"name": "train", "num_examples": counts["records"], "num_bytes": manifest["bytes"]}
    ]
    assert "license" in metadata  # left for the user to set
    assert _table(body, "By language") == counts["by_language"] == {"js": 1, "py": 2}
    assert _table(body, "By verdict of the one-off answer") == counts["by_final_pass"]
    assert _table(body, "By review") == counts["by_review"]
    assert _table(body, "Left out, by flag") == counts["excluded_by_flag"]
    assert f"sha256 `{manifest['sha256']}`" in body
    assert "scripted-model" in body and "prompt versions v1" in body
    assert manifest["contamination"]["method"] in body
    assert (
        _table(body, "Records checked, per benchmark")
        == (manifest["contamination"]["records_checked_against"])
    )


def test_push_to_hub_goes_through_huggingface_hub(
    stored: None, pg_url: str, tmp_path: Path
) -> None:
    """No network here: offline mode makes the Hub client refuse, and that refusal is reported.

    The export itself is written and recorded before the push is tried.
    """
    out = tmp_path / "pushed"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_TOKEN": "hf_not_a_real_token"}
    command = [sys.executable, "-m", "reflectseq", "export", "--database-url", pg_url]
    result = subprocess.run(
        [*command, "--hf", "--out", str(out), "--push-to-hub", "someone/reflections"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "the push to someone/reflections failed" in result.stderr
    assert "offline mode is enabled" in result.stderr
    assert (out / "README.md").is_file()

    code, output = _export(pg_url, "--out", str(tmp_path / "x.jsonl"), "--push-to-hub", "a/b")
    assert code == 2
    assert "--push-to-hub needs --hf" in output
