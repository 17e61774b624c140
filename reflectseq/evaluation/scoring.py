"""Execute every sample in the sandbox and score each problem.

All programs of a run go to ``execute_many`` as one batch, so the sandbox's concurrency limit
(not this module) decides how many run at once, and the order of results is the order of
samples. Each program is sent whole (prompt, completion, tests) and judged by MultiPL-E's verdict
(``multipl_e_status``), without reflectseq's assembly or end-of-tests check, so pass@k stays
comparable with published numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from reflectseq.enums import ExecutionStatus
from reflectseq.evaluation.passk import pass_at_k, problem_pass_at_k
from reflectseq.evaluation.problems import Problem
from reflectseq.sandbox import execute_many
from reflectseq.sandbox.models import ExecutionRequest, ExecutionResult

DETAIL_CHARS = 2_000


@dataclass(frozen=True)
class SampleResult:
    """One executed sample: the code that ran (before the tests) and the verdict."""

    completion: str
    status: str
    passed: bool
    detail: str
    """The end of stderr (or the sandbox's message): usually the failing assertion."""


@dataclass(frozen=True)
class ProblemResult:
    """All samples of one problem."""

    task_id: str
    language: str
    samples: list[SampleResult]

    @property
    def n(self) -> int:
        """Number of samples."""
        return len(self.samples)

    @property
    def correct(self) -> int:
        """Number of passing samples."""
        return sum(sample.passed for sample in self.samples)

    def pass_at(self, k: int) -> float | None:
        """This problem's pass@k, ``None`` with fewer than ``k`` samples."""
        return problem_pass_at_k(self.n, self.correct, k)


def _detail(result: ExecutionResult) -> str:
    if result.passed:
        return ""
    steps = [step for step in (result.run, result.compile) if step is not None]
    text = next((step.stderr for step in steps if step.stderr.strip()), None)
    if text is None:
        text = result.message or next((step.stdout for step in steps if step.stdout), "")
    return text[-DETAIL_CHARS:]


def score(
    problems: Sequence[Problem],
    completions: Sequence[Sequence[str]],
    *,
    concurrency: int | None = None,
    run_timeout: float | None = None,
) -> list[ProblemResult]:
    """Run ``completions[i][j]`` (cleaned code) against the tests of ``problems[i]``."""
    if len(problems) != len(completions):
        raise ValueError("one list of completions per problem is needed")
    requests = [
        ExecutionRequest(
            language=problem.language, code=problem.program(code), run_timeout=run_timeout
        )
        for problem, codes in zip(problems, completions, strict=True)
        for code in codes
    ]
    verdicts = iter(execute_many(requests, concurrency=concurrency))
    results = []
    for problem, codes in zip(problems, completions, strict=True):
        samples = []
        for code in codes:
            verdict = next(verdicts)
            samples.append(
                SampleResult(
                    completion=code,
                    status=str(verdict.multipl_e_status),
                    passed=verdict.multipl_e_status == ExecutionStatus.PASSED,
                    detail=_detail(verdict),
                )
            )
        results.append(ProblemResult(problem.task_id, problem.language, samples))
    return results


def overall_pass_at(results: Sequence[ProblemResult], ks: Sequence[int]) -> dict[int, float | None]:
    """pass@k over all problems for each ``k``."""
    samples = [result.n for result in results]
    correct = [result.correct for result in results]
    return {k: pass_at_k(samples, correct, k) for k in ks}


def status_counts(results: Sequence[ProblemResult]) -> dict[str, int]:
    """How many samples ended in each sandbox status (``toolchain_unavailable`` stands out)."""
    counts = Counter(sample.status for result in results for sample in result.samples)
    return dict(sorted(counts.items()))
