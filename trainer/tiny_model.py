"""A tiny random Llama with a tokenizer trained on the training files themselves.

It lets the whole pipeline (tokenization, masks, both student passes, saving) run anywhere in
seconds with no download: the ``tiny-cpu`` config, the tests and the CPU benchmark use it. The
model learns nothing useful; it exists to exercise the trainer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

UNK, BOS, EOS = "<unk>", "<s>", "</s>"


class TinyModelConfig(BaseModel):
    """Size of the tiny model and its tokenizer."""

    model_config = ConfigDict(extra="forbid")

    vocab_size: int = Field(400, ge=300)
    hidden_size: int = Field(64, ge=8)
    intermediate_size: int = Field(128, ge=8)
    num_hidden_layers: int = Field(2, ge=1)
    num_attention_heads: int = Field(4, ge=1)
    num_key_value_heads: int = Field(2, ge=1)
    max_position_embeddings: int = Field(4096, ge=64)
    with_bos: bool = True
    seed: int = 0


def train_tokenizer(texts: Iterable[str], vocab_size: int, with_bos: bool) -> Any:
    """A byte-level BPE trained in-process (milliseconds for a few hundred lines)."""
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    bpe = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[UNK, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts, bpe)
    tokens: dict[str, Any] = {"unk_token": UNK, "eos_token": EOS}
    if with_bos:
        tokens["bos_token"] = BOS
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **tokens)  # type: ignore[no-untyped-call]


def build_model(config: TinyModelConfig, vocab_size: int) -> LlamaForCausalLM:
    """A randomly initialised Llama; seeded, so two builds are identical."""
    torch.manual_seed(config.seed)
    llama = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(llama)
