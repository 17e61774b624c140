"""HumanEval in the real sandbox: every reference solution passes, every wrong one fails,
under the evaluation's MultiPL-E verdict and under the loop's assembly alike."""

from __future__ import annotations

import pytest

from reflectseq.enums import ExecutionStatus
from reflectseq.evaluation.benchmarks import humaneval_canonical_solutions, load_humaneval
from reflectseq.evaluation.problems import Problem
from reflectseq.evaluation.scoring import overall_pass_at, score
from reflectseq.sandbox import ExecutionRequest, execute_many

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


def test_the_loops_assembly_and_end_of_tests_check_agree_on_humaneval() -> None:
    """Code and tests sent apart (as the loop sends them) keep every HumanEval verdict."""
    problems = load_humaneval()
    canonical = humaneval_canonical_solutions()
    requests = [
        ExecutionRequest(language="py", code=problem.prompt_code + body, tests=problem.tests)
        for problem in problems
        for body in (canonical[problem.task_id], WRONG_BODY)
    ]
    verdicts = execute_many(requests, concurrency=2)
    right, wrong = verdicts[0::2], verdicts[1::2]
    assert [v.status for v in right] == [ExecutionStatus.PASSED] * len(problems)
    assert all(v.status != ExecutionStatus.PASSED for v in wrong)
    assert all(v.status == v.multipl_e_status and not v.passed_with_errors for v in verdicts)


def test_eval_keeps_multipl_e_verdict_for_comparability() -> None:
    """Published harnesses trust the exit code; so does ``reflectseq eval``, on purpose."""
    problem = Problem(task_id="t/0", language="py", instruction="f", tests="assert f() == 1\n")
    forged = "import os\n\ndef f():\n    os._exit(0)\n"
    (result,) = score([problem], [[forged]])
    assert result.samples[0].passed and result.samples[0].status == "passed"
