"""Reading one sequence's stored state into what the next step needs.

One read per claim: every task run (a first delivery, a redelivery, a retry after an error)
starts from what is stored, which is what lets any worker resume any sequence at any point.
Within a run the state is carried from step to step instead of being read again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from reflectseq.db.models import Block, GenerationConfig, Instruction, Message, Sequence
from reflectseq.enums import BlockKind, ExecutionStatus
from reflectseq.languages import Language, resolve_language
from reflectseq.parsing import parse_answer, pick_code
from reflectseq.store.loop import OwnedFacts
from workers.loop.decide import BlockView, Snapshot
from workers.prompts import PromptSet, TaskView, load_prompts

INSTRUCTION, REFLECTION, ONE_OFF_INSTRUCTION, ONE_OFF_ANSWER = 0, 1, 2, 3


@dataclass(frozen=True)
class Task:
    """The instruction and how it is presented."""

    instruction_id: int
    text: str
    tests: str | None
    language: Language
    view: TaskView

    @property
    def fences(self) -> frozenset[str]:
        """Fence words that mean "this task's language"."""
        return self.language.fence_words


@dataclass(frozen=True)
class LoadedState:
    """A sequence as the step sees it."""

    sequence_id: int
    instruction_set_id: int
    config: GenerationConfig
    prompts: PromptSet
    task: Task
    snapshot: Snapshot
    messages: dict[int, list[Block]]
    tokens_in: int
    tokens_out: int
    cost: float
    flags: dict[str, Any]
    final_pass: bool | None

    def block_views(self, message_index: int) -> tuple[BlockView, ...]:
        """The stored blocks of a message as the pure decision sees them."""
        return tuple(
            view_of(block, self.task.language.code)
            for block in self.messages.get(message_index, [])
        )

    def text_of(self, message_index: int) -> str:
        """The first block's content of a one-block message (instructions, final answer)."""
        return self.messages[message_index][0].content


def view_of(block: Block, language_code: str) -> BlockView:
    """The decision's view of a stored block."""
    return BlockView(
        kind=block.kind,
        content=block.content,
        runnable=block.kind == BlockKind.CODE and block.language == language_code,
        passed=block.execution_status == ExecutionStatus.PASSED,
        llm_call_id=block.llm_call_id,
        output="\n".join(
            text.rstrip() for text in (block.stdout, block.stderr) if text and text.strip()
        ),
    )


def budget_exhausted(config: GenerationConfig, tokens: int, cost: float) -> bool:
    """Whether the sequence spent its token or cost budget."""
    over_tokens = config.budget_tokens is not None and tokens >= config.budget_tokens
    over_cost = config.budget_cost is not None and cost >= config.budget_cost
    return over_tokens or over_cost


def load_state(session: Session, sequence: Sequence) -> LoadedState:
    """Read what the steps need besides the (just claimed) sequence row, in two queries.

    Called once per claim: afterwards the state is carried from step to step (``advanced``),
    which is sound because only the holder of the claim writes to the sequence, and every
    commit re-checks the claim.
    """
    instruction, config = session.execute(
        select(Instruction, GenerationConfig)
        .join(GenerationConfig, GenerationConfig.id == sequence.generation_config_id)
        .where(Instruction.id == sequence.instruction_id)
    ).one()
    messages: dict[int, list[Block]] = {}
    for index, block in session.execute(
        select(Message.index, Block)
        .join(Block, Block.message_id == Message.id)
        .where(Message.sequence_id == sequence.id)
        .order_by(Message.index, Block.index)
    ):
        messages.setdefault(index, []).append(block)
    language = resolve_language(sequence.language)
    view = TaskView(
        task=instruction.text,
        language=language.name,
        fence=language.fence,
        tests=instruction.tests or "",
        show_tests=config.show_tests,
        language_code=language.code,
        entry_point=instruction.entry_point or "",
    )
    task = Task(
        instruction_id=instruction.id,
        text=instruction.text,
        tests=instruction.tests,
        language=language,
        view=view,
    )
    return _state(sequence, config, load_prompts(config.prompt_version), task, messages)


def advanced(
    state: LoadedState, sequence: OwnedFacts, added: dict[int, list[Block]]
) -> LoadedState:
    """The state after a committed step: the row it returned, plus the blocks it wrote."""
    messages = {index: list(blocks) for index, blocks in state.messages.items()}
    for index, blocks in added.items():
        messages.setdefault(index, []).extend(blocks)
    return _state(sequence, state.config, state.prompts, state.task, messages)


def _state(
    sequence: Sequence | OwnedFacts,
    config: GenerationConfig,
    prompts: PromptSet,
    task: Task,
    messages: dict[int, list[Block]],
) -> LoadedState:
    code = task.language.code
    answer = messages.get(ONE_OFF_ANSWER, [])
    answer_text = next((b.content for b in answer if b.kind == BlockKind.TEXT), None)
    snapshot = Snapshot(
        has_instruction=INSTRUCTION in messages,
        reflection=tuple(view_of(b, code) for b in messages.get(REFLECTION, [])),
        has_one_off_answer=answer_text is not None,
        one_off_runnable=(
            answer_text is not None
            and pick_code(parse_answer(answer_text), task.fences) is not None
        ),
        one_off_verified=any(b.kind == BlockKind.EXECUTION for b in answer),
        rounds=sequence.rounds,
        max_rounds=config.max_rounds,
        budget_exhausted=budget_exhausted(
            config, sequence.tokens_in + sequence.tokens_out, sequence.cost
        ),
        context_exhausted=bool((sequence.flags or {}).get("context_exhausted")),
        stalled=bool((sequence.flags or {}).get("stalled")),
    )
    return LoadedState(
        sequence_id=sequence.id,
        instruction_set_id=sequence.instruction_set_id,
        config=config,
        prompts=prompts,
        task=task,
        snapshot=snapshot,
        messages=messages,
        tokens_in=sequence.tokens_in,
        tokens_out=sequence.tokens_out,
        cost=sequence.cost,
        flags=dict(sequence.flags or {}),
        final_pass=sequence.final_pass,
    )
