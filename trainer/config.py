"""The training configuration: one YAML file, validated before anything heavy is loaded.

Our own settings (data, distillation, model setup, LoRA) are typed fields; ``training`` is
passed to ``transformers.TrainingArguments`` as is, so every option of the HF trainer (FSDP,
DeepSpeed, schedulers, logging) stays available without being re-declared here.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from trainer.masks import Strategy, parse_block_order
from trainer.tiny_model import TinyModelConfig


class StudentPass(StrEnum):
    """How the student forward runs.

    ``compact`` drops the hidden tokens and keeps original position ids (a hidden token is
    hidden from every query, so this is exact); ``masked`` is the reference's doubled batch with
    a holed attention mask, kept for comparison.
    """

    COMPACT = "compact"
    MASKED = "masked"


class CePooling(StrEnum):
    """``pooled``: teacher and student CE share one token mean (the reference).

    ``separate``: each is a mean over its own tokens, so the weights mean what they say.
    """

    POOLED = "pooled"
    SEPARATE = "separate"


class AnswerSpan(StrEnum):
    """Which logits the student CE and the KL cover.

    ``reference``: CE predicts the final message from ``<|assistant|>`` to ``<|endofmessage|>``
    and KL is taken one position later (the reference's off-by-one; EOS is learnt by the student
    through KL only). ``aligned``: both cover the predictions of the answer's tokens after
    ``<|assistant|>`` through EOS.
    """

    REFERENCE = "reference"
    ALIGNED = "aligned"


class LossAveraging(StrEnum):
    """How the micro-batches of one optimizer step make its loss.

    ``tokens``: every term is a mean over its tokens in the whole accumulation window and all
    processes, so how the window is split into micro-batches does not matter (1 x 8 equals
    2 x 4), and a long sequence weighs more than a short one. ``sequence``: each micro-batch's
    loss is a mean over its own tokens and the step averages the micro-batches (over
    accumulation and processes), as the reference trainer does; with one sequence per
    micro-batch, as in the paper, every sequence weighs the same.
    """

    TOKENS = "tokens"
    SEQUENCE = "sequence"


class OverLength(StrEnum):
    """What to do with a record longer than ``max_len`` tokens (always logged)."""

    SKIP = "skip"
    ERROR = "error"


class DistillationConfig(BaseModel):
    """Reflection self-distillation; the defaults follow the paper's method."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    strategies: list[Strategy] = Field(default_factory=lambda: [Strategy.BLOCK_MASK], min_length=1)
    block_order: str = "tce"
    student_pass: StudentPass = StudentPass.COMPACT
    teacher_ce_weight: float = Field(1.0, ge=0)
    student_ce_weight: float = Field(1.0, ge=0)
    kl_weight: float = Field(1.0, ge=0)
    temperature: float = Field(1.0, gt=0)
    ce_pooling: CePooling = CePooling.POOLED
    answer_span: AnswerSpan = AnswerSpan.REFERENCE
    mask_schedule_lag: Literal[0, 1] = Field(
        0,
        description="1: give each micro-batch the mask rate the reference trainer gave it, "
        "which its dataloader computed one step late (see masks.scheduled_rate).",
    )

    @field_validator("block_order")
    @classmethod
    def _order(cls, value: str) -> str:
        parse_block_order(value)
        return value


class LoraConfig(BaseModel):
    """LoRA adapters via peft; the new-token embeddings stay fully trainable."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | str = "all-linear"
    modules_to_save: list[str] = Field(default_factory=lambda: ["embed_tokens", "lm_head"])


class ModelConfig(BaseModel):
    """Which model to start from and how to load it.

    ``tiny`` instead builds a small random Llama and trains its tokenizer on the training files:
    a smoke test of the whole pipeline with no download.
    """

    model_config = ConfigDict(extra="forbid")

    name_or_path: str | None = None
    tokenizer: str | None = None
    tiny: TinyModelConfig | None = None
    dtype: str = "auto"
    attn_implementation: str | None = "sdpa"

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        if (self.name_or_path is None) == (self.tiny is None):
            raise ValueError("set exactly one of model.name_or_path and model.tiny")
        return self


class TrainConfig(BaseModel):
    """A whole training run."""

    model_config = ConfigDict(extra="forbid")

    model: ModelConfig
    train_files: list[Path] = Field(min_length=1)
    output_dir: Path
    max_len: int = Field(4096, ge=8)
    overlength: OverLength = OverLength.SKIP
    global_batch_size: int | None = Field(
        None, ge=1, description="If set, gradient accumulation is derived from it."
    )
    loss_averaging: LossAveraging = LossAveraging.TOKENS
    distillation: DistillationConfig = Field(default_factory=DistillationConfig)
    lora: LoraConfig | None = None
    resume_from_checkpoint: str | bool | None = None
    training: dict[str, Any] = Field(default_factory=dict)


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the field."""


def load_config(path: Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read and validate a YAML config; ``overrides`` replace top-level keys."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    data.update(overrides or {})
    try:
        config = TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return config
