"""The distillation loss: teacher CE, student CE on the final answer, KL(teacher || student).

The forward passes return *sums* over tokens; the trainer divides them by token counts taken over
the whole gradient-accumulation window (and all processes), so one optimizer step sees the same
loss however the window is split into micro-batches.

Logits are computed only at the positions some loss needs (``logits_to_keep`` with an index
tensor): prompts, execution output and hidden reflection tokens never reach the LM head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

from trainer.config import AnswerSpan, CePooling, DistillationConfig, StudentPass
from trainer.tokenization import IGNORE_INDEX


@dataclass(frozen=True)
class LossTerms:
    """One value per loss term: sums over tokens, or token counts."""

    teacher_ce: torch.Tensor
    student_ce: torch.Tensor
    kl: torch.Tensor

    def stack(self) -> torch.Tensor:
        return torch.stack([self.teacher_ce, self.student_ce, self.kl])


def shifted_targets(labels: torch.Tensor) -> torch.Tensor:
    """Targets per logit position: position i predicts label i + 1."""
    targets = torch.full_like(labels, IGNORE_INDEX)
    targets[:, :-1] = labels[:, 1:]
    return targets


def answer_targets(
    input_ids: torch.Tensor,
    answer_start: torch.Tensor,
    answer_end: torch.Tensor,
    span: AnswerSpan,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Student CE targets per logit position, and the KL positions, both in original coordinates."""
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]
    start, end = answer_start[:, None], answer_end[:, None]
    kl_mask = (positions >= start) & (positions <= end)
    shift = 1 if span is AnswerSpan.REFERENCE else 0
    ce_mask = (positions >= start - shift) & (positions <= end - shift)
    targets = torch.where(ce_mask, shifted_targets(input_ids), IGNORE_INDEX)
    return targets, kl_mask


def token_counts(batch: dict[str, torch.Tensor], distill: bool) -> LossTerms:
    """How many tokens each term of this micro-batch covers (for window normalisation)."""
    teacher = (batch["labels"][:, 1:] != IGNORE_INDEX).sum()
    answer = (batch["answer_end"] - batch["answer_start"] + 1).sum()
    if not distill or bool(batch["is_generation"]):
        answer = torch.zeros_like(answer)
    return LossTerms(teacher.float(), answer.float(), answer.float())


def combine(sums: LossTerms, counts: LossTerms, config: DistillationConfig) -> torch.Tensor:
    """The weighted loss of one micro-batch, normalised by the window's token counts."""
    n = counts.stack().clamp(min=1)
    kl = config.kl_weight * sums.kl / n[2]
    if config.ce_pooling is CePooling.POOLED:
        ce_sum = (
            config.teacher_ce_weight * sums.teacher_ce + config.student_ce_weight * sums.student_ce
        )
        return ce_sum / (counts.teacher_ce + counts.student_ce).clamp(min=1) + kl
    return (
        config.teacher_ce_weight * sums.teacher_ce / n[0]
        + config.student_ce_weight * sums.student_ce / n[1]
        + kl
    )


def _logits_at(
    model: nn.Module, needed: torch.Tensor, **inputs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B, K, V) at the columns any row needs, and those columns (K,)."""
    keep = needed.any(dim=0).nonzero().squeeze(1)
    output = model(**inputs, logits_to_keep=keep, use_cache=False)
    return output.logits, keep


def _ce_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return functional.cross_entropy(
        logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
    )


def _kl_sum(teacher: torch.Tensor, student: torch.Tensor, temperature: float) -> torch.Tensor:
    """Sum over positions of KL(teacher || student); the teacher is a fixed target."""
    teacher_logp = functional.log_softmax(teacher.detach().float() / temperature, dim=-1)
    student_logp = functional.log_softmax(student.float() / temperature, dim=-1)
    kl = functional.kl_div(student_logp, teacher_logp, log_target=True, reduction="sum")
    return kl * temperature**2


@dataclass(frozen=True)
class CompactBatch:
    """The student's view: visible tokens only, at their original positions."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    attention_mask: torch.Tensor
    gather_index: torch.Tensor
    valid: torch.Tensor

    def take(self, values: torch.Tensor, fill: int | bool) -> torch.Tensor:
        """Map a (B, T) tensor in original coordinates onto the compact sequence."""
        taken = values.gather(1, self.gather_index)
        return torch.where(self.valid, taken, torch.as_tensor(fill, dtype=values.dtype))


