"""What the sequence page shows: diffs paired by language against the model's text, edits
diffed apart, repeated rounds folded, output sizes, and no edit forms inside the page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.review.output_size import describe_output
from api.review.views import BlockCard, RepeatedRounds, build_sequence_page
from reflectseq.db.models import Block, Message
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind, ExecutionStatus
from reflectseq.sandbox.capture import BoundedCapture
from reflectseq.specs import BlockSpec
from reflectseq.store.reviews import edit_block
from reflectseq.store.sequences import append_blocks
from tests.review.conftest import log_in
from tests.review.factories import RIGHT, WRONG, Attempt, completed_sequences, user

HTML = "<p>sum</p>\n"


def _reflection(session: Session, sequence_id: int) -> Message:
    return session.scalars(
        select(Message).where(Message.sequence_id == sequence_id, Message.index == 1)
    ).one()


def test_code_is_diffed_with_the_model_s_previous_code_in_its_language(
    db: sessionmaker[Session],
) -> None:
    with transaction(db) as session:
        seq = completed_sequences(session, 1)[0].id  # py WRONG, then py RIGHT
        editor = user(session, "rita").id
        reflection = _reflection(session, seq)
        # A last round fencing HTML and then Python again.
        append_blocks(
            session,
            reflection.id,
            [
                BlockSpec(kind=BlockKind.CODE, content=HTML, language="html"),
                BlockSpec(kind=BlockKind.CODE, content=RIGHT + "# done\n", language="python"),
            ],
            start_index=len(reflection.blocks),
        )
        first_code = session.scalars(
            select(Block).where(Block.message_id == reflection.id, Block.kind == BlockKind.CODE)
        ).first()
        assert first_code is not None
        edit_block(
            session, sequence_id=seq, block_id=first_code.id, content="pass\n", editor_id=editor
        )
    with transaction(db) as session:
        page = build_sequence_page(session, seq)
        code = [card for card in page.cards if card.block.kind == BlockKind.CODE]
        wrong, right, html, python = code
        # The model's change, not the reviewer's: WRONG -> RIGHT, although WRONG was edited.
        assert [(line.kind, line.text) for line in right.diff if line.kind != "hunk"] == [
            ("same", " def add(a, b):"),
            ("del", "-    return a - b"),
            ("add", "+    return a + b"),
        ]
        assert right.diff_base_number == wrong.number
        # The reviewer's edit has its own diff against the generated text.
        assert ("add", "+pass") in [(line.kind, line.text) for line in wrong.edit_diff]
        assert html.diff_base_number is None  # nothing earlier in HTML
        assert python.diff_base_number == right.number  # Python against Python, not HTML
        assert [line.text for line in python.diff if line.kind == "add"] == ["+# done"]


def test_diff_lines_are_not_separated_by_newlines(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        seq = completed_sequences(session, 1)[0].id
        user(session, "rita")
    log_in(client, "rita")
    html = client.get(f"/review/sequences/{seq}").text
    assert '<pre class="diff-lines"><span class="d-hunk">' in html
    assert '</span><span class="d-same"> def add(a, b):</span><span class="d-del">' in html


def test_rounds_repeating_the_one_before_are_folded_into_one_line(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    stuck = Attempt(WRONG, ExecutionStatus.FAILED, stderr="AssertionError")
    attempts = (stuck,) * 25 + (Attempt(RIGHT, ExecutionStatus.PASSED),)
    with transaction(db) as session:
        seq = completed_sequences(session, 1, attempts=attempts)[0].id
        user(session, "rita")
        blocks = session.scalars(
            select(Block.id).join(Message).where(Message.sequence_id == seq)
        ).all()
    assert len(blocks) >= 100
    with transaction(db) as session:
        page = build_sequence_page(session, seq)
    reflection = next(
        section
        for stage in page.stages
        for section in stage.messages
        if section.cards
        if section.message.index == 1
    )
    folds = [item for item in reflection.items if isinstance(item, RepeatedRounds)]
    assert [(f.same_as, f.first_round, f.last_round) for f in folds] == [(1, 2, 25)]
    shown = [item for item in reflection.items if isinstance(item, BlockCard)]
    assert len(shown) == 3 + 4  # round 1 (text, code, execution) and the passing round

    log_in(client, "rita")
    folded = client.get(f"/review/sequences/{seq}").text
    every = client.get(f"/review/sequences/{seq}?rounds=all").text
    assert "Rounds 2\N{EN DASH}25" in folded and "execution result of round 1 and" in folded
    assert folded.count("data-block") == len(blocks) - 24 * 4
    assert every.count("data-block") == len(blocks)
    assert every.count("<textarea") == 1  # the reject comment; edit forms come on demand
    assert len(folded) < len(every) / 3


def test_edit_forms_are_served_on_demand_as_a_fragment_or_a_page(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        seq = completed_sequences(session, 1)[0].id
        user(session, "rita")
        code = session.scalars(
            select(Block).join(Message).where(Message.sequence_id == seq, Block.kind == "code")
        ).first()
        execution = session.scalars(
            select(Block).join(Message).where(Message.sequence_id == seq, Block.kind == "execution")
        ).first()
        assert code is not None and execution is not None
    log_in(client, "rita")
    base = f"/review/sequences/{seq}/blocks"
    fragment = client.get(f"{base}/{code.id}/edit?fragment=1&language=py")
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith("<form") and "<html" not in fragment.text
    assert "New text of block #3" in fragment.text and "return a - b" in fragment.text
    assert 'name="filters" value="language=py"' in fragment.text
    page = client.get(f"{base}/{code.id}/edit")
    assert "<html" in page.text and "Back to the sequence" in page.text
    refused = client.get(f"{base}/{execution.id}/edit")
    assert refused.status_code == 400 and "cannot be edited" in refused.text


def test_a_cut_output_shows_its_original_size_beside_what_was_kept() -> None:
    capture = BoundedCapture(65_568)
    capture.feed(b"x" * 1_000_001)
    assert describe_output(capture.text(), True) == "1,000,001 bytes, 65,568 kept"
    assert describe_output("short", False) == "5 characters"
    # A look-alike marker in an output kept whole is just text.
    forged = "\n... [999 bytes omitted] ...\n"
    assert describe_output(forged, False) == f"{len(forged)} characters"
