"""The pass@k estimator against known values and the closed form."""

from __future__ import annotations

from math import comb

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reflectseq.evaluation.passk import pass_at_k, problem_pass_at_k


def test_known_values() -> None:
    assert problem_pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert problem_pass_at_k(10, 3, 10) == pytest.approx(1.0)
    # 1 - C(7, 5) / C(10, 5) = 1 - 21 / 252
    assert problem_pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)
    assert problem_pass_at_k(10, 0, 5) == 0.0
    assert problem_pass_at_k(1, 1, 1) == 1.0


@given(
    st.integers(1, 60).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))
    )
)
def test_matches_the_closed_form(case: tuple[int, int, int]) -> None:
    n, c, k = case
    assert problem_pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))


def test_mean_over_problems() -> None:
    # pass@1 of three problems with 2 of 4, 4 of 4 and 0 of 4 samples passing.
    assert pass_at_k([4, 4, 4], [2, 4, 0], 1) == pytest.approx((0.5 + 1 + 0) / 3)


def test_k_above_the_sample_count_is_undefined() -> None:
    assert pass_at_k([10, 5], [3, 5], 10) is None
    assert problem_pass_at_k(1, 1, 10) is None


@pytest.mark.parametrize(
    ("samples", "correct", "k", "message"),
    [
        ([2], [3], 1, "3 passing samples out of 2"),
        ([2], [1], 0, "at least 1"),
        ([2, 2], [1], 1, "one entry"),
    ],
)
def test_rejects_inconsistent_counts(
    samples: list[int], correct: list[int], k: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        pass_at_k(samples, correct, k)
