"""Telling code from comments and strings, and matching brackets, for the assembly rules.

The masked copy of a source has every character of a comment or a string literal (delimiters
included) replaced by ``NON_CODE``, newlines kept. Regular expressions and bracket matching on it
never see a brace inside a string or a ``main`` inside a comment, and its offsets are those of the
original text, so a span found on the mask can be cut from the source. The lexer is deliberately
small (no raw-string prefixes, no nested comments): a source it misreads is left as it was, or
fails to compile exactly as it would have without assembly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from reflectseq.languages import Syntax

NON_CODE = "\0"
# 'a', '\n', '\x41', '\u{1F600}': a character literal; a Rust lifetime ('a>) is not one.
_CHAR_LITERAL = r"'(?:\\(?:x[0-9A-Fa-f]{2}|u\{?[0-9A-Fa-f]{1,6}\}?|.)|[^\\'\n])'"
_PAIRS = {"{": "}", "(": ")", "[": "]"}


@lru_cache(maxsize=64)
def _literal_pattern(syntax: Syntax) -> re.Pattern[str]:
    """One alternation of everything that is not code, longest opener first."""
    alternatives: list[tuple[str, str]] = []
    for opener in syntax.line_comments:
        alternatives.append((opener, re.escape(opener) + r"[^\n]*"))
    for opener, closer in syntax.block_comments:
        alternatives.append((opener, rf"{re.escape(opener)}.*?(?:{re.escape(closer)}|\Z)"))
    for quote in syntax.strings:
        quoted = re.escape(quote)
        alternatives.append((quote, rf"{quoted}(?:\\.|[^\\])*?(?:{quoted}|\Z)"))
    for quote in syntax.raw_strings:
        quoted = re.escape(quote)
        alternatives.append((quote, rf"{quoted}.*?(?:{quoted}|\Z)"))
    alternatives.sort(key=lambda pair: -len(pair[0]))
    patterns = ([_CHAR_LITERAL] if syntax.char_literals else []) + [p for _, p in alternatives]
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.DOTALL)


def mask(text: str, syntax: Syntax) -> str:
    """``text`` with comments and string literals blanked to ``NON_CODE`` (newlines kept)."""
    pieces: list[str] = []
    last = 0
    for match in _literal_pattern(syntax).finditer(text):
        if match.start() == match.end():
            continue
        pieces.append(text[last : match.start()])
        pieces.append(re.sub(r"[^\n]", NON_CODE, match.group()))
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)


def code_matches(pattern: str, text: str, masked: str) -> Iterator[re.Match[str]]:
    """Matches of ``pattern`` in ``text`` that start in code (their first non-blank character).

    The pattern runs on the original text, so it can still name string contents (a header
    like ``if __name__ == '__main__':``); only where it starts must be code.
    """
    for match in re.finditer(pattern, text, re.MULTILINE):
        start = match.start()
        while start < match.end() and text[start] in " \t\n":
            start += 1
        if start == match.end() or masked[start] != NON_CODE:
            yield match


def closing_bracket(masked: str, opening: int) -> int | None:
    """Index of the bracket closing the one at ``opening``; ``None`` when it is never closed."""
    opener = masked[opening]
    closer = _PAIRS[opener]
    depth = 0
    for index in range(opening, len(masked)):
        char = masked[index]
        if char == opener:
            depth += 1
        elif char == closer:
            depth -= 1
            if depth == 0:
                return index
    return None


def opening_brace(masked: str, closing: int) -> int | None:
    """Index of the ``{`` the ``}`` at ``closing`` closes; ``None`` when there is none."""
    depth = 0
    for index in range(closing, -1, -1):
        char = masked[index]
        if char == "}":
            depth += 1
        elif char == "{":
            depth -= 1
            if depth == 0:
                return index
    return None


def brace_depth(masked: str, position: int) -> int:
    """How many ``{`` blocks are open at ``position`` (0: top level)."""
    before = masked[:position]
    return before.count("{") - before.count("}")


def brace_balance(masked: str) -> int:
    """Opened minus closed braces: negative when the text closes blocks opened before it."""
    return masked.count("{") - masked.count("}")
