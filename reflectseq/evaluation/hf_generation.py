"""Sampling from a local Hugging Face checkpoint with transformers ``generate``.

This is how a checkpoint written by ``trainer/`` is evaluated without serving it first. torch
and transformers belong to the ``train`` extra, so they are imported when the generator is built,
never when the package is. Special tokens stay in the decoded text (the special-token template's
answers end at ``<|endofblock|>``), so the tokenizer's own end and padding tokens are cut here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from reflectseq.evaluation.generation import GenerationError, SamplingParams
from reflectseq.evaluation.postprocess import truncate_at_stops
from reflectseq.evaluation.prompts import Prompt


class HFGenerator:
    """A causal LM and its tokenizer loaded from a local directory (never from the hub)."""

    def __init__(self, checkpoint: Path, *, device: str | None = None) -> None:
        try:
            import torch  # noqa: PLC0415
            from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415
        except ImportError as error:
            raise GenerationError(
                "the hf backend needs the train extra: pip install 'reflectseq[train]'"
            ) from error
        if not checkpoint.is_dir():
            raise GenerationError(f"--model: {checkpoint} is not a checkpoint directory")
        self._torch = torch
        self._device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
            # cast: transformers types ``.to`` through a decorator that mypy misreads.
            self._model = cast(
                Any,
                AutoModelForCausalLM.from_pretrained(
                    checkpoint, local_files_only=True, dtype="auto"
                ),
            )
        except (OSError, ValueError) as error:
            raise GenerationError(f"--model: cannot load {checkpoint}: {error}") from error
        self._model.to(self._device).eval()
        self._ends = [
            token
            for token in (self._tokenizer.eos_token, self._tokenizer.pad_token)
            if isinstance(token, str) and token
        ]

    def _input_ids(self, prompt: Prompt) -> Any:
        if prompt.chat is not None:
            if not getattr(self._tokenizer, "chat_template", None):
                raise GenerationError(
                    "the checkpoint's tokenizer has no chat template: use --template special or raw"
                )
            chat = [{"role": "user", "content": prompt.chat}]
            text = self._tokenizer.apply_chat_template(
                chat, add_generation_prompt=True, tokenize=False
            )
            encoded = self._tokenizer(text, add_special_tokens=False, return_tensors="pt")
        else:
            encoded = self._tokenizer(prompt.text or "", return_tensors="pt")
        return encoded["input_ids"].to(self._device)

    def generate(self, prompt: Prompt, n: int, sampling: SamplingParams) -> list[str]:
        """``n`` samples in one batch; greedy decoding repeats one answer ``n`` times."""
        input_ids = self._input_ids(prompt)
        greedy = sampling.temperature == 0
        if sampling.seed is not None:
            self._torch.manual_seed(sampling.seed)
        options: dict[str, Any] = {
            "max_new_tokens": sampling.max_tokens,
            "do_sample": not greedy,
            "num_return_sequences": 1 if greedy else n,
            "pad_token_id": self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
        }
        if not greedy:
            options.update(temperature=sampling.temperature, top_p=sampling.top_p)
        if prompt.stops:
            options.update(stop_strings=list(prompt.stops), tokenizer=self._tokenizer)
        with self._torch.inference_mode():
            output = self._model.generate(
                input_ids, attention_mask=self._torch.ones_like(input_ids), **options
            )
        new_tokens = output[:, input_ids.shape[1] :]
        texts = [
            truncate_at_stops(text, self._ends)
            for text in self._tokenizer.batch_decode(new_tokens, skip_special_tokens=False)
        ]
        return texts * n if greedy else texts
