"""The reflection loop over one stored sequence: claim and read it, then step, commit, repeat.

A step is one LLM call or one execution, done outside any transaction, then committed in one
transaction whose first statement re-checks ownership (``owned_sequence``). Nothing is written
for a step whose commit did not happen, so a crash at any point leaves the sequence at its last
committed step and a redelivered task repeats only the unfinished one: blocks are never
duplicated.

The state is read once, in the claim's transaction, and then carried from step to step: while
the claim holds, nobody else writes to the sequence, and each commit returns the row it updated.
Any error abandons the carried state; the retried task claims again and reads what is stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.base import utcnow
from reflectseq.db.models import Block, GenerationConfig, LlmCall
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind, LlmCallStatus, Role, SequenceStage, SequenceStatus
from reflectseq.llm.base import (
    ChatMessage,
    Completion,
    ContextOverflow,
    LlmBackend,
    LlmError,
    LlmRejected,
    Sampling,
)
from reflectseq.llm.breaker import FailureBreaker
from reflectseq.llm.context_window import ContextWindows
from reflectseq.llm.continuation import CUT_OFF, complete_answer
from reflectseq.metrics import observe_llm_call
from reflectseq.parsing import (
    ParsedAnswer,
    answer_code,
    has_assertions,
    parse_answer,
    pick_code,
    strip_special_tokens,
)
from reflectseq.specs import BlockSpec
from reflectseq.store.errors import domain_errors
from reflectseq.store.loop import (
    Added,
    Claim,
    add_to_sequence,
    claim,
    fail_open_sequences,
    owned_sequence,
    release,
)
from reflectseq.store.step_rows import insert_blocks, insert_call, insert_messages
from workers.loop.context_budget import (
    Build,
    PromptBudget,
    budget_after_overflow,
    fit_chat,
    latest_answer,
)
from workers.loop.decide import Action, BlockView, Prompt, Step, next_action, round_repeated_by
from workers.loop.execution import Execute, ExecutionUnavailable, execution_block, run_block
from workers.loop.resample import resample_limit, resampled
from workers.loop.state import (
    INSTRUCTION,
    ONE_OFF_ANSWER,
    ONE_OFF_INSTRUCTION,
    REFLECTION,
    LoadedState,
    advanced,
    load_state,
)
from workers.loop.transcript import one_off_request, stage_one_request

log = logging.getLogger(__name__)
MAX_LANGUAGE_CHARS = 16
# A request refused as too long is tried once more, trimmed to what the server said.
CONTEXT_ATTEMPTS = 2


class Outcome(StrEnum):
    """How a step (or a whole run) ended."""

    CONTINUE = "continue"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"  # not ours any more: cancelled, reaped, or claimed by another delivery


# A step ends the run (an Outcome other than CONTINUE) or hands the next step its state.
Stepped = Outcome | LoadedState


@dataclass(frozen=True)
class LoopContext:
    """What the loop talks to. Built once per worker process."""

    session_factory: sessionmaker[Session]
    backend_for: Callable[[GenerationConfig], LlmBackend]
    execute: Execute
    breaker: FailureBreaker
    fail_fast_after: int = 3
    windows: ContextWindows = field(default_factory=ContextWindows)


def run_sequence(
    context: LoopContext, sequence_id: int, *, worker: str, stale_after: timedelta
) -> Outcome:
    """Claim the sequence and step it to the end (or until it is no longer ours)."""
    with transaction(context.session_factory) as session:
        claimed = claim(session, sequence_id, worker=worker, stale_after=stale_after)
        if claimed is None:
            return Outcome.STOPPED
        held = Claim.of(claimed)
        state = load_state(session, claimed)
    try:
        stepped: Stepped = state
        while isinstance(stepped, LoadedState):
            stepped = take_step(context, held, stepped)
    except Exception:
        _give_back(context, held)
        raise
    return stepped


def _give_back(context: LoopContext, held: Claim) -> None:
    """Requeue the sequence after an unexpected error, so a retried task can claim it at once.

    If even that fails (the database is unreachable), the reaper requeues it once stale.
    """
    try:
        with transaction(context.session_factory) as session:
            release(session, held)
    except Exception:
        log.exception("could not release sequence %s; the reaper will", held.sequence_id)


def take_step(context: LoopContext, held: Claim, state: LoadedState) -> Stepped:
    """Decide and perform the next step of a claimed sequence."""
    action = next_action(state.snapshot)
    log.debug("sequence %s: %s", held.sequence_id, action)
    handlers: dict[Step, Callable[[LoopContext, Claim, LoadedState, Action], Stepped]] = {
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


@dataclass
class Writes:
    """What one step commits.

    ``changes`` are the sequence's column values (they go into the ownership check's UPDATE),
    ``call`` the LLM call row, ``new_messages`` the messages to create, ``blocks`` the blocks to
    append per message index, of which those of ``from_call`` point to ``call``.
    """

    changes: dict[str, Any] = field(default_factory=dict)
    call: LlmCall | None = None
    new_messages: tuple[tuple[int, Role, SequenceStage], ...] = ()
    blocks: dict[int, list[BlockSpec]] = field(default_factory=dict)
    from_call: frozenset[int] = frozenset()
    also: Callable[[Session], object] | None = None


def _commit(
    context: LoopContext,
    held: Claim,
    state: LoadedState,
    writes: Writes,
    outcome: Outcome = Outcome.CONTINUE,
) -> Stepped:
    """Commit ``writes`` in one transaction, only while the sequence is still ours.

    Statements: the ownership UPDATE (with the column changes), one INSERT per table written
    (call, messages, blocks; rows of a table go in one multi-row INSERT), COMMIT.
    """
    with transaction(context.session_factory) as session:
        sequence = owned_sequence(session, held, **writes.changes)
        if sequence is None:
            if writes.call is not None:
                _keep_abandoned(session, writes.call)
            return Outcome.STOPPED
        added = _append_rows(session, state, writes)
        if writes.also is not None:
            writes.also(session)
    return advanced(state, sequence, added) if outcome == Outcome.CONTINUE else outcome


def _append_rows(session: Session, state: LoadedState, writes: Writes) -> dict[int, list[Block]]:
    """Insert the step's call, messages and blocks; the blocks (detached rows) per message."""
    with domain_errors():
        call_id = insert_call(session, writes.call) if writes.call is not None else None
        created = insert_messages(
            session,
            [
                {"sequence_id": state.sequence_id, "index": index, "role": role, "stage": stage}
                for index, role, stage in writes.new_messages
            ],
        )
        rows: dict[int, list[dict[str, Any]]] = {}
        for index, specs in writes.blocks.items():
            message_id = created[index] if index in created else state.messages[index][0].message_id
            start = len(state.messages.get(index, []))
            rows[index] = [
                {
                    "message_id": message_id,
                    "index": start + offset,
                    **spec.model_dump(exclude={"llm_call_id"}),
                    "llm_call_id": call_id if index in writes.from_call else None,
                }
                for offset, spec in enumerate(specs)
            ]
        insert_blocks(session, [row for message_rows in rows.values() for row in message_rows])
    return {index: [Block(**row) for row in message_rows] for index, message_rows in rows.items()}


