"""Small MultiPL-E-style programs per language: tests that pass or fail, a compile error, a hang.

``checked`` holds a solution plus tests with an ``{expected}`` slot: 5 makes the tests pass,
6 makes them fail, the way MultiPL-E concatenates a completion with its test suite. Each uses the
test idiom of the language's MultiPL-E suite (rackunit, clojure.test, go test, luaunit, ...), so the
pass rules are exercised the way the loop will exercise them.
"""

# ruff: noqa: E501  (programs are data; their lines are kept whole to stay readable)
from __future__ import annotations

from dataclasses import dataclass

import pytest

from reflectseq.languages import get_language, language_codes
from reflectseq.sandbox.local import missing_toolchain


@dataclass(frozen=True)
class Programs:
    checked: str
    compile_error: str
    endless: str


PROGRAMS: dict[str, Programs] = {
    "cpp": Programs(
        checked=(
            "#include<assert.h>\n#include<bits/stdc++.h>\n"
            "long add(long a, long b) { return a + b; }\n"
            "int main() {\n    auto candidate = add;\n    assert(candidate(2, 3) == {expected});\n}\n"
        ),
        compile_error="int main() { return undefined_name; }\n",
        endless="int main() { volatile long i = 0; while (true) { i++; } }\n",
    ),
    "cs": Programs(
        checked=(
            "using System;\nusing System.Numerics;\nusing System.Diagnostics;\n"
            "using System.Collections.Generic;\n"
            "class Problem {\n    public static long Add(long a, long b) { return a + b; }\n"
            "    public static void Main(string[] args) {\n"
            "    Debug.Assert(Add((2L), (3L)) == ({expected}L));\n    }\n}\n"
        ),
        compile_error='class Problem { public static void Main() { int x = "s"; } }\n',
        endless="class Problem { public static void Main() { while (true) {} } }\n",
    ),
    "d": Programs(
        checked=(
            "import std.math;\nlong add(long a, long b) { return a + b; }\n"
            "unittest\n{\n    alias candidate = add;\n    assert(candidate(2L, 3L) == {expected}L);\n}\n"
            "void main(){}\n"
        ),
        compile_error="void main() { int x = undefined_name; }\n",
        endless="void main() { while (true) {} }\n",
    ),
    "go": Programs(
        checked=(
            'package add_test\n\nimport (\n    "testing"\n    "fmt"\n)\n\n'
            "func add(a int, b int) int { return a + b }\n\n"
            "func TestAdd(t *testing.T) {\n  candidate := add\n"
            "  type test struct { actual interface{}; expected interface{} }\n"
            "  tests := []test{ { actual: candidate(2, 3), expected: {expected} } }\n"
            "  for i, tc := range tests {\n"
            '    t.Run(fmt.Sprintf("test num % d", i), func(t *testing.T) {\n'
            '      if fmt.Sprintf("%v", tc.actual) != fmt.Sprintf("%v", tc.expected) {\n'
            "        t.Errorf(\"expected '%s', got '%s'\", tc.expected, tc.actual)\n      }\n    })\n  }\n}\n"
        ),
        compile_error=(
            'package add_test\n\nimport "testing"\n\n'
            'func TestAdd(t *testing.T) { var x int = "s" }\n'
        ),
        endless='package add_test\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) { for {} }\n',
    ),
    "java": Programs(
        checked=(
            "import java.util.*;\nimport java.lang.reflect.*;\nimport org.javatuples.*;\n"
            "class Problem {\n    public static long add(long a, long b) { return a + b; }\n"
            "    public static void main(String[] args) {\n"
            "    assert(add((2l), (3l)) == ({expected}l));\n    }\n\n}\n"
        ),
        compile_error='class Problem { public static void main(String[] a) { int x = "s"; } }\n',
        endless="class Problem { public static void main(String[] a) { while (true) {} } }\n",
    ),
    "jl": Programs(
        checked=(
            "function add(a::Int64, b::Int64)::Int64\n    return a + b\nend\n"
            "using Test\n\n@testset begin\ncandidate = add;\n"
            "\t@test(candidate(2, 3) == {expected})\nend\n"
        ),
        compile_error="function add(a, b\n",
        endless="while true end\n",
    ),
    "js": Programs(
        checked=(
            "function add(a, b){ return a + b; }\n\nconst assert = require('node:assert');\n\n"
            "function test() {\n  let candidate = add;\n"
            "  assert.deepEqual(candidate(2, 3),{expected});\n}\n\ntest();\n"
        ),
        compile_error="function add(a, b { return a + b; }\n",
        endless="while (true) {}\n",
    ),
    "lua": Programs(
        checked=(
            "local function add(a, b)\n    return a + b\nend\n"
            "lu = require('luaunit')\n\nfunction test_humaneval()\nlocal candidate = add\n"
            "    lu.assertEquals(candidate(2, 3), {expected})\nend\n\n"
            "os.exit(lu.LuaUnit.run())\n"
        ),
        compile_error="local function add(a, b)\n    return a +\n",
        endless="while true do end\n",
    ),
    "php": Programs(
        checked=(
            "<?php\nfunction add($a, $b) {\n    return $a + $b;\n}\n"
            "function candidate(...$args) {\n    return add(...$args);\n}\n\n"
            "function test(): void {\n"
            '    if (candidate(2, 3) !== {expected}) { throw new Exception("Test failed!"); }\n}\n\n'
            "test();\n"
        ),
        compile_error="<?php\nfunction add($a, $b) {\n    return $a +;\n}\n",
        endless="<?php\nwhile (true) {}\n",
    ),
    "pl": Programs(
        checked=(
            "sub add {\n    my($a, $b) = @_;\n    return $a + $b;\n}\n"
            "use Test::Deep;\n\n\nsub testhumaneval {\n    my $candidate = \\&add;\n"
            '        if(eq_deeply($candidate->(2, 3),{expected})) {\n        print "ok!" }'
            "else {\n        exit 1;\n        }\n}\n\ntesthumaneval();\n"
        ),
        compile_error="sub add {\n    my($a, $b) = @_;\n    return $a + ;\n}\n",
        endless="while (1) {}\n",
    ),
    "py": Programs(
        checked=(
            "def add(a: int, b: int) -> int:\n    return a + b\n\n"
            "def check(candidate):\n    assert candidate(2, 3) == {expected}\n\n"
            "def test_check():\n    check(add)\n\ntest_check()\n"
        ),
        compile_error="def add(a, b:\n    return a + b\n",
        endless="while True:\n    pass\n",
    ),
    "r": Programs(
        checked=(
            "add <- function(a, b) {\n  a + b\n}\n"
            "test_humaneval <- function() {\ncandidate <- add\n"
            "    if(!identical(candidate(2, 3), {expected})){quit('no', 1)}\n}\n"
            "test_humaneval()\n"
        ),
        compile_error="add <- function(a, b) {\n  a + + * b\n}\n",
        endless="while (TRUE) {}\n",
    ),
    "rb": Programs(
        checked=(
            "def add(a, b)\n  a + b\nend\n"
            "require 'test/unit'\nclass TestHumanEval < Test::Unit::TestCase\n"
            "  def test_add\n    candidate = method(:add)\n"
            "    assert_equal({expected}, candidate.call(2, 3))\n  end\nend\n"
        ),
        compile_error="def add(a, b\n  a + b\n",
        endless="loop do\nend\n",
    ),
    "rkt": Programs(
        checked=(
            "#lang racket\n\n(define (add a b)\n  (+ a b))\n\n"
            "(require rackunit)\n\n(define (test-humaneval) \n  (let (( candidate add))\n"
            "    (check-equal? (candidate 2 3) {expected})\n))\n\n(test-humaneval)\n"
        ),
        compile_error="#lang racket\n\n(define (add a b)\n  (+ a b)\n",
        endless="#lang racket\n(let loop () (loop))\n",
    ),
    "rs": Programs(
        checked=(
            "fn add(a: isize, b: isize) -> isize {\n    a + b\n}\n\n"
            "fn main() {\n    let candidate = add;\n    assert_eq!(candidate(2, 3), {expected});\n}\n"
        ),
        compile_error='fn main() {\n    let x: i32 = "s";\n}\n',
        endless=(
            "fn main() {\n    let mut i: u64 = 1;\n"
            '    loop { i = i.wrapping_add(2); if i == 0 { println!("never"); } }\n}\n'
        ),
    ),
    "scala": Programs(
        checked=(
            "import scala.math._\nimport scala.collection.mutable._\nobject Problem {\n"
            "    def add(a : Long, b : Long) : Long = {\n        a + b\n    }\n"
            "    def main(args: Array[String]) = {\n"
            "    assert(add((2l), (3l)) == ({expected}l));\n    }\n\n}\n"
        ),
        compile_error='object Problem {\n  def main(args: Array[String]) = {\n    val x: Int = "s"\n  }\n}\n',
        endless="object Problem {\n  def main(args: Array[String]) = {\n    while (true) {}\n  }\n}\n",
    ),
    "sh": Programs(
        checked=(
            "#!/bin/bash\n\nadd() {\n    echo $(( $1 + $2 ))\n}\n\n"
            'candidate() {\n    add "$@"\n}\n\nset -e\n'
            'run_test() {\n    [[ $(candidate "2" "3") = "{expected}" ]]\n}\n\nrun_test\n'
        ),
        compile_error="#!/bin/bash\nadd() {\n    if [[ $1 ; then echo x\n}\n",
        endless="#!/bin/bash\nwhile true; do :; done\n",
    ),
    "swift": Programs(
        checked=(
            "func add(a: Int, b: Int) -> Int {\n    return a + b\n}\n\n"
            "assert(add(a: 2, b: 3) == {expected})\n"
        ),
        compile_error='let x: Int = "s"\n',
        endless="while true {}\n",
    ),
    "ts": Programs(
        checked=(
            "function add(a: number, b: number): number {\n    return a + b;\n}\n\n"
            "declare var require: any;\nconst assert = require('node:assert');\n\n"
            "function test() {\n  let candidate = add;\n"
            "  assert.deepEqual(candidate(2, 3),{expected});\n}\n\ntest();\n"
        ),
        compile_error='function add(a: number, b: number): number {\n    return "s";\n}\n',
        endless="while (true) {}\n",
    ),
    "ml": Programs(
        checked=(
            "let add (a : int) (b : int) : int =\n  a + b\n\n"
            "let assertions =\n let candidate = add in\n  assert ({expected} = (candidate 2 3));\n  ()\n"
        ),
        compile_error='let add (a : int) (b : int) : int =\n  a + "s"\n',
        endless="let rec loop () = loop ()\nlet () = loop ()\n",
    ),
    "hs": Programs(
        checked=(
            "add :: Int -> Int -> Int\nadd a b = a + b\n\n"
            "candidate :: Int -> Int -> Int\ncandidate = add\n\n"
            "main :: IO ()\nmain = do\n"
            '    if candidate 2 3 == {expected} then pure () else error "Assertion failed"\n'
        ),
        compile_error='main :: IO ()\nmain = do\n    let x = (1 :: Int) + "s"\n    print x\n',
        endless="main :: IO ()\nmain = let loop n = loop (n + 1 :: Int) in loop 0\n",
    ),
    "elixir": Programs(
        checked=(
            "defmodule HumanEval do\n  def candidate(a, b), do: add(a, b)\n"
            "  def add(a, b), do: a + b\nend\n\n"
            "ExUnit.start()\ndefmodule HumanEvalTest do\n  use ExUnit.Case, async: true\n"
            "  test 'add' do\n    assert {expected} == HumanEval.candidate(2, 3)\n  end\nend\n"
        ),
        compile_error="defmodule HumanEval do\n  def add(a, b do: a + b\nend\n",
        endless="defmodule Loop do\n  def run, do: run()\nend\nLoop.run()\n",
    ),
    "clj": Programs(
        checked=(
            "(defn add\n  [a b]\n  (+ a b))\n\n"
            "(require '[clojure.test :refer [deftest is run-test]])\n\n"
            "(def candidate add)\n\n(deftest test-humaneval\n\n"
            "  (is (= {expected} (candidate 2 3)))\n)\n\n(run-test test-humaneval)\n"
        ),
        compile_error="(defn add\n  [a b]\n  (+ a b)\n",
        endless="(loop [] (recur))\n",
    ),
}


