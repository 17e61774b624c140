"""What the sequence page shows, assembled from the stored tree in a fixed number of queries.

The page is built here rather than in the template so that the rules (which blocks are diffed
against which, what counts as the final answer, which rounds repeat, which flags are raised) are
plain Python that tests can call, and the template only lays them out.

Edit forms are not part of the page: each would carry a copy of its block's text, which doubled
the size of long sequences. ``edit_form_view`` serves one on demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from markupsafe import Markup
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from api.review.diffs import DiffLine, unified_diff
from api.review.highlight import highlight_code
from api.review.rerun import runnable_language
from reflectseq.db.models import Block, Message, Review, Sequence, User
from reflectseq.db.review_models import BlockEdit
from reflectseq.enums import BlockKind, Role, SequenceStage
from reflectseq.languages import resolve_language
from reflectseq.parsing import parse_answer
from reflectseq.quality.bidi import count_bidi_controls
from reflectseq.quality.flags import FLAG_KEYS, Flag
from reflectseq.store.edited import is_final_answer
from reflectseq.store.reviews import (
    EDITABLE_KINDS,
    InvalidDecision,
    block_of_sequence,
    edits_by_block,
    latest_content,
    reviews_of,
)
from reflectseq.store.sequences import load_sequence_tree

STAGE_TITLES = {
    SequenceStage.REFLECTION: "Stage 1 - reflection (generate, execute, analyze, fix)",
    SequenceStage.ONE_OFF: "Stage 2 - one-off answer",
}
FLAG_LABELS = {
    Flag.CONTAMINATION: "Contamination",
    Flag.NEAR_DUPLICATE: "Near-duplicate",
    Flag.NO_ASSERTS: "No asserts",
    Flag.OVER_LENGTH: "Over length",
    Flag.SPECIAL_TOKEN_TEXT: "Special-token text",
    Flag.BIDI_CONTROLS: "Bidi controls",
    Flag.PASSED_WITH_ERRORS: "Passed with errors",
    Flag.STALLED: "Stalled",
    Flag.TRUNCATED_ANSWER: "Truncated answer",
    Flag.CONTEXT_TRIMMED: "Context trimmed",
    Flag.CONTEXT_EXHAUSTED: "Context exhausted",
}


@dataclass(frozen=True)
class Piece:
    """Part of a text block: prose, or a fenced code snippet shown highlighted."""

    prose: str | None = None
    code: Markup | None = None


@dataclass
class BlockCard:
    """One block as the page shows it: its latest text, its edit history and its diffs.

    ``diff`` is what the model changed since its previous code block in the same language (the
    generated texts of both); ``edit_diff`` is what reviewers changed in this block.
    ``runnable`` marks code the sandbox can re-run, and the final answer, whose edits are
    re-verified.
    """

    is_repeat: ClassVar[bool] = False

    block: Block
    number: int
    edits: list[BlockEdit]
    content: str
    final_answer: bool = False
    pieces: list[Piece] = field(default_factory=list)
    code_html: Markup | None = None
    diff: list[DiffLine] = field(default_factory=list)
    diff_base_number: int | None = None
    edit_diff: list[DiffLine] = field(default_factory=list)
    runnable: bool = False

    @property
    def editable(self) -> bool:
        return self.block.kind in EDITABLE_KINDS

    @property
    def shown_texts(self) -> list[str]:
        """Every text of the block the page shows: content, original, outputs, edit notes."""
        block = self.block
        texts = [self.content, block.content, block.stdout or "", block.stderr or ""]
        for edit in self.edits:
            texts += [edit.note or "", edit.run_stdout or "", edit.run_stderr or ""]
        return texts

    @property
    def latest_edit(self) -> BlockEdit | None:
        return self.edits[-1] if self.edits else None


@dataclass(frozen=True)
class RepeatedRounds:
    """Consecutive rounds identical to the round before them, shown as one line."""

    is_repeat: ClassVar[bool] = True

    same_as: int  # the round they repeat (rounds count from 1)
    first_round: int
    last_round: int
    first_number: int  # block numbers they span
    last_number: int


@dataclass
class MessageSection:
    message: Message
    cards: list[BlockCard]
    items: list[BlockCard | RepeatedRounds] = field(default_factory=list)


@dataclass
class StageSection:
    stage: SequenceStage
    title: str
    messages: list[MessageSection]


@dataclass(frozen=True)
class RaisedFlag:
    flag: Flag
    label: str
    detail: str


@dataclass(frozen=True)
class ReviewLine:
    """A review and its reviewer's name (admins see every reviewer's verdict)."""

    review: Review
    reviewer: str


@dataclass
class SequencePage:
    sequence: Sequence
    stages: list[StageSection]
    cards: list[BlockCard]
    flags: list[RaisedFlag]
    final_answer: BlockCard | None
    verification: BlockCard | None
    reviews: list[ReviewLine]
    bidi_cards: list[int]  # numbers of the blocks showing bidirectional control characters


def _pieces(text: str) -> list[Piece]:
    pieces: list[Piece] = []
    for parsed in parse_answer(text).blocks:
        if parsed.kind == "code":
            pieces.append(Piece(code=highlight_code(parsed.content, parsed.fence)))
        else:
            pieces.append(Piece(prose=parsed.content))
    return pieces


def _flag_detail(value: object) -> str:
    if value is True:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{key}: {item}" for key, item in value.items())
    if isinstance(value, list):
        return "; ".join(_flag_detail(item) for item in value)
    return str(value)


def raised_flags(sequence: Sequence) -> list[RaisedFlag]:
    """The export's quality flags raised on a sequence, with what the flag document says."""
    stored = sequence.flags or {}
    return [
        RaisedFlag(flag, FLAG_LABELS[flag], _flag_detail(stored[key]))
        for flag, key in FLAG_KEYS.items()
        if stored.get(key)
    ]


