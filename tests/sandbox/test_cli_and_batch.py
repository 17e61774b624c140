"""``reflectseq sandbox run|doctor`` and ``execute_many``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from reflectseq.cli import app
from reflectseq.enums import ExecutionStatus
from reflectseq.sandbox import ExecutionRequest, execute_many

runner = CliRunner()


def test_run_exits_zero_when_passed(tmp_path: Path) -> None:
    program = tmp_path / "ok.py"
    program.write_text("assert sum([1, 2]) == 3\nprint('fine')\n")
    result = runner.invoke(app, ["sandbox", "run", str(program), "--language", "python"])
    assert result.exit_code == 0, result.output
    assert "status: passed" in result.output


def test_run_json_reports_failure_with_nonzero_exit(tmp_path: Path) -> None:
    program = tmp_path / "bad.py"
    program.write_text("assert 1 == 2\n")
    result = runner.invoke(app, ["sandbox", "run", str(program), "-l", "py", "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["status"] == "failed"
    assert "AssertionError" in payload["run"]["stderr"]


def test_run_with_tests_assembles_and_checks_the_end_of_the_tests(tmp_path: Path) -> None:
    tests = tmp_path / "tests.py"
    tests.write_text("assert add(2, 3) == 5\n")
    right = tmp_path / "right.py"
    right.write_text("def add(a, b):\n    return a + b\n\nprint(add(1, 1))\n")
    result = runner.invoke(app, ["sandbox", "run", str(right), "-l", "py", "--tests", str(tests)])
    assert result.exit_code == 0, result.output
    assert "status: passed" in result.output and "reflectseq_end_" not in result.output
    forged = tmp_path / "forged.py"
    forged.write_text("import os\n\ndef add(a, b):\n    os._exit(0)\n")
    args = ["sandbox", "run", str(forged), "-l", "py", "--tests", str(tests), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert (payload["status"], payload["multipl_e_status"]) == ("failed", "passed")
    assert "assert add(2, 3) == 5" in payload["program"]


def test_run_rejects_unknown_language(tmp_path: Path) -> None:
    program = tmp_path / "x.cob"
    program.write_text("DISPLAY 'HI'.\n")
    result = runner.invoke(app, ["sandbox", "run", str(program), "--language", "cobol"])
    assert result.exit_code == 2
    assert "unknown language 'cobol'" in result.output


def test_doctor_reports_protections_and_languages() -> None:
    result = runner.invoke(app, ["sandbox", "doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    layers = {layer["name"]: layer["active"] for layer in report["protections"]}
    assert layers["namespaces (bubblewrap)"] is True
    readiness = {lang["code"]: lang["readiness"] for lang in report["languages"]}
    assert readiness["py"] == "ready"
    assert readiness["jl"] in {"docker-only", "ready"}


def test_execute_many_keeps_order() -> None:
    requests = [
        ExecutionRequest(
            language="py", code=f"import time\ntime.sleep({0.3 * (3 - i)})\nassert {i} < 2\n"
        )
        for i in range(4)
    ]
    statuses = [result.status for result in execute_many(requests, concurrency=2)]
    assert statuses == [ExecutionStatus.PASSED] * 2 + [ExecutionStatus.FAILED] * 2
