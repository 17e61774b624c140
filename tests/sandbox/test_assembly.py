"""Program assembly, pure: what is dropped from the model's code, where the sentinel goes."""

# ruff: noqa: E501  (programs are data; their lines are kept whole to stay readable)

from __future__ import annotations

import re

import pytest

from reflectseq.languages import Syntax, get_language, language_codes
from reflectseq.sandbox.assembly import assemble
from reflectseq.sandbox.lexing import NON_CODE, closing_bracket, mask
from tests.sandbox.drivers import DRIVEN, answer
from tests.sandbox.programs import TESTS_START, split_checked

SENTINEL = "reflectseq_end_00112233445566778899aabbccddeeff"


def program(language: str, code: str, tests: str) -> str:
    return assemble(get_language(language), code, tests, SENTINEL).program


def test_without_tests_the_code_runs_as_written() -> None:
    code = answer("cpp", correct=True)
    for tests in (None, "", "  \n"):
        assembled = assemble(get_language("cpp"), code, tests, SENTINEL)
        assert assembled.program == code
        assert assembled.sentinel is None


@pytest.mark.parametrize("language", sorted(DRIVEN))
def test_the_answer_is_kept_and_the_tests_follow_it(language: str) -> None:
    assembled = assemble(
        get_language(language), answer(language, correct=True), DRIVEN[language].tests, SENTINEL
    )
    assert assembled.sentinel == SENTINEL
    assert SENTINEL in assembled.program
    body = re.search(r"\$?a \+ \$?b", assembled.program)
    assert body is not None
    last_test_line = DRIVEN[language].tests.strip().splitlines()[-2].strip()
    assert body.start() < assembled.program.rindex(last_test_line)


# Something only the model's main does, per language.
MAIN_BODIES = {
    "cpp": '"add(2, 3) = "',
    "cs": '"Add(2, 3) = "',
    "d": '"add(2, 3) = "',
    "java": '"add(2, 3) = "',
    "rs": "read_line",
    "scala": '"main { }"',
}


@pytest.mark.parametrize("code", sorted(MAIN_BODIES))
def test_the_models_main_is_dropped_when_the_tests_bring_theirs(code: str) -> None:
    built = program(code, answer(code, correct=True), DRIVEN[code].tests)
    assert len(re.findall(r"\b(?:main|Main)\s*\(", built)) == 1
    assert MAIN_BODIES[code] not in built


def test_cpp_main_survives_when_the_tests_have_none() -> None:
    code = answer("cpp", correct=True)
    assert "int main()" in program("cpp", code, "static_assert(sizeof(long) >= 4);\n")


def test_braces_in_strings_and_comments_do_not_end_the_block() -> None:
    code = (
        "long add(long a, long b) { return a + b; }\n"
        "int main() {\n    const char* s = \"}}\";  // }\n    /* } */ char c = '}';\n"
        "    return 0;\n}\nlong after() { return 1; }\n"
    )
    built = program("cpp", code, "int main() {\n    assert(add(2, 3) == 5);\n}\n")
    assert '"}}"' not in built
    assert "long after() { return 1; }" in built


def test_a_main_mentioned_in_a_comment_or_string_is_not_a_definition() -> None:
    code = '// int main() { is below\nlong add(long a, long b) { return a + b; }\nconst char* m = "int main() {";\n'
    built = program("cpp", code, "int main() {\n    assert(add(2, 3) == 5);\n}\n")
    assert "// int main() { is below" in built
    assert 'const char* m = "int main() {";' in built


def test_go_drops_main_and_test_functions_and_fixes_imports() -> None:
    built = program("go", answer("go", correct=True), DRIVEN["go"].tests)
    assert "func main()" not in built
    assert built.count("func TestAdd(") == 1
    assert 't.Fatal("add(1, 1)")' not in built
    imports = re.search(r"import \(\n(.*?)\)", built, re.DOTALL)
    assert imports is not None
    assert sorted(imports.group(1).split()) == ['"fmt"', '"testing"']  # "os" went with main
    assert built.startswith("package main\n")


