"""``reflectseq export`` and ``reflectseq flags compute`` through the real command line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from transformers import PreTrainedTokenizerFast
from typer.testing import CliRunner

from reflectseq.cli import app
from reflectseq.db.models import Export, Sequence
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind, ExportStatus
from reflectseq.specs import BlockSpec
from tests.export.factories import SequenceShape, execution, store_sequence

runner = CliRunner()


def test_export_command_writes_file_manifest_and_row(
    pg_url: str, pg_session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(pg_session_factory) as session:
        store_sequence(session)
        store_sequence(session, SequenceShape(task="Write sub(a, b).", language="js"))
    out = tmp_path / "train.jsonl.gz"
    result = runner.invoke(
        app,
        [
            "export",
            "--database-url",
            pg_url,
            "--format",
            "openai",
            "--out",
            str(out),
            "--language",
            "py",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = gzip.decompress(out.read_bytes()).decode().splitlines()
    assert len(lines) == 1
    assert [m["role"] for m in json.loads(lines[0])["messages"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    manifest = json.loads((tmp_path / "train.jsonl.gz.manifest.json").read_text())
    assert manifest["filters"]["languages"] == ["py"]
    with transaction(pg_session_factory) as session:
        export = session.scalars(select(Export)).one()
        assert export.status is ExportStatus.SUCCEEDED
        assert export.sha256 == manifest["sha256"]
        assert export.path == str(out.resolve())


def test_export_command_rejects_bad_options(pg_url: str, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "export",
            "--database-url",
            pg_url,
            "--out",
            str(tmp_path / "x.jsonl"),
            "--min-rounds",
            "3",
            "--max-rounds",
            "1",
        ],
    )
    assert result.exit_code == 2
    assert "min_rounds must not exceed max_rounds" in result.output
    assert not (tmp_path / "x.jsonl").exists()


def test_flags_compute_command(
    pg_url: str, pg_session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    chat_markup = [
        BlockSpec(kind=BlockKind.CODE, content="print('<|im_start|>')", language="py"),
        execution("<|im_start|>"),
    ]
    with transaction(pg_session_factory) as session:
        sequence_id = store_sequence(session).id
        markup_id = store_sequence(session, SequenceShape(task="Print.", reflection=chat_markup)).id
    tokenizer = Tokenizer(WordLevel({"[UNK]": 0, "</s>": 1}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", eos_token="</s>"
    )
    wrapped.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    wrapped.save_pretrained(tmp_path / "model")
    result = runner.invoke(
        app,
        [
            "flags",
            "compute",
            "--database-url",
            pg_url,
            "--without-mbpp",
            "--tokenizer",
            str(tmp_path / "model"),
            "--max-len",
            "64",
        ],
    )
    assert result.exit_code == 0, result.output
    flagged = "flagged: no_asserts 1, over_length 2, special_token_text 1"
    assert f"2 sequences checked; {flagged}" in result.output
    with transaction(pg_session_factory) as session:
        flags = session.get_one(Sequence, sequence_id).flags
        markup_flags = session.get_one(Sequence, markup_id).flags
    assert flags["over_length"]["max_len"] == 64
    assert flags["over_length"]["tokens"] > 64
    # The tokenizer's own special tokens count as special-token text too.
    assert markup_flags["special_token_text"] == ["<|im_start|>"]


def test_flags_compute_names_a_missing_mbpp_file(pg_url: str, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["flags", "compute", "--database-url", pg_url, "--mbpp", str(tmp_path / "no.jsonl")]
    )
    assert result.exit_code == 2
    assert "cannot read the MBPP file" in result.output
