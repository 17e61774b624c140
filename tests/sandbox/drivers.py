"""Answers the way chat models write them (the function plus their own driver) and MultiPL-E tests.

Each ``answer`` defines ``add`` with ``{op}`` as its operator (``+`` is right, ``-`` is wrong) and
adds what real models add: a ``main`` that prints or asserts, a test function named like ours,
``if __name__ == '__main__':``, a second ``const assert = require('assert')``, imports the driver
needs. ``tests`` is the language's MultiPL-E test suite for ``add(2, 3) == 5``: appended as they
are, the two collide (redefinition, duplicate declaration, unused import...).
"""

# ruff: noqa: E501  (programs are data; their lines are kept whole to stay readable)
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Driven:
    answer: str
    tests: str


DRIVEN: dict[str, Driven] = {
    "cpp": Driven(
        answer=(
            "#include <iostream>\nusing namespace std;\n\n"
            "long add(long a, long b) {\n    return a {op} b;\n}\n\n"
            "int main() {\n    // quick check: main() {\n"
            '    cout << "add(2, 3) = " << add(2, 3) << endl;\n    return 0;\n}\n'
        ),
        tests="int main() {\n    auto candidate = add;\n    assert(candidate(2, 3) == (5));\n}\n",
    ),
    "cs": Driven(
        answer=(
            "using System;\n\nnamespace Solution\n{\n    public class Program\n    {\n"
            "        public static long Add(long a, long b)\n        {\n            return a {op} b;\n        }\n\n"
            "        public static void Main(string[] args)\n        {\n"
            '            Console.WriteLine("Add(2, 3) = " + Add(2, 3));\n        }\n    }\n}\n'
        ),
        tests=(
            "using System.Diagnostics;\n"
            "    public static void Main(string[] args) {\n"
            "    Debug.Assert(Add((2L), (3L)) == (5L));\n    }\n\n}\n"
        ),
    ),
    "d": Driven(
        answer=(
            "import std.stdio;\n\nlong add(long a, long b)\n{\n    return a {op} b;\n}\n\n"
            "unittest\n{\n    assert(add(1, 1) == 3);\n}\n\n"
            'void main()\n{\n    writeln("add(2, 3) = ", add(2, 3));\n}\n'
        ),
        tests=(
            "unittest\n{\n    alias candidate = add;\n\n    assert(candidate(2L, 3L) == 5L);\n}\n"
            "void main(){}\n"
        ),
    ),
    "go": Driven(
        answer=(
            'package main\n\nimport (\n\t"fmt"\n\t"os"\n\t"testing"\n)\n\n'
            "func add(a int, b int) int {\n\treturn a {op} b\n}\n\n"
            'func TestAdd(t *testing.T) {\n\tif add(1, 1) != 3 {\n\t\tt.Fatal("add(1, 1)")\n\t}\n}\n\n'
            'func main() {\n\tfmt.Println("add(2, 3) =", add(2, 3))\n\tos.Exit(0)\n}\n'
        ),
        tests=(
            "func TestAdd(t *testing.T) {\n  candidate := add\n"
            "  type test struct { actual interface{}; expected interface{} }\n"
            "  tests := []test{ { actual: candidate(2, 3), expected: 5 } }\n"
            "  for i, tc := range tests {\n"
            '    t.Run(fmt.Sprintf("test num % d", i), func(t *testing.T) {\n'
            '      if fmt.Sprintf("%v", tc.actual) != fmt.Sprintf("%v", tc.expected) {\n'
            "        t.Errorf(\"expected '%s', got '%s'\", tc.expected, tc.actual)\n      }\n    })\n  }\n}\n"
        ),
    ),
    "java": Driven(
        answer=(
            "import java.util.*;\n\npublic class Solution {\n"
            "    public static long add(long a, long b) {\n        return a {op} b;\n    }\n\n"
            "    public static void main(String[] args) {\n"
            '        System.out.println("add(2, 3) = " + add(2, 3)); // main() { }\n    }\n}\n'
        ),
        tests=(
            "    public static void main(String[] args) {\n"
            "    assert(add((2l), (3l)) == (5l));\n    }\n\n}\n"
        ),
    ),
    "js": Driven(
        answer=(
            "const assert = require('assert');\n\n"
            "function add(a, b) {\n  return a {op} b;\n}\n\n"
            "assert.strictEqual(\n  add(1, 1),\n  3\n);\n"
            "console.log(add(2, 3));\nmodule.exports = { add };\n\n"
            "function test() {\n  assert.strictEqual(add(2, 3), 5);\n}\n\ntest();\n"
        ),
        tests=(
            "const assert = require('node:assert');\n\n"
            "function test() {\n  let candidate = add;\n  assert.deepEqual(candidate(2, 3),5);\n}\n\ntest();\n"
        ),
    ),
    "php": Driven(
        answer=(
            "<?php\n\nfunction add($a, $b) {\n    return $a {op} $b;\n}\n\n"
            "function test() {\n    echo add(2, 3), PHP_EOL;\n}\n\ntest();\n?>\n"
        ),
        tests=(
            "function candidate(...$args) {\n    return add(...$args);\n}\n\n"
            "function test(): void {\n"
            '    if (candidate(2, 3) !== 5) { throw new Exception("Test failed!"); }\n}\n\ntest();\n'
        ),
    ),
    "py": Driven(
        answer=(
            "def add(a: int, b: int) -> int:\n"
            '    """Return a + b.\n\n    >>> add(1, 1)\n    2\n    """\n'
            "    return a {op} b\n\n\n"
            "def check(candidate):\n    assert candidate(1, 1) == 3\n\n\ncheck(add)\n\n"
            'if __name__ == "__main__":\n    import sys\n\n    print(add(int(sys.argv[1]), 2))\n'
        ),
        tests=(
            "def check(candidate):\n    assert candidate(2, 3) == 5\n\n"
            "def test_check():\n    check(add)\n\ntest_check()\n"
        ),
    ),
    "rs": Driven(
        answer=(
            "use std::io;\n\nfn add(a: isize, b: isize) -> isize {\n    a {op} b\n}\n\n"
            "fn main() {\n    let mut line = String::new();\n"
            "    io::stdin().read_line(&mut line).unwrap();\n"
            '    println!("add(2, 3) = {}", add(2, 3));\n}\n'
        ),
        tests=(
            "use std::io;\n\n"
            "fn main() {\n    let _ = io::stdout();\n    let candidate = add;\n"
            "    assert_eq!(candidate(2, 3), 5);\n}\n"
        ),
    ),
    "scala": Driven(
        answer=(
            "object Main extends App {\n"
            "  def add(a: Long, b: Long): Long = {\n    a {op} b\n  }\n\n"
            '  println(s"add(2, 3) = ${add(2, 3)}")\n\n'
            "  def main(args: Array[String]): Unit = {\n"
            '    println("main { }")\n  }\n}\n'
        ),
        tests=(
            "    def main(args: Array[String]) = {\n"
            "    assert(add((2l), (3l)) == (5l));\n    }\n\n}\n"
        ),
    ),
    "ts": Driven(
        answer=(
            "import * as assert from 'assert';\n\n"
            "export function add(a: number, b: number): number {\n  return a {op} b;\n}\n\n"
            "assert.strictEqual(add(1, 1), 3);\nconsole.log(add(2, 3));\n\n"
            "export function test(): void {\n  assert.strictEqual(add(2, 3), 5);\n}\n\ntest();\n"
        ),
        tests=(
            "declare var require: any;\nconst assert = require('node:assert');\n\n"
            "function test() {\n  let candidate = add;\n  assert.deepEqual(candidate(2, 3),5);\n}\n\ntest();\n"
        ),
    ),
}


def answer(language: str, *, correct: bool) -> str:
    """The model's answer, with a right or a wrong ``add``."""
    return DRIVEN[language].answer.replace("{op}", "+" if correct else "-")
