"""Assembly and the end-of-tests check in the real sandbox, per language.

A correct function with the driver a model adds passes, a wrong one fails; pasted together as
they are, the two collide. Programs that forge a pass through the exit code (``os._exit(0)``, an
``atexit`` hook, ``exit(0)`` in the function under test) are not passed, though MultiPL-E's rule
alone would pass them.
"""

# ruff: noqa: E501  (programs are data; their lines are kept whole to stay readable)

from __future__ import annotations

import pytest

from reflectseq.enums import ExecutionStatus
from reflectseq.sandbox import ExecutionRequest, execute
from tests.sandbox.drivers import DRIVEN, answer
from tests.sandbox.programs import LOCAL, marked_slow, split_checked


def run(language: str, code: str, tests: str | None) -> ExecutionRequest:
    return ExecutionRequest(language=language, code=code, tests=tests)


@pytest.mark.parametrize("language", marked_slow(sorted(DRIVEN)))
def test_correct_answer_with_its_own_driver_passes(language: str) -> None:
    result = execute(run(language, answer(language, correct=True), DRIVEN[language].tests))
    assert result.status == ExecutionStatus.PASSED, result
    assert result.multipl_e_status == ExecutionStatus.PASSED
    assert result.program is not None and "reflectseq_end_" in result.program
    assert result.run is not None and "reflectseq_end_" not in result.run.stdout


@pytest.mark.parametrize("language", marked_slow(sorted(DRIVEN)))
def test_wrong_answer_with_its_own_driver_fails(language: str) -> None:
    result = execute(run(language, answer(language, correct=False), DRIVEN[language].tests))
    assert result.status == ExecutionStatus.FAILED, result


@pytest.mark.parametrize("language", marked_slow(sorted(DRIVEN)))
def test_answer_and_tests_pasted_together_are_misjudged(language: str) -> None:
    """What assembly fixes: the plain concatenation fails the right answer or passes the wrong."""
    verdicts = [
        execute(run(language, f"{answer(language, correct=right)}\n{DRIVEN[language].tests}", None))
        for right in (True, False)
    ]
    right, wrong = (verdict.status == ExecutionStatus.PASSED for verdict in verdicts)
    assert not right or wrong, verdicts


@pytest.mark.parametrize("correct", [True, False])
def test_java_public_answer_class_runs_beside_the_tests_problem_class(correct: bool) -> None:
    code = (
        "public class Solution {\n    public static int add(int a, int b) { return a "
        + ("+" if correct else "-")
        + " b; }\n}\n"
    )
    tests = (
        "class Problem {\n    public static void main(String[] args) {\n"
        '        if (Solution.add(2, 3) != 5) throw new AssertionError("add");\n    }\n}\n'
    )
    result = execute(run("java", code, tests))
    expected = ExecutionStatus.PASSED if correct else ExecutionStatus.FAILED
    assert result.status == expected, result


@pytest.mark.parametrize("correct", [True, False])
def test_go_checks_in_init_judge_the_answer_not_its_own_tests(correct: bool) -> None:
    tests = 'func init() {\n\tif add(2, 3) != 5 {\n\t\tpanic("add(2, 3) != 5")\n\t}\n}\n'
    result = execute(run("go", answer("go", correct=correct), tests))
    expected = ExecutionStatus.PASSED if correct else ExecutionStatus.FAILED
    assert result.status == expected, result
    assert result.program is not None and "reflectseq_end_" in result.program


@pytest.mark.parametrize("language", marked_slow(LOCAL))
def test_multipl_e_suites_keep_their_verdict_with_the_end_of_tests_check(language: str) -> None:
    passing = execute(run(language, *split_checked(language, expected="5")))
    assert passing.status == ExecutionStatus.PASSED, passing
    failing = execute(run(language, *split_checked(language, expected="6")))
    assert failing.status == ExecutionStatus.FAILED, failing


