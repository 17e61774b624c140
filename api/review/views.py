"""What the sequence page shows, assembled from the stored tree in a fixed number of queries.

The page is built here rather than in the template so that the rules (which blocks are diffed
against which, what counts as the final answer, which flags are raised) are plain Python that
tests can call, and the template only lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.review.diffs import DiffLine, unified_diff
from api.review.highlight import highlight_code
from api.review.rerun import runnable_language
from reflectseq.db.models import Block, Message, Review, Sequence, User
from reflectseq.db.review_models import BlockEdit
from reflectseq.enums import BlockKind, Role, SequenceStage
from reflectseq.parsing import parse_answer
from reflectseq.quality.bidi import count_bidi_controls
from reflectseq.quality.flags import FLAG_KEYS, Flag
from reflectseq.store.reviews import EDITABLE_KINDS, edits_by_block, reviews_of
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
    """One block as the page shows it: its latest text, its edit history and, for code, a diff."""

    block: Block
    number: int
    edits: list[BlockEdit]
    content: str
    pieces: list[Piece] = field(default_factory=list)
    code_html: Markup | None = None
    diff: list[DiffLine] = field(default_factory=list)
    diff_base_number: int | None = None
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


@dataclass
class MessageSection:
    message: Message
    cards: list[BlockCard]


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


def _cards(messages: list[Message], edits: dict[int, list[BlockEdit]]) -> list[BlockCard]:
    """Every block as a card, numbered in page order, each code block diffed with the previous."""
    cards: list[BlockCard] = []
    previous_code: BlockCard | None = None
    for message in messages:
        for block in message.blocks:
            history = edits.get(block.id, [])
            content = history[-1].content if history else block.content
            card = BlockCard(block=block, number=len(cards) + 1, edits=history, content=content)
            if block.kind == BlockKind.CODE:
                card.code_html = highlight_code(content, block.language)
                card.runnable = runnable_language(block) is not None
                if previous_code is not None:
                    card.diff = unified_diff(
                        previous_code.content,
                        content,
                        before_name=f"block {previous_code.number}",
                        after_name=f"block {card.number}",
                    )
                    card.diff_base_number = previous_code.number
                previous_code = card
            elif block.kind in (BlockKind.TEXT, BlockKind.ANALYSIS):
                card.pieces = _pieces(content)
            cards.append(card)
    return cards


def _review_lines(session: Session, sequence_id: int) -> list[ReviewLine]:
    reviews = reviews_of(session, sequence_id)
    ids = {review.reviewer_id for review in reviews}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    names = {user_id: username for user_id, username in rows}
    return [ReviewLine(review, names.get(review.reviewer_id, "?")) for review in reviews]


def build_sequence_page(session: Session, sequence_id: int) -> SequencePage:
    """Everything the sequence page shows (``NotFound`` for an unknown id)."""
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
                MessageSection(message, by_message.get(message.id, []))
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
    final_answer = next((c for c in answer_cards if c.block.kind == BlockKind.TEXT), None)
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