GO_INIT_TESTS = 'func init() {\n\tif add(2, 3) != 5 {\n\t\tpanic("add(2, 3) != 5")\n\t}\n}\n'


def test_go_tests_in_init_drop_the_models_test_functions_and_end_with_the_sentinel() -> None:
    """``go test`` runs every ``TestX``: the model's own (with its own expectations) would judge
    the answer beside the task's checks in ``init``, so it goes even when the tests have none."""
    built = program("go", answer("go", correct=True), GO_INIT_TESTS)
    assert "func TestAdd(" not in built
    init = built[built.index("func init()") :]
    assert init.index(f'fmt.Println("{SENTINEL}")') > init.index("panic(")


def test_go_adds_the_package_clause_and_the_imports_the_tests_need() -> None:
    built = program(
        "go",
        "func add(a int, b int) int { return a + b }\n",
        'func TestAdd(t *testing.T) {\n  if fmt.Sprint(add(2, 3)) != "5" { t.Fail() }\n}\n',
    )
    assert built.startswith("package main\n")
    assert '"fmt"' in built and '"testing"' in built


def test_go_tests_written_as_a_whole_file_keep_one_package_clause() -> None:
    built = program(
        "go",
        "package main\n\nfunc add(a int, b int) int { return a + b }\n",
        'package add_test\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n  if add(2, 3) != 5 { t.Fail() }\n}\n',
    )
    assert re.findall(r"^package \w+", built, re.MULTILINE) == ["package main"]


def test_java_class_is_reopened_for_the_tests_main_and_renamed_to_problem() -> None:
    built = program("java", answer("java", correct=True), DRIVEN["java"].tests)
    assert "public class Problem {" in built
    assert "Solution" not in built
    assert built.count("{") == built.count("}")
    main = built.index("public static void main")
    assert built.index("return a + b;") < main  # the tests' main sits inside the class


def test_java_bare_methods_get_the_class_opened() -> None:
    built = program(
        "java", "static long add(long a, long b) {\n    return a + b;\n}\n", DRIVEN["java"].tests
    )
    assert built.lstrip().startswith("class Problem {")
    assert built.count("{") == built.count("}")


def test_java_code_that_leaves_the_class_open_needs_nothing() -> None:
    code = "class Problem {\n    static long add(long a, long b) { return a + b; }\n"
    built = program("java", code, DRIVEN["java"].tests)
    assert built.count("class Problem") == 1
    assert built.count("{") == built.count("}")


def test_java_imports_of_the_tests_come_first() -> None:
    tests = "import java.util.*;\nimport java.math.BigInteger;\n" + DRIVEN["java"].tests
    built = program("java", answer("java", correct=True), tests)
    assert built.startswith("import java.math.BigInteger;\n")
    assert built.count("import java.util.*;") == 1


def test_csharp_namespace_stays_closed_after_the_tests() -> None:
    built = program("cs", answer("cs", correct=True), DRIVEN["cs"].tests)
    assert built.startswith("using System.Diagnostics;\n")
    assert built.count("{") == built.count("}")
    assert built.rstrip().endswith("}\n}")


def test_scala_object_extending_app_becomes_problem() -> None:
    built = program("scala", answer("scala", correct=True), DRIVEN["scala"].tests)
    assert built.startswith("object Problem {")
    assert "extends App" not in built
    assert built.count("{") == built.count("}")


def test_d_drops_the_models_unittests() -> None:
    built = program("d", answer("d", correct=True), DRIVEN["d"].tests)
    assert "add(1, 1) == 3" not in built
    assert built.count("void main") == 1


def test_js_duplicate_assert_declaration_and_top_level_asserts_go() -> None:
    built = program("js", answer("js", correct=True), DRIVEN["js"].tests)
    assert built.count("const assert") == 1
    assert "add(1, 1)" not in built
    assert "console.log(add(2, 3));" in built  # a print is harmless and stays


