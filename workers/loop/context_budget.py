"""Keeping a request inside the model's context window, by trimming what matters least (pure).

The stored blocks stay whole (they are the training data); only the chat sent to the model is
shortened. Before a call, the prompt is estimated (characters per token, deliberately low for
code) against the window minus ``max_tokens``. When it does not fit, blocks are shown trimmed to
their head and tail, with a marker saying how much was left out, in this order until it fits:

1. the output of earlier rounds' executions, oldest first;
2. earlier answers' code and prose, oldest first (the answer the next request builds on is kept);
3. the same blocks again, down to the marker alone;
4. the last execution's output.

If even that does not fit, nothing is sent: the caller ends the stage with what it has. A
server's refusal (``ContextOverflow``) tightens the budget with what the server said, the window
and the prompt's real token count, for one more try.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reflectseq.enums import BlockKind
from reflectseq.llm.base import ChatMessage, ContextOverflow
from workers.loop.decide import BlockView

# Code and execution output tokenize denser than prose (about 3 characters per token for the
# Qwen and Llama tokenizers on code, 4 on English); guessing low only trims a little early.
CHARS_PER_TOKEN = 3.0
MESSAGE_OVERHEAD_TOKENS = 8  # the chat template's role markers around each message
KEEP_CHARS = 600  # head plus tail of a block shown trimmed
# With no number from the server, a refused prompt is cut to this share of what was sent.
UNEXPLAINED_REFUSAL_SHARE = 0.75


def trimmed(content: str, keep: int, what: str) -> str:
    """``content`` as its head and tail (``keep`` characters together), saying what was cut."""
    cut = len(content) - keep
    if cut <= 0:
        return content
    marker = f"[... {cut} characters of earlier {what} trimmed ...]"
    if keep <= 0:
        return marker
    half = keep // 2
    return f"{content[:half]}\n{marker}\n{content[len(content) - (keep - half) :]}"


def shown_trimmed(block: BlockView, keep: int) -> str:
    """A block's content as a trimmed transcript shows it; an execution keeps its verdict line."""
    if block.kind != BlockKind.EXECUTION:
        what = "code" if block.kind == BlockKind.CODE else "text"
        return trimmed(block.content, keep, what)
    verdict, _, output = block.content.partition("\n")
    return f"{verdict}\n{trimmed(output, keep, 'output')}" if output else verdict


@dataclass(frozen=True)
class PromptBudget:
    """How many tokens a prompt may take, and how characters are counted as tokens."""

    prompt_tokens: int
    chars_per_token: float = CHARS_PER_TOKEN

    @classmethod
    def for_window(cls, context_tokens: int | None, max_tokens: int) -> PromptBudget | None:
        """The budget that leaves ``max_tokens`` for the answer; None when the window is unknown."""
        if context_tokens is None:
            return None
        return cls(prompt_tokens=context_tokens - max_tokens)

    def estimate(self, messages: list[ChatMessage]) -> int:
        """The prompt's size in tokens, as this budget counts them."""
        chars = sum(len(message["content"]) for message in messages)
        return math.ceil(chars / self.chars_per_token) + MESSAGE_OVERHEAD_TOKENS * len(messages)

    def fits(self, messages: list[ChatMessage]) -> bool:
        """Whether ``messages`` leave room for the answer."""
        return self.estimate(messages) <= self.prompt_tokens


def budget_after_overflow(
    budget: PromptBudget | None, overflow: ContextOverflow, sent: list[ChatMessage], max_tokens: int
) -> PromptBudget:
    """The budget once the server refused ``sent``: its window, and its count of the prompt.

    The server's count of the prompt it refused gives the real characters per token; without
    numbers, the next prompt is made a quarter shorter than the refused one.
    """
    before = budget or PromptBudget(prompt_tokens=sys.maxsize)
    chars = sum(len(message["content"]) for message in sent)
    overhead = MESSAGE_OVERHEAD_TOKENS * len(sent)
    if overflow.prompt_tokens and overflow.prompt_tokens > overhead:
        ratio = min(before.chars_per_token, chars / (overflow.prompt_tokens - overhead))
    else:
        ratio = before.chars_per_token * UNEXPLAINED_REFUSAL_SHARE
    if overflow.context_tokens is not None:
        limit = overflow.context_tokens - max_tokens
    else:
        limit = math.floor(before.estimate(sent) * UNEXPLAINED_REFUSAL_SHARE)
    return PromptBudget(prompt_tokens=min(limit, before.prompt_tokens), chars_per_token=ratio)


@dataclass(frozen=True)
class Fitted:
    """The chat to send, and how many characters of stored blocks it leaves out."""

    messages: list[ChatMessage]
    trimmed_chars: int


Build = Callable[[Mapping[int, str]], list[ChatMessage]]


def latest_answer(blocks: tuple[BlockView, ...]) -> frozenset[int]:
    """Positions of the answer the next request builds on: the last one executed, and after it."""
    executions = [i for i, block in enumerate(blocks) if block.kind == BlockKind.EXECUTION]
    start = executions[-2] + 1 if len(executions) > 1 else 0
    return frozenset(i for i in range(start, len(blocks)) if blocks[i].kind != BlockKind.EXECUTION)


def _trim_steps(blocks: tuple[BlockView, ...], protected: frozenset[int]) -> list[tuple[int, int]]:
    """(position, characters kept) in the order blocks are given up."""
    executions = [i for i, b in enumerate(blocks) if b.kind == BlockKind.EXECUTION]
    last_execution = executions[-1:] if executions else []
    earlier_outputs = executions[:-1]
    answers = [
        i for i, b in enumerate(blocks) if b.kind != BlockKind.EXECUTION and i not in protected
    ]
    return [
        *((i, KEEP_CHARS) for i in earlier_outputs),
        *((i, KEEP_CHARS) for i in answers),
        *((i, 0) for i in (*earlier_outputs, *answers)),
        *((i, KEEP_CHARS) for i in last_execution),
    ]


def fit_chat(
    build: Build,
    blocks: tuple[BlockView, ...],
    budget: PromptBudget | None,
    protected: frozenset[int] = frozenset(),
) -> Fitted | None:
    """The chat ``build`` makes of ``blocks``, trimmed until it fits ``budget``; None if it can't.

    ``protected`` are positions never trimmed: the answer the model is asked to fix.
    """
    messages = build({})
    if budget is None or budget.fits(messages):
        return Fitted(messages, 0)
    shown: dict[int, str] = {}
    for position, keep in _trim_steps(blocks, protected):
        block = blocks[position]
        shorter = shown_trimmed(block, keep)
        if len(shorter) >= len(shown.get(position, block.content)):
            continue
        shown[position] = shorter
        messages = build(shown)
        if budget.fits(messages):
            removed = sum(len(blocks[p].content) - len(text) for p, text in shown.items())
            return Fitted(messages, removed)
    return None
