"""``reflectseq train``: dry run and config errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from reflectseq.cli import app
from trainer.config import LossAveraging, load_config

TINY = Path(__file__).resolve().parents[2] / "trainer" / "configs" / "tiny-cpu.yaml"


def test_dry_run_shows_trained_and_student_visible_tokens(monkeypatch: object) -> None:
    root = TINY.parents[2]
    monkeypatch.chdir(root)  # type: ignore[attr-defined]
    result = CliRunner().invoke(app, ["train", "--config", str(TINY), "--dry-run", "--rate", "0.1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split() == ["pos", "train", "block_mask", "token"]
    rows = [line.split(maxsplit=3) for line in lines[2:-1]]
    by_token = {}
    for _, trained, seen, token in rows:
        by_token.setdefault(token, set()).add((trained, seen))
    # At rate 0.1 with order tce only text blocks are hidden: code is seen, execution untrained.
    assert ("T", "S") in by_token["'<|code|>'"]
    assert by_token["'<|text|>'"] >= {(".", "."), ("T", ".")}
    assert by_token["'<|execution|>'"] == {(".", "S")}
    assert "student sees block_mask:" in lines[-1]


def test_bad_config_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "model: {tiny: {}}\ntrain_files: [x.jsonl]\noutput_dir: out\n"
        "distillation: {strategies: [no_such_mask]}\n"
    )
    result = CliRunner().invoke(app, ["train", "--config", str(config)])
    assert result.exit_code == 2
    assert "distillation.strategies" in result.output
    assert "no_such_mask" in result.output


def test_the_paper_recipe_reproduces_the_reference_and_new_recipes_default_to_tokens() -> None:
    paper = load_config(TINY.parent / "paper.yaml")
    assert paper.loss_averaging is LossAveraging.SEQUENCE
    assert paper.distillation.mask_schedule_lag == 1
    tiny = load_config(TINY)
    assert tiny.loss_averaging is LossAveraging.TOKENS
    assert tiny.distillation.mask_schedule_lag == 0
