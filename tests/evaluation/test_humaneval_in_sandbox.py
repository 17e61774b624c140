"""HumanEval in the real sandbox: every reference solution passes, every wrong one fails."""

from __future__ import annotations

import pytest

from reflectseq.evaluation.benchmarks import humaneval_canonical_solutions, load_humaneval
from reflectseq.evaluation.scoring import overall_pass_at, score

WRONG_BODY = "    return None\n"


def test_canonical_solutions_pass_and_wrong_ones_fail() -> None:
    problems = load_humaneval()
    canonical = humaneval_canonical_solutions()
    # Two samples per problem, scored in one batch: the reference body, then a wrong one.
    results = score(problems, [[canonical[p.task_id], WRONG_BODY] for p in problems], concurrency=2)

    right = [result.samples[0] for result in results]
    wrong = [result.samples[1] for result in results]
    failed_references = {r.task_id: r.samples[0].detail for r in results if not r.samples[0].passed}
    assert failed_references == {}
    assert sum(sample.passed for sample in right) == 164
    assert sum(sample.passed for sample in wrong) == 0
    assert {sample.status for sample in wrong} <= {"failed", "runtime_error"}
    assert all(sample.detail for sample in wrong)  # the failing assertion is kept
    # Each problem has one passing sample of two.
    assert overall_pass_at(results, [1, 2]) == {1: pytest.approx(0.5), 2: pytest.approx(1.0)}
