"""The export's over-length flag and the trainer count the same tokens, record for record.

The flag loads a tokenizer directory as the trainer does and builds ids with the trainer's
builder; these tests hold the two side by side on every sample record and on a record whose
content spells special tokens, and at the ``max_len`` boundary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reflectseq.format import Record, RecordBlock, RecordMessage, parse_json_line
from reflectseq.quality.over_length import load_tokenizer as flag_tokenizer
from reflectseq.quality.over_length import over_length, record_tokens
from reflectseq.record_ids import RecordIdBuilder
from tests.trainer.tiny import write_jsonl
from trainer.config import ModelConfig, OverLength
from trainer.data import DataError, load_file, record_texts
from trainer.model_setup import add_special_tokens
from trainer.model_setup import load_tokenizer as trainer_tokenizer
from trainer.tiny_model import train_tokenizer
from trainer.tokenization import RecordTokenizer

SAMPLES = Path(__file__).resolve().parents[2] / "trainer" / "configs" / "samples"
SAMPLE_FILES = sorted(SAMPLES.glob("*.jsonl"))

SPECIAL_TEXT_RECORD = Record(
    type="reflection",
    messages=[
        RecordMessage(
            role="user",
            content=[RecordBlock(type="text", content="Print <s> and </s>, then stop.")],
        ),
        RecordMessage(
            role="assistant",
            content=[
                RecordBlock(type="code", content="print('<s>', '</s>', '<|endofmessage|>')"),
                RecordBlock(type="execution", content="<s> </s> <|endofmessage|>"),
            ],
        ),
        RecordMessage(
            role="user", content=[RecordBlock(type="text", content="Print <s> and </s>.")]
        ),
        RecordMessage(
            role="assistant",
            content=[RecordBlock(type="text", content="```python\nprint('<s>', '</s>')\n```")],
        ),
    ],
)


def _tokenizer_dir(tmp_path: Path, with_bos: bool) -> Path:
    """A base tokenizer saved as a model's would be (without reflectseq's tokens)."""
    tokenizer = train_tokenizer(record_texts(SAMPLE_FILES), vocab_size=400, with_bos=with_bos)
    directory = tmp_path / f"tokenizer-bos-{with_bos}"
    tokenizer.save_pretrained(directory)
    return directory


def _trainer_encoder(directory: Path) -> RecordTokenizer:
    """The encoder the trainer builds for ``model.name_or_path: directory``."""
    tokenizer: Any = trainer_tokenizer(ModelConfig(name_or_path=str(directory)), lambda: [])
    add_special_tokens(tokenizer)
    return RecordTokenizer(tokenizer)


def _flag_ids(directory: Path) -> RecordIdBuilder:
    return flag_tokenizer(directory)[1]


@pytest.mark.parametrize("with_bos", [True, False])
def test_the_flag_counts_what_the_trainer_builds_on_every_sample(
    tmp_path: Path, with_bos: bool
) -> None:
    directory = _tokenizer_dir(tmp_path, with_bos)
    encoder, ids = _trainer_encoder(directory), _flag_ids(directory)
    special = write_jsonl(tmp_path / "special.jsonl", [SPECIAL_TEXT_RECORD])
    checked = 0
    for path in [*SAMPLE_FILES, special]:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        loaded = load_file(path, encoder, max_len=100_000, overlength=OverLength.ERROR)
        for line, encoded in zip(lines, loaded.records, strict=True):
            assert record_tokens(parse_json_line(line), ids) == len(encoded), f"{path}: {line}"
            checked += 1
    assert checked == 13


def test_special_token_text_stays_text_in_both_counts(tmp_path: Path) -> None:
    directory = _tokenizer_dir(tmp_path, with_bos=True)
    encoder = _trainer_encoder(directory)
    encoded = encoder.encode(SPECIAL_TEXT_RECORD)
    structure = {*encoder.ids.special_ids.values(), encoder.ids.eos_id, encoder.ids.bos_id}
    # BOS, EOS, 2 per message and 2 per block: every other id is content.
    n_blocks = sum(len(message.content) for message in SPECIAL_TEXT_RECORD.messages)
    assert sum(int(i) in structure for i in encoded.input_ids) == 2 + 2 * 4 + 2 * n_blocks
    assert record_tokens(SPECIAL_TEXT_RECORD, _flag_ids(directory)) == len(encoded)


def test_a_record_that_passes_the_flag_fits_the_trainer(tmp_path: Path) -> None:
    directory = _tokenizer_dir(tmp_path, with_bos=True)
    encoder, ids = _trainer_encoder(directory), _flag_ids(directory)
    path = write_jsonl(tmp_path / "special.jsonl", [SPECIAL_TEXT_RECORD])
    tokens = record_tokens(SPECIAL_TEXT_RECORD, ids)

    assert over_length(SPECIAL_TEXT_RECORD, ids, tokenizer_name="t", max_len=tokens) is None
    assert len(load_file(path, encoder, tokens, OverLength.ERROR).records) == 1

    flag = over_length(SPECIAL_TEXT_RECORD, ids, tokenizer_name="t", max_len=tokens - 1)
    assert flag == {"tokenizer": "t", "tokens": tokens, "max_len": tokens - 1}
    with pytest.raises(DataError, match=f"{tokens} tokens exceed max_len {tokens - 1}"):
        load_file(path, encoder, tokens - 1, OverLength.ERROR)