def _keep_abandoned(session: Session, call: LlmCall) -> None:
    """A call made for a sequence that stopped being ours is still paid for: keep and count it."""
    if call.error is None:  # an answer; a failed call keeps its own status
        call.status = LlmCallStatus.ABANDONED
    insert_call(session, call)
    add_to_sequence(session, call.sequence_id, **_spent(call))


def _with_flags(state: LoadedState, **flags: Any) -> dict[str, Any]:
    """The sequence's flags with ``flags`` merged in (a new dict: the column is JSON)."""
    return {**state.flags, **flags}


def _finished(final_pass: bool | None) -> dict[str, Any]:
    return {
        "final_pass": final_pass,
        "stage": SequenceStage.DONE,
        "status": SequenceStatus.COMPLETED,
        "finished_at": utcnow(),
    }


def _failed(error: str) -> dict[str, Any]:
    return {"status": SequenceStatus.FAILED, "error": error, "finished_at": utcnow()}


def _fail(context: LoopContext, held: Claim, state: LoadedState, error: str) -> Stepped:
    return _commit(context, held, state, Writes(changes=_failed(error)), Outcome.FAILED)


# --- model calls -------------------------------------------------------------------------------


def _request_hash(
    config: GenerationConfig, messages: list[ChatMessage], sampling: dict[str, Any]
) -> str:
    payload = [
        config.backend,
        config.endpoint,
        config.model,
        sampling,
        config.prompt_version,
        messages,
    ]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def _call_row(
    state: LoadedState, messages: list[ChatMessage], model: str, sampling: Sampling
) -> LlmCall:
    # The sampling this call was sent with: a resample raises the configured temperature.
    sent = {**state.config.sampling, **asdict(sampling)}
    return LlmCall(
        sequence_id=state.sequence_id,
        request_hash=_request_hash(state.config, messages, sent),
        model=model,
        request={"messages": messages, "sampling": sent},
    )


