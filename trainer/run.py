"""Assemble a training run from a config: model, data, arguments, trainer; train; save.

The saved model directory is a plain HF checkpoint: weights, the tokenizer with the seven
special tokens, and a chat template that renders the special-token format.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from transformers import TrainingArguments

from trainer.config import ConfigError, TrainConfig
from trainer.data import Collator, load_dataset, record_texts
from trainer.distill_trainer import DistillationTrainer
from trainer.model_setup import load_model_and_tokenizer
from trainer.tokenization import RecordTokenizer

logger = logging.getLogger(__name__)

FINAL_DIR = "final"

# Defaults that differ from TrainingArguments'; the config's ``training`` section overrides them.
TRAINING_DEFAULTS: dict[str, Any] = {
    "report_to": ["tensorboard"],
    "logging_steps": 10,
    "activation_checkpointing_kwargs": {"use_reentrant": False},
}


def training_arguments(config: TrainConfig) -> TrainingArguments:
    """``TrainingArguments`` from the config, with accumulation derived from the global batch."""
    values = {**TRAINING_DEFAULTS, **config.training}
    # The collator's extra fields (masks layout) must reach compute_loss.
    values["remove_unused_columns"] = False
    values["output_dir"] = str(config.output_dir)
    try:
        args = TrainingArguments(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"training: {exc}") from exc
    if config.global_batch_size is not None:
        per_step = args.per_device_train_batch_size * args.world_size
        if config.global_batch_size % per_step:
            raise ConfigError(
                f"global_batch_size {config.global_batch_size} is not a multiple of "
                f"per_device_train_batch_size x processes = {per_step}"
            )
        args.gradient_accumulation_steps = config.global_batch_size // per_step
    return args


def build_trainer(config: TrainConfig, model: Any, tokenizer: Any) -> DistillationTrainer:
    """The trainer for an already prepared model and tokenizer (tests call this directly)."""
    args = training_arguments(config)
    dataset = load_dataset(
        config.train_files, RecordTokenizer(tokenizer), config.max_len, config.overlength
    )
    return DistillationTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=Collator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        distillation=config.distillation,
        loss_averaging=config.loss_averaging,
        source_sizes=dataset.source_sizes,
        lengths=dataset.lengths,
    )


def train(config: TrainConfig) -> Path:
    """Run the whole training and return the directory of the final model."""
    model, tokenizer = load_model_and_tokenizer(
        config.model, config.lora, lambda: record_texts(config.train_files)
    )
    trainer = build_trainer(config, model, tokenizer)
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    final = config.output_dir / FINAL_DIR
    trainer.save_model(str(final))
    logger.info("saved the final model to %s", final)
    return final
