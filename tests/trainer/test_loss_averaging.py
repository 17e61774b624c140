"""``loss_averaging`` against values computed by hand, the reference trainer's way.

One optimizer step over five micro-batches of one record each (three reflection records of
different lengths, two generation records). Each micro-batch's loss is computed here as the
reference's ``compute_loss`` does it: one forward on the doubled batch with HF's own CE (a mean
over the valid labels of both halves) plus ``kl_div(..., reduction="batchmean")`` on the final
answer's logits. ``sequence`` must give the mean of those five losses, ``tokens`` the means of
each term over the whole window; both in the logged loss and in the gradients.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.nn import functional
from transformers import TrainerCallback

from tests.trainer.test_loss import collate
from tests.trainer.test_training import make_config
from tests.trainer.tiny import generation_record, make_prepared, varied_reflections, write_jsonl
from trainer.config import LossAveraging
from trainer.distill_trainer import batch_visibility
from trainer.masks import mask_rate, parse_block_order
from trainer.run import build_trainer
from trainer.tokenization import IGNORE_INDEX

MAX_STEPS = 4  # the step checked is the first: mask rate 1/4


class FirstStepGradients(TrainerCallback):
    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.grads: dict[str, torch.Tensor] = {}

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == 0:
            self.grads = {
                n: p.grad.clone() for n, p in self.model.named_parameters() if p.grad is not None
            }


def reference_terms(
    model: Any, tokenizer: Any, record: Any, index: int, *, strategies: list[str], seed: int
) -> tuple[torch.Tensor, int, torch.Tensor, int]:
    """(CE mean, CE tokens, KL mean, KL tokens) of one record, as the reference computes them."""
    batch = collate(tokenizer, [record])
    batch["record_index"] = torch.tensor([index])
    ids, labels = batch["input_ids"], batch["labels"]
    ce_tokens = int((labels[:, 1:] != IGNORE_INDEX).sum())
    if bool(batch["is_generation"]):
        loss = model(input_ids=ids, attention_mask=batch["attention_mask"], labels=labels).loss
        return loss, ce_tokens, loss.new_zeros(()), 0
    visible = batch_visibility(
        batch,
        strategies,  # type: ignore[arg-type]
        block_order=parse_block_order("tce"),
        rate=mask_rate(0, MAX_STEPS),
        seed=seed,
        step=0,
    )
    start, end = int(batch["answer_start"][0]), int(batch["answer_end"][0])
    distillation_labels = torch.full_like(ids, IGNORE_INDEX)
    distillation_labels[:, start : end + 1] = ids[:, start : end + 1]
    output = model(
        input_ids=torch.cat([ids, ids]),
        attention_mask=torch.cat([batch["attention_mask"], visible.long()]),
        labels=torch.cat([labels, distillation_labels]),
        use_cache=False,
    )
    teacher, student = output.logits.chunk(2)
    kl_at = distillation_labels[0] != IGNORE_INDEX
    kl = functional.kl_div(
        functional.log_softmax(student[0, kl_at], dim=-1),
        functional.softmax(teacher[0, kl_at], dim=-1).detach(),
        reduction="batchmean",
    )
    ce_tokens += int((distillation_labels[:, 1:] != IGNORE_INDEX).sum())
    return output.loss, ce_tokens, kl, int(kl_at.sum())


@pytest.mark.parametrize("averaging", list(LossAveraging))
def test_one_step_matches_the_hand_computed_loss_and_gradients(
    tmp_path: Path, averaging: LossAveraging
) -> None:
    reflections = varied_reflections(3)
    generations = [generation_record("Q"), generation_record("Sum a long list of numbers.")]
    files = [
        write_jsonl(tmp_path / "reflection.jsonl", reflections),
        write_jsonl(tmp_path / "generation.jsonl", generations),
    ]
    config = make_config(
        tmp_path,
        files,
        max_steps=MAX_STEPS,
        max_grad_norm=0,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=5,
    ).model_copy(update={"loss_averaging": averaging})

    model, tokenizer = make_prepared()
    trainer = build_trainer(config, model, tokenizer)
    capture = FirstStepGradients(model)
    trainer.add_callback(capture)
    trainer.train()
    logged = trainer.state.log_history[0]["loss"]

    # The five micro-batches of step 0 are the five records (one epoch is one step).
    model, tokenizer = make_prepared()
    strategies = list(config.distillation.strategies)
    terms = [
        reference_terms(model, tokenizer, record, index, strategies=strategies, seed=11)
        for index, record in enumerate([*reflections, *generations])
    ]
    by_sequence = sum(ce + kl for ce, _, kl, _ in terms) / len(terms)
    ce_tokens = sum(n for _, n, _, _ in terms)
    kl_tokens = sum(k for _, _, _, k in terms)
    by_tokens = (
        sum(ce * n for ce, n, _, _ in terms) / ce_tokens
        + sum(kl * k for _, _, kl, k in terms) / kl_tokens
    )
    assert abs(by_sequence.item() - by_tokens.item()) > 1e-3  # the test can tell them apart
    expected = by_sequence if averaging is LossAveraging.SEQUENCE else by_tokens
    expected.backward()

    assert logged == pytest.approx(expected.item(), abs=1e-5)
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert grads.keys() == capture.grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(capture.grads[name], grad, atol=1e-6, rtol=1e-4, msg=name)