def test_js_drops_its_own_test_function_and_call_where_the_tests_define_one() -> None:
    """The model's top-level ``test()`` would run the tests' hoisted ``test`` before their
    ``const assert`` exists (a ReferenceError); the tests' own call is the one that stays."""
    built = program("js", answer("js", correct=True), DRIVEN["js"].tests)
    assert built.count("function test()") == 1
    assert built.count("test();") == 1
    assert built.index("function test()") > built.index("module.exports")


def test_js_keeps_calls_to_functions_the_tests_do_not_define() -> None:
    code = "function solve() {\n  return 1;\n}\n\nsolve();\nmain();\n"
    built = program("js", code, DRIVEN["js"].tests)
    assert "solve();" in built and "main();" in built


def test_js_assert_is_kept_when_the_tests_rely_on_it() -> None:
    built = program("js", answer("js", correct=True), "assert.strictEqual(add(2, 3), 5);\n")
    assert "const assert = require('assert');" in built


def test_ts_import_and_export_go() -> None:
    built = program("ts", answer("ts", correct=True), DRIVEN["ts"].tests)
    assert "import * as assert" not in built
    assert "export " not in built
    assert built.count("assert.strictEqual") == 0
    assert built.count("function test()") == 1 and built.count("test();") == 1


def test_python_driver_blocks_go_and_definitions_stay() -> None:
    built = program("py", answer("py", correct=True), DRIVEN["py"].tests)
    assert "__main__" not in built
    assert "check(add)\n\nif" not in built
    assert "sys.argv" not in built
    assert '"""Return a + b.' in built  # the docstring is untouched
    assert built.rstrip().endswith(f'print("{SENTINEL}", flush=True)')


def test_python_multiline_statements_go_whole() -> None:
    code = (
        "def add(a, b):\n    return a + b\n"
        "print(add(\n1, 2))\n"
        'assert add(2, 2) == 4, \\\n"four"\n'
        "unittest.main()\nmain()\nsys.exit(main())\nx = 1\n"
    )
    built = program("py", code, "assert add(2, 3) == 5\n")
    assert "print(" not in built.replace(f'print("{SENTINEL}"', "")
    assert '"four"' not in built
    assert "unittest.main" not in built and "main()" not in built
    assert "x = 1" in built


def test_python_driver_with_unclosed_brackets_is_left_for_the_run_to_report() -> None:
    code = "def add(a, b):\n    return a + b\n\nprint(add(1, 2)\nx = 1\n"
    built = program("py", code, "assert add(2, 3) == 5\n")
    assert "print(add(1, 2)\nx = 1" in built


def test_python_main_guard_inside_a_docstring_is_text() -> None:
    code = 'def add(a, b):\n    """\nif __name__ == "__main__":\n    """\n    return a + b\n'
    built = program("py", code, "assert add(2, 3) == 5\n")
    assert 'if __name__ == "__main__":' in built


def test_php_closing_tag_and_duplicate_functions_go() -> None:
    built = program("php", answer("php", correct=True), DRIVEN["php"].tests)
    assert "?>" not in built
    assert built.count("function test(") == 1
    assert built.count("<?php") == 1 and built.startswith("<?php")


def test_php_opening_tag_is_added_once() -> None:
    built = program("php", "function add($a, $b) { return $a + $b; }\n", "<?php\necho add(2, 3);\n")
    assert built.startswith("<?php\n") and built.count("<?php") == 1


def test_rust_duplicate_use_goes() -> None:
    built = program("rs", answer("rs", correct=True), DRIVEN["rs"].tests)
    assert built.count("use std::io;") == 1


def test_ruby_test_case_and_main_guard_go() -> None:
    code = (
        "def add(a, b)\n  a + b\nend\n\n"
        "if __FILE__ == $0\n  puts add(2, 3)\nend\n\n"
        "class TestAdd < Test::Unit::TestCase\n  def test_add\n    assert_equal(3, add(1, 1))\n  end\nend\n"
    )
    built = program("rb", code, "raise 'add' unless add(2, 3) == 5\n")
    assert "__FILE__" not in built and "TestAdd" not in built
    assert "def add(a, b)\n  a + b\nend" in built


