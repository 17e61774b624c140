"""Turning a model's answer into typed blocks: prose becomes text blocks, fenced code code blocks.

Pure functions, no I/O: the loop parses each answer with them, and because raw answers are
stored, a change here can be replayed over old data without new model calls.

Fences follow CommonMark closely enough for model output: a line of three or more backticks or
tildes (indented at most three spaces) opens a block, its info string's first word names the
language, and a line of the same character at least as long closes it. A fence that is never
closed (the model ran out of tokens mid-block) keeps the rest of the answer as code and is
reported, so the caller can decide whether to execute it.

The seven special tokens of the training format are removed from every block: left inside
content they would be tokenized as block boundaries and corrupt the record's structure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from reflectseq.format import SPECIAL_TOKENS

_FENCE_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
_SPECIAL_TOKEN = re.compile("|".join(re.escape(token) for token in SPECIAL_TOKENS))
# Words that make a test program actually check something, across the supported languages
# (assert/assertEqual, expect, Debug.Assert, check-equal?, @test, is/deftest in Clojure, ...).
_ASSERTION = re.compile(
    r"assert|expect|check-equal|check-true|@test|deftest|\(is |panic!|require\(|"
    r"raise |throw |die |exit\(1\)|exit 1|os\.exit|unittest|testing\.t",
    re.IGNORECASE,
)

BlockType = Literal["text", "code"]
# A continuation that starts with this much of the answer so far restarted it.
JOIN_PROBE_CHARS = 40


@dataclass(frozen=True)
class ParsedBlock:
    """One piece of an answer; ``fence`` is a code block's info-string word, lowercased."""

    kind: BlockType
    content: str
    fence: str | None = None


@dataclass(frozen=True)
class ParsedAnswer:
    """The blocks of an answer plus what the parser had to repair."""

    blocks: tuple[ParsedBlock, ...]
    unterminated_fence: bool = False
    removed_special_tokens: int = 0

    @property
    def code_blocks(self) -> tuple[ParsedBlock, ...]:
        """The code blocks, in order."""
        return tuple(block for block in self.blocks if block.kind == "code")


def strip_special_tokens(text: str) -> tuple[str, int]:
    """``text`` without the training format's special tokens, and how many were removed."""
    return _SPECIAL_TOKEN.subn("", text)


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    indent = len(line) - len(line.lstrip(" "))
    return indent <= 3 and len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def parse_answer(answer: str) -> ParsedAnswer:
    """Split a model answer into text and code blocks, in order of appearance.

    Text blocks are stripped of surrounding blank space and dropped when empty; code blocks keep
    their lines verbatim (without the trailing newline before the closing fence), even when empty.
    """
    cleaned, removed = strip_special_tokens(answer.replace("\r\n", "\n"))
    blocks: list[ParsedBlock] = []
    prose: list[str] = []
    code: list[str] = []
    fence: str | None = None
    fence_word: str | None = None

    def flush_prose() -> None:
        text = "\n".join(prose).strip()
        if text:
            blocks.append(ParsedBlock(kind="text", content=text))
        prose.clear()

    for line in cleaned.split("\n"):
        if fence is None:
            opening = _FENCE_OPEN.match(line)
            if opening is None:
                prose.append(line)
                continue
            flush_prose()
            fence = opening.group("fence")
            words = opening.group("info").split()
            fence_word = words[0].lower() if words else None
        elif _closes(line, fence):
            blocks.append(ParsedBlock(kind="code", content="\n".join(code), fence=fence_word))
            code.clear()
            fence = None
        else:
            code.append(line)
    unterminated = fence is not None
    if unterminated:
        blocks.append(ParsedBlock(kind="code", content="\n".join(code).rstrip(), fence=fence_word))
    flush_prose()
    return ParsedAnswer(
        blocks=tuple(blocks), unterminated_fence=unterminated, removed_special_tokens=removed
    )


def _open_fence_start(text: str) -> int | None:
    """Where the fence left open at the end of ``text`` starts (None if every fence closed)."""
    fence: str | None = None
    start = offset = 0
    for line in text.split("\n"):
        if fence is None:
            opening = _FENCE_OPEN.match(line)
            if opening is not None:
                fence, start = opening.group("fence"), offset
        elif _closes(line, fence):
            fence = None
        offset += len(line) + 1
    return start if fence is not None else None


def join_continuation(so_far: str, more: str) -> str:
    """An answer cut off at the length limit, joined with what the model sent to continue it.

    Asked to go on, models often start over instead: the whole answer (its first words come
    again), or the code block that was cut (a new fence opens while one is open). The restarted
    part replaces the cut one; otherwise the continuation is appended, a fence it opens put on a
    line of its own.
    """
    probe = so_far.strip()[:JOIN_PROBE_CHARS]
    resumed = more.lstrip()
    if probe and resumed.startswith(probe):
        return more
    opens_fence = _FENCE_OPEN.match(resumed.split("\n", 1)[0]) is not None
    if opens_fence:
        cut = _open_fence_start(so_far)
        if cut is not None:
            return so_far[:cut] + resumed
        if not so_far.endswith("\n"):
            return f"{so_far}\n{resumed}"
    return so_far + more


def pick_code(answer: ParsedAnswer, fences: frozenset[str]) -> int | None:
    """Index (into ``answer.blocks``) of the code block to run: the last one in the language.

    ``fences`` are the fence words the task's language answers to (``python``, ``py``, ...).
    A block fenced in the language wins; only when there is none do blocks without a fence word
    count, since some models omit it. Models often follow their program with an unfenced block
    of the output they expect (``2``, ``All tests passed!``): that must not be what runs. A block
    fenced for another language (say a ``bash`` snippet showing how to run the program) is never
    run. Returns None when nothing runnable is there.
    """
    fenced_in_language: int | None = None
    unfenced: int | None = None
    for index, block in enumerate(answer.blocks):
        if block.kind != "code" or not block.content.strip():
            continue
        if block.fence in fences:
            fenced_in_language = index
        elif block.fence is None:
            unfenced = index
    return fenced_in_language if fenced_in_language is not None else unfenced


def answer_code(answer: str, fences: frozenset[str]) -> str | None:
    """The code the one-off verification runs for an answer (see ``pick_code``), or None."""
    parsed = parse_answer(answer)
    chosen = pick_code(parsed, fences)
    return None if chosen is None else parsed.blocks[chosen].content


def has_assertions(code: str) -> bool:
    """Whether a program checks anything at all (a heuristic over all supported languages).

    Used to flag sequences whose self-written tests cannot fail: such a "pass" proves nothing.
    """
    return _ASSERTION.search(code) is not None
