"""The chat a model sees, rebuilt from stored blocks (pure).

Stored blocks are the truth; the chat is derived from them each time, so a resumed sequence
sends exactly what an uninterrupted one would have. Assistant turns are the model's text and
code (code re-fenced); every execution becomes a user turn with its feedback text, followed by
the prompt that asks for a fix. The one-off question is asked after the whole reflection, so
the model answers with what it learned, while the stored record shows the student only the
one-off instruction.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from reflectseq.enums import BlockKind
from reflectseq.format import fenced
from reflectseq.llm.base import ChatMessage
from workers.loop.decide import BlockView, Prompt, Round, executed_rounds
from workers.prompts import PromptSet, TaskView

_AS_STORED: Mapping[int, str] = MappingProxyType({})
# How much of an earlier failure a repeated program's nudge quotes.
FAILURE_HEAD_LINES = 12
FAILURE_HEAD_CHARS = 800


def output_head(output: str) -> str:
    """The first lines of a program's output, enough to recall how it failed."""
    head = "\n".join(output.strip().splitlines()[:FAILURE_HEAD_LINES])
    return head if len(head) <= FAILURE_HEAD_CHARS else f"{head[:FAILURE_HEAD_CHARS]} ..."


def _nudge(
    prompts: PromptSet, task: TaskView, blocks: tuple[BlockView, ...], position: int
) -> str | None:
    """What to ask before the model answers again, after the block at ``position``.

    A failed program that repeats an earlier round's is told so, with that round's failure,
    where the prompt version has the wording for it.
    """
    after = blocks[position]
    if after.kind != BlockKind.EXECUTION:
        return prompts.render("missing_code", task)
    if after.passed:
        return None
    rounds = executed_rounds(blocks)
    current = next((r for r in rounds if r.position == position), None)
    if current is None or current.repeats is None or not prompts.has("repeated_code"):
        return prompts.render("retry_after_failure", task)
    earlier: Round = rounds[current.repeats - 1]
    return prompts.render(
        "repeated_code",
        task,
        round=earlier.number,
        failure=output_head(earlier.execution.output),
    )


def with_user_turn(messages: list[ChatMessage], text: str) -> list[ChatMessage]:
    """Append a user turn, merged into a trailing one (some chat templates reject two in a row)."""
    if messages and messages[-1]["role"] == "user":
        merged: ChatMessage = {"role": "user", "content": f"{messages[-1]['content']}\n\n{text}"}
        return [*messages[:-1], merged]
    return [*messages, {"role": "user", "content": text}]


def reflection_chat(
    prompts: PromptSet,
    task: TaskView,
    instruction: str,
    blocks: tuple[BlockView, ...],
    shown: Mapping[int, str] = _AS_STORED,
) -> list[ChatMessage]:
    """System prompt, the stage-1 instruction, then the stored answers and executions.

    ``shown`` replaces the content of blocks (by position) that are shown trimmed to fit the
    model's context; everything else, the nudges included, follows the stored blocks.
    """
    messages: list[ChatMessage] = [
        {"role": "system", "content": prompts.render("system", task)},
        {"role": "user", "content": instruction},
    ]
    parts: list[str] = []
    previous: BlockView | None = None

    def flush() -> None:
        if parts:
            messages.append({"role": "assistant", "content": "\n\n".join(parts)})
            parts.clear()

    for position, block in enumerate(blocks):
        if block.kind == BlockKind.EXECUTION:
            flush()
            messages[:] = with_user_turn(messages, shown.get(position, block.content))
        else:
            new_answer = previous is not None and (
                previous.kind == BlockKind.EXECUTION or previous.llm_call_id != block.llm_call_id
            )
            if new_answer and previous is not None:
                flush()
                nudge = _nudge(prompts, task, blocks, position - 1)
                if nudge:
                    messages[:] = with_user_turn(messages, nudge)
            content = shown.get(position, block.content)
            parts.append(fenced(content, task.fence) if block.kind == BlockKind.CODE else content)
        previous = block
    flush()
    return messages


def stage_one_request(
    prompts: PromptSet,
    task: TaskView,
    instruction: str,
    blocks: tuple[BlockView, ...],
    prompt: Prompt,
    *,
    shown: Mapping[int, str] = _AS_STORED,
) -> list[ChatMessage]:
    """The chat of the next stage-1 call."""
    messages = reflection_chat(prompts, task, instruction, blocks, shown)
    if prompt == Prompt.FIRST or not blocks:
        return messages
    nudge = _nudge(prompts, task, blocks, len(blocks) - 1)
    return with_user_turn(messages, nudge) if nudge else messages


def one_off_request(
    prompts: PromptSet,
    task: TaskView,
    instruction: str,
    blocks: tuple[BlockView, ...],
    one_off_instruction: str,
    *,
    shown: Mapping[int, str] = _AS_STORED,
) -> list[ChatMessage]:
    """The whole reflection, then the one-off instruction as the next user turn."""
    chat = reflection_chat(prompts, task, instruction, blocks, shown)
    return with_user_turn(chat, one_off_instruction)
