"""The HF ``Trainer`` subclass that runs masked distillation.

What it changes, and why:

* the sampler keeps micro-batches single-file and length-grouped (see ``sampler``);
* the student mask is built in the training step from the current optimizer step, so the mask
  rate is right whatever the dataloader workers, accumulation or resume (the reference computed
  it in the collator from a stale copy of the trainer state);
* with ``loss_averaging: tokens`` the loss is normalised by token counts over the whole
  accumulation window and all processes, so 1 x 8 and 2 x 4 micro-batches give the same loss
  and gradients; with ``sequence`` each micro-batch is a mean over its own tokens and the
  window averages them, as the reference does (either way ``loss_is_scaled_for_ga``);
* the logs gain the loss terms and the mask rate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import Trainer

from trainer.config import DistillationConfig, LossAveraging
from trainer.loss import LossTerms, combine, distillation_sums, teacher_only_sums, token_counts
from trainer.masks import (
    MicroBatchPosition,
    Strategy,
    choose_strategy,
    parse_block_order,
    record_rng,
    scheduled_rate,
    student_visibility,
)
from trainer.sampler import SourceGroupedLengthSampler


def batch_visibility(
    batch: dict[str, torch.Tensor],
    strategies: list[Strategy],
    *,
    block_order: tuple[int, ...],
    rate: float,
    seed: int,
    step: int,
) -> torch.Tensor:
    """The student's visibility (B, T) for a collated batch at one optimizer step."""
    segment = batch["segment"].cpu().numpy()
    block_id = batch["block_id"].cpu().numpy()
    block_type = batch["block_type"].cpu().numpy()
    rows = []
    for row, record_index in enumerate(batch["record_index"].tolist()):
        rng = record_rng(seed, step, record_index)
        strategy = choose_strategy(strategies, rng)
        rows.append(
            student_visibility(
                segment[row],
                block_id[row],
                block_type[row],
                strategy=strategy,
                rate=rate,
                rng=rng,
                block_order=block_order,
            )
        )
    return torch.from_numpy(np.stack(rows)).to(batch["input_ids"].device)


class DistillationTrainer(Trainer):
    """Trainer for reflection self-distillation with dynamically masked distillation."""

    loss_is_scaled_for_ga = True

    def __init__(
        self,
        *args: Any,
        distillation: DistillationConfig,
        source_sizes: list[int],
        lengths: list[int],
        loss_averaging: LossAveraging = LossAveraging.TOKENS,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.distillation = distillation
        self.loss_averaging = loss_averaging
        self.block_order = parse_block_order(distillation.block_order)
        self.source_sizes = source_sizes
        self.lengths = lengths
        self._window_counts: LossTerms | None = None
        self._window_size = 1
        # What the reference's mask schedule depends on (``scheduled_rate``).
        self._epoch_iterator: Iterator[Any] | None = None
        self._micro_batches_seen = 0
        # Per-term means summed over the optimizer steps since the last log line.
        self._log_sums = torch.zeros(3, dtype=torch.float64)
        self._log_steps: set[int] = set()
        self._last_rate = 0.0

    def _get_train_sampler(self, train_dataset: Any = None) -> SourceGroupedLengthSampler:
        return SourceGroupedLengthSampler(
            self.source_sizes,
            self.lengths,
            chunk_size=self.args.per_device_train_batch_size * self.args.world_size,
            seed=self.args.seed,
        )

    def get_batch_samples(
        self, epoch_iterator: Iterator[Any], num_batches: int, device: torch.device
    ) -> tuple[list[Any], Any]:
        batches, num_items = super().get_batch_samples(epoch_iterator, num_batches, device)
        if batches:
            counts = sum(
                (token_counts(b, self.distillation.enabled).stack() for b in batches),
                torch.zeros(3),
            ).to(device)
            if self.args.world_size > 1:
                counts = self.accelerator.gather(counts).view(-1, 3).sum(dim=0)
            self._window_counts = LossTerms(*counts.unbind())
            self._window_size = len(batches)
            self._schedule(
                batches, first_window_of_epoch=epoch_iterator is not self._epoch_iterator
            )
            self._epoch_iterator = epoch_iterator
        return batches, num_items

    def _schedule(self, batches: list[Any], *, first_window_of_epoch: bool) -> None:
        """Give each micro-batch of a window its mask rate.

        Here the window's layout is known (which micro-batch comes first, whether the epoch's
        dataloader is new), and the trainer's step is the window's.
        """
        for index, batch in enumerate(batches):
            position = MicroBatchPosition(
                step=self.state.global_step,
                index_in_window=index,
                first_window_of_epoch=first_window_of_epoch,
                seen_before=self._micro_batches_seen,
            )
            batch["mask_rate"] = scheduled_rate(
                position, self.state.max_steps, lag=self.distillation.mask_schedule_lag
            )
            self._micro_batches_seen += 1

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        step = self.state.global_step
        rate = float(inputs["mask_rate"])
        pad_id = self.processing_class.pad_token_id  # type: ignore[union-attr]
        if self.distillation.enabled and not bool(inputs["is_generation"]):
            visible = batch_visibility(
                inputs,
                list(self.distillation.strategies),
                block_order=self.block_order,
                rate=rate,
                seed=self.args.seed,
                step=step,
            )
            sums = distillation_sums(model, inputs, visible, self.distillation, pad_id)
        else:
            sums = teacher_only_sums(model, inputs)
        if self.loss_averaging is LossAveraging.SEQUENCE:
            # This micro-batch's own means; the window's micro-batches (and, through the
            # gradient average, the processes') count alike.
            counts = token_counts(inputs, self.distillation.enabled)
            share = 1.0 / self._window_size
        else:
            counts = self._window_counts or token_counts(inputs, self.distillation.enabled)
            # Gradients are averaged over processes, the counts were summed over them.
            share = float(self.args.world_size)
        counts = LossTerms(*counts.stack().to(sums.kl.device).unbind())
        loss = combine(sums, counts, self.distillation) * share
        self._record(sums.stack() / counts.stack().clamp(min=1) * share, step, rate)
        return (loss, None) if return_outputs else loss

    def _record(self, terms: torch.Tensor, step: int, rate: float) -> None:
        """Add this micro-batch's part of the step's per-term means to the next log line.

        With several processes these are the terms this process sees (the logged loss itself is
        averaged over processes by the HF trainer).
        """
        self._log_sums += terms.detach().double().cpu()
        self._log_steps.add(step)
        self._last_rate = rate

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._log_steps:
            teacher, student, kl = (self._log_sums / len(self._log_steps)).tolist()
            logs.update(ce_teacher=teacher, ce_student=student, kl=kl, mask_rate=self._last_rate)
            self._log_sums.zero_()
            self._log_steps.clear()
        super().log(logs, start_time)