def _breaker_key(config: GenerationConfig) -> str:
    return f"{config.backend}|{config.endpoint or ''}|{config.model}"


@dataclass(frozen=True)
class ChatRequest:
    """A request as a function of which stored blocks are shown trimmed (to fit the context).

    ``protected`` blocks are never trimmed: the answer a stage-1 request asks to fix.
    """

    build: Build
    blocks: tuple[BlockView, ...]
    protected: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Answered:
    """A model answer, its call row, the state after any refused attempts, and if it was trimmed."""

    completion: Completion
    call: LlmCall
    state: LoadedState
    trimmed: bool


@dataclass(frozen=True)
class Refused:
    """A call the server refused as too long for the model's context."""

    call: LlmCall
    error: ContextOverflow


@dataclass(frozen=True)
class ContextExhausted:
    """The request cannot be made to fit the model's context: the stage ends with what it has."""

    state: LoadedState


def _call_model(
    context: LoopContext,
    held: Claim,
    state: LoadedState,
    request: ChatRequest,
    sampling: Sampling | None = None,
) -> Answered | ContextExhausted | Stepped:
    """One model answer, the chat fitted to the model's context first.

    A refusal as too long for the context is recorded, teaches the window, and is tried once
    more with the chat trimmed to what the server said; any other failure is recorded and fails
    the sequence (and may trip the breaker).
    """
    config = state.config
    sampling = sampling or Sampling.from_stored(config.sampling)
    window = context.windows.tokens(config.endpoint, config.model)
    budget = PromptBudget.for_window(window, sampling.max_tokens)
    for _ in range(CONTEXT_ATTEMPTS):
        fitted = fit_chat(request.build, request.blocks, budget, request.protected)
        if fitted is None:
            return ContextExhausted(state)
        sent = _send(context, held, state, fitted.messages, sampling=sampling, budget=budget)
        if isinstance(sent, tuple):
            completion, call = sent
            return Answered(completion, call, state, trimmed=fitted.trimmed_chars > 0)
        if not isinstance(sent, Refused):
            return sent
        # Kept (the request and the server's answer) before trying again.
        recorded = _commit(context, held, state, Writes(changes=_spent(sent.call), call=sent.call))
        if not isinstance(recorded, LoadedState):
            return recorded
        state = recorded
        if sent.error.context_tokens is not None:
            context.windows.learn(config.endpoint, config.model, sent.error.context_tokens)
        budget = budget_after_overflow(budget, sent.error, fitted.messages, sampling.max_tokens)
    return ContextExhausted(state)


def _send(
    context: LoopContext,
    held: Claim,
    state: LoadedState,
    messages: list[ChatMessage],
    *,
    sampling: Sampling,
    budget: PromptBudget | None,
) -> tuple[Completion, LlmCall] | Refused | Stepped:
    """One answer (continued if cut off); a context refusal is handed back, not committed."""
    call = _call_row(state, messages, state.config.model, sampling)
    started = time.perf_counter()
    prompts, view = state.prompts, state.task.view
    try:
        # Inside the try: an endpoint the operator no longer declares is a rejected call.
        backend = context.backend_for(state.config)
        call.model = backend.model
        completion = complete_answer(
            backend,
            messages,
            sampling,
            max_continuations=int(state.config.sampling.get("max_continuations") or 0),
            continue_prompt=(
                prompts.render("continue_answer", view) if prompts.has("continue_answer") else None
            ),
            fits=budget.fits if budget is not None else None,
            needs_more=lambda text: (
                runnable_code(parse_answer(text), state.task.fences, cut_off=True) is None
            ),
        )
    except ContextOverflow as overflow:
        _failed_call(call, overflow)
        _observe(state.config, call, ok=False, seconds=time.perf_counter() - started)
        return Refused(call, overflow)
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


def _failed_call(call: LlmCall, error: LlmError) -> None:
    """Fill a call row from the error it ended with."""
    usage = (error.raw or {}).get("usage") or {}
    call.raw_response = error.raw
    call.error = str(error)
    call.status = LlmCallStatus.TIMED_OUT if error.timed_out else LlmCallStatus.FAILED
    call.tokens_in = int(usage.get("prompt_tokens") or 0)
    call.tokens_out = int(usage.get("completion_tokens") or 0)
    call.cost = error.cost


