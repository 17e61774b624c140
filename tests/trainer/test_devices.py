"""bf16, activation checkpointing and LoRA: on the CPU everywhere, on a CUDA GPU where there is one.

The ``cuda`` cases are marked ``gpu``: CPU-only machines skip them (tests/conftest.py), and
``scripts/gpu-check.sh`` runs them on a GPU machine together with the 0.5B benchmark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.trainer.test_loss import collate, loss_and_grads
from tests.trainer.test_training import make_config, reflection_file
from tests.trainer.tiny import CORPUS, make_prepared, varied_reflections
from trainer.config import (
    DistillationConfig,
    LoraConfig,
    ModelConfig,
    StudentPass,
    TrainConfig,
)
from trainer.distill_trainer import batch_visibility
from trainer.masks import Strategy, parse_block_order
from trainer.model_setup import load_model_and_tokenizer
from trainer.run import build_trainer
from trainer.tiny_model import TinyModelConfig

DEVICES = [pytest.param("cpu"), pytest.param("cuda", marks=pytest.mark.gpu)]


def _bf16_checkpointed(tmp_path: Path, device: str, max_steps: int) -> TrainConfig:
    """A bf16 run with activation checkpointing on ``device`` (the HF trainer finds CUDA itself)."""
    return make_config(
        tmp_path,
        [reflection_file(tmp_path)],
        max_steps=max_steps,
        per_device_train_batch_size=2,
        bf16=True,
        activation_checkpointing=True,
        use_cpu=device == "cpu",
    )


def _losses(trainer: Any) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


@pytest.mark.gpu
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-4), (torch.bfloat16, 3e-2)])
def test_compact_and_masked_student_agree_on_cuda(dtype: torch.dtype, tolerance: float) -> None:
    model, tokenizer = make_prepared()
    model.to(device="cuda", dtype=dtype)
    batch = {k: v.to("cuda") for k, v in collate(tokenizer, varied_reflections(4)).items()}
    visible = batch_visibility(
        batch,
        [Strategy.BLOCK_MASK],
        block_order=parse_block_order("tce"),
        rate=0.4,
        seed=1,
        step=3,
    )
    loss = {}
    for student_pass in StudentPass:
        config = DistillationConfig(student_pass=student_pass)
        loss[student_pass], _ = loss_and_grads(
            model, batch, visible, config, tokenizer.pad_token_id
        )
    assert torch.isfinite(loss[StudentPass.COMPACT])
    assert loss[StudentPass.COMPACT].item() == pytest.approx(
        loss[StudentPass.MASKED].item(), rel=tolerance
    )


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_with_activation_checkpointing_learns(tmp_path: Path, device: str) -> None:
    model, tokenizer = make_prepared()
    trainer = build_trainer(_bf16_checkpointed(tmp_path, device, max_steps=10), model, tokenizer)
    trainer.train()
    assert next(model.parameters()).device.type == device
    losses = _losses(trainer)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.1


@pytest.mark.parametrize("device", DEVICES)
def test_lora_trains_adapters_and_new_token_rows_only(tmp_path: Path, device: str) -> None:
    model, tokenizer = load_model_and_tokenizer(
        ModelConfig(tiny=TinyModelConfig(max_position_embeddings=512)),
        LoraConfig(r=4, alpha=8, dropout=0.0),
        lambda: CORPUS,
    )
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer = build_trainer(_bf16_checkpointed(tmp_path, device, max_steps=4), model, tokenizer)
    trainer.train()
    assert all(torch.isfinite(torch.tensor(_losses(trainer))))

    changed = {
        name
        for name, p in model.named_parameters()
        if not torch.equal(p.detach().cpu(), before[name].cpu())
    }
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert changed == trainable
    assert any("lora_A" in name for name in changed)
    assert any("lora_B" in name for name in changed)
    # Embeddings and head are trained in full (modules_to_save), so the new tokens learn.
    assert any("embed_tokens.modules_to_save" in name for name in changed)
    assert any("lm_head.modules_to_save" in name for name in changed)
    assert not any("q_proj.base_layer" in name for name in changed)

    trainer.save_model(str(tmp_path / "final"))
    assert (tmp_path / "final" / "adapter_config.json").is_file()
    assert (tmp_path / "final" / "tokenizer.json").is_file()