def _language_key(block: Block) -> str:
    """What pairs code blocks for diffs: the language a block is fenced in, else the task's."""
    name = block.language or block.message.sequence.language
    try:
        return resolve_language(name).code
    except KeyError:
        return name.strip().lower()


def _cards(messages: list[Message], edits: dict[int, list[BlockEdit]]) -> list[BlockCard]:
    """Every block as a card, numbered in page order, with its diffs.

    A code block is diffed with the previous code block in its language, so an answer fencing
    HTML and Python diffs Python with Python; both sides are the model's own text, so a
    reviewer's edit of either does not pass for a change the model made (edits get their own
    diff against the block's original).
    """
    cards: list[BlockCard] = []
    previous_code: dict[str, BlockCard] = {}
    for message in messages:
        for block in message.blocks:
            history = edits.get(block.id, [])
            content = history[-1].content if history else block.content
            card = BlockCard(
                block=block,
                number=len(cards) + 1,
                edits=history,
                content=content,
                final_answer=is_final_answer(block),
            )
            if history:
                card.edit_diff = unified_diff(
                    block.content,
                    content,
                    before_name="generated",
                    after_name=f"v{history[-1].version}",
                )
            if block.kind == BlockKind.CODE:
                card.code_html = highlight_code(content, block.language)
                card.runnable = runnable_language(block) is not None
                key = _language_key(block)
                base = previous_code.get(key)
                if base is not None:
                    card.diff = unified_diff(
                        base.block.content,
                        block.content,
                        before_name=f"block {base.number}",
                        after_name=f"block {card.number}",
                    )
                    card.diff_base_number = base.number
                previous_code[key] = card
            elif block.kind in (BlockKind.TEXT, BlockKind.ANALYSIS):
                card.pieces = _pieces(content)
                card.runnable = card.final_answer and runnable_language(block) is not None
            cards.append(card)
    return cards


def _rounds(cards: list[BlockCard]) -> list[list[BlockCard]]:
    """A reflection message's cards cut into rounds, each ending with its execution."""
    rounds: list[list[BlockCard]] = [[]]
    for card in cards:
        rounds[-1].append(card)
        if card.block.kind == BlockKind.EXECUTION:
            rounds.append([])
    return [cards for cards in rounds if cards]


# What makes two rounds the same: the program and what running it did. Their prose differs
# by a word ("Attempt 7.") even when the model is stuck, so it is not compared.
_ROUND_EVIDENCE = frozenset({BlockKind.CODE, BlockKind.EXECUTION})


def _round_signature(cards: list[BlockCard]) -> tuple[tuple[object, ...], ...]:
    return tuple(
        (card.block.kind, card.content, card.block.language, card.block.execution_status)
        for card in cards
        if card.block.kind in _ROUND_EVIDENCE
    )