def _record_failure(
    context: LoopContext, held: Claim, state: LoadedState, call: LlmCall, error: LlmError
) -> Stepped:
    _failed_call(call, error)
    kind = "rejected" if isinstance(error, LlmRejected) else "failed"
    # A request refused for what it asked (HTTP 400, too long) fails this sequence only.
    failures = (
        context.breaker.record_failure(_breaker_key(state.config)) if error.endpoint_failing else 0
    )

    def stop_the_set(session: Session) -> None:
        # The endpoint fails every call: stop the whole set now instead of burning through it.
        fail_open_sequences(
            session,
            [state.instruction_set_id],
            f"stopped after {failures} consecutive failed LLM calls; last: {error}",
        )

    writes = Writes(
        changes={**_spent(call), **_failed(f"LLM call {kind}: {error}")},
        call=call,
        also=stop_the_set if failures >= context.fail_fast_after else None,
    )
    return _commit(context, held, state, writes, Outcome.FAILED)


def _spent(call: LlmCall) -> dict[str, Added]:
    """The call's tokens and cost, to add to the sequence's (in SQL, so nothing is lost)."""
    return {
        "tokens_in": Added(call.tokens_in),
        "tokens_out": Added(call.tokens_out),
        "cost": Added(call.cost or 0.0),
    }


def _answer_flags(
    state: LoadedState, parsed: ParsedAnswer, *, truncated: bool, trimmed: bool
) -> dict[str, Any]:
    """What the answer needed repaired or was left with, and whether its chat was trimmed.

    ``truncated``: what is stored of the answer ends where the length limit cut it.
    """
    flags: dict[str, Any] = {}
    if parsed.removed_special_tokens:
        removed = int(state.flags.get("special_tokens_removed", 0))
        flags["special_tokens_removed"] = removed + parsed.removed_special_tokens
    if parsed.unterminated_fence:
        flags["unterminated_fence"] = True
    # Counters: answers kept as far as they got, requests sent with a trimmed transcript.
    if truncated:
        flags["truncated_answer"] = int(state.flags.get("truncated_answer", 0)) + 1
    if trimmed:
        flags["context_trimmed"] = int(state.flags.get("context_trimmed", 0)) + 1
    return {"flags": _with_flags(state, **flags)} if flags else {}


# --- steps -------------------------------------------------------------------------------------


def _write_instruction(
    context: LoopContext, held: Claim, state: LoadedState, action: Action
) -> Stepped:
    text = state.prompts.render("reflection", state.task.view)
    writes = Writes(
        changes={"stage": SequenceStage.REFLECTION},
        new_messages=((INSTRUCTION, Role.USER, SequenceStage.REFLECTION),),
        blocks={INSTRUCTION: [BlockSpec(kind=BlockKind.TEXT, content=text)]},
    )
    return _commit(context, held, state, writes)


def runnable_code(parsed: ParsedAnswer, fences: frozenset[str], *, cut_off: bool) -> int | None:
    """The code block to run, unless the answer stopped at the length limit inside it."""
    chosen = pick_code(parsed, fences)
    if cut_off and parsed.unterminated_fence and chosen == len(parsed.blocks) - 1:
        return None
    return chosen


def answer_blocks(
    parsed: ParsedAnswer,
    *,
    fences: frozenset[str],
    language: str,
    after_execution: bool,
    cut_off: bool = False,
) -> list[BlockSpec]:
    """The blocks stored for a stage-1 answer, up to and including the code block to run.

    Prose after that block is dropped: written before the execution, it can only guess the
    result. Prose before the first code block of an answer to an execution result is the
    model's analysis of that result. An answer ``cut_off`` inside its code block has nothing to
    run: the half-written block is kept without a language, and the round asks for the code.
    """
    chosen = runnable_code(parsed, fences, cut_off=cut_off)
    unfinished = len(parsed.blocks) - 1 if cut_off and parsed.unterminated_fence else None
    kept = parsed.blocks if chosen is None else parsed.blocks[: chosen + 1]
    specs: list[BlockSpec] = []
    seen_code = False
    for position, block in enumerate(kept):
        if block.kind == "code":
            seen_code = True
            if position == chosen:
                tag: str | None = language
            elif position == unfinished:
                tag = None  # never run, even when its fence names the language
            else:
                tag = (block.fence or "")[:MAX_LANGUAGE_CHARS] or None
            specs.append(BlockSpec(kind=BlockKind.CODE, content=block.content, language=tag))
        else:
            kind = BlockKind.ANALYSIS if after_execution and not seen_code else BlockKind.TEXT
            specs.append(BlockSpec(kind=kind, content=block.content))
    return specs or [BlockSpec(kind=BlockKind.TEXT, content="")]


