"""Load the model and tokenizer, add the seven special tokens and give them sensible embeddings.

A new token's input and output embedding start as the mean of the embeddings of the sub-tokens
its text splits into (``<|code|>`` -> ``<``, ``|``, ``code``, ``|``, ``>``), as in the paper; the
random or mean-of-all rows transformers would use otherwise make the first steps noisy. Embedding
matrices larger than the tokenizer (many models pad them to a multiple of 64 or 128) are never
shrunk: new ids that fit are written into the spare rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

from reflectseq.record_ids import add_record_tokens
from trainer.config import LoraConfig, ModelConfig
from trainer.tiny_model import build_model, train_tokenizer

logger = logging.getLogger(__name__)

# Renders chat messages in the special-token format, so ``apply_chat_template`` on the saved
# tokenizer produces exactly what the model was trained on. Message content is either a string
# (one text block) or a list of ``{"type": "text"|"code"|"execution", "content": ...}`` blocks.
CHAT_TEMPLATE = (
    "{{ bos_token if bos_token else '' }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' }}"
    "{% if message['content'] is string %}"
    "{{ '<|text|>' + message['content'] + '<|endofblock|>' }}"
    "{% else %}"
    "{% for block in message['content'] %}"
    "{{ '<|' + block['type'] + '|>' + block['content'] + '<|endofblock|>' }}"
    "{% endfor %}"
    "{% endif %}"
    "{{ '<|endofmessage|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


def add_special_tokens(tokenizer: Any) -> list[int]:
    """Add the seven tokens, a pad token and the chat template; return the ids that are new."""
    new_ids = add_record_tokens(tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.chat_template = CHAT_TEMPLATE
    return new_ids


def _gathered(parameters: list[torch.nn.Parameter]) -> AbstractContextManager[Any]:
    """Under ZeRO-3 the embeddings are sharded; gather them so rank 0 can edit whole rows."""
    if not is_deepspeed_zero3_enabled():  # type: ignore[no-untyped-call]
        return nullcontext()
    import deepspeed  # type: ignore[import-not-found]  # noqa: PLC0415  (only with ZeRO-3)

    return deepspeed.zero.GatheredParameters(parameters, modifier_rank=0)  # type: ignore[no-any-return]


def init_new_token_embeddings(model: Any, tokenizer: Any, new_ids: list[int]) -> None:
    """Grow the embeddings if needed, then set each new row to the mean of its sub-token rows."""
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    input_weight = model.get_input_embeddings().weight
    output = model.get_output_embeddings()
    weights = [input_weight] + ([output.weight] if output is not None else [])
    with _gathered(weights), torch.no_grad():
        for token_id in new_ids:
            text = tokenizer.convert_ids_to_tokens(token_id)
            pieces = tokenizer(text, add_special_tokens=False, split_special_tokens=True)[
                "input_ids"
            ]
            for weight in weights:
                weight[token_id] = weight[pieces].mean(dim=0)


def load_tokenizer(config: ModelConfig, texts: Callable[[], Iterable[str]]) -> Any:
    """The base tokenizer (without our special tokens yet); ``texts`` feeds a tiny one."""
    if config.tiny is not None:
        return train_tokenizer(texts(), config.tiny.vocab_size, config.tiny.with_bos)
    return AutoTokenizer.from_pretrained(config.tokenizer or config.name_or_path)


def load_model_and_tokenizer(
    config: ModelConfig, lora: LoraConfig | None, texts: Callable[[], Iterable[str]]
) -> tuple[Any, Any]:
    """The model ready to train (new tokens initialised, LoRA applied) and its tokenizer."""
    tokenizer = load_tokenizer(config, texts)
    if config.tiny is not None:
        model: Any = build_model(config.tiny, len(tokenizer))
    else:
        assert config.name_or_path is not None  # the config validator requires one of the two
        model = AutoModelForCausalLM.from_pretrained(
            config.name_or_path, dtype=config.dtype, attn_implementation=config.attn_implementation
        )
    prepare(model, tokenizer)
    if lora is not None:
        model = apply_lora(model, lora)
    return model, tokenizer


def prepare(model: Any, tokenizer: Any) -> None:
    """Add the special tokens to the tokenizer and initialise their embeddings in the model."""
    new_ids = add_special_tokens(tokenizer)
    init_new_token_embeddings(model, tokenizer, new_ids)
    model.config.pad_token_id = tokenizer.pad_token_id
    logger.info("added %d special tokens; vocabulary now %d", len(new_ids), len(tokenizer))


def apply_lora(model: Any, lora: LoraConfig) -> Any:
    """Wrap the model in LoRA adapters; embeddings and head stay trainable for the new tokens."""
    from peft import LoraConfig as PeftLoraConfig  # noqa: PLC0415  (peft is optional at import)
    from peft import get_peft_model  # noqa: PLC0415

    peft_config = PeftLoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        modules_to_save=lora.modules_to_save,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_config)
