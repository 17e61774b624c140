"""``reflectseq eval`` end to end: scripted endpoint, real sandbox, run files, report."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from reflectseq.cli import app
from reflectseq.format import one_off_prompt
from tests.evaluation.conftest import ScriptedEndpoint
from tests.loop.llm_server import answer

runner = CliRunner()

ADD_TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"
DOUBLE_TESTS = "const assert = require('assert');\nassert.strictEqual(double(4), 8);\n"


def _instructions(tmp_path: Path, marker: str) -> tuple[Path, str, str]:
    """A Python and a JavaScript task; the texts carry the marker the server routes by."""
    py_text, js_text = f"Add two numbers {marker}-py.", f"Double a number {marker}-js."
    path = tmp_path / "tasks.jsonl"
    rows = [
        {"text": py_text, "language": "py", "tests": ADD_TESTS, "metadata": {"task_id": "add"}},
        {"text": js_text, "language": "js", "tests": DOUBLE_TESTS, "metadata": {"task_id": "dbl"}},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path, py_text, js_text


def _eval(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["eval", *args])
    return result.exit_code, result.output


def _summary(run_dir: Path) -> dict[str, object]:
    return json.loads((run_dir / "summary.json").read_text())


def _results(run_dir: Path) -> dict[str, dict[str, object]]:
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    return {row["task_id"]: row for row in map(json.loads, lines)}


@pytest.fixture
def marker() -> str:
    return f"[eval-{uuid.uuid4().hex[:10]}]"


def test_chat_run_scores_each_language_in_the_sandbox(
    tmp_path: Path, endpoint: ScriptedEndpoint, marker: str
) -> None:
    tasks, _, _ = _instructions(tmp_path, marker)
    endpoint.script(
        f"{marker}-py", [answer("Sure:\n```python\ndef add(a, b):\n    return a + b\n```\n")]
    )
    endpoint.script(
        f"{marker}-js", [answer("```javascript\nfunction double(x) { return x + 2; }\n```")]
    )
    run_dir = tmp_path / "chat"
    code, output = _eval(
        "--benchmark", str(tasks), "--model", "scripted", "--base-url", endpoint.base_url,
        "--n", "2", "-k", "1,2", "--out", str(run_dir), "--name", "chat",
    )  # fmt: skip
    assert code == 0, output
    assert "| chat | " in output and "| 50.0 | 50.0 |" in output

    summary = _summary(run_dir)
    assert summary["pass_at"] == {"1": 0.5, "2": 0.5}
    assert summary["statuses"] == {"failed": 2, "passed": 2}
    assert summary["sampling"]["temperature"] == 0.8  # sampled, since n > 1
    results = _results(run_dir)
    assert (results["add"]["correct"], results["dbl"]["correct"]) == (2, 0)
    assert results["add"]["samples"][0]["completion"] == "def add(a, b):\n    return a + b\n"
    assert "AssertionError" in results["dbl"]["samples"][0]["detail"]
    # The server answers one choice per request, so the second sample was asked for again.
    requests = endpoint.requests_for(f"{marker}-py")
    assert [request["n"] for request in requests] == [2, 1]
    assert len((run_dir / "completions.jsonl").read_text().splitlines()) == 4


def test_special_template_uses_raw_completions(
    tmp_path: Path, endpoint: ScriptedEndpoint, marker: str
) -> None:
    tasks, py_text, _ = _instructions(tmp_path, marker)
    endpoint.script(f"{marker}-py", [answer("def add(a, b):\n    return a + b\n```<|endofblock|>")])
    endpoint.script(f"{marker}-js", [answer("function double(x) { return x * 2; }\n```")])
    run_dir = tmp_path / "special"
    code, output = _eval(
        "--benchmark", str(tasks), "--model", "scripted", "--base-url", endpoint.base_url,
        "--template", "special", "--out", str(run_dir),
    )  # fmt: skip
    assert code == 0, output
    assert _summary(run_dir)["pass_at"] == {"1": 1.0}

    [request] = endpoint.requests_for(f"{marker}-py")
    assert request["prompt"] == one_off_prompt(py_text) + "<|text|>```python\n"
    assert request["stop"] == ["<|endofblock|>", "<|endofmessage|>"]
    assert (request["n"], request["temperature"]) == (1, 0.0)
    [js_request] = endpoint.requests_for(f"{marker}-js")
    assert js_request["prompt"].endswith("<|text|>```javascript\n")


def test_completions_file_is_rescored_and_reported(
    tmp_path: Path, endpoint: ScriptedEndpoint, marker: str
) -> None:
    tasks, _, _ = _instructions(tmp_path, marker)
    endpoint.script(f"{marker}-py", [answer("```python\ndef add(a, b):\n    return a + b\n```")])
    endpoint.script(f"{marker}-js", [answer("```js\nfunction double(x) { return 0; }\n```")])
    first = tmp_path / "first"
    code, output = _eval(
        "--benchmark", str(tasks), "--model", "scripted", "--base-url", endpoint.base_url,
        "--out", str(first), "--name", "generated",
    )  # fmt: skip
    assert code == 0, output
    served = len(endpoint.requests)

    again = tmp_path / "again"
    code, output = _eval(
        "--benchmark", str(tasks), "--model", "elsewhere", "--name", "from | file",
        "--completions", str(first / "completions.jsonl"), "--out", str(again),
    )  # fmt: skip
    assert code == 0, output
    assert len(endpoint.requests) == served  # nothing generated
    assert _summary(again)["pass_at"] == _summary(first)["pass_at"] == {"1": 0.5}
    assert _summary(again)["backend"] == "completions-file"

    table, chart = tmp_path / "report.md", tmp_path / "runs.png"
    result = runner.invoke(
        app, ["eval", "report", str(first), str(again), "--out", str(table), "--plot", str(chart)]
    )
    assert result.exit_code == 0, result.output
    lines = table.read_text().splitlines()
    assert lines[0] == "| run | benchmark | model | template | problems | n | pass@1 |"
    assert lines[2] == f"| generated | {tasks} | scripted | chat | 2 | 1 | 50.0 |"
    assert lines[3] == f"| from \\| file | {tasks} | elsewhere | chat | 2 | 1 | 50.0 |"
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    height, width, _ = imread(chart).shape
    assert width > 500 and height > 300


def test_bad_completions_line_is_named_and_nothing_is_written(tmp_path: Path, marker: str) -> None:
    tasks, _, _ = _instructions(tmp_path, marker)
    completions = tmp_path / "answers.jsonl"
    completions.write_text(
        json.dumps({"task_id": "add", "completion": "x"})
        + "\n"
        + json.dumps({"task_id": "nope", "completion": "y"})
        + "\n"
    )
    run_dir = tmp_path / "run"
    code, output = _eval(
        "--benchmark", str(tasks), "--model", "m", "--completions", str(completions),
        "--out", str(run_dir),
    )  # fmt: skip
    assert code == 2
    assert "answers.jsonl:2: task_id: 'nope' is not a problem of this benchmark" in output
    assert not run_dir.exists()

    completions.write_text(json.dumps({"task_id": "add", "completion": "x"}) + "\n")
    code, output = _eval(
        "--benchmark", str(tasks), "--model", "m", "--completions", str(completions),
    )  # fmt: skip
    assert code == 2
    assert "no completion for 1 problem(s): dbl" in output


def test_endpoint_rejection_fails_cleanly(
    tmp_path: Path, endpoint: ScriptedEndpoint, marker: str
) -> None:
    tasks, _, _ = _instructions(tmp_path, marker)  # nothing scripted: the server answers 404
    run_dir = tmp_path / "run"
    code, output = _eval(
        "--benchmark", str(tasks), "--model", "scripted", "--base-url", endpoint.base_url,
        "--out", str(run_dir),
    )  # fmt: skip
    assert code == 2
    assert "the endpoint failed" in output
    assert not run_dir.exists()


def test_report_names_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "report", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not a finished evaluation run" in result.output


def test_k_beyond_the_samples_is_refused(tmp_path: Path, marker: str) -> None:
    tasks, _, _ = _instructions(tmp_path, marker)
    code, output = _eval("--benchmark", str(tasks), "--model", "m", "--n", "2", "-k", "1,5")
    assert code == 2
    assert "pass@5 needs at least 5 samples per problem" in output


def test_limit_skips_answers_to_left_out_problems(tmp_path: Path, marker: str) -> None:
    tasks, _, _ = _instructions(tmp_path, marker)
    completions = tmp_path / "answers.jsonl"
    rows = [
        {"task_id": "add", "completion": "def add(a, b):\n    return a + b\n"},
        {"task_id": "dbl", "completion": "function double(x) { return 0; }"},
    ]
    completions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    run_dir = tmp_path / "run"
    code, output = _eval(
        "--benchmark", str(tasks), "--model", "m", "--completions", str(completions),
        "--limit", "1", "--out", str(run_dir),
    )  # fmt: skip
    assert code == 0, output
    assert list(_results(run_dir)) == ["add"]
    assert _summary(run_dir)["pass_at"] == {"1": 1.0}


# HumanEval/0's body calling a helper defined after it, as a completion from elsewhere may.
BODY_WITH_HELPER = (
    "    return _any_close(numbers, threshold)\n\n\n"
    "def _any_close(numbers, threshold):\n"
    "    for i, a in enumerate(numbers):\n"
    "        for j, b in enumerate(numbers):\n"
    "            if i != j and abs(a - b) < threshold:\n"
    "                return True\n"
    "    return False\n"
)


def test_completions_need_no_model_and_are_not_cut_at_stops_unless_asked(tmp_path: Path) -> None:
    completions = tmp_path / "vllm-batch.jsonl"
    completions.write_text(
        json.dumps({"task_id": "HumanEval/0", "completion": BODY_WITH_HELPER}) + "\n"
    )
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    common = ["--benchmark", "humaneval", "--limit", "1", "--completions", str(completions)]

    code, output = _eval(*common, "--template", "raw", "--out", str(whole))
    assert code == 0, output
    assert _summary(whole)["model"] == "vllm-batch"  # the file is the model
    assert _summary(whole)["pass_at"] == {"1": 1.0}

    # Codex's stops ("\ndef ") cut the helper away: only on request.
    code, output = _eval(*common, "--template", "raw", "--cut-at-stops", "--out", str(cut))
    assert code == 0, output
    assert _summary(cut)["pass_at"] == {"1": 0.0}
    assert "def _any_close" in _results(whole)["HumanEval/0"]["samples"][0]["completion"]
    assert "def _any_close" not in _results(cut)["HumanEval/0"]["samples"][0]["completion"]


def test_cut_at_stops_goes_with_completions(tmp_path: Path, marker: str) -> None:
    tasks, _, _ = _instructions(tmp_path, marker)
    code, output = _eval("--benchmark", str(tasks), "--model", "m", "--cut-at-stops")
    assert code == 2
    assert "goes with --completions" in output
