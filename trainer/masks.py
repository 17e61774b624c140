"""Which tokens the student sees: the masking strategies of dynamically masked distillation.

A strategy hides part of the reflection; the share it hides grows with the *mask rate*, which
follows training progress. Tokens outside the reflection are fixed: the first user turn, the
reflection's role tag and its end are always hidden, the one-off instruction and the final
answer always shown, so the student learns to answer without the reflection in front of it.

Everything here is pure numpy so the exact masks can be tested on a hand-built record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from trainer.tokenization import BLOCK_TYPE_CODES, IntArray, Segment

BoolArray = npt.NDArray[np.bool_]

BLOCK_ORDER_LETTERS = {"t": "text", "c": "code", "e": "execution"}

# The paper reveals the block order in thirds of training: the second type is hidden from a
# mask rate of 0.33 on, the third from 0.67 on.
BLOCK_MASK_THRESHOLDS = (0.0, 0.33, 0.67)

# Mask rates are ratios of step counts; guard ceil() against float noise such as 0.3 * 10.
_EPSILON = 1e-9


class Strategy(StrEnum):
    """The masking strategies; a record draws one of the enabled ones per step."""

    ALL_MASK = "all_mask"
    RANDOM_TOKEN_MASK = "random_token_mask"
    SEQUENTIAL_TOKEN_MASK = "sequential_token_mask"
    RANDOM_BLOCK_MASK = "random_block_mask"
    SEQUENTIAL_BLOCK_MASK = "sequential_block_mask"
    BLOCK_MASK = "block_mask"


def mask_rate(step: int, total_steps: int) -> float:
    """Share of training done at optimizer step ``step`` (0-based), counting the current step."""
    if total_steps <= 0:
        return 0.0
    return min((step + 1) / total_steps, 1.0)


@dataclass(frozen=True)
class MicroBatchPosition:
    """Where a micro-batch sits in the run, as far as the reference's mask rate is concerned."""

    step: int
    """The optimizer step it is trained in."""
    index_in_window: int
    """0 for the first micro-batch of its step's accumulation window."""
    first_window_of_epoch: bool
    """Its window is the first one drawn from a new epoch's dataloader."""
    seen_before: int
    """Micro-batches this run drew before it."""


def scheduled_rate(position: MicroBatchPosition, total_steps: int, *, lag: int) -> float:
    """The mask rate of a micro-batch: its step's rate, or with ``lag=1`` the reference's.

    The reference computes the rate in its collator, from the trainer state at the moment a
    batch is collated, and accelerate's dataloader collates one batch ahead of the one being
    trained. So, exactly:

    * the first micro-batch of a step was collated while the previous step was still running
      and gets the previous step's rate, except in the first window of an epoch, whose new
      dataloader collates it fresh;
    * the first two micro-batches of a run were both collated before the trainer handed its
      state to the collator, which then still held ``max_steps = 0``: their rate is 0.
    """
    if lag == 0:
        return mask_rate(position.step, total_steps)
    if position.seen_before < 2:
        return 0.0
    if position.index_in_window == 0 and not position.first_window_of_epoch:
        return mask_rate(position.step - 1, total_steps)
    return mask_rate(position.step, total_steps)


def _count(n: int, rate: float) -> int:
    return min(n, math.ceil(n * rate - _EPSILON))


def parse_block_order(order: str) -> tuple[int, ...]:
    """``"tce"`` -> block type codes in the order they get hidden."""
    if sorted(order) != sorted(BLOCK_ORDER_LETTERS):
        raise ValueError(f"block order must be a permutation of 'tce', got {order!r}")
    return tuple(BLOCK_TYPE_CODES[BLOCK_ORDER_LETTERS[letter]] for letter in order)


def hidden_reflection(
    strategy: Strategy,
    block_id: IntArray,
    block_type: IntArray,
    *,
    rate: float,
    rng: np.random.Generator,
    block_order: Sequence[int],
) -> BoolArray:
    """Which reflection tokens to hide; the arrays cover the reflection tokens only."""
    strategy = Strategy(strategy)
    n = len(block_id)
    hidden = np.zeros(n, dtype=bool)
    n_blocks = int(block_id.max()) + 1 if n else 0
    if strategy is Strategy.ALL_MASK:
        hidden[:] = True
    elif strategy is Strategy.SEQUENTIAL_TOKEN_MASK:
        hidden[: _count(n, rate)] = True
    elif strategy is Strategy.RANDOM_TOKEN_MASK:
        hidden[rng.choice(n, _count(n, rate), replace=False)] = True
    elif strategy is Strategy.SEQUENTIAL_BLOCK_MASK:
        hidden = block_id < _count(n_blocks, rate)
    elif strategy is Strategy.RANDOM_BLOCK_MASK:
        chosen = rng.choice(n_blocks, _count(n_blocks, rate), replace=False)
        hidden = np.isin(block_id, chosen)
    elif strategy is Strategy.BLOCK_MASK:
        types = [
            t for t, start in zip(block_order, BLOCK_MASK_THRESHOLDS, strict=True) if rate >= start
        ]
        hidden = np.isin(block_type, types)
    return hidden


def student_visibility(
    segment: IntArray,
    block_id: IntArray,
    block_type: IntArray,
    *,
    strategy: Strategy,
    rate: float,
    rng: np.random.Generator,
    block_order: Sequence[int],
) -> BoolArray:
    """True where the student sees the token, over the whole record."""
    visible: BoolArray = np.equal(segment, int(Segment.VISIBLE))
    reflection = segment == Segment.REFLECTION
    hidden = hidden_reflection(
        strategy,
        block_id[reflection],
        block_type[reflection],
        rate=rate,
        rng=rng,
        block_order=block_order,
    )
    visible[reflection] = ~hidden
    return visible


def record_rng(seed: int, step: int, record_index: int) -> np.random.Generator:
    """The random stream of one record at one optimizer step.

    Keyed by (seed, step, record) rather than drawn from a shared stream, so the masks do not
    depend on dataloader workers, on how a step is split into micro-batches, or on resuming.
    """
    return np.random.default_rng([seed, step, record_index])


def choose_strategy(strategies: Sequence[Strategy], rng: np.random.Generator) -> Strategy:
    """One of the enabled strategies, uniformly, as the reference picks per record."""
    if len(strategies) == 1:
        return strategies[0]
    return strategies[int(rng.integers(len(strategies)))]
