"""Loading benchmarks: HumanEval from its package, MBPP files, instruction sets with tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from reflectseq.evaluation.benchmarks import (
    BenchmarkError,
    load_benchmark,
    load_instruction_file,
    load_mbpp,
)

MBPP_LINES = [
    {
        "task_id": 2,
        "text": "A prompt-split problem.",
        "code": "",
        "test_list": ["assert True"],
        "test_setup_code": "",
        "challenge_test_list": [],
    },
    {
        "task_id": 11,
        "text": "Write a python function to remove first and last occurrence of a given character.",
        "code": "def remove_Occ(s,ch): ...",
        "test_list": [
            'assert remove_Occ("hello","l") == "heo"',
            'assert remove_Occ("abcda","a") == "bcd"',
        ],
        "test_setup_code": "import re",
        "challenge_test_list": [],
    },
]


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_humaneval_has_its_164_problems() -> None:
    problems = load_benchmark("humaneval")
    assert len(problems) == 164
    assert {problem.language for problem in problems} == {"py"}
    assert all(problem.entry_point and problem.prompt_code for problem in problems)


@pytest.mark.parametrize("compressed", [False, True])
def test_mbpp_test_split_with_original_asserts(tmp_path: Path, compressed: bool) -> None:
    text = "".join(json.dumps(row) + "\n" for row in MBPP_LINES)
    if compressed:
        path = tmp_path / "mbpp.jsonl.gz"
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path = tmp_path / "mbpp.jsonl"
        path.write_text(text, encoding="utf-8")
    [problem] = load_mbpp(path)
    assert problem.task_id == "Mbpp/11"
    assert problem.tests == (
        'import re\nassert remove_Occ("hello","l") == "heo"\n'
        'assert remove_Occ("abcda","a") == "bcd"\n'
    )
    assert 'assert remove_Occ("hello","l") == "heo"' in problem.instruction
    assert problem.prompt_code == ""


def test_mbpp_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "mbpp.jsonl"
    path.write_text(json.dumps(MBPP_LINES[1]) + "\n{broken\n", encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"mbpp.jsonl:2: not valid JSON"):
        load_mbpp(path)
    _jsonl(path, [{"task_id": 12, "text": "no tests"}])
    with pytest.raises(BenchmarkError, match=r"mbpp.jsonl:1: an MBPP problem needs"):
        load_mbpp(path)


def test_instruction_set_in_several_languages(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "mine.jsonl",
        [
            {"text": "Add.", "language": "python", "tests": "assert add(1, 2) == 3"},
            {
                "text": "Double.",
                "language": "javascript",
                "tests": "console.assert(double(2) === 4);",
                "metadata": {"task_id": "js/double"},
            },
        ],
    )
    first, second = load_instruction_file(path)
    assert (first.task_id, first.language, first.instruction) == ("mine/1", "py", "Add.")
    assert (second.task_id, second.language) == ("js/double", "js")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"text": "Add.", "language": "py"}], r"mine.jsonl:1: tests: a benchmark problem needs"),
        (
            [{"text": "Add.", "language": "py", "tests": "assert 1"}, {"language": "py"}],
            r"mine.jsonl:2: text: Field required",
        ),
        ([{"text": "Add.", "language": "cobol", "tests": "x"}], r"mine.jsonl:1: language: "),
        (
            [
                {"text": "A.", "language": "py", "tests": "assert 1", "metadata": {"task_id": "a"}},
                {"text": "B.", "language": "py", "tests": "assert 1", "metadata": {"task_id": "a"}},
            ],
            r"mine.jsonl:2: task id 'a' repeats line 1",
        ),
        ([], r"mine.jsonl: no problems"),
    ],
)
def test_instruction_set_errors_name_line_and_field(
    tmp_path: Path, rows: list[object], message: str
) -> None:
    path = _jsonl(tmp_path / "mine.jsonl", rows)
    with pytest.raises(BenchmarkError, match=message):
        load_instruction_file(path)


def test_unknown_benchmark_name() -> None:
    with pytest.raises(BenchmarkError, match="unknown benchmark 'humaneval-plus'"):
        load_benchmark("humaneval-plus")
