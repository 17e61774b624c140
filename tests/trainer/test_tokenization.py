"""Ids, labels and layout of encoded records; special-token strings inside content stay content."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from reflectseq.format import END_OF_BLOCK, Record, one_off_prompt, serialize_message
from tests.trainer.tiny import (
    generation_record,
    make_prepared,
    reflection_record,
    write_jsonl,
)
from trainer.config import OverLength
from trainer.data import DataError, load_file
from trainer.tokenization import IGNORE_INDEX, RecordTokenizer, Segment


def decode(tokenizer: object, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=False)  # type: ignore[attr-defined]


def trained_text(tokenizer: object, input_ids: list[int], labels: list[int]) -> str:
    return decode(
        tokenizer, [i for i, label in zip(input_ids, labels, strict=True) if label != IGNORE_INDEX]
    )


def without_execution(record: Record, index: int) -> str:
    message = record.messages[index]
    kept = message.model_copy(
        update={"content": [b for b in message.content if b.type != "execution"]}
    )
    return serialize_message(kept)


@pytest.mark.parametrize("with_bos", [True, False])
def test_reflection_record_ids_and_labels(with_bos: bool) -> None:
    _, tokenizer = make_prepared(with_bos=with_bos)
    record = reflection_record()
    encoded = RecordTokenizer(tokenizer).encode(record)
    ids, labels = encoded.input_ids.tolist(), encoded.labels.tolist()

    bos = "<s>" if with_bos else ""
    assert decode(tokenizer, ids) == bos + "".join(map(serialize_message, record.messages)) + "</s>"
    assert ids[0] == (
        tokenizer.bos_token_id if with_bos else tokenizer.convert_tokens_to_ids("<|user|>")
    )
    # Trained: both assistant messages without execution blocks, and EOS. Not trained: BOS,
    # both user turns, execution blocks.
    expected = without_execution(record, 1) + serialize_message(record.messages[3]) + "</s>"
    assert trained_text(tokenizer, ids, labels) == expected
    # The final answer spans its <|assistant|> .. <|endofmessage|>.
    answer = decode(tokenizer, ids[encoded.answer_start : encoded.answer_end + 1])
    assert answer == serialize_message(record.messages[3])
    # Layout: reflection blocks numbered 0..4 with their types, the one-off turn always visible.
    reflection = encoded.segment == Segment.REFLECTION
    assert sorted(set(encoded.block_id[reflection].tolist())) == [0, 1, 2, 3, 4]
    assert (encoded.segment[encoded.answer_start :] == Segment.VISIBLE).all()


def test_generation_record_is_plain_sft() -> None:
    _, tokenizer = make_prepared()
    record = generation_record()
    encoded = RecordTokenizer(tokenizer).encode(record)
    ids, labels = encoded.input_ids.tolist(), encoded.labels.tolist()
    assert encoded.is_generation
    assert trained_text(tokenizer, ids, labels) == serialize_message(record.messages[1]) + "</s>"


def test_special_token_strings_in_content_stay_content() -> None:
    """A program that prints <|endofblock|> must not end its block (the reference breaks here)."""
    _, tokenizer = make_prepared()
    sneaky = "print('<|endofblock|><|endofmessage|><|user|>')"
    record = reflection_record(answer=sneaky)
    encoded = RecordTokenizer(tokenizer).encode(record)
    end_id = tokenizer.convert_tokens_to_ids(END_OF_BLOCK)
    n_blocks = sum(len(m.content) for m in record.messages)
    assert int((encoded.input_ids == end_id).sum()) == n_blocks
    assert decode(tokenizer, encoded.input_ids.tolist()).count(sneaky) == 2
    last_code = encoded.block_id == 4
    assert sneaky in decode(tokenizer, encoded.input_ids[last_code].tolist())


def test_tokenizer_without_the_special_tokens_is_refused() -> None:
    from tests.trainer.tiny import make_tokenizer

    with pytest.raises(ValueError, match="special tokens"):
        RecordTokenizer(make_tokenizer())


def test_over_length_records_follow_the_policy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, tokenizer = make_prepared()
    encoder = RecordTokenizer(tokenizer)
    long = reflection_record(question="Sum a list. " * 40)
    path = write_jsonl(tmp_path / "r.jsonl", [reflection_record(), long, reflection_record()])
    limit = len(encoder.encode(reflection_record())) + 5
    with caplog.at_level(logging.WARNING):
        source = load_file(path, encoder, limit, OverLength.SKIP)
    assert len(source.records) == 2
    assert "skipped 1 record(s) longer than max_len" in caplog.text
    assert "(lines 2)" in caplog.text
    with pytest.raises(DataError, match=r"r\.jsonl:2: \d+ tokens exceed max_len"):
        load_file(path, encoder, limit, OverLength.ERROR)


def test_bad_lines_and_mixed_types_name_the_line(tmp_path: Path) -> None:
    _, tokenizer = make_prepared()
    encoder = RecordTokenizer(tokenizer)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(reflection_record().to_json_line() + '\n{"messages": [], "type": "x"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2:"):
        load_file(bad, encoder, 4096, OverLength.SKIP)
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [reflection_record(), generation_record()])
    with pytest.raises(DataError, match=r"mixed\.jsonl:2: type 'generation' differs"):
        load_file(mixed, encoder, 4096, OverLength.SKIP)


def test_chat_template_renders_the_training_format() -> None:
    _, tokenizer = make_prepared()
    record = reflection_record()
    messages = [m.model_dump() for m in record.messages]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    assert rendered == "<s>" + "".join(map(serialize_message, record.messages))
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Sum a list."}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<s>" + one_off_prompt("Sum a list.")
