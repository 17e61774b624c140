"""A tiny Llama and an in-process tokenizer: the trainer's tests need no download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from reflectseq.format import Record, RecordBlock, RecordMessage

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


def make_tokenizer(with_bos: bool = True) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on a few hundred lines of code text, in milliseconds."""
    specials = ["<unk>", "<s>", "</s>"]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    kwargs: dict[str, Any] = {"unk_token": "<unk>", "eos_token": "</s>"}
    if with_bos:
        kwargs["bos_token"] = "<s>"
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **kwargs)


def make_model(vocab_size: int, seed: int = 0) -> LlamaForCausalLM:
    """A 2-layer Llama small enough to train for a few steps in well under a second."""
    import torch

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config).eval()


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


def write_jsonl(path: Path, records: list[Record]) -> Path:
    path.write_text("".join(r.to_json_line() + "\n" for r in records), encoding="utf-8")
    return path


def varied_reflections(n: int) -> list[Record]:
    """Reflection records of different lengths, so padding and grouping matter."""
    return [
        reflection_record(
            question=f"Sum a list {'please ' * (i % 4)}{i}.",
            answer=f"def f{i}(x): return sum(x) + {i}",
        )
        for i in range(n)
    ]