def _ask_reflection(
    context: LoopContext, held: Claim, state: LoadedState, action: Action
) -> Stepped:
    blocks = state.snapshot.reflection
    prompt = action.prompt or Prompt.FIRST

    def build(shown: Mapping[int, str]) -> list[ChatMessage]:
        return stage_one_request(
            state.prompts, state.task.view, state.text_of(INSTRUCTION), blocks, prompt, shown=shown
        )

    called = _fresh_answer(context, held, state, ChatRequest(build, blocks, latest_answer(blocks)))
    if isinstance(called, ContextExhausted):
        # Stage 1 ends with what it has; the one-off answer is still asked for.
        exhausted = _with_flags(called.state, context_exhausted=True)
        return _commit(context, held, called.state, Writes(changes={"flags": exhausted}))
    if not isinstance(called, Answered):
        return called
    completion, call, state = called.completion, called.call, called.state
    parsed = parse_answer(completion.text)
    cut_off = completion.finish_reason == CUT_OFF
    specs = answer_blocks(
        parsed,
        fences=state.task.fences,
        language=state.task.language.code,
        after_execution=bool(blocks) and blocks[-1].kind == BlockKind.EXECUTION,
        cut_off=cut_off,
    )
    # Cut off after its code, an answer loses only prose that is dropped anyway.
    truncated = cut_off and runnable_code(parsed, state.task.fences, cut_off=True) is None
    first_answer = REFLECTION not in state.messages
    flags = _answer_flags(state, parsed, truncated=truncated, trimmed=called.trimmed)
    writes = Writes(
        changes={**_spent(call), **flags},
        call=call,
        new_messages=(
            ((REFLECTION, Role.ASSISTANT, SequenceStage.REFLECTION),) if first_answer else ()
        ),
        blocks={REFLECTION: specs},
        from_call=frozenset({REFLECTION}),
    )
    return _commit(context, held, state, writes)


def _repeated_round(called: Answered, blocks: tuple[BlockView, ...]) -> int | None:
    """The earlier round whose program this answer sends again, if it does."""
    completion, fences = called.completion, called.state.task.fences
    parsed = parse_answer(completion.text)
    chosen = runnable_code(parsed, fences, cut_off=completion.finish_reason == CUT_OFF)
    return None if chosen is None else round_repeated_by(blocks, parsed.blocks[chosen].content)


def _fresh_answer(
    context: LoopContext, held: Claim, state: LoadedState, request: ChatRequest
) -> Answered | ContextExhausted | Stepped:
    """A stage-1 answer, sampled again while its program repeats an earlier round's.

    Each discarded answer is committed as a ``repeated`` call (its tokens are spent). When the
    last resample repeats too, the model is stuck: stage 1 ends ``stalled`` without the repeat,
    which would only add a copy to the record. With resampling off, the answer is returned
    whatever it holds and the repeated-code prompt and the stall rule take over.
    """
    base = Sampling.from_stored(state.config.sampling)
    limit = resample_limit(state.config.sampling)
    called = _call_model(context, held, state, request, base)
    attempt = 0
    while (
        limit > 0
        and isinstance(called, Answered)
        and _repeated_round(called, request.blocks) is not None
    ):
        attempt += 1
        called.call.status = LlmCallStatus.REPEATED
        changes = _spent(called.call)
        if attempt > limit:
            changes["flags"] = _with_flags(called.state, stalled=True)
        kept = _commit(context, held, called.state, Writes(changes=changes, call=called.call))
        if attempt > limit or not isinstance(kept, LoadedState) or kept.snapshot.budget_exhausted:
            return kept  # stalled, stopped, or the budget is spent: stage 1 ends without it
        called = _call_model(context, held, kept, request, resampled(base, attempt))
    return called


