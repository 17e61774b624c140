"""The hf backend on a tiny Llama built in-process: no download, real ``generate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reflectseq.cli import app
from reflectseq.evaluation.generation import GenerationError, SamplingParams
from reflectseq.evaluation.prompts import Prompt
from reflectseq.format import END_OF_BLOCK

pytestmark = pytest.mark.slow  # importing torch and transformers alone takes seconds


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama prepared the way the trainer prepares a model, saved to disk."""
    from trainer.model_setup import prepare
    from trainer.tiny_model import TinyModelConfig, build_model, train_tokenizer

    directory = tmp_path_factory.mktemp("tiny-checkpoint")
    corpus = ["def add(a, b):\n    return a + b\n", "Add two numbers.", "assert add(1, 2) == 3"]
    tokenizer = train_tokenizer(corpus * 20, vocab_size=300, with_bos=True)
    model = build_model(TinyModelConfig(max_position_embeddings=512), len(tokenizer))
    prepare(model, tokenizer)
    tokenizer.save_pretrained(directory)
    model.save_pretrained(directory)
    return directory


def test_greedy_samples_repeat_and_sampling_is_seeded(checkpoint: Path) -> None:
    from reflectseq.evaluation.hf_generation import HFGenerator

    generator = HFGenerator(checkpoint, device="cpu")
    prompt = Prompt(text="<|user|><|text|>Add.<|endofblock|>", stops=(END_OF_BLOCK,))
    greedy = generator.generate(prompt, 3, SamplingParams(max_tokens=12))
    assert len(greedy) == 3 and len(set(greedy)) == 1
    sampling = SamplingParams(temperature=1.0, max_tokens=12, seed=7)
    assert generator.generate(prompt, 2, sampling) == generator.generate(prompt, 2, sampling)
    assert all("</s>" not in text for text in greedy)


def test_chat_goes_through_the_checkpoint_template(checkpoint: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from reflectseq.evaluation.hf_generation import HFGenerator

    # The trainer saves a template that renders chats in the special-token format.
    chat = HFGenerator(checkpoint, device="cpu").generate(
        Prompt(chat="Add."), 2, SamplingParams(max_tokens=4)
    )
    assert len(chat) == 2
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((checkpoint / name).read_bytes())
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    tokenizer.chat_template = None
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(GenerationError, match="no chat template"):
        HFGenerator(tmp_path, device="cpu").generate(
            Prompt(chat="Add."), 1, SamplingParams(max_tokens=4)
        )


def test_eval_command_runs_a_checkpoint(checkpoint: Path, tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    row = {"text": "Add two numbers.", "language": "py", "tests": "assert add(1, 2) == 3"}
    tasks.write_text(json.dumps(row) + "\n")
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "eval", "--benchmark", str(tasks), "--backend", "hf", "--model", str(checkpoint),
            "--template", "special", "--n", "2", "--max-tokens", "16", "--seed", "1",
            "--out", str(run_dir),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((run_dir / "summary.json").read_text())
    # A random model writes no working code; what matters is that every sample was executed.
    assert summary["pass_at"] == {"1": 0.0}
    assert sum(summary["statuses"].values()) == 2
    assert summary["backend"] == "hf"


def test_missing_checkpoint_is_reported(tmp_path: Path) -> None:
    from reflectseq.evaluation.hf_generation import HFGenerator

    with pytest.raises(GenerationError, match="is not a checkpoint directory"):
        HFGenerator(tmp_path / "nowhere")
