"""Putting together the program that runs: the model's code, then the task's tests.

Models add their own driver to an answer (a ``main``, a ``TestXxx``, an ``if __name__ ==
'__main__':`` block, a second ``const assert = require('assert')``), and it collides with the
tests appended after it: a correct function then fails to compile, or the model's checks run
instead of ours. The language table's ``assembly`` rules say what to drop, the way MultiPL-E-based
harnesses sanitise completions, and this module applies them. It acts only when the task brings
tests; without tests the model's own driver is what runs, untouched.

Assembly also places the end-of-tests line (the sentinel, see ``verdict.seal``): a statement
after the tests, or at the end of their ``main``, that prints a random line the program cannot
know in advance. Where no rule of the language fits the tests, the program gets none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reflectseq.languages import Assembly, CodeRule, Enclosing, Language, SentinelRule, Syntax
from reflectseq.sandbox.go_imports import merge_go_imports
from reflectseq.sandbox.lexing import (
    NON_CODE,
    brace_balance,
    brace_depth,
    closing_bracket,
    code_matches,
    mask,
    opening_brace,
)

SENTINEL_SLOT = "{sentinel}"
_BLANK = f" \t{NON_CODE}"


@dataclass(frozen=True)
class Assembled:
    """The program to run and the end-of-tests line it prints (``None``: it prints none)."""

    program: str
    sentinel: str | None


def assemble(language: Language, code: str, tests: str | None, sentinel: str) -> Assembled:
    """The program for ``code`` plus ``tests`` under the language's rules."""
    if not tests or not tests.strip():
        return Assembled(code, None)
    rules = language.assembly
    defined = _defined_names(tests, rules)
    for rule in rules.rules:
        if rule.tests is None or _found(rule.tests, tests, rules.syntax):
            code = _apply(rule, code, rules.syntax, defined)
    tests, hoisted = _hoist(tests, code, rules.hoist)
    opening, code, closing = _enclose(code, tests, rules.enclosing, rules.syntax)
    tests, placed = _place_sentinel(tests, rules.sentinel, sentinel, rules.syntax)
    program = "".join(
        [
            *(line + "\n" for line in hoisted),
            opening,
            code.rstrip() + "\n\n",
            rules.between,
            tests.rstrip() + "\n",
            closing,
        ]
    )
    if rules.header is not None and not _found(rules.header.pattern, program, rules.syntax):
        program = f"{rules.header.text}\n{program}"
    if rules.imports is not None:
        program = merge_go_imports(program, rules.imports, rules.syntax)
    return Assembled(program, sentinel if placed else None)


def _found(pattern: str, text: str, syntax: Syntax) -> bool:
    return next(code_matches(pattern, text, mask(text, syntax)), None) is not None


def _name(match: re.Match[str]) -> str | None:
    name = match.groupdict().get("name")
    return " ".join(name.split()) if name else None


def _defined_names(tests: str, rules: Assembly) -> frozenset[str]:
    """Names the tests define at top level (functions, constants, ``use`` lines)."""
    masked = mask(tests, rules.syntax)
    return frozenset(
        name
        for pattern in rules.definitions
        for match in code_matches(pattern, tests, masked)
        if brace_depth(masked, match.start()) == 0 and (name := _name(match))
    )


def _apply(rule: CodeRule, code: str, syntax: Syntax, defined: frozenset[str]) -> str:
    """``code`` with every part the rule covers cut out (or rewritten)."""
    masked = mask(code, syntax)
    edits: list[tuple[int, int, str]] = []
    for match in code_matches(rule.pattern, code, masked):
        if rule.same_name and (
            _name(match) not in defined or brace_depth(masked, match.start()) != 0
        ):
            continue
        span = _extent(rule, match, code, masked)
        if span is None or (edits and span[0] < edits[-1][1]):
            continue
        replacement = match.expand(rule.replace) if rule.replace is not None else ""
        edits.append((*span, replacement))
    for start, end, replacement in reversed(edits):
        code = code[:start] + replacement + code[end:]
    return code


