"""A pass whose stderr carried an error is flagged, and exports leave it out by default."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Sequence
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind
from reflectseq.export.files import write_export
from reflectseq.export.filters import ExportFilters
from reflectseq.export.spec import ExportSpec
from reflectseq.quality.benchmarks import humaneval_problems
from reflectseq.quality.compute import FlagComputer, compute_flags
from reflectseq.quality.contamination import ContaminationIndex
from reflectseq.quality.flags import Flag
from reflectseq.quality.near_duplicates import NearDuplicateFinder
from reflectseq.specs import BlockSpec
from tests.export.factories import SequenceShape, execution, store_sequence

NOISY_SH = 'reverse_words() {\n    [[ "$1 x" -gt 1 ]]\n    echo "$3 $2 $1"\n}\n'
STDERR = 'main.sh: line 2: [[: a x: syntax error in expression (error token is "x")'


def _noisy_reflection() -> list[BlockSpec]:
    noisy = execution("Execution result: passed").model_copy(
        update={"stderr": STDERR, "passed_with_errors": True}
    )
    return [BlockSpec(kind=BlockKind.CODE, content=NOISY_SH, language="sh"), noisy]


def test_passed_with_errors_is_flagged_and_excluded_by_default(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(session_factory) as session:
        clean = store_sequence(session, SequenceShape(task="Reverse the words, cleanly."))
        noisy = store_sequence(
            session,
            SequenceShape(
                task="Reverse the words (bash).", language="sh", reflection=_noisy_reflection()
            ),
        )
        ids = (clean.id, noisy.id)
    computer = FlagComputer(ContaminationIndex(humaneval_problems()), NearDuplicateFinder(0.9))
    summary = compute_flags(session_factory, computer)
    assert summary.flagged["passed_with_errors"] == 1
    with transaction(session_factory) as session:
        flags = [session.get_one(Sequence, sequence_id).flags for sequence_id in ids]
    checked = {"contamination_checked": ["humaneval"]}
    assert flags == [checked, {"passed_with_errors": True, **checked}]

    written = write_export(session_factory, ExportSpec(), tmp_path / "default.jsonl")
    assert written.counts.records == 1
    assert written.manifest["counts"]["excluded_by_flag"] == {"passed_with_errors": 1}

    kept = ExportFilters(exclude_flags=[Flag.CONTAMINATION])
    written = write_export(session_factory, ExportSpec(filters=kept), tmp_path / "kept.jsonl")
    assert written.counts.records == 2
    assert written.manifest["counts"]["flagged"] == {"passed_with_errors": 1}
