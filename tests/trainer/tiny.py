"""Test data and the tiny model: the trainer's tests need no download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reflectseq.format import Record, RecordBlock, RecordMessage
from trainer.model_setup import prepare
from trainer.tiny_model import TinyModelConfig, build_model, train_tokenizer

_SNIPPETS = [
    "def add(a, b):\n    return a + b\n",
    "def is_prime(n):\n    if n < 2:\n        return False\n"
    "    return all(n % d for d in range(2, n))\n",
    "assert add(1, 2) == 3\nprint('ok')\n",
    'Traceback (most recent call last):\n  File "main.py", line 3\nAssertionError\n',
    "The test failed because the function returns the wrong value; fix the loop.\n",
    "Write a function that returns the sum of a list of numbers.\n",
    "```python\ndef total(xs):\n    return sum(xs)\n```",
    "for i in range(10):\n    print(i * i)\n",
]
CORPUS = [f"{snippet} # {i}" for i in range(40) for snippet in _SNIPPETS]


def make_tokenizer(with_bos: bool = True) -> Any:
    return train_tokenizer(CORPUS, vocab_size=400, with_bos=with_bos)


def make_prepared(with_bos: bool = True, seed: int = 0) -> tuple[Any, Any]:
    """Tiny model and tokenizer with the special tokens added and initialised."""
    tokenizer = make_tokenizer(with_bos)
    model = build_model(TinyModelConfig(seed=seed, max_position_embeddings=512), len(tokenizer))
    prepare(model, tokenizer)
    return model, tokenizer


def _message(role: str, *blocks: tuple[str, str]) -> RecordMessage:
    return RecordMessage(
        role=role,  # type: ignore[arg-type]
        content=[RecordBlock(type=t, content=c) for t, c in blocks],  # type: ignore[arg-type]
    )


def reflection_record(
    question: str = "Sum a list.", answer: str = "def f(x): return sum(x)"
) -> Record:
    """Text, code, execution, text, code blocks in the reflection, then the one-off turn."""
    return Record(
        type="reflection",
        messages=[
            _message("user", ("text", question)),
            _message(
                "assistant",
                ("text", "First try."),
                ("code", "def f(x): return 0"),
                ("execution", "AssertionError"),
                ("text", "Wrong value."),
                ("code", answer),
            ),
            _message("user", ("text", question + " Answer in one go.")),
            _message("assistant", ("text", f"```python\n{answer}\n```")),
        ],
    )


def generation_record(question: str = "Sum a list.") -> Record:
    return Record(
        type="generation",
        messages=[
            _message("user", ("text", question)),
            _message("assistant", ("text", "```python\ndef f(x): return sum(x)\n```")),
        ],
    )


def varied_reflections(n: int) -> list[Record]:
    """Reflection records of different lengths, so padding and grouping matter."""
    return [
        reflection_record(
            question=f"Sum a list {'please ' * (i % 4)}{i}.",
            answer=f"def f{i}(x): return sum(x) + {i}",
        )
        for i in range(n)
    ]


def write_jsonl(path: Path, records: list[Record]) -> Path:
    path.write_text("".join(r.to_json_line() + "\n" for r in records), encoding="utf-8")
    return path