def _line_start(text: str, position: int) -> int:
    return text.rfind("\n", 0, position) + 1


def _line_end(text: str, position: int) -> int:
    """Just past the newline ending the line at ``position`` (or the end of the text)."""
    end = text.find("\n", position)
    return len(text) if end == -1 else end + 1


def _through_rest_of_line(masked: str, position: int) -> int:
    """``position``, extended over the rest of its line when nothing but blanks follow."""
    end = _line_end(masked, position)
    return end if not masked[position:end].strip(_BLANK + "\n") else position


def _extent(rule: CodeRule, match: re.Match[str], code: str, masked: str) -> tuple[int, int] | None:
    """The span the rule removes for this match; ``None`` when it cannot be delimited."""
    start, end = match.start(), match.end()
    if rule.extent == "match":
        return start, end
    line_start = _line_start(code, start)
    if not code[line_start:start].strip(" \t"):
        start = line_start
    if rule.extent == "line":
        return start, _line_end(code, max(end - 1, start))
    if rule.extent == "indented":
        block_end = _indented_end(masked, start, rule.end)
        return None if block_end is None else (start, block_end)
    opening = end - 1
    if opening < 0 or masked[opening] not in ("{" if rule.extent == "braced" else "("):
        return None
    closing = closing_bracket(masked, opening)
    if closing is None:
        return None
    after = closing + 1
    if rule.extent == "call":
        semicolon = re.match(r"[ \t]*;", masked[after:])
        after += semicolon.end() if semicolon else 0
    return start, _through_rest_of_line(masked, after)


