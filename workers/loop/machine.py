"""The reflection loop over one stored sequence: read state, take one step, commit, repeat.

A step is one LLM call or one execution, done outside any transaction, then committed in one
transaction that first re-checks ownership (``owned_sequence``). Nothing is written for a step whose
commit did not happen, so a crash at any point leaves the sequence at its last committed step
and a redelivered task repeats only the unfinished one: blocks are never duplicated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.base import utcnow
from reflectseq.db.models import GenerationConfig, LlmCall, Sequence
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind, Role, SequenceStage, SequenceStatus
from reflectseq.metrics import observe_llm_call
from reflectseq.parsing import (
    ParsedAnswer,
    has_assertions,
    parse_answer,
    pick_code,
    strip_special_tokens,
)
from reflectseq.specs import BlockSpec
from reflectseq.store.loop import Claim, claim, fail_open_sequences, owned_sequence, release
from reflectseq.store.sequences import append_blocks, append_message
from workers.llm.base import ChatMessage, Completion, LlmBackend, LlmError, LlmRejected, Sampling
from workers.llm.breaker import FailureBreaker
from workers.loop.decide import Action, Prompt, Step, next_action
from workers.loop.execution import Execute, ExecutionUnavailable, execution_block, run_block
from workers.loop.state import (
    INSTRUCTION,
    ONE_OFF_ANSWER,
    ONE_OFF_INSTRUCTION,
    REFLECTION,
    LoadedState,
    load_state,
)
from workers.loop.transcript import one_off_request, stage_one_request

log = logging.getLogger(__name__)
MAX_LANGUAGE_CHARS = 16


class Outcome(StrEnum):
    """How a step (or a whole run) ended."""

    CONTINUE = "continue"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"  # not ours any more: cancelled, reaped, or claimed by another delivery


@dataclass(frozen=True)
class LoopContext:
    """What the loop talks to. Built once per worker process."""

    session_factory: sessionmaker[Session]
    backend_for: Callable[[GenerationConfig], LlmBackend]
    execute: Execute
    breaker: FailureBreaker
    fail_fast_after: int = 3


def run_sequence(
    context: LoopContext, sequence_id: int, *, worker: str, stale_after: timedelta
) -> Outcome:
    """Claim the sequence and step it to the end (or until it is no longer ours)."""
    with transaction(context.session_factory) as session:
        held = claim(session, sequence_id, worker=worker, stale_after=stale_after)
    if held is None:
        return Outcome.STOPPED
    try:
        while (outcome := take_step(context, held)) == Outcome.CONTINUE:
            pass
    except Exception:
        _give_back(context, held)
        raise
    return outcome


def _give_back(context: LoopContext, held: Claim) -> None:
    """Requeue the sequence after an unexpected error, so a retried task can claim it at once.

    If even that fails (the database is unreachable), the reaper requeues it once stale.
    """
    try:
        with transaction(context.session_factory) as session:
            release(session, held)
    except Exception:
        log.exception("could not release sequence %s; the reaper will", held.sequence_id)


def take_step(context: LoopContext, held: Claim) -> Outcome:
    """Decide and perform the next step of a claimed sequence."""
    with context.session_factory() as session:
        state = load_state(session, held.sequence_id)
    action = next_action(state.snapshot)
    log.debug("sequence %s: %s", held.sequence_id, action)
    handlers: dict[Step, Callable[[LoopContext, Claim, LoadedState, Action], Outcome]] = {
        Step.WRITE_INSTRUCTION: _write_instruction,
        Step.ASK_REFLECTION: _ask_reflection,
        Step.EXECUTE: _execute,
        Step.ASK_ONE_OFF: _ask_one_off,
        Step.VERIFY: _verify,
        Step.FINISH_UNVERIFIABLE: _finish_unverifiable,
        Step.DONE: _finish_unverifiable,  # a verified answer whose final commit was lost
    }
    return handlers[action.step](context, held, state, action)


# --- committing --------------------------------------------------------------------------------


def _commit(
    context: LoopContext, held: Claim, write: Callable[[Session, Sequence], Outcome]
) -> Outcome:
    """Run ``write`` in one transaction, only while the sequence is still ours."""
    with transaction(context.session_factory) as session:
        sequence = owned_sequence(session, held)
        if sequence is None:
            return Outcome.STOPPED
        return write(session, sequence)


def _message_id(
    session: Session, state: LoadedState, index: int, role: Role, stage: SequenceStage
) -> int:
    blocks = state.messages.get(index)
    if blocks is not None:
        return blocks[0].message_id
    return append_message(session, state.sequence_id, index=index, role=role, stage=stage).id


def _existing_message_id(state: LoadedState, index: int) -> int:
    return state.messages[index][0].message_id


def _next_index(state: LoadedState, index: int) -> int:
    return len(state.messages.get(index, []))


def _set_flags(sequence: Sequence, **flags: Any) -> None:
    # A new dict, so that SQLAlchemy sees the JSON column change.
    sequence.flags = {**(sequence.flags or {}), **flags}


def _finish(sequence: Sequence, *, final_pass: bool | None) -> Outcome:
    sequence.final_pass = final_pass
    sequence.stage = SequenceStage.DONE
    sequence.status = SequenceStatus.COMPLETED
    sequence.finished_at = utcnow()
    return Outcome.COMPLETED


def _fail(context: LoopContext, held: Claim, error: str) -> Outcome:
    def write(session: Session, sequence: Sequence) -> Outcome:
        sequence.status = SequenceStatus.FAILED
        sequence.error = error
        sequence.finished_at = utcnow()
        return Outcome.FAILED

    return _commit(context, held, write)


# --- model calls -------------------------------------------------------------------------------


def _request_hash(config: GenerationConfig, messages: list[ChatMessage]) -> str:
    payload = [
        config.backend,
        config.endpoint,
        config.model,
        config.sampling,
        config.prompt_version,
        messages,
    ]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def _call_row(state: LoadedState, messages: list[ChatMessage], backend: LlmBackend) -> LlmCall:
    return LlmCall(
        sequence_id=state.sequence_id,
        request_hash=_request_hash(state.config, messages),
        model=backend.model,
        request={"messages": messages, "sampling": state.config.sampling},
    )


def _breaker_key(config: GenerationConfig) -> str:
    return f"{config.backend}|{config.endpoint or ''}|{config.model}"


def _call_model(
    context: LoopContext, held: Claim, state: LoadedState, messages: list[ChatMessage]
) -> tuple[Completion, LlmCall] | Outcome:
    """One model call; a failure is recorded, fails the sequence and may trip the breaker."""
    backend = context.backend_for(state.config)
    call = _call_row(state, messages, backend)
    started = time.perf_counter()
    try:
        completion = backend.complete(messages, Sampling.from_stored(state.config.sampling))
    except LlmError as error:
        outcome = _record_failure(context, held, state, call, error)
        _observe(state.config, call, ok=False, seconds=time.perf_counter() - started)
        return outcome
    context.breaker.record_success(_breaker_key(state.config))
    call.raw_response = completion.raw
    call.response_text = completion.text
    call.finish_reason = completion.finish_reason
    call.tokens_in, call.tokens_out = completion.tokens_in, completion.tokens_out
    call.cost, call.latency_s = completion.cost, completion.latency_s
    _observe(state.config, call, ok=True, seconds=time.perf_counter() - started)
    return completion, call


def _observe(config: GenerationConfig, call: LlmCall, *, ok: bool, seconds: float) -> None:
    observe_llm_call(
        backend=config.backend,
        model=config.model,
        ok=ok,
        seconds=seconds,
        tokens_in=call.tokens_in,
        tokens_out=call.tokens_out,
    )


def _record_failure(
    context: LoopContext, held: Claim, state: LoadedState, call: LlmCall, error: LlmError
) -> Outcome:
    usage = (error.raw or {}).get("usage") or {}
    call.raw_response = error.raw
    call.error = str(error)
    call.tokens_in = int(usage.get("prompt_tokens") or 0)
    call.tokens_out = int(usage.get("completion_tokens") or 0)
    kind = "rejected" if isinstance(error, LlmRejected) else "failed"
    message = f"LLM call {kind}: {error}"
    failures = context.breaker.record_failure(_breaker_key(state.config))

    def write(session: Session, sequence: Sequence) -> Outcome:
        session.add(call)
        sequence.tokens_in += call.tokens_in
        sequence.tokens_out += call.tokens_out
        sequence.status = SequenceStatus.FAILED
        sequence.error = message
        sequence.finished_at = utcnow()
        if failures >= context.fail_fast_after:
            # The endpoint fails every call: stop the whole set now instead of burning through it.
            fail_open_sequences(
                session,
                [state.instruction_set_id],
                f"stopped after {failures} consecutive failed LLM calls; last: {error}",
            )
        return Outcome.FAILED

    return _commit(context, held, write)


def _account(sequence: Sequence, call: LlmCall) -> None:
    sequence.tokens_in += call.tokens_in
    sequence.tokens_out += call.tokens_out
    sequence.cost += call.cost


def _repair_flags(sequence: Sequence, parsed: ParsedAnswer) -> None:
    if parsed.removed_special_tokens:
        removed = int((sequence.flags or {}).get("special_tokens_removed", 0))
        _set_flags(sequence, special_tokens_removed=removed + parsed.removed_special_tokens)
    if parsed.unterminated_fence:
        _set_flags(sequence, unterminated_fence=True)


# --- steps -------------------------------------------------------------------------------------


def _write_instruction(
    context: LoopContext, held: Claim, state: LoadedState, action: Action
) -> Outcome:
    text = state.prompts.render("reflection", state.task.view)

    def write(session: Session, sequence: Sequence) -> Outcome:
        message = append_message(
            session,
            state.sequence_id,
            index=INSTRUCTION,
            role=Role.USER,
            stage=SequenceStage.REFLECTION,
        )
        append_blocks(
            session, message.id, [BlockSpec(kind=BlockKind.TEXT, content=text)], start_index=0
        )
        sequence.stage = SequenceStage.REFLECTION
        return Outcome.CONTINUE

    return _commit(context, held, write)


def answer_blocks(
    parsed: ParsedAnswer, *, fences: frozenset[str], language: str, after_execution: bool
) -> list[BlockSpec]:
    """The blocks stored for a stage-1 answer, up to and including the code block to run.

    Prose after that block is dropped: written before the execution, it can only guess the
    result. Prose before the first code block of an answer to an execution result is the
    model's analysis of that result.
    """
    chosen = pick_code(parsed, fences)
    kept = parsed.blocks if chosen is None else parsed.blocks[: chosen + 1]
    specs: list[BlockSpec] = []
    seen_code = False
    for position, block in enumerate(kept):
        if block.kind == "code":
            seen_code = True
            runnable = position == chosen
            specs.append(
                BlockSpec(
                    kind=BlockKind.CODE,
                    content=block.content,
                    language=language
                    if runnable
                    else (block.fence or "")[:MAX_LANGUAGE_CHARS] or None,
                )
            )
        else:
            kind = BlockKind.ANALYSIS if after_execution and not seen_code else BlockKind.TEXT
            specs.append(BlockSpec(kind=kind, content=block.content))
    return specs or [BlockSpec(kind=BlockKind.TEXT, content="")]


def _ask_reflection(
    context: LoopContext, held: Claim, state: LoadedState, action: Action
) -> Outcome:
    blocks = state.snapshot.reflection
    messages = stage_one_request(
        state.prompts,
        state.task.view,
        state.text_of(INSTRUCTION),
        blocks,
        action.prompt or Prompt.FIRST,
    )
    called = _call_model(context, held, state, messages)
    if isinstance(called, Outcome):
        return called
    completion, call = called
    parsed = parse_answer(completion.text)
    specs = answer_blocks(
        parsed,
        fences=state.task.fences,
        language=state.task.language.code,
        after_execution=bool(blocks) and blocks[-1].kind == BlockKind.EXECUTION,
    )

    def write(session: Session, sequence: Sequence) -> Outcome:
        session.add(call)
        session.flush()
        message_id = _message_id(
            session, state, REFLECTION, Role.ASSISTANT, SequenceStage.REFLECTION
        )
        for spec in specs:
            spec.llm_call_id = call.id
        append_blocks(session, message_id, specs, start_index=_next_index(state, REFLECTION))
        _account(sequence, call)
        _repair_flags(sequence, parsed)
        return Outcome.CONTINUE

    return _commit(context, held, write)


def _execute(context: LoopContext, held: Claim, state: LoadedState, action: Action) -> Outcome:
    code = state.snapshot.reflection[-1].content
    try:
        result = run_block(
            context.execute, language=state.task.language.code, code=code, tests=state.task.tests
        )
    except ExecutionUnavailable as error:
        return _fail(context, held, str(error))
    spec = execution_block(state.prompts, state.task.view, result)

    def write(session: Session, sequence: Sequence) -> Outcome:
        message_id = _existing_message_id(state, REFLECTION)
        append_blocks(session, message_id, [spec], start_index=_next_index(state, REFLECTION))
        sequence.rounds += 1
        if not (state.task.tests or "").strip():
            _set_flags(sequence, no_asserts=not has_assertions(code))
        return Outcome.CONTINUE

    return _commit(context, held, write)


def _ask_one_off(context: LoopContext, held: Claim, state: LoadedState, action: Action) -> Outcome:
    instruction = state.prompts.render("one_off", state.task.view)
    messages = one_off_request(
        state.prompts,
        state.task.view,
        state.text_of(INSTRUCTION),
        state.snapshot.reflection,
        instruction,
    )

    def enter_stage(session: Session, sequence: Sequence) -> Outcome:
        sequence.stage = SequenceStage.ONE_OFF
        sequence.reflection_pass = action.reflection_pass
        return Outcome.CONTINUE

    if _commit(context, held, enter_stage) == Outcome.STOPPED:
        return Outcome.STOPPED
    called = _call_model(context, held, state, messages)
    if isinstance(called, Outcome):
        return called
    completion, call = called
    answer, removed = strip_special_tokens(completion.text)

    def write(session: Session, sequence: Sequence) -> Outcome:
        session.add(call)
        session.flush()
        user = append_message(
            session,
            state.sequence_id,
            index=ONE_OFF_INSTRUCTION,
            role=Role.USER,
            stage=SequenceStage.ONE_OFF,
        )
        append_blocks(
            session, user.id, [BlockSpec(kind=BlockKind.TEXT, content=instruction)], start_index=0
        )
        reply = append_message(
            session,
            state.sequence_id,
            index=ONE_OFF_ANSWER,
            role=Role.ASSISTANT,
            stage=SequenceStage.ONE_OFF,
        )
        append_blocks(
            session,
            reply.id,
            [BlockSpec(kind=BlockKind.TEXT, content=answer.strip(), llm_call_id=call.id)],
            start_index=0,
        )
        _account(sequence, call)
        if removed:
            _set_flags(
                sequence,
                special_tokens_removed=int((sequence.flags or {}).get("special_tokens_removed", 0))
                + removed,
            )
        sequence.stage = SequenceStage.VERIFY
        return Outcome.CONTINUE

    return _commit(context, held, write)


def _verify(context: LoopContext, held: Claim, state: LoadedState, action: Action) -> Outcome:
    parsed = parse_answer(state.text_of(ONE_OFF_ANSWER))
    chosen = pick_code(parsed, state.task.fences)
    assert chosen is not None  # next_action only verifies runnable answers
    try:
        result = run_block(
            context.execute,
            language=state.task.language.code,
            code=parsed.blocks[chosen].content,
            tests=state.task.tests,
        )
    except ExecutionUnavailable as error:
        return _fail(context, held, str(error))
    spec = execution_block(state.prompts, state.task.view, result)

    def write(session: Session, sequence: Sequence) -> Outcome:
        message_id = _existing_message_id(state, ONE_OFF_ANSWER)
        append_blocks(session, message_id, [spec], start_index=_next_index(state, ONE_OFF_ANSWER))
        return _finish(sequence, final_pass=result.passed)

    return _commit(context, held, write)


def _finish_unverifiable(
    context: LoopContext, held: Claim, state: LoadedState, action: Action
) -> Outcome:
    def write(session: Session, sequence: Sequence) -> Outcome:
        if action.step == Step.DONE:
            return _finish(sequence, final_pass=sequence.final_pass)
        _set_flags(sequence, final_no_code=True)
        return _finish(sequence, final_pass=False)

    return _commit(context, held, write)
