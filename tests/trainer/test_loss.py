"""The compacted student equals the reference's masked doubled batch; the loss parts are right."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.trainer.tiny import generation_record, make_prepared, varied_reflections
from trainer.config import AnswerSpan, DistillationConfig, StudentPass
from trainer.data import Collator
from trainer.distill_trainer import batch_visibility
from trainer.loss import combine, distillation_sums, teacher_only_sums, token_counts
from trainer.masks import Strategy, parse_block_order
from trainer.tokenization import RecordTokenizer


def collate(tokenizer: Any, records: list[Any]) -> dict[str, torch.Tensor]:
    encoder = RecordTokenizer(tokenizer)
    items = [{"record": encoder.encode(r), "index": i} for i, r in enumerate(records)]
    return Collator(tokenizer.pad_token_id)(items)


def loss_and_grads(
    model: Any,
    batch: dict[str, torch.Tensor],
    visible: torch.Tensor,
    config: DistillationConfig,
    pad: int,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.zero_grad()
    sums = distillation_sums(model, batch, visible, config, pad)
    loss = combine(sums, token_counts(batch, distill=True), config)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("strategy", list(Strategy))
def test_compact_and_masked_student_give_the_same_loss(strategy: Strategy) -> None:
    model, tokenizer = make_prepared()
    batch = collate(tokenizer, varied_reflections(4))
    visible = batch_visibility(
        batch, [strategy], block_order=parse_block_order("tce"), rate=0.4, seed=1, step=3
    )
    results = {}
    for student_pass in StudentPass:
        config = DistillationConfig(student_pass=student_pass, strategies=[strategy])
        results[student_pass] = loss_and_grads(
            model, batch, visible, config, tokenizer.pad_token_id
        )
    compact, masked = results[StudentPass.COMPACT], results[StudentPass.MASKED]
    assert abs(compact[0].item() - masked[0].item()) < 1e-5
    for a, b in zip(compact[1], masked[1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("span", list(AnswerSpan))
def test_a_student_that_sees_everything_matches_the_teacher(span: AnswerSpan) -> None:
    """KL positions of teacher and student line up: with nothing hidden the KL vanishes."""
    model, tokenizer = make_prepared()
    batch = collate(tokenizer, varied_reflections(3))
    visible = batch["attention_mask"].bool()
    config = DistillationConfig(answer_span=span)
    sums = distillation_sums(model, batch, visible, config, tokenizer.pad_token_id)
    assert sums.kl.item() < 1e-5
    assert sums.student_ce.item() > 0


def test_teacher_only_loss_is_the_models_own_causal_lm_loss() -> None:
    model, tokenizer = make_prepared()
    batch = collate(tokenizer, [generation_record("Sum."), generation_record("Sum a long list.")])
    config = DistillationConfig()
    loss = combine(teacher_only_sums(model, batch), token_counts(batch, distill=True), config)
    reference = model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
    ).loss
    torch.testing.assert_close(loss, reference)


def test_pooled_and_separate_normalisation() -> None:
    from trainer.loss import LossTerms

    sums = LossTerms(torch.tensor(30.0), torch.tensor(10.0), torch.tensor(2.0))
    counts = LossTerms(torch.tensor(10.0), torch.tensor(5.0), torch.tensor(4.0))
    pooled = DistillationConfig()
    assert combine(sums, counts, pooled).item() == pytest.approx(40 / 15 + 0.5)
    separate = DistillationConfig(ce_pooling="separate", kl_weight=2.0, student_ce_weight=0.5)
    assert combine(sums, counts, separate).item() == pytest.approx(3 + 0.5 * 2 + 2 * 0.5)