FORGERIES = {
    "py_os_exit": ("py", "import os\n\ndef add(a, b):\n    os._exit(0)\n"),
    "py_atexit": (
        "py",
        "import atexit, os\natexit.register(os._exit, 0)\n\ndef add(a, b):\n    return a - b\n",
    ),
    "py_sys_exit": ("py", "import sys\n\ndef add(a, b):\n    sys.exit(0)\n"),
    "py_exit_before_tests": (
        "py",
        "import os\n\ndef add(a, b):\n    return a - b\n\nos._exit(0)\n",
    ),
    "js_process_exit": ("js", "function add(a, b) {\n  process.exit(0);\n}\n"),
    "cpp_exit": ("cpp", "#include <cstdlib>\nlong add(long a, long b) { std::exit(0); }\n"),
    "rs_process_exit": (
        "rs",
        "fn add(_a: isize, _b: isize) -> isize {\n    std::process::exit(0)\n}\n",
    ),
    "go_exit_in_init": (
        "go",
        'package main\n\nimport "os"\n\nfunc init() { os.Exit(0) }\n\nfunc add(a int, b int) int { return a - b }\n',
    ),
}
FORGED_TESTS = {
    "py": DRIVEN["py"].tests,
    "js": DRIVEN["js"].tests,
    "cpp": DRIVEN["cpp"].tests,
    "rs": "fn main() {\n    assert_eq!(add(2, 3), 5);\n}\n",
    "go": DRIVEN["go"].tests,
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_exiting_before_the_tests_end_is_not_a_pass(name: str) -> None:
    language, code = FORGERIES[name]
    result = execute(run(language, code, FORGED_TESTS[language]))
    assert result.multipl_e_status == ExecutionStatus.PASSED, result  # the forgery works there
    assert result.status == ExecutionStatus.FAILED
    assert result.message and "did not run to their end" in result.message


UNITTEST_SUITE = (
    "import unittest\n\n\nclass TestAdd(unittest.TestCase):\n"
    "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n\n"
    'if __name__ == "__main__":\n    unittest.main()\n'
)


def test_unittest_main_at_the_end_of_the_tests_still_reports_its_run() -> None:
    right = execute(run("py", answer("py", correct=True), UNITTEST_SUITE))
    assert right.status == ExecutionStatus.PASSED, right
    wrong = execute(run("py", answer("py", correct=False), UNITTEST_SUITE))
    assert wrong.status == wrong.multipl_e_status == ExecutionStatus.FAILED, wrong


def test_a_top_level_exit_in_the_models_driver_is_dropped() -> None:
    code = "import sys\n\ndef add(a, b):\n    return a + b\n\nsys.exit(main())\n"
    result = execute(run("py", code, DRIVEN["py"].tests))
    assert result.status == ExecutionStatus.PASSED, result


def test_correct_answer_with_an_exit_hook_still_passes() -> None:
    code = "import atexit, os\natexit.register(os._exit, 0)\n\ndef add(a, b):\n    return a + b\n"
    result = execute(run("py", code, DRIVEN["py"].tests))
    assert result.status == ExecutionStatus.PASSED, result


def test_bash_error_on_stderr_is_passed_with_errors() -> None:
    """The issue's case: bash prints `syntax error in expression`, goes on and exits 0."""
    code = (
        "reverse_words() {\n"
        '    if [[ "$1 x" -gt 100 ]]; then echo big; fi\n'
        "    source ./helpers.sh\n"
        '    local out=""\n    for word in "$@"; do out="$word${out:+ $out}"; done\n'
        '    echo "$out"\n}\n'
    )
    tests = '[ "$(reverse_words a b c)" = "c b a" ] || exit 1\n'
    result = execute(run("sh", code, tests))
    assert result.status == ExecutionStatus.PASSED, result
    assert result.passed_with_errors
    assert result.stderr_error is not None and "syntax error in expression" in result.stderr_error
    assert result.model_dump()["passed_with_errors"] is True


def test_python_traceback_from_a_thread_is_passed_with_errors() -> None:
    code = (
        "import threading\n\ndef add(a, b):\n"
        "    worker = threading.Thread(target=lambda: 1 / 0)\n"
        "    worker.start()\n    worker.join()\n    return a + b\n"
    )
    result = execute(run("py", code, DRIVEN["py"].tests))
    assert result.status == ExecutionStatus.PASSED, result
    assert result.passed_with_errors


def test_clean_pass_has_no_error() -> None:
    result = execute(
        run("sh", "add() { echo $(( $1 + $2 )); }\n", '[ "$(add 2 3)" = 5 ] || exit 1\n')
    )
    assert result.status == ExecutionStatus.PASSED, result
    assert not result.passed_with_errors and result.stderr_error is None


def test_without_tests_the_program_runs_as_given_and_is_not_repeated() -> None:
    code = "print('hello')\nraise SystemExit(0)\n"
    result = execute(run("py", code, None))
    assert result.status == ExecutionStatus.PASSED
    assert result.program is None
    assert result.run is not None and result.run.stdout == "hello\n"
