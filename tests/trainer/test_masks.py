"""Exact student masks for a hand-built layout, for every strategy at several rates."""

from __future__ import annotations

import numpy as np
import pytest

from tests.trainer.tiny import make_prepared, reflection_record
from trainer.masks import (
    Strategy,
    mask_rate,
    parse_block_order,
    record_rng,
    student_visibility,
)
from trainer.tokenization import RecordTokenizer, Segment

# BOS, user turn (3 tokens), <|assistant|> | text x3, code x3, execution x2, text x2
# | the reflection's <|endofmessage|> | one-off turn and answer (3 tokens)
SEGMENT = np.array([0, 0, 0, 0] + [1] * 10 + [0] + [2, 2, 2])
BLOCK_ID = np.array([-1] * 4 + [0, 0, 0, 1, 1, 1, 2, 2, 3, 3] + [-1] * 4)
BLOCK_TYPE = np.array([-1] * 4 + [0, 0, 0, 1, 1, 1, 2, 2, 0, 0] + [-1] * 4)
TCE = parse_block_order("tce")


def visible(strategy: Strategy, rate: float, order: str = "tce", key: int = 0) -> str:
    """The reflection part of the visibility as a 0/1 string; also checks the fixed parts."""
    mask = student_visibility(
        SEGMENT,
        BLOCK_ID,
        BLOCK_TYPE,
        strategy=strategy,
        rate=rate,
        rng=record_rng(7, 3, key),
        block_order=parse_block_order(order),
    )
    assert mask[:4].tolist() == [False] * 4  # BOS, first user turn, <|assistant|>
    assert not mask[14]  # the reflection's <|endofmessage|>
    assert mask[15:].all()  # one-off instruction and answer
    return "".join("1" if v else "0" for v in mask[4:14])


@pytest.mark.parametrize(
    ("strategy", "rate", "expected"),
    [
        (Strategy.ALL_MASK, 0.0, "0000000000"),
        (Strategy.ALL_MASK, 0.5, "0000000000"),
        (Strategy.SEQUENTIAL_TOKEN_MASK, 0.0, "1111111111"),
        (Strategy.SEQUENTIAL_TOKEN_MASK, 0.25, "0001111111"),
        (Strategy.SEQUENTIAL_TOKEN_MASK, 0.3, "0001111111"),  # 10 * 0.3 is 3.0000000000000004
        (Strategy.SEQUENTIAL_TOKEN_MASK, 0.5, "0000011111"),
        (Strategy.SEQUENTIAL_TOKEN_MASK, 1.0, "0000000000"),
        (Strategy.SEQUENTIAL_BLOCK_MASK, 0.25, "0001111111"),
        (Strategy.SEQUENTIAL_BLOCK_MASK, 0.5, "0000001111"),
        (Strategy.SEQUENTIAL_BLOCK_MASK, 0.6, "0000000011"),
        (Strategy.SEQUENTIAL_BLOCK_MASK, 1.0, "0000000000"),
        (Strategy.BLOCK_MASK, 0.1, "0001111100"),
        (Strategy.BLOCK_MASK, 0.32, "0001111100"),
        (Strategy.BLOCK_MASK, 0.33, "0000001100"),
        (Strategy.BLOCK_MASK, 0.5, "0000001100"),
        (Strategy.BLOCK_MASK, 0.67, "0000000000"),
        (Strategy.BLOCK_MASK, 1.0, "0000000000"),
    ],
)
def test_deterministic_strategies(strategy: Strategy, rate: float, expected: str) -> None:
    assert visible(strategy, rate) == expected


@pytest.mark.parametrize(
    ("order", "rate", "expected"),
    [("etc", 0.1, "1111110011"), ("etc", 0.4, "0001110000"), ("cet", 0.5, "1110000011")],
)
def test_block_mask_follows_the_block_order(order: str, rate: float, expected: str) -> None:
    assert visible(Strategy.BLOCK_MASK, rate, order) == expected


@pytest.mark.parametrize("rate", [0.1, 0.25, 0.5, 0.9])
def test_random_token_mask_hides_ceil_share_reproducibly(rate: float) -> None:
    seen = visible(Strategy.RANDOM_TOKEN_MASK, rate)
    assert seen.count("0") == int(np.ceil(10 * rate))
    assert visible(Strategy.RANDOM_TOKEN_MASK, rate) == seen
    draws = {visible(Strategy.RANDOM_TOKEN_MASK, rate, key=k) for k in range(20)}
    assert len(draws) > 1


@pytest.mark.parametrize(("rate", "blocks"), [(0.1, 1), (0.5, 2), (0.6, 3), (1.0, 4)])
def test_random_block_mask_hides_whole_blocks(rate: float, blocks: int) -> None:
    """The reference could never enable this strategy (a misspelt flag name); here it works."""
    bounds = [(0, 3), (3, 6), (6, 8), (8, 10)]
    for key in range(10):
        seen = visible(Strategy.RANDOM_BLOCK_MASK, rate, key=key)
        hidden = [seen[a:b] for a, b in bounds if seen[a:b] == "0" * (b - a)]
        shown = [seen[a:b] for a, b in bounds if seen[a:b] == "1" * (b - a)]
        assert len(hidden) == blocks
        assert len(hidden) + len(shown) == 4


def test_mask_rate_counts_the_current_step() -> None:
    assert [mask_rate(s, 4) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert mask_rate(0, 0) == 0.0


def test_block_order_must_be_a_permutation() -> None:
    with pytest.raises(ValueError, match="permutation"):
        parse_block_order("tcc")


def test_all_mask_on_a_tokenized_record_shows_only_the_one_off_turn() -> None:
    _, tokenizer = make_prepared()
    encoded = RecordTokenizer(tokenizer).encode(reflection_record())
    mask = student_visibility(
        encoded.segment,
        encoded.block_id,
        encoded.block_type,
        strategy=Strategy.ALL_MASK,
        rate=0.0,
        rng=record_rng(0, 0, 0),
        block_order=TCE,
    )
    last_user = max(
        np.flatnonzero(encoded.input_ids == tokenizer.convert_tokens_to_ids("<|user|>"))
    )
    assert mask.tolist() == [i >= last_user for i in range(len(encoded))]
    assert (encoded.segment[last_user:] == Segment.VISIBLE).all()
