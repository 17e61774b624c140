"""Do a sequence's tests check anything? "Passed" means little when nothing was asserted.

Python is read with ``ast`` (an ``assert`` statement, ``raise AssertionError``, an
``assert*``/``fail*`` call as in unittest, numpy.testing or pytest, or ``pytest.raises``), so
a word "assert" in a string or a comment does not count. Other languages are matched against
the assertion idioms their test code uses (the MultiPL-E harnesses' and the usual test
libraries'), kept as data below; comments are not parsed there, which errs on the side of not
flagging.
"""

from __future__ import annotations

import ast
import re

# Per language: a pattern any of whose matches counts as an assertion. Languages not listed fall
# back to DEFAULT_PATTERN.
ASSERTION_PATTERNS: dict[str, str] = {
    "cpp": r"\bassert\s*\(|\b(?:REQUIRE|CHECK|EXPECT|ASSERT)\w*\s*\(|\babort\s*\(",
    "cs": r"\b(?:Debug|Trace|Assert)\.\w+\s*\(|\bthrow\b",
    "d": r"\bassert\s*\(|\bunittest\b",
    "go": r"\bt\.(?:Error|Errorf|Fatal|Fatalf|Fail|FailNow)\b|\bpanic\s*\(|\bassert\.\w+\s*\(",
    "java": r"\bassert\b|\bAssert(?:ions)?\.\w+\s*\(|\bassert\w+\s*\(|\bthrow\b",
    "jl": r"@test\b|@assert\b|\berror\s*\(",
    "js": r"\bassert\b|\bexpect\s*\(|\bthrow\b",
    "ts": r"\bassert\b|\bexpect\s*\(|\bthrow\b",
    "lua": r"\bassert\w*\s*\(|\blu\.assert\w*|\berror\s*\(",
    "php": r"\bassert\w*\s*\(|\bthrow\b",
    "pl": r"\b(?:ok|is|is_deeply|isnt|like|cmp_ok)\s*\(|\bdie\b",
    "r": r"\bstopifnot\s*\(|\bexpect_\w+\s*\(|\bstop\s*\(",
    "rb": r"\bassert\w*\b|\bexpect\s*\(|\braise\b",
    "rkt": r"\(check-\w+|\(test-\w+|\(error\b|\braise\b",
    "rs": r"\b(?:assert|assert_eq|assert_ne|debug_assert\w*)!|\bpanic!",
    "scala": r"\bassert\w*\s*\(|\bthrow\b",
    "sh": r"\bexit\s+[1-9]|\[\[?\s|\btest\s",
    "swift": r"\b(?:assert|precondition|XCTAssert\w*)\s*\(|\bfatalError\s*\(",
    "ml": r"\bassert\b|\bfailwith\b|\braise\b",
    "hs": r"\bassert\w*\b|\berror\s|\bquickCheck\b|\bshouldBe\b",
    "elixir": r"\bassert\b|\brefute\b|\braise\b",
    "clj": r"\(is\b|\(are\b|\(assert\b|\(throw\b",
}
DEFAULT_PATTERN = r"\bassert\w*\b|\bexpect\s*\(|\bthrow\b|\braise\b"

_PYTHON = {"py", "python"}
_PYTHON_ASSERT_CALL = re.compile(r"^(?:assert|fail)", re.IGNORECASE)


def _call_name(node: ast.Call) -> str:
    function = node.func
    if isinstance(function, ast.Attribute):
        return function.attr
    if isinstance(function, ast.Name):
        return function.id
    return ""


def _python_asserts(code: str) -> bool | None:
    """Whether Python code asserts; None when it does not parse (the caller falls back)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Raise) and "AssertionError" in ast.unparse(node):
            return True
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if _PYTHON_ASSERT_CALL.match(name) or name == "raises":
                return True
    return False


def asserts_something(code: str, language: str) -> bool:
    """Whether test code in ``language`` contains at least one assertion."""
    if language in _PYTHON:
        parsed = _python_asserts(code)
        if parsed is not None:
            return parsed
    pattern = ASSERTION_PATTERNS.get(language, DEFAULT_PATTERN)
    return re.search(pattern, code) is not None