def _execute(context: LoopContext, held: Claim, state: LoadedState, action: Action) -> Stepped:
    code = state.snapshot.reflection[-1].content
    try:
        result = run_block(
            context.execute, language=state.task.language.code, code=code, tests=state.task.tests
        )
    except ExecutionUnavailable as error:
        return _fail(context, held, state, str(error))
    changes: dict[str, Any] = {"rounds": Added(1)}
    if not (state.task.tests or "").strip():
        changes["flags"] = _with_flags(state, no_asserts=not has_assertions(code))
    writes = Writes(
        changes=changes,
        blocks={REFLECTION: [execution_block(state.prompts, state.task.view, result)]},
    )
    return _commit(context, held, state, writes)


def _ask_one_off(context: LoopContext, held: Claim, state: LoadedState, action: Action) -> Stepped:
    instruction = state.prompts.render("one_off", state.task.view)
    blocks = state.snapshot.reflection

    def build(shown: Mapping[int, str]) -> list[ChatMessage]:
        return one_off_request(
            state.prompts,
            state.task.view,
            state.text_of(INSTRUCTION),
            blocks,
            instruction,
            shown=shown,
        )

    # Committed before the call, so that progress shows the stage while the model answers.
    changes: dict[str, Any] = {
        "stage": SequenceStage.ONE_OFF,
        "reflection_pass": action.reflection_pass,
    }
    if action.stalled:
        changes["flags"] = _with_flags(state, stalled=True)
    entered = _commit(context, held, state, Writes(changes=changes))
    if not isinstance(entered, LoadedState):
        return entered
    called = _call_model(context, held, entered, ChatRequest(build, blocks, latest_answer(blocks)))
    if isinstance(called, ContextExhausted):
        # Not even the one-off question fits: the sequence ends without a final answer.
        flags = _with_flags(called.state, context_exhausted=True)
        writes = Writes(changes={**_finished(final_pass=False), "flags": flags})
        return _commit(context, held, called.state, writes, Outcome.COMPLETED)
    if not isinstance(called, Answered):
        return called
    completion, call, entered = called.completion, called.call, called.state
    answer, _ = strip_special_tokens(completion.text)
    parsed = parse_answer(completion.text)
    cut_off = completion.finish_reason == CUT_OFF
    changes = {
        **_spent(call),
        "stage": SequenceStage.VERIFY,
        **_answer_flags(entered, parsed, truncated=cut_off, trimmed=called.trimmed),
    }
    outcome = Outcome.CONTINUE
    if cut_off and runnable_code(parsed, entered.task.fences, cut_off=True) is None:
        # Cut off before its code was complete: nothing to verify, the sequence ends here.
        flags = {**changes.get("flags", entered.flags), "final_no_code": True}
        changes.update({**_finished(final_pass=False), "flags": flags})
        outcome = Outcome.COMPLETED
    writes = Writes(
        changes=changes,
        call=call,
        new_messages=(
            (ONE_OFF_INSTRUCTION, Role.USER, SequenceStage.ONE_OFF),
            (ONE_OFF_ANSWER, Role.ASSISTANT, SequenceStage.ONE_OFF),
        ),
        blocks={
            ONE_OFF_INSTRUCTION: [BlockSpec(kind=BlockKind.TEXT, content=instruction)],
            ONE_OFF_ANSWER: [BlockSpec(kind=BlockKind.TEXT, content=answer.strip())],
        },
        from_call=frozenset({ONE_OFF_ANSWER}),
    )
    return _commit(context, held, entered, writes, outcome)


def _verify(context: LoopContext, held: Claim, state: LoadedState, action: Action) -> Stepped:
    code = answer_code(state.text_of(ONE_OFF_ANSWER), state.task.fences)
    assert code is not None  # next_action only verifies runnable answers
    try:
        result = run_block(
            context.execute, language=state.task.language.code, code=code, tests=state.task.tests
        )
    except ExecutionUnavailable as error:
        return _fail(context, held, state, str(error))
    writes = Writes(
        changes=_finished(final_pass=result.passed),
        blocks={ONE_OFF_ANSWER: [execution_block(state.prompts, state.task.view, result)]},
    )
    return _commit(context, held, state, writes, Outcome.COMPLETED)


def _finish_unverifiable(
    context: LoopContext, held: Claim, state: LoadedState, action: Action
) -> Stepped:
    if action.step == Step.DONE:
        writes = Writes(changes=_finished(final_pass=state.final_pass))
    else:
        writes = Writes(
            changes={**_finished(final_pass=False), "flags": _with_flags(state, final_no_code=True)}
        )
    return _commit(context, held, state, writes, Outcome.COMPLETED)