def compact(input_ids: torch.Tensor, visible: torch.Tensor, pad_token_id: int) -> CompactBatch:
    """Drop hidden tokens; the rest keep their order and original position ids.

    The attention mask is passed explicitly: without one, transformers 5 reads gapped position
    ids as packed sequences and attends block-diagonally.
    """
    lengths = visible.sum(dim=1)
    width = int(lengths.max())
    order = torch.argsort((~visible).to(torch.int8), dim=1, stable=True)[:, :width]
    valid = torch.arange(width, device=input_ids.device)[None, :] < lengths[:, None]
    return CompactBatch(
        input_ids=torch.where(valid, input_ids.gather(1, order), pad_token_id),
        position_ids=torch.where(valid, order, 0),
        attention_mask=valid.long(),
        gather_index=order,
        valid=valid,
    )


def teacher_only_sums(model: nn.Module, batch: dict[str, torch.Tensor]) -> LossTerms:
    """Plain SFT: CE on the trained labels (generation records, or distillation off)."""
    targets = shifted_targets(batch["labels"])
    logits, keep = _logits_at(
        model,
        targets != IGNORE_INDEX,
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
    )
    zero = logits.new_zeros((), dtype=torch.float32)
    return LossTerms(_ce_sum(logits, targets[:, keep]), zero, zero)


def distillation_sums(
    model: nn.Module,
    batch: dict[str, torch.Tensor],
    visible: torch.Tensor,
    config: DistillationConfig,
    pad_token_id: int,
) -> LossTerms:
    """Teacher CE, student CE and KL sums for a batch of reflection records."""
    input_ids, attention_mask = batch["input_ids"], batch["attention_mask"]
    teacher_targets = shifted_targets(batch["labels"])
    student_targets, kl_mask = answer_targets(
        input_ids, batch["answer_start"], batch["answer_end"], config.answer_span
    )
    teacher_needed = (teacher_targets != IGNORE_INDEX) | kl_mask
    student_needed = (student_targets != IGNORE_INDEX) | kl_mask

    if config.student_pass is StudentPass.MASKED:
        logits, keep = _logits_at(
            model,
            torch.cat([teacher_needed, student_needed]),
            input_ids=torch.cat([input_ids, input_ids]),
            attention_mask=torch.cat([attention_mask, visible.long()]),
        )
        teacher_logits, student_logits = logits.chunk(2)
        student_keep = keep
        student_targets_kept = student_targets[:, keep]
        student_kl = kl_mask[:, keep]
    else:
        teacher_logits, keep = _logits_at(
            model, teacher_needed, input_ids=input_ids, attention_mask=attention_mask
        )
        view = compact(input_ids, visible, pad_token_id)
        compact_targets = view.take(student_targets, IGNORE_INDEX)
        compact_kl = view.take(kl_mask, False)
        student_logits, student_keep = _logits_at(
            model,
            (compact_targets != IGNORE_INDEX) | compact_kl,
            input_ids=view.input_ids,
            position_ids=view.position_ids,
            attention_mask=view.attention_mask,
        )
        student_targets_kept = compact_targets[:, student_keep]
        student_kl = compact_kl[:, student_keep]

    # Rows keep their token order in both views, so the KL positions line up one to one.
    kl = _kl_sum(teacher_logits[kl_mask[:, keep]], student_logits[student_kl], config.temperature)
    return LossTerms(
        teacher_ce=_ce_sum(teacher_logits, teacher_targets[:, keep]),
        student_ce=_ce_sum(student_logits, student_targets_kept),
        kl=kl,
    )
