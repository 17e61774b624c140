"""The mask rate each micro-batch gets: its own step's, or with ``mask_schedule_lag: 1`` the one
the reference trainer gave it (its dataloader collates one batch ahead of training)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.trainer.test_training import make_config, reflection_file
from tests.trainer.tiny import make_prepared
from trainer.masks import MicroBatchPosition, scheduled_rate
from trainer.run import build_trainer


def _rates(
    lag: int, *, steps_per_epoch: int, accumulation: int, epochs: int
) -> list[tuple[int, float]]:
    """(step, rate) of every micro-batch of a run, in order, from ``scheduled_rate``."""
    total = steps_per_epoch * epochs
    rates = []
    seen = 0
    for step in range(total):
        for index in range(accumulation):
            position = MicroBatchPosition(
                step=step,
                index_in_window=index,
                first_window_of_epoch=step % steps_per_epoch == 0,
                seen_before=seen,
            )
            rates.append((step, scheduled_rate(position, total, lag=lag)))
            seen += 1
    return rates


def _table(*rows: tuple[int, Fraction | int]) -> list[tuple[int, float]]:
    return [(step, float(rate)) for step, rate in rows]


SIXTHS = [Fraction(n, 6) for n in range(7)]
QUARTERS = [Fraction(n, 4) for n in range(5)]


def test_without_lag_every_micro_batch_gets_its_steps_rate() -> None:
    rates = _rates(0, steps_per_epoch=3, accumulation=1, epochs=2)
    assert rates == _table(*((step, SIXTHS[step + 1]) for step in range(6)))


def test_the_reference_rate_one_micro_batch_per_step() -> None:
    # Hand-worked from the reference's dataloader (3 steps per epoch, 2 epochs): the first two
    # batches are collated before the trainer hands its state to the collator (rate 0); after
    # that each batch is collated during the previous step, except the first of an epoch.
    assert _rates(1, steps_per_epoch=3, accumulation=1, epochs=2) == _table(
        (0, 0),
        (1, 0),
        (2, SIXTHS[2]),
        (3, SIXTHS[4]),  # a new epoch's dataloader collates its first batch fresh...
        (4, SIXTHS[4]),  # ...and the second one with it, still at step 3
        (5, SIXTHS[5]),
    )


def test_the_reference_rate_with_accumulation() -> None:
    # 2 micro-batches per step, 2 steps per epoch: only the first micro-batch of a step lags.
    assert _rates(1, steps_per_epoch=2, accumulation=2, epochs=2) == _table(
        (0, 0),
        (0, 0),
        (1, QUARTERS[1]),
        (1, QUARTERS[2]),
        (2, QUARTERS[3]),
        (2, QUARTERS[3]),
        (3, QUARTERS[3]),
        (3, QUARTERS[4]),
    )


@pytest.mark.parametrize(
    ("lag", "expected"),
    [
        (0, _rates(0, steps_per_epoch=2, accumulation=2, epochs=2)),
        (1, _rates(1, steps_per_epoch=2, accumulation=2, epochs=2)),
    ],
)
def test_the_trainer_gives_each_micro_batch_its_scheduled_rate(
    tmp_path: Path, lag: int, expected: list[tuple[int, float]]
) -> None:
    """Two epochs of 4 records, batch 1 x accumulation 2: the table above, in a real run."""
    config = make_config(
        tmp_path,
        [reflection_file(tmp_path, 4)],
        max_steps=4,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=2,
    )
    config = config.model_copy(
        update={"distillation": config.distillation.model_copy(update={"mask_schedule_lag": lag})}
    )
    model, tokenizer = make_prepared()
    trainer = build_trainer(config, model, tokenizer)
    seen: list[tuple[int, float]] = []
    compute_loss = trainer.compute_loss

    def recording(model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append((trainer.state.global_step, float(inputs["mask_rate"])))
        return compute_loss(model, inputs, *args, **kwargs)

    trainer.compute_loss = recording  # type: ignore[method-assign]
    trainer.train()
    assert seen == expected
    logged = [entry["mask_rate"] for entry in trainer.state.log_history if "mask_rate" in entry]
    assert logged == [rate for _, rate in expected[1::2]]  # each step's last micro-batch
