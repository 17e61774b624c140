"""The trainer end to end on a tiny model: learning, resume, accumulation, saving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from tests.trainer.tiny import (
    generation_record,
    make_prepared,
    varied_reflections,
    write_jsonl,
)
from trainer.config import DistillationConfig, ModelConfig, TrainConfig
from trainer.run import build_trainer, train
from trainer.tiny_model import TinyModelConfig

STRATEGIES = ["random_token_mask", "random_block_mask", "block_mask"]


def make_config(tmp_path: Path, files: list[Path], **training: Any) -> TrainConfig:
    defaults = {
        "learning_rate": 3e-3,
        "per_device_train_batch_size": 4,
        "max_steps": 4,
        "use_cpu": True,
        "report_to": [],
        "save_strategy": "no",
        "logging_steps": 1,
        "seed": 11,
        "disable_tqdm": True,
    }
    return TrainConfig(
        model=ModelConfig(tiny=TinyModelConfig()),
        train_files=files,
        output_dir=tmp_path / "out",
        distillation=DistillationConfig(strategies=STRATEGIES),
        training={**defaults, **training},
    )


def reflection_file(tmp_path: Path, n: int = 8) -> Path:
    return write_jsonl(tmp_path / "reflection.jsonl", varied_reflections(n))


def params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_a_few_steps_lower_the_loss_on_mixed_files_without_bos(tmp_path: Path) -> None:
    files = [
        reflection_file(tmp_path),
        write_jsonl(tmp_path / "gen.jsonl", [generation_record(f"Q{i}") for i in range(4)]),
    ]
    model, tokenizer = make_prepared(with_bos=False)
    config = make_config(tmp_path, files, max_steps=12, per_device_train_batch_size=2)
    trainer = build_trainer(config, model, tokenizer)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    kinds = {entry["kl"] > 0 for entry in trainer.state.log_history if "kl" in entry}
    assert kinds == {True, False}  # reflection and generation micro-batches both ran
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.2


class StopAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if state.global_step == self.step:
            control.should_training_stop = True
        return control


def test_an_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    files = [reflection_file(tmp_path, 12)]
    settings = {"max_steps": 6, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 2}

    model, tokenizer = make_prepared()
    whole = build_trainer(make_config(tmp_path / "a", files, **settings), model, tokenizer)
    whole.train()
    expected = params(model)

    model, tokenizer = make_prepared()
    config = make_config(tmp_path / "b", files, save_strategy="steps", save_steps=3, **settings)
    first = build_trainer(config, model, tokenizer)
    first.add_callback(StopAt(3))
    first.train()
    assert first.state.global_step == 3

    model, tokenizer = make_prepared(seed=99)  # weights come from the checkpoint
    second = build_trainer(config, model, tokenizer)
    second.train(resume_from_checkpoint=str(config.output_dir / "checkpoint-3"))
    assert second.state.global_step == 6
    resumed = params(model)
    for name, value in expected.items():
        torch.testing.assert_close(resumed[name], value, atol=1e-6, rtol=1e-5, msg=name)


class GradCapture(TrainerCallback):
    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.grads: dict[str, torch.Tensor] = {}

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.grads = {
            n: p.grad.clone() for n, p in self.model.named_parameters() if p.grad is not None
        }


def test_accumulation_1x8_equals_2x4_in_loss_and_gradients(tmp_path: Path) -> None:
    files = [reflection_file(tmp_path, 8)]
    runs = {}
    for batch, accumulation in [(8, 1), (4, 2)]:
        model, tokenizer = make_prepared()
        config = make_config(
            tmp_path / f"{batch}x{accumulation}",
            files,
            max_steps=1,
            max_grad_norm=0,
            per_device_train_batch_size=batch,
            gradient_accumulation_steps=accumulation,
        )
        trainer = build_trainer(config, model, tokenizer)
        capture = GradCapture(model)
        trainer.add_callback(capture)
        trainer.train()
        runs[(batch, accumulation)] = (trainer.state.log_history[0]["loss"], capture.grads)
    (loss_a, grads_a), (loss_b, grads_b) = runs[(8, 1)], runs[(4, 2)]
    assert abs(loss_a - loss_b) < 1e-5
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], atol=1e-6, rtol=1e-4, msg=name)


def test_full_run_saves_a_loadable_model_with_tokens_and_template(tmp_path: Path) -> None:
    config = make_config(tmp_path, [reflection_file(tmp_path)], max_steps=2)
    final = train(config)
    tokenizer = AutoTokenizer.from_pretrained(final)
    model = AutoModelForCausalLM.from_pretrained(final)
    assert len(tokenizer("<|endofblock|>", add_special_tokens=False)["input_ids"]) == 1
    assert model.get_input_embeddings().weight.shape[0] >= len(tokenizer)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Q"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|endofmessage|><|assistant|>")
