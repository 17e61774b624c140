"""The yield benchmark's task set: twelve small problems rendered into ten languages.

Each problem is written once, with its test cases as Python values; a renderer per language turns
it into an instruction, MultiPL-E-style tests in that language's idiom (``check(candidate)``,
``assert`` in ``main``, ``assert.deepStrictEqual``, test/unit, luaunit, ``[[ ... ]]``), and a
trivially wrong answer (the entry point returning an empty or zero value) that the tests must
reject. The reference solutions are real source files under ``solutions/<language>/``. Every
language gets three easy and three medium problems, so the set has 60 tasks.

The tests are appended after the answer, the way the loop and ``reflectseq eval`` assemble a
program, so they bring nothing a complete answer has to leave out except their own driver: Go has
no place for the tests' imports after the answer's declarations, so its checks live in an
``init`` function (``go test`` runs it, and it may be declared any number of times), and Java's
``Problem`` class (the class the sandbox runs) calls the answer's ``Solution`` class.

``python bench/tasks/yield_tasks.py`` writes ``bench/tasks/yield.jsonl`` (the file ``reflectseq
run``, the API and ``reflectseq eval --benchmark`` read); ``--check`` fails when it is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TASK_FILE = HERE / "yield.jsonl"
SOLUTIONS = HERE / "solutions"
SOURCE = "reflectseq-yield"


@dataclass(frozen=True)
class Param:
    """A parameter: its name and one of the types int, bool, str, list[int], list[str]."""

    name: str
    type: str


@dataclass(frozen=True)
class Problem:
    """A task in language-neutral form; ``description`` completes "... that returns ..."."""

    name: str
    param: Param
    returns: str
    description: str
    difficulty: str
    cases: tuple[tuple[Any, Any], ...]
    """(argument, expected result) pairs; every problem takes exactly one argument."""


EASY = (
    Problem(
        "sum_of_evens",
        Param("numbers", "list[int]"),
        "int",
        "the sum of the even numbers in `numbers` (0 when there are none)",
        "easy",
        (([1, 2, 3, 4], 6), ([], 0), ([1, 3, 5], 0), ([-2, -4, 7], -6), ([10], 10)),
    ),
    Problem(
        "count_vowels",
        Param("text", "str"),
        "int",
        "how many vowels (a, e, i, o, u, in upper or lower case) `text` contains",
        "easy",
        (("hello", 2), ("", 0), ("AEIOU xyz", 5), ("rhythm", 0), ("Programming", 3)),
    ),
    Problem(
        "reverse_words",
        Param("sentence", "str"),
        "str",
        "the words of `sentence` (separated by single spaces) in reverse order, joined by "
        "single spaces",
        "easy",
        (("hello world", "world hello"), ("one", "one"), ("a b c", "c b a"), ("", "")),
    ),
    Problem(
        "is_leap_year",
        Param("year", "int"),
        "bool",
        "whether `year` is a leap year of the Gregorian calendar: divisible by 4, except years "
        "divisible by 100 that are not divisible by 400",
        "easy",
        ((2024, True), (1900, False), (2000, True), (2023, False), (2100, False)),
    ),
    Problem(
        "digit_sum",
        Param("n", "int"),
        "int",
        "the sum of the decimal digits of the non-negative integer `n`",
        "easy",
        ((0, 0), (7, 7), (12345, 15), (1000, 1), (987654321, 45)),
    ),
    Problem(
        "fizzbuzz",
        Param("n", "int"),
        "str",
        '"FizzBuzz" when the positive integer `n` is divisible by both 3 and 5, "Fizz" when it '
        'is divisible by 3 only, "Buzz" when by 5 only, and otherwise `n` in decimal',
        "easy",
        ((3, "Fizz"), (5, "Buzz"), (15, "FizzBuzz"), (7, "7"), (30, "FizzBuzz"), (1, "1")),
    ),
)

MEDIUM = (
    Problem(
        "is_balanced",
        Param("text", "str"),
        "bool",
        "whether the brackets (), [] and {} in `text` are balanced and properly nested (other "
        "characters are ignored, and an empty text is balanced)",
        "medium",
        (("([]{})", True), ("([)]", False), ("", True), ("((", False), ("a(b)c", True)),
    ),
    Problem(
        "run_length_encode",
        Param("text", "str"),
        "str",
        "the run-length encoding of `text`: every run of equal characters becomes the character "
        'followed by the length of the run, so "aaabcc" becomes "a3b1c2" (an empty text gives '
        "an empty string)",
        "medium",
        (("aaabcc", "a3b1c2"), ("", ""), ("abc", "a1b1c1"), ("zzzzzzzzzzzz", "z12")),
    ),
    Problem(
        "primes_up_to",
        Param("limit", "int"),
        "list[int]",
        "all prime numbers less than or equal to `limit`, in increasing order",
        "medium",
        ((10, [2, 3, 5, 7]), (1, []), (2, [2]), (30, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29])),
    ),
    Problem(
        "longest_common_prefix",
        Param("words", "list[str]"),
        "str",
        "the longest string that every string in `words` starts with (an empty string when "
        "there is none or `words` is empty)",
        "medium",
        (
            (["flower", "flow", "flight"], "fl"),
            (["dog", "racecar", "car"], ""),
            ([], ""),
            (["same", "same"], "same"),
            (["prefix"], "prefix"),
        ),
    ),
    Problem(
        "roman_to_int",
        Param("numeral", "str"),
        "int",
        "the value of the Roman numeral `numeral` (symbols I, V, X, L, C, D and M, with "
        "subtractive pairs such as IV = 4 and CM = 900)",
        "medium",
        (("III", 3), ("IV", 4), ("IX", 9), ("LVIII", 58), ("MCMXCIV", 1994)),
    ),
    Problem(
        "longest_increasing_run",
        Param("numbers", "list[int]"),
        "int",
        "the length of the longest run of consecutive elements of `numbers` in which every "
        "element is strictly greater than the one before it (0 for an empty list)",
        "medium",
        (([1, 2, 3, 2, 3, 4, 5], 4), ([], 0), ([5, 4, 3], 1), ([1, 1, 1], 1), ([1, 3, 5, 4], 3)),
    ),
)

EMPTY: dict[str, Any] = {"int": 0, "bool": False, "str": "", "list[int]": [], "list[str]": []}
TYPE_WORDS = {
    "int": "an integer",
    "bool": "a boolean",
    "str": "a string",
    "list[int]": "a list of integers",
    "list[str]": "a list of strings",
}


def camel(name: str) -> str:
    """``sum_of_evens`` as ``sumOfEvens``."""
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


class Language:
    """How a problem reads in one language. The syntax is data: type spellings and templates,
    filled with ``str.format``; a language overrides a method only where a template cannot say
    it."""

    code = ""
    name = ""
    extension = ""
    camel_case = False
    typed = True
    list_word = "a list"
    types: dict[str, str] = {}
    """Spelling of each type (default: the neutral name, which is Python's)."""
    param_types: dict[str, str] = {}
    """Spelling of a parameter's type where it differs from a result's (Rust's ``&str``)."""
    signature_format = "{name}({param})"
    subject_format = "{language} function `{signature}`"
    list_format = "[{items}]"
    list_separator = ", "
    empty_list_format = ""
    """How an empty list is written where ``list_format`` would leave its type unknown."""
    call_format = "candidate({argument})"
    equality_formats: dict[str, str] = {}
    """How a test compares a result of each type (default ``{call} == {expected}``)."""
    case_format = ""
    tests_format = ""
    """The tests around the cases: ``{entry}`` is the entry point, ``{body}`` the cases."""
    wrong_format = ""
    """A wrong answer: ``{signature}`` returning ``{empty}``."""

    def type_words(self, type_: str) -> str:
        """``type_`` in words, e.g. "a list of integers", for languages without type syntax."""
        return TYPE_WORDS[type_].replace("a list", self.list_word)

    def type_name(self, type_: str, *, param: bool = False) -> str:
        """How ``type_`` is spelled, as a parameter's type or a result's."""
        table = self.param_types if param and self.param_types else self.types
        return table.get(type_, type_)

    def entry_point(self, problem: Problem) -> str:
        """The name the tests call."""
        return camel(problem.name) if self.camel_case else problem.name

    def scalar(self, value: Any) -> str:
        """A number, boolean or string as source (JSON syntax suits most languages)."""
        return json.dumps(value)

    def literal(self, value: Any, type_: str) -> str:
        """``value`` of ``type_`` as source code."""
        if not type_.startswith("list"):
            return self.scalar(value)
        spelled, element = self.type_name(type_), self.type_name(type_[5:-1])
        if not value and self.empty_list_format:
            return self.empty_list_format.format(type=spelled, element=element)
        items = self.list_separator.join(self.literal(item, type_[5:-1]) for item in value)
        return self.list_format.format(type=spelled, items=items)

    def expected(self, value: Any, type_: str) -> str:
        """A result as the tests compare it (as source code, unless the language prints it)."""
        return self.literal(value, type_)

    def signature(self, problem: Problem) -> str:
        """The declaration the instruction asks for."""
        return self.signature_format.format(
            name=self.entry_point(problem),
            param=problem.param.name,
            param_type=self.type_name(problem.param.type, param=True),
            returns=self.type_name(problem.returns),
        )

    def call(self, problem: Problem, argument: Any) -> str:
        """The entry point called on ``argument``, as the instruction's example shows it."""
        return f"{self.entry_point(problem)}({self.literal(argument, problem.param.type)})"

    def instruction(self, problem: Problem) -> str:
        """The task as the model reads it, with the first test case as a worked example."""
        subject = self.subject_format.format(language=self.name, signature=self.signature(problem))
        text = f"Write a {subject} that returns {problem.description}."
        if not self.typed:
            text += f" `{problem.param.name}` is {self.type_words(problem.param.type)}."
        argument, expected = problem.cases[0]
        shown = self.literal(expected, problem.returns)
        return f"{text} For example, `{self.call(problem, argument)}` returns `{shown}`."

    def case(self, problem: Problem, argument: Any, expected: Any) -> str:
        """One test case as a line of the tests."""
        call = self.call_format.format(
            entry=self.entry_point(problem), argument=self.literal(argument, problem.param.type)
        ).rstrip()
        shown = self.expected(expected, problem.returns)
        equality = self.equality_formats.get(problem.returns, "{call} == {expected}")
        check = equality.format(call=call, expected=shown)
        return self.case_format.format(call=call, expected=shown, check=check)

    def helpers(self, problem: Problem) -> str:
        """Code the tests need before their cases (none by default)."""
        return ""

    def tests(self, problem: Problem) -> str:
        """MultiPL-E-style tests, appended after the answer."""
        body = "\n".join(self.case(problem, *case) for case in problem.cases)
        return self.tests_format.format(
            entry=self.entry_point(problem), helpers=self.helpers(problem), body=body
        )

    def wrong_solution(self, problem: Problem) -> str:
        """An answer whose entry point returns an empty or zero value: the tests must fail it."""
        empty = self.expected(EMPTY[problem.returns], problem.returns)
        return self.wrong_format.format(signature=self.signature(problem), empty=empty)

    def solution(self, problem: Problem) -> str:
        """The reference solution, read from ``solutions/<code>/<problem>.<extension>``."""
        return (SOLUTIONS / self.code / f"{problem.name}.{self.extension}").read_text("utf-8")

    def task(self, problem: Problem) -> dict[str, Any]:
        """One line of the task file (an instruction-set line with a reference solution)."""
        return {
            "text": self.instruction(problem),
            "language": self.code,
            "tests": self.tests(problem),
            "entry_point": self.entry_point(problem),
            "metadata": {
                "task_id": f"yield/{self.code}/{problem.name}",
                "source": SOURCE,
                "difficulty": problem.difficulty,
                "solution": self.solution(problem),
            },
        }


class Python(Language):
    code, name, extension = "py", "Python", "py"
    signature_format = "def {name}({param}: {param_type}) -> {returns}"
    case_format = "    assert {check}"
    tests_format = "def check(candidate):\n{body}\n\n\ncheck({entry})\n"
    wrong_format = "{signature}:\n    return {empty}\n"

    def scalar(self, value: Any) -> str:
        return repr(value)


class Cpp(Language):
    code, name, extension = "cpp", "C++", "cpp"
    types = {
        "int": "int",
        "bool": "bool",
        "str": "std::string",
        "list[int]": "std::vector<int>",
        "list[str]": "std::vector<std::string>",
    }
    signature_format = "{returns} {name}({param_type} {param})"
    # Parenthesised: braces do not protect their commas inside the assert macro.
    list_format = "{type}({{{items}}})"
    empty_list_format = "{type}()"
    case_format = "    assert({check});"
    tests_format = (
        "#include <cassert>\n\nint main() {{\n    auto candidate = {entry};\n{body}\n}}\n"
    )
    wrong_format = "#include <string>\n#include <vector>\n\n{signature} {{\n    return {{}};\n}}\n"


class Java(Language):
    code, name, extension = "java", "Java", "java"
    camel_case = True
    types = {
        "int": "int",
        "bool": "boolean",
        "str": "String",
        "list[int]": "int[]",
        "list[str]": "String[]",
    }
    signature_format = "public static {returns} {name}({param_type} {param})"
    subject_format = "Java class `Solution` with a method `{signature}`"
    list_format = "new {type}{{{items}}}"
    call_format = "Solution.{entry}({argument})"
    equality_formats = {
        "str": "{call}.equals({expected})",
        "list[int]": "java.util.Arrays.equals({call}, {expected})",
        "list[str]": "java.util.Arrays.equals({call}, {expected})",
    }
    case_format = "        assert({check});"
    tests_format = (
        "class Problem {{\n    public static void main(String[] args) {{\n{body}\n    }}\n}}\n"
    )
    wrong_format = "class Solution {{\n    {signature} {{\n        return {empty};\n    }}\n}}\n"

    def call(self, problem: Problem, argument: Any) -> str:
        return f"Solution.{super().call(problem, argument)}"


class JavaScript(Language):
    code, name, extension = "js", "JavaScript", "js"
    camel_case = True
    typed = False
    list_word = "an array"
    case_format = "  assert.deepStrictEqual({call}, {expected});"
    tests_format = (
        "const assert = require('node:assert');\n\n"
        "function test() {{\n  let candidate = {entry};\n{body}\n}}\n\ntest();\n"
    )
    wrong_format = "function {signature} {{\n  return {empty};\n}}\n"


class TypeScript(JavaScript):
    code, name, extension = "ts", "TypeScript", "ts"
    typed = True
    types = {
        "int": "number",
        "bool": "boolean",
        "str": "string",
        "list[int]": "number[]",
        "list[str]": "string[]",
    }
    signature_format = "{name}({param}: {param_type}): {returns}"
    subject_format = "{language} function `function {signature}`"
    # No @types/node in the sandbox: the tests declare the require they use.
    tests_format = "declare var require: any;\n" + JavaScript.tests_format


class Rust(Language):
    code, name, extension = "rs", "Rust", "rs"
    types = {
        "int": "i64",
        "bool": "bool",
        "str": "String",
        "list[int]": "Vec<i64>",
        "list[str]": "Vec<String>",
    }
    param_types = {**types, "str": "&str"}
    signature_format = "fn {name}({param}: {param_type}) -> {returns}"
    list_format = "vec![{items}]"
    empty_list_format = "Vec::<{element}>::new()"
    case_format = "    assert_eq!({call}, {expected});"
    tests_format = "fn main() {{\n    let candidate = {entry};\n{body}\n}}\n"
    wrong_format = "#[allow(unused)]\n{signature} {{\n    Default::default()\n}}\n"

    def literal(self, value: Any, type_: str) -> str:
        if type_ == "list[str]" and value:
            return "vec![" + ", ".join(f"String::from({json.dumps(v)})" for v in value) + "]"
        return super().literal(value, type_)


class Go(Language):
    code, name, extension = "go", "Go", "go"
    camel_case = True
    types = {
        "int": "int",
        "bool": "bool",
        "str": "string",
        "list[int]": "[]int",
        "list[str]": "[]string",
    }
    signature_format = "func {name}({param} {param_type}) {returns}"
    list_format = "{type}{{{items}}}"
    equality_formats = {"list[int]": "same({call}, {expected})"}
    case_format = "\tcheck({check}, `{call} == {expected}`)"
    tests_format = (
        "func init() {{\n\tcandidate := {entry}\n"
        "\tcheck := func(ok bool, test string) {{\n"
        '\t\tif !ok {{\n\t\t\tpanic("failed: " + test)\n\t\t}}\n\t}}\n'
        "{helpers}{body}\n}}\n"
    )
    wrong_format = "package main\n\n{signature} {{\n\treturn {empty}\n}}\n"

    def helpers(self, problem: Problem) -> str:
        """Slices have no ``==``, and the tests cannot import ``reflect`` or ``slices``."""
        if problem.returns not in self.equality_formats:
            return ""
        return (
            f"\tsame := func(a, b {self.type_name(problem.returns)}) bool {{\n"
            "\t\tif len(a) != len(b) {\n\t\t\treturn false\n\t\t}\n"
            "\t\tfor i := range a {\n\t\t\tif a[i] != b[i] {\n\t\t\t\treturn false\n"
            "\t\t\t}\n\t\t}\n\t\treturn true\n\t}\n"
        )


class Bash(Language):
    """Arguments come as the function's arguments (a list as one argument per element); the
    result is printed (a list space-separated, a boolean as ``true``/``false``)."""

    code, name, extension = "sh", "Bash", "sh"
    signature_format = "{name}"
    list_format = "{items}"
    list_separator = " "
    call_format = "candidate {argument}"
    case_format = '    [[ $({call}) = "{expected}" ]]'
    tests_format = (
        'candidate() {{\n    {entry} "$@"\n}}\n\nset -e\nrun_test() {{\n{body}\n}}\n\nrun_test\n'
    )
    wrong_format = '{signature}() {{\n    echo "{empty}"\n}}\n'

    def scalar(self, value: Any) -> str:
        if isinstance(value, str):
            return "'" + value.replace("'", "'\\''") + "'"
        return str(value)

    def expected(self, value: Any, type_: str) -> str:
        """What the function prints for ``value``; the tests compare it in double quotes."""
        if isinstance(value, bool):
            shown = "true" if value else "false"
        elif isinstance(value, list):
            shown = " ".join(map(str, value))
        else:
            shown = str(value)
        if any(char in shown for char in '"$`\\'):
            raise ValueError(f"{shown!r} would need shell quoting in the tests")
        return shown

    def call(self, problem: Problem, argument: Any) -> str:
        return f"{problem.name} {self.literal(argument, problem.param.type)}".rstrip()

    def instruction(self, problem: Problem) -> str:
        param = problem.param
        if param.type.startswith("list"):
            takes = f"the elements of `{param.name}` ({self.type_words(param.type)})"
            takes += " as its arguments"
        else:
            takes = f"`{param.name}` ({self.type_words(param.type)}) as its first argument"
        prints = {
            "bool": " Print `true` or `false`.",
            "list[int]": " Print the numbers on one line, separated by single spaces.",
        }.get(problem.returns, "")
        argument, expected = problem.cases[0]
        return (
            f"Write a Bash function `{problem.name}` that takes {takes} and prints "
            f"{problem.description}.{prints} For example, `{self.call(problem, argument)}` "
            f"prints `{self.expected(expected, problem.returns)}`."
        )


class Ruby(Language):
    code, name, extension = "rb", "Ruby", "rb"
    typed = False
    list_word = "an array"
    subject_format = "Ruby method `{signature}`"
    call_format = "candidate.call({argument})"
    case_format = "    assert_equal({expected}, {call})"
    tests_format = (
        "require 'test/unit'\nclass TestHumanEval < Test::Unit::TestCase\n"
        "  def test_{entry}\n    candidate = method(:{entry})\n{body}\n  end\nend\n"
    )
    wrong_format = "def {signature}\n  {empty}\nend\n"


class Lua(Language):
    code, name, extension = "lua", "Lua", "lua"
    typed = False
    list_word = "a table (array)"
    list_format = "{{{items}}}"
    case_format = "    lu.assertEquals({call}, {expected})"
    tests_format = (
        "lu = require('luaunit')\n\nfunction test_humaneval()\n"
        "    local candidate = {entry}\n{body}\nend\n\nos.exit(lu.LuaUnit.run())\n"
    )
    wrong_format = "local function {signature}\n    return {empty}\nend\n"


LANGUAGES: tuple[Language, ...] = (
    Python(),
    Cpp(),
    Java(),
    JavaScript(),
    TypeScript(),
    Rust(),
    Go(),
    Bash(),
    Ruby(),
    Lua(),
)
PER_DIFFICULTY = 3


def problems_for(index: int) -> list[Problem]:
    """The six problems of the language at ``index``: a window of three easy and three medium
    ones that moves along with the index, so every problem appears in five languages."""
    window = range(index, index + PER_DIFFICULTY)
    return [pool[i % len(pool)] for pool in (EASY, MEDIUM) for i in window]


def tasks() -> list[tuple[Language, Problem]]:
    """Every task of the set, grouped by language in the order of ``LANGUAGES``."""
    return [
        (language, problem)
        for index, language in enumerate(LANGUAGES)
        for problem in problems_for(index)
    ]


def render() -> str:
    """The task file's content."""
    return "".join(
        json.dumps(language.task(problem), ensure_ascii=False) + "\n"
        for language, problem in tasks()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Fail when the file is stale.")
    args = parser.parse_args()
    content = render()
    if args.check:
        current = TASK_FILE.read_text("utf-8") if TASK_FILE.exists() else ""
        if current != content:
            sys.exit(f"{TASK_FILE} is stale: run python bench/tasks/yield_tasks.py")
        return
    TASK_FILE.write_text(content, encoding="utf-8")
    print(f"wrote {len(tasks())} tasks to {TASK_FILE}")


if __name__ == "__main__":
    main()