def passing(language: str) -> str:
    """A program whose tests pass."""
    return PROGRAMS[language].checked.replace("{expected}", "5")


def failing(language: str) -> str:
    """The same program with a wrong expectation: its tests fail."""
    return PROGRAMS[language].checked.replace("{expected}", "6")


# Where the test suite begins in each ``checked`` program: before it is the solution the way
# MultiPL-E's prompt and a completion leave it (an open class in C#, Java and Scala).
TESTS_START: dict[str, str] = {
    "cpp": "int main() {",
    "cs": "    public static void Main",
    "d": "unittest",
    "go": "func TestAdd",
    "java": "    public static void main",
    "jl": "using Test",
    "js": "const assert",
    "lua": "lu = require",
    "php": "function candidate",
    "pl": "use Test::Deep",
    "py": "def check",
    "r": "test_humaneval <- ",
    "rb": "require 'test/unit'",
    "rkt": "(require rackunit)",
    "rs": "fn main",
    "scala": "    def main",
    "sh": "candidate() {",
    "swift": "assert(",
    "ts": "declare var require",
    "ml": "let assertions",
    "hs": "candidate ::",
    "elixir": "ExUnit.start()",
    "clj": "(require '[clojure.test",
}


def split_checked(language: str, *, expected: str) -> tuple[str, str]:
    """The ``checked`` program as (solution, tests), the tests expecting ``expected``."""
    program = PROGRAMS[language].checked.replace("{expected}", expected)
    start = program.index(TESTS_START[language])
    return program[:start], program[start:]


# The languages this host can run, and the slow ones among them (JVM start-up, scalac, tsc).
LOCAL = [code for code in language_codes() if not missing_toolchain(get_language(code))]
SLOW = {"scala", "clj", "ts", "java"}


def marked_slow(codes: list[str]) -> list[object]:
    """``codes`` as parameters, the slow languages marked ``slow``."""
    return [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in codes]
