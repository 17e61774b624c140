"""The loop's next-step decision, as a pure function of what is stored.

A task reads the sequence when it claims it; before every step it asks ``next_action`` what to
do, does that one thing (one LLM call or one execution) and commits the result, which also
updates the state it carries to the next step. A crashed or redelivered task therefore resumes
exactly where the database says it stopped.

Stage 1 (reflection) alternates model answers and executions. It ends when an execution passes,
when ``max_rounds`` executions were spent, when the token or cost budget is exhausted, when the
model twice in a row answers without runnable code, when the model's context cannot hold the
conversation any more, or when the model is stuck (``stalled``). A program sent again unchanged
(up to layout) is sampled again (``resample``); when every sample repeats, stage 1 ends there and
the repeat is not run. With resampling off (``resample_repeats`` 0, and configs stored before the
option), the repeat is run and gets a nudge of its own, and the ``MAX_REPEATED_ROUNDS``-th such
round ends stage 1.
Stage 2 asks for the one-off answer, then its code is verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reflectseq.enums import BlockKind

MAX_ANSWERS_WITHOUT_CODE = 2
# The first repeat of an earlier program is answered with a request to change approach; the
# second means the model is stuck, and more rounds would only add copies to the record.
MAX_REPEATED_ROUNDS = 2


@dataclass(frozen=True)
class BlockView:
    """What the decision (and the chat transcript) needs of a stored block."""

    kind: BlockKind
    content: str = ""
    runnable: bool = False  # a code block in the task's language
    passed: bool = False  # an execution block whose program passed
    llm_call_id: int | None = None
    output: str = ""  # an execution block's program output (stdout, then stderr)


@dataclass(frozen=True)
class Snapshot:
    """The stored state of one sequence, reduced to what decides the next step."""

    has_instruction: bool
    reflection: tuple[BlockView, ...]
    has_one_off_answer: bool
    one_off_runnable: bool
    one_off_verified: bool
    rounds: int
    max_rounds: int
    budget_exhausted: bool
    context_exhausted: bool = False  # the model's context cannot hold the next request
    stalled: bool = False  # every sample of an answer repeated a failed program (``resample``)


class Step(StrEnum):
    """The kinds of step the loop can take."""

    WRITE_INSTRUCTION = "write_instruction"  # message 0, no model call
    ASK_REFLECTION = "ask_reflection"  # one stage-1 model call
    EXECUTE = "execute"  # run the last stage-1 code block
    ASK_ONE_OFF = "ask_one_off"  # messages 2 and 3: the one-off model call
    VERIFY = "verify"  # run the one-off answer's code
    FINISH_UNVERIFIABLE = "finish_unverifiable"  # the one-off answer has no code to run
    DONE = "done"


class Prompt(StrEnum):
    """Which follow-up the stage-1 call sends."""

    FIRST = "first"
    AFTER_FAILURE = "after_failure"
    REPEATED_CODE = "repeated_code"  # the failed program repeats an earlier round's
    MISSING_CODE = "missing_code"


@dataclass(frozen=True)
class Action:
    """The next step, with what it needs to know."""

    step: Step
    prompt: Prompt | None = None
    reflection_pass: bool | None = None
    stalled: bool = False  # stage 1 ends because the model keeps sending the same program


@dataclass(frozen=True)
class Round:
    """One executed stage-1 program: its number (from 1), its execution and what it repeats."""

    number: int
    position: int  # of the execution block among the reflection's blocks
    execution: BlockView
    repeats: int | None  # the number of the earlier round that ran the same program
    program: str  # the program as ``normalised_code`` has it


def normalised_code(code: str) -> str:
    """The program without its layout: each run of blank space one space, blank lines gone.

    Two answers equal under this are the same program as far as the tests can tell; a model
    that re-indents or re-wraps the program it sent before has not changed anything.
    """
    lines = (" ".join(line.split()) for line in code.splitlines())
    return "\n".join(line for line in lines if line)


def executed_rounds(blocks: tuple[BlockView, ...]) -> list[Round]:
    """Every executed program in order, each with the earlier round it repeats, if any."""
    rounds: list[Round] = []
    first_round: dict[str, int] = {}
    code: str | None = None
    for position, block in enumerate(blocks):
        if block.kind == BlockKind.CODE and block.runnable:
            code = normalised_code(block.content)
        elif block.kind == BlockKind.EXECUTION and code is not None:
            number = len(rounds) + 1
            rounds.append(
                Round(number, position, block, repeats=first_round.get(code), program=code)
            )
            first_round.setdefault(code, number)
            code = None
    return rounds


def round_repeated_by(blocks: tuple[BlockView, ...], code: str) -> int | None:
    """The number of the earliest executed round whose program ``code`` is, if any."""
    program = normalised_code(code)
    return next((r.number for r in executed_rounds(blocks) if r.program == program), None)


def stalled(blocks: tuple[BlockView, ...]) -> bool:
    """Whether the model sent earlier programs again often enough to stop asking it."""
    repeated = sum(1 for round_ in executed_rounds(blocks) if round_.repeats is not None)
    return repeated >= MAX_REPEATED_ROUNDS


def stuck(snapshot: Snapshot) -> bool:
    """Whether stage 1 ends ``stalled``: every sample of an answer repeated a failed program,
    or (resampling off) the model sent earlier programs again too often."""
    return snapshot.stalled or stalled(snapshot.reflection)


def answers_without_code(blocks: tuple[BlockView, ...]) -> int:
    """How many model answers in a row, at the end, brought no runnable code."""
    calls: list[int | None] = []
    for block in reversed(blocks):
        if block.kind == BlockKind.EXECUTION or block.runnable:
            break
        if not calls or calls[-1] != block.llm_call_id:
            calls.append(block.llm_call_id)
    return len(calls)


def reflection_verdict(snapshot: Snapshot) -> bool | None:
    """None while stage 1 goes on, else whether its tests passed."""
    blocks = snapshot.reflection
    last = blocks[-1] if blocks else None
    if last is not None and last.kind == BlockKind.EXECUTION and last.passed:
        return True
    if last is not None and last.kind == BlockKind.CODE and last.runnable:
        return None  # an answer waits for its execution
    if snapshot.rounds >= snapshot.max_rounds or snapshot.budget_exhausted:
        return False
    if snapshot.context_exhausted or stuck(snapshot):
        return False
    if answers_without_code(blocks) >= MAX_ANSWERS_WITHOUT_CODE:
        return False
    return None


def next_action(snapshot: Snapshot) -> Action:  # noqa: PLR0911 - a decision table
    """The one step to take next."""
    if not snapshot.has_instruction:
        return Action(Step.WRITE_INSTRUCTION)
    if snapshot.has_one_off_answer:
        if snapshot.one_off_verified:
            return Action(Step.DONE)
        if snapshot.one_off_runnable:
            return Action(Step.VERIFY)
        return Action(Step.FINISH_UNVERIFIABLE)
    blocks = snapshot.reflection
    verdict = reflection_verdict(snapshot)
    if verdict is not None:
        return Action(
            Step.ASK_ONE_OFF,
            reflection_pass=verdict,
            stalled=not verdict and stuck(snapshot),
        )
    if blocks and blocks[-1].kind == BlockKind.CODE and blocks[-1].runnable:
        return Action(Step.EXECUTE)
    if not blocks:
        return Action(Step.ASK_REFLECTION, prompt=Prompt.FIRST)
    if blocks[-1].kind == BlockKind.EXECUTION:
        repeated = executed_rounds(blocks)[-1].repeats is not None
        return Action(
            Step.ASK_REFLECTION, prompt=Prompt.REPEATED_CODE if repeated else Prompt.AFTER_FAILURE
        )
    return Action(Step.ASK_REFLECTION, prompt=Prompt.MISSING_CODE)