def collapse_repeated_rounds(cards: list[BlockCard]) -> list[BlockCard | RepeatedRounds]:
    """The cards with each run of rounds repeating the round before it folded into one line.

    A stalled model can repeat the same program and result dozens of times; showing every copy
    makes the page long and slow without telling the reviewer anything new. Rounds repeat one
    another when their code and execution blocks are the same (as they read now, edits
    included).
    """
    items: list[BlockCard | RepeatedRounds] = []
    rounds = _rounds(cards)
    index = 0
    while index < len(rounds):
        items.extend(rounds[index])
        signature = _round_signature(rounds[index])
        end = index + 1
        while signature and end < len(rounds) and _round_signature(rounds[end]) == signature:
            end += 1
        if end > index + 1:
            items.append(
                RepeatedRounds(
                    same_as=index + 1,
                    first_round=index + 2,
                    last_round=end,
                    first_number=rounds[index + 1][0].number,
                    last_number=rounds[end - 1][-1].number,
                )
            )
        index = end
    return items


def _review_lines(session: Session, sequence_id: int) -> list[ReviewLine]:
    reviews = reviews_of(session, sequence_id)
    ids = {review.reviewer_id for review in reviews}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    names = {user_id: username for user_id, username in rows}
    return [ReviewLine(review, names.get(review.reviewer_id, "?")) for review in reviews]


def build_sequence_page(
    session: Session, sequence_id: int, *, collapse_rounds: bool = True
) -> SequencePage:
    """Everything the sequence page shows (``NotFound`` for an unknown id).

    With ``collapse_rounds`` reflection rounds repeating the one before them are folded.
    """
    sequence = load_sequence_tree(session, sequence_id)
    messages = list(sequence.messages)
    block_ids = [block.id for message in messages for block in message.blocks]
    cards = _cards(messages, edits_by_block(session, block_ids))
    by_message: dict[int, list[BlockCard]] = {}
    for card in cards:
        by_message.setdefault(card.block.message_id, []).append(card)
    stages = [
        StageSection(
            stage=stage,
            title=title,
            messages=[
                _section(message, by_message.get(message.id, []), collapse_rounds)
                for message in messages
                if message.stage == stage
            ],
        )
        for stage, title in STAGE_TITLES.items()
    ]
    answer_cards = [
        card
        for card in cards
        if card.block.message.stage == SequenceStage.ONE_OFF
        and card.block.message.role == Role.ASSISTANT
    ]
    final_answer = next((card for card in answer_cards if card.final_answer), None)
    verification = next((c for c in answer_cards if c.block.kind == BlockKind.EXECUTION), None)
    return SequencePage(
        sequence=sequence,
        stages=stages,
        cards=cards,
        flags=raised_flags(sequence),
        final_answer=final_answer,
        verification=verification,
        reviews=_review_lines(session, sequence_id),
        bidi_cards=[card.number for card in cards if count_bidi_controls(card.shown_texts)],
    )


def _section(message: Message, cards: list[BlockCard], collapse_rounds: bool) -> MessageSection:
    folds = (
        collapse_rounds
        and message.stage == SequenceStage.REFLECTION
        and message.role == Role.ASSISTANT
    )
    items: list[BlockCard | RepeatedRounds] = (
        collapse_repeated_rounds(cards) if folds else list(cards)
    )
    return MessageSection(message, cards, items)


@dataclass(frozen=True)
class EditForm:
    """What the edit form of one block needs: its newest text and where it stands."""

    sequence_id: int
    block: Block
    number: int
    content: str
    final_answer: bool
    runnable: bool


def edit_form_view(session: Session, *, sequence_id: int, block_id: int) -> EditForm:
    """The edit form of a block (``NotFound``; ``InvalidDecision`` for an execution block)."""
    block = block_of_sequence(session, sequence_id=sequence_id, block_id=block_id)
    if block.kind not in EDITABLE_KINDS:
        raise InvalidDecision("block", f"{block.kind.value} blocks cannot be edited; re-run code")
    earlier = session.scalar(
        select(func.count())
        .select_from(Block)
        .join(Message, Message.id == Block.message_id)
        .where(Message.sequence_id == sequence_id)
        .where(
            or_(
                Message.index < block.message.index,
                and_(Message.index == block.message.index, Block.index < block.index),
            )
        )
    )
    final_answer = is_final_answer(block)
    return EditForm(
        sequence_id=sequence_id,
        block=block,
        number=int(earlier or 0) + 1,
        content=latest_content(session, block),
        final_answer=final_answer,
        runnable=(block.kind == BlockKind.CODE or final_answer)
        and runnable_language(block) is not None,
    )
