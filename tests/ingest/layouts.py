"""Small instruction files in the layouts the presets read, written in every input format.

Each layout has a few rows shaped as the real datasets are (extra columns included, which a
mapping ignores) and what reflectseq should make of each row, so the run reader, the API and
the command-line client are checked against the same expectations.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from reflectseq.ingest.records import InputFormat

SUFFIX = {
    InputFormat.JSONL: ".jsonl",
    InputFormat.JSON: ".json",
    InputFormat.CSV: ".csv",
    InputFormat.PARQUET: ".parquet",
}
FORMATS = tuple(SUFFIX)

LUA_PROMPT = "-- Return the sum of a and b.\n-- >>> add(1, 2)\n-- 3\nlocal function add(a, b)\n"
LUA_TESTS = (
    "lu = require('luaunit')\n\nfunction test_humaneval()\nlocal candidate = add\n"
    "    lu.assertEquals(candidate(1, 2), 3)\nend\n\nos.exit(lu.LuaUnit.run())\n"
)
CPP_PROMPT = "#include<assert.h>\n// Return the larger of a and b.\nlong bigger(long a, long b) {\n"
CPP_TESTS = "}\nint main() {\n    auto candidate = bigger;\n    assert(candidate(1, 2) == 2);\n}\n"
PY_PROMPT = 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n'
PY_CHECK = "def check(candidate):\n    assert candidate(1, 2) == 3\n"


@dataclass(frozen=True)
class Expected:
    """What one row becomes: its language code, text fragments, tests and metadata."""

    language: str
    text_contains: tuple[str, ...]
    tests: str | None = None
    metadata: dict[str, str] | None = None


@dataclass(frozen=True)
class Layout:
    """A preset's sample rows and the task each should turn into."""

    preset: str
    rows: list[dict[str, Any]]
    expected: list[Expected]


LAYOUTS = {
    "evol-instruct": Layout(
        "evol-instruct",
        [
            {"instruction": "Write a Python function that reverses a string.", "output": "..."},
            {"instruction": "Write a function that counts vowels.", "output": "def f(): ..."},
        ],
        [
            Expected("py", ("reverses a string",)),
            Expected("py", ("counts vowels",)),
        ],
    ),
    "oss-instruct": Layout(
        "oss-instruct",
        [
            {
                "lang": "python",
                "raw_index": 11,
                "index": 1,
                "seed": "import os",
                "problem": "You are given a list of paths; return the longest.",
                "solution": "def longest(paths): ...",
            },
            {
                "lang": "rust",
                "raw_index": 12,
                "index": 2,
                "seed": "fn main() {}",
                "problem": "Implement a stack in Rust with push and pop.",
                "solution": "struct Stack;",
            },
        ],
        [
            Expected("py", ("return the longest",), metadata={"index": "1"}),
            Expected("rs", ("stack in Rust",), metadata={"index": "2"}),
        ],
    ),
    "multipl-e": Layout(
        "multipl-e",
        [
            {
                "name": "HumanEval_0_add",
                "language": "lua",
                "prompt": LUA_PROMPT,
                "doctests": "transform",
                "original": "humaneval/add.py",
                "prompt_terminology": "reworded",
                "tests": LUA_TESTS,
            },
            {
                "name": "HumanEval_1_bigger",
                "language": "cpp",
                "prompt": CPP_PROMPT,
                "doctests": "transform",
                "original": "humaneval/bigger.py",
                "prompt_terminology": "reworded",
                "tests": CPP_TESTS,
            },
        ],
        [
            Expected(
                "lua",
                ("Complete the following Lua function", "local function add(a, b)"),
                tests=LUA_TESTS,
                metadata={"task_id": "HumanEval_0_add"},
            ),
            Expected(
                "cpp",
                ("Complete the following C++ function", "long bigger(long a, long b) {"),
                # The test's opening "}" closed MultiPL-E's open function; the task asks for
                # the whole function, so it goes.
                tests=CPP_TESTS.removeprefix("}\n"),
                metadata={"task_id": "HumanEval_1_bigger"},
            ),
        ],
    ),
    "humaneval": Layout(
        "humaneval",
        [
            {
                "task_id": "Custom/0",
                "prompt": PY_PROMPT,
                "canonical_solution": "    return a + b\n",
                "test": PY_CHECK,
                "entry_point": "add",
            }
        ],
        [
            Expected(
                "py",
                ("Complete the following Python function", "def add(a: int, b: int) -> int:"),
                tests=PY_CHECK.rstrip() + "\n\ncheck(add)\n",
                metadata={"task_id": "Custom/0"},
            )
        ],
    ),
}


def _csv_cell(value: Any) -> str:
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def encode(rows: list[dict[str, Any]], input_format: InputFormat) -> bytes:
    """``rows`` as the bytes of a file in ``input_format``."""
    if input_format is InputFormat.JSONL:
        return b"".join(json.dumps(row).encode() + b"\n" for row in rows)
    if input_format is InputFormat.JSON:
        return json.dumps(rows).encode()
    if input_format is InputFormat.CSV:
        text = io.StringIO(newline="")
        columns = list(dict.fromkeys(key for row in rows for key in row))
        writer = csv.DictWriter(text, fieldnames=columns)
        writer.writeheader()
        writer.writerows({key: _csv_cell(value) for key, value in row.items()} for row in rows)
        return text.getvalue().encode()
    sink = io.BytesIO()
    columns = dict.fromkeys(key for row in rows for key in row)
    pq.write_table(
        pa.Table.from_pydict({key: [row.get(key) for row in rows] for key in columns}), sink
    )
    return sink.getvalue()


def check_tasks(tasks: list[dict[str, Any]], layout: Layout) -> None:
    """The stored or read tasks match the layout's expectations, in order."""
    assert len(tasks) == len(layout.expected)
    for task, expected in zip(tasks, layout.expected, strict=True):
        assert task["language"] == expected.language
        for fragment in expected.text_contains:
            assert fragment in task["text"], task["text"]
        if expected.tests is not None:
            assert task["tests"] == expected.tests
        for key, value in (expected.metadata or {}).items():
            assert str(task["metadata"][key]) == value