def _logical_line_end(masked: str, start: int) -> int | None:
    """Past the newline ending the statement that starts at ``start``: brackets balanced, no
    backslash continuation. ``None`` when its brackets never close (a syntax error that the
    run, not assembly, must report)."""
    depth = 0
    for index in range(start, len(masked)):
        char = masked[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "\n" and depth <= 0 and masked[index - 1] != "\\":
            return index + 1
    return len(masked) if depth <= 0 else None


def _indentation(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _indented_end(masked: str, start: int, end_pattern: str | None) -> int | None:
    """The end of a block opened by the line at ``start``: every deeper-indented line below it.

    Blank lines and lines inside a string or comment (a docstring) belong to the block, except
    blank lines at its end; ``end_pattern`` names a closing line at the opening's indentation.
    """
    header_indent = _indentation(masked[start : _line_end(masked, start)])
    position = _logical_line_end(masked, start)
    block_end = position
    while position is not None and position < len(masked):
        line = masked[position : _line_end(masked, position)]
        if not line.strip(" \t\n"):
            position += len(line)
            continue
        if _indentation(line) > header_indent or line.lstrip(" \t").startswith(NON_CODE):
            position = block_end = _logical_line_end(masked, position)
            continue
        if end_pattern and _indentation(line) == header_indent and re.match(end_pattern, line):
            block_end = position + len(line)
        break
    return block_end


def _hoist(tests: str, code: str, patterns: tuple[str, ...]) -> tuple[str, list[str]]:
    """Move the tests' lines that must come first (imports) out of them, dropping duplicates."""
    if not patterns:
        return tests, []
    present = {line.strip() for line in code.splitlines()}
    kept: list[str] = []
    moved: list[str] = []
    for line in tests.splitlines(keepends=True):
        if any(re.match(pattern, line) for pattern in patterns):
            if line.strip() not in present and line.strip() not in moved:
                moved.append(line.strip())
        else:
            kept.append(line)
    return "".join(kept), moved


def _enclose(
    code: str, tests: str, enclosing: Enclosing | None, syntax: Syntax
) -> tuple[str, str, str]:
    """(text before the code, the code, text after the tests) when the tests close a class.

    The code ends with the closing braces of nested blocks (a method, its class, a namespace).
    The innermost class among them and every block around it are reopened, so the tests' ``main``
    lands in that class; blocks the tests do not close are closed after them. Code that ends in
    no class gets ``opening`` first.
    """
    if enclosing is None:
        return "", code, ""
    masked = mask(code, syntax)
    # Blocks the tests close that the code leaves open (MultiPL-E's own prompt does) need nothing.
    closed_by_tests = -brace_balance(mask(tests, syntax)) - brace_balance(masked)
    if closed_by_tests <= 0:
        return "", code, ""
    outermost_first: list[tuple[int, str | None]] = []
    index = len(masked) - 1
    while index >= 0 and masked[index] in _BLANK + "\n}":
        if masked[index] == "}":
            outermost_first.append((index, _block_name(code, masked, index, enclosing.header)))
        index -= 1
    named = [i for i, (_, name) in enumerate(outermost_first) if name is not None]
    if not named:
        return enclosing.opening + "\n", code, ""
    reopened = outermost_first[: named[-1] + 1]
    name = reopened[-1][1]
    for position, _ in reopened:  # highest offset first, so the others stay valid
        code = code[:position] + code[position + 1 :]
    wanted = enclosing.name
    if wanted and name and name != wanted and not re.search(rf"\b{wanted}\b", code):
        code = re.sub(rf"\b{re.escape(name)}\b", wanted, code)
    return "", code, "}\n" * max(len(reopened) - closed_by_tests, 0)


def _block_name(code: str, masked: str, closing: int, header: str) -> str | None:
    """The name in the header of the block the brace at ``closing`` ends, if it is a class."""
    opening = opening_brace(masked, closing)
    if opening is None:
        return None
    header_start = max(masked.rfind(char, 0, opening) for char in ";{}") + 1
    found = re.search(header, code[header_start:opening])
    return found.group("name") if found else None


def _place_sentinel(
    tests: str, rules: tuple[SentinelRule, ...], sentinel: str, syntax: Syntax
) -> tuple[str, bool]:
    """The tests with the end-of-tests statement, from the first rule that fits them."""
    masked = mask(tests, syntax)
    for rule in rules:
        if rule.tests is not None and not _found(rule.tests, tests, syntax):
            continue
        text = rule.text.replace(SENTINEL_SLOT, sentinel)
        if rule.inside is not None:
            placed = _insert_inside(tests, masked, rule.inside, text)
            if placed is None:
                continue
            return placed, True
        placed = tests
        if rule.replace is not None:
            matches = list(code_matches(rule.replace, tests, masked))
            if not matches:
                continue
            last = matches[-1]
            replacement = last.expand((rule.with_ or "").replace(SENTINEL_SLOT, sentinel))
            placed = tests[: last.start()] + replacement + tests[last.end() :]
        if text:
            indent = ""
            if rule.indent == "last_line":
                last_line = placed.rstrip().rsplit("\n", 1)[-1]
                indent = last_line[: _indentation(last_line)]
            placed = f"{placed.rstrip()}\n{indent}{text}\n"
        return placed, True
    return tests, False


def _insert_inside(tests: str, masked: str, header: str, text: str) -> str | None:
    """``text`` as the last statement of the block ``header`` opens (before a final return)."""
    matches = list(code_matches(header, tests, masked))
    if not matches or not matches[-1].group().endswith("{"):
        return None
    opening = matches[-1].end() - 1
    closing = closing_bracket(masked, opening)
    if closing is None:
        return None
    body = masked[opening + 1 : closing]
    final_return = re.search(r"(?:^|[;{}])\s*(return\b[^;{}]*;)[\s" + NON_CODE + r"]*\Z", body)
    point = opening + 1 + final_return.start(1) if final_return else closing
    line_start = _line_start(tests, point)
    if tests[line_start:point].strip(" \t"):
        return f"{tests[:point]}\n{text}\n{tests[point:]}"
    above = tests[:line_start].rstrip().rsplit("\n", 1)[-1]
    indent = max(tests[line_start:point], above[: _indentation(above)], key=len)
    return f"{tests[:line_start]}{indent}{text}\n{tests[line_start:]}"