@pytest.mark.parametrize(
    ("language", "tests", "expected"),
    [
        (
            "cpp",
            "int main() {\n    assert(1);\n    return 0;\n}\n",
            '__builtin_puts("{s}");\n    return 0;',
        ),
        (
            "rs",
            "fn main() {\n    assert!(true);\n}\n",
            '    assert!(true);\n    println!("{s}");\n}',
        ),
        (
            "java",
            "    public static void main(String[] args) {\n    assert(true);\n    }\n}\n",
            'System.out.println("{s}");\n    }\n}',
        ),
        (
            "lua",
            "os.exit(lu.LuaUnit.run())\n",
            'if reflectseq_status == 0 or reflectseq_status == true then print("{s}") end\nos.exit(reflectseq_status)',
        ),
        (
            "elixir",
            "ExUnit.start()\n",
            'ExUnit.start(autorun: false)\ncase ExUnit.run() do %{failures: 0} -> IO.puts("{s}")',
        ),
        ("hs", "main :: IO ()\nmain = do\n    print 1\n", '    print 1\n    putStrLn "{s}"\n'),
        (
            "d",
            "unittest { assert(1); }\nvoid main(){}\n",
            "void main(){}\nunittest { import std.stdio",
        ),
        (
            "d",
            "void main() {\n    assert(1);\n}\n",
            '    assert(1);\n    { import std.stdio : stdout; stdout.writeln("{s}")',
        ),
        ("go", "func TestX(t *testing.T) {}\n", 'func Test_{s}(t *testing.T) { t.Log("{s}") }'),
        (
            "py",
            "if True:\n    unittest.main()\n",
            '    if reflectseq_result.wasSuccessful(): print("{s}", flush=True)\n    raise SystemExit(',
        ),
    ],
)
def test_sentinel_goes_after_the_last_test(language: str, tests: str, expected: str) -> None:
    built = program(language, "", tests)
    assert expected.replace("{s}", SENTINEL) in built


def test_no_sentinel_where_no_rule_fits() -> None:
    assembled = assemble(
        get_language("cpp"), "int f() { return 1; }\n", "static_assert(1);\n", SENTINEL
    )
    assert assembled.sentinel is None
    assert SENTINEL not in assembled.program


def test_every_language_has_a_test_suite_start() -> None:
    assert set(TESTS_START) == set(language_codes())


@pytest.mark.parametrize("code", language_codes())
def test_every_language_prints_a_sentinel_after_multipl_e_style_tests(code: str) -> None:
    solution, tests = split_checked(code, expected="5")
    assembled = assemble(get_language(code), solution, tests, SENTINEL)
    assert assembled.sentinel == SENTINEL, assembled.program


def test_mask_blanks_comments_and_strings_only() -> None:
    text = "a = \"x { y\"; // z }\nb = '}'; /* {\n */ c = `}`;\n"
    masked = mask(text, Syntax())
    assert len(masked) == len(text) and masked.count("\n") == text.count("\n")
    assert "{" not in masked and masked.count("}") == 1  # the backtick string is code in C
    js = mask(text, Syntax(strings=('"', "'", "`"), char_literals=False))
    assert "}" not in js and "{" not in js
    assert masked.startswith("a = " + NON_CODE)


def test_rust_lifetimes_are_not_character_literals() -> None:
    text = "fn f<'a>(x: &'a str) -> &'a str { x }\n"
    masked = mask(text, Syntax())
    opening = masked.index("{")
    assert closing_bracket(masked, opening) == text.index("}")


def test_java_public_classes_of_the_answer_lose_public_beside_the_tests_problem_class() -> None:
    """Only one public class may sit in Problem.java, and it must be Problem."""
    code = "public class Solution {\n    public static int add(int a, int b) { return a + b; }\n}\n"
    tests = "class Problem {\n    public static void main(String[] args) {\n        assert Solution.add(2, 3) == 5;\n    }\n}\n"
    built = program("java", code, tests)
    assert "public class Solution" not in built and "class Solution {" in built
    assert "public static int add" in built
