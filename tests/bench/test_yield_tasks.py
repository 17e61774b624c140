"""The yield benchmark's task set: current, accepted as it is, and judged right by its own tests.

Every reference solution must pass its tests in the real sandbox, and an answer whose entry point
returns an empty or zero value must fail them when it runs (not when it compiles), so the tests
check results rather than only that the entry point exists.
"""

from __future__ import annotations

from collections import Counter

import pytest

from bench.tasks.yield_tasks import TASK_FILE, render, tasks
from reflectseq.enums import ExecutionStatus
from reflectseq.evaluation.benchmarks import load_benchmark
from reflectseq.evaluation.problems import Problem
from reflectseq.ingest.files import read_instruction_file
from reflectseq.sandbox import ExecutionRequest, ExecutionResult, execute_many

REQUIRED_LANGUAGES = {"py", "cpp", "java", "js", "ts", "rs", "go", "sh"}


def test_task_file_is_current() -> None:
    assert TASK_FILE.read_text("utf-8") == render(), "run: python bench/tasks/yield_tasks.py"


def test_task_file_is_an_instruction_set_and_a_benchmark() -> None:
    specs = [spec for _, spec in read_instruction_file(TASK_FILE)]
    problems = load_benchmark(str(TASK_FILE))

    per_language = Counter(problem.language for problem in problems)
    assert set(per_language) >= REQUIRED_LANGUAGES and len(per_language) >= 8
    assert len(problems) >= 48 and min(per_language.values()) >= 6
    assert Counter(spec.metadata["difficulty"] for spec in specs).keys() == {"easy", "medium"}
    assert all(spec.entry_point and spec.metadata["solution"].strip() for spec in specs)
    assert len({spec.content_hash() for spec in specs}) == len(specs)


LOADED_MACHINE_TIMEOUT_S = 120.0


def _run(problems: list[Problem], answers: list[str]) -> list[ExecutionResult]:
    """Each answer assembled with its problem's tests, the way ``reflectseq eval`` runs it.

    The steps get generous time limits: what is checked is the verdict of a finished run, and a
    loaded machine compiles Rust or Scala slower than MultiPL-E's 15 s allow.
    """
    requests = [
        ExecutionRequest(
            language=problem.language,
            code=problem.program(answer),
            compile_timeout=LOADED_MACHINE_TIMEOUT_S,
            run_timeout=LOADED_MACHINE_TIMEOUT_S,
        )
        for problem, answer in zip(problems, answers, strict=True)
    ]
    return execute_many(requests)


def _report(failures: list[tuple[Problem, ExecutionResult]]) -> str:
    """Each unexpected verdict with the step that decided it."""
    return "\n".join(
        f"{problem.task_id}: {result.status} {(result.run or result.compile)!r}"[:1500]
        for problem, result in failures
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_reference_solutions_pass_and_empty_answers_fail() -> None:
    problems = load_benchmark(str(TASK_FILE))
    rendered = tasks()
    assert [problem.task_id for problem in problems] == [
        f"yield/{language.code}/{problem.name}" for language, problem in rendered
    ]

    references = _run(problems, [language.solution(problem) for language, problem in rendered])
    empty = _run(problems, [language.wrong_solution(problem) for language, problem in rendered])

    rejected = [(p, r) for p, r in zip(problems, references, strict=True) if not r.passed]
    assert not rejected, _report(rejected)
    accepted = [
        (p, r) for p, r in zip(problems, empty, strict=True) if r.status != ExecutionStatus.FAILED
    ]
    assert not accepted, _report(accepted)
