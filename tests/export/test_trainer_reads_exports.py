"""Exported files read back by the trainer's own data loader, and token counts that agree."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.session import transaction
from reflectseq.enums import ExportFormat
from reflectseq.export.files import write_export
from reflectseq.export.spec import ExportSpec
from reflectseq.format import parse_json_line
from reflectseq.quality.over_length import record_tokens
from tests.export.factories import SequenceShape, store_sequence
from trainer.config import OverLength
from trainer.data import load_file
from trainer.model_setup import add_special_tokens
from trainer.tiny_model import train_tokenizer
from trainer.tokenization import RecordTokenizer


def test_trainer_loads_exported_files(
    pg_session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(pg_session_factory) as session:
        for n in range(3):
            store_sequence(session, SequenceShape(task=f"Write add{n}(a, b) returning a + b."))
    paths = {
        export_format: write_export(
            pg_session_factory,
            ExportSpec(format=export_format),
            tmp_path / f"{export_format.value}.jsonl",
        ).path
        for export_format in (ExportFormat.REFLECTION, ExportFormat.GENERATION)
    }
    lines = paths[ExportFormat.REFLECTION].read_text().splitlines()
    tokenizer = train_tokenizer(lines, vocab_size=400, with_bos=True)
    add_special_tokens(tokenizer)
    encoder = RecordTokenizer(tokenizer)

    reflection = load_file(paths[ExportFormat.REFLECTION], encoder, 4096, OverLength.ERROR)
    generation = load_file(paths[ExportFormat.GENERATION], encoder, 4096, OverLength.ERROR)
    assert (reflection.type, len(reflection.records)) == ("reflection", 3)
    assert (generation.type, len(generation.records)) == ("generation", 3)

    # The over-length flag counts exactly the tokens the trainer builds.
    for line, encoded in zip(lines, reflection.records, strict=True):
        assert record_tokens(parse_json_line(line), encoder.ids) == len(encoded)
