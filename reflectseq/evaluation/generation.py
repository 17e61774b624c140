"""Sampling completions from a model: an OpenAI-compatible endpoint, a backend of the loop, or a
local Hugging Face checkpoint.

Evaluation asks more of an endpoint than the loop does: ``n`` samples per prompt in one request,
stop sequences, raw (non-chat) completions for special-token prompts, and an answer cut off at the
token limit is a failing sample rather than an error. So the endpoint generator talks to the
``openai`` SDK itself (with the SDK's own retries), while the loop's offline ``local`` backend is
reused as is for chat prompts.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from reflectseq.evaluation.prompts import Prompt

if TYPE_CHECKING:
    from reflectseq.llm.base import LlmBackend


@dataclass(frozen=True)
class SamplingParams:
    """Sampling of an evaluation run; greedy when ``temperature`` is 0."""

    temperature: float = 0.0
    top_p: float = 0.95
    max_tokens: int = 1024
    seed: int | None = None


class GenerationError(RuntimeError):
    """The model could not be asked (bad endpoint, missing extra, unsupported template)."""


class Generator(Protocol):
    """Something that samples ``n`` answers to a prompt."""

    def generate(self, prompt: Prompt, n: int, sampling: SamplingParams) -> list[str]:
        """``n`` raw answers (without the prompt's answer prefix)."""
        ...


def generate_all(
    generator: Generator,
    prompts: list[Prompt],
    n: int,
    sampling: SamplingParams,
    *,
    concurrency: int = 1,
    progress: Callable[[], None] | None = None,
) -> list[list[str]]:
    """``n`` answers for each prompt, in order; ``concurrency`` prompts are in flight at once."""

    def one(prompt: Prompt) -> list[str]:
        answers = generator.generate(prompt, n, sampling)
        if progress is not None:
            progress()
        return answers

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(one, prompts))


class EndpointGenerator:
    """Chat or raw completions from an OpenAI-compatible server (vLLM, SGLang, llama.cpp, ...)."""

    def __init__(
        self, *, model: str, base_url: str | None, api_key: str = "", timeout_s: float = 300.0
    ) -> None:
        import openai  # noqa: PLC0415 - keeps `reflectseq eval report` free of the SDK import

        self._openai = openai
        self._model = model
        # Self-hosted servers accept any key, but the SDK insists on one being set.
        self._client = openai.OpenAI(
            base_url=base_url or None, api_key=api_key or "unused", timeout=timeout_s
        )

    def generate(self, prompt: Prompt, n: int, sampling: SamplingParams) -> list[str]:
        """Ask for all ``n`` samples at once and top up if the server returns fewer."""
        answers: list[str] = []
        while len(answers) < n:
            try:
                answers.extend(self._request(prompt, n - len(answers), sampling))
            except self._openai.APIError as error:
                raise GenerationError(f"the endpoint failed: {error}") from error
        return answers[:n]

    def _request(self, prompt: Prompt, n: int, sampling: SamplingParams) -> list[str]:
        common: dict[str, Any] = {
            "model": self._model,
            "n": n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "seed": sampling.seed,
            "stop": list(prompt.stops) or None,
        }
        if prompt.chat is not None:
            chat = self._client.chat.completions.create(
                messages=[{"role": "user", "content": prompt.chat}], **common
            )
            return [choice.message.content or "" for choice in chat.choices]
        completion = self._client.completions.create(prompt=prompt.text or "", **common)
        return [choice.text for choice in completion.choices]


class BackendChatGenerator:
    """Chat prompts through one of the loop's backends (the offline ``local`` model)."""

    def __init__(self, backend: LlmBackend) -> None:
        self._backend = backend

    def generate(self, prompt: Prompt, n: int, sampling: SamplingParams) -> list[str]:
        """One call per sample; a cut-off answer is kept as it is (it will most likely fail)."""
        from reflectseq.llm.base import LlmError, Sampling  # noqa: PLC0415

        if prompt.chat is None:
            raise GenerationError(
                "this backend answers chats only: use --template chat, or serve the model "
                "behind an OpenAI-compatible endpoint for raw completions"
            )
        answers = []
        for index in range(n):
            seed = None if sampling.seed is None else sampling.seed + index
            settings = Sampling(sampling.temperature, sampling.top_p, sampling.max_tokens, seed)
            try:
                text = self._backend.complete([{"role": "user", "content": prompt.chat}], settings)
            except LlmError as error:
                raise GenerationError(f"the model failed: {error}") from error
            answers.append(text.text)
        return answers


def local_generator(model_name: str, cache_dir: Path, threads: int, context: int) -> Generator:
    """The bundled offline model of the ``local-llm`` extra."""
    from reflectseq.llm.local_backend import LocalBackend  # noqa: PLC0415
    from reflectseq.llm.model_files import ModelUnavailable  # noqa: PLC0415

    try:
        backend = LocalBackend(model_name, cache_dir, threads=threads, context=context)
    except ModelUnavailable as error:
        raise GenerationError(str(error)) from error
    return BackendChatGenerator(backend)
