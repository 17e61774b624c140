"""The LLM endpoints a deployment may call: declared by the operator, named by submissions.

A submission never carries a URL or a key. It names an endpoint (``"endpoint": "vllm-a"``) and
a model from that endpoint's allow-list; the workers look the name up here and send the
endpoint's own key to the endpoint's own URL, nowhere else. Anything a submitter could choose
that costs the operator money or reaches another host is therefore the operator's choice.

The registry is built from three sources, later ones overriding earlier ones by name:

* ``local``: the bundled offline model (always declared);
* ``default``: the single endpoint of the ``REFLECTSEQ_LLM_BASE_URL`` / ``_API_KEY`` / ``_MODEL``
  settings, declared when a base URL or model is set or the backend setting is ``openai``;
* the TOML file named by ``REFLECTSEQ_LLM_ENDPOINTS_FILE``::

    [endpoints.vllm-a]
    base_url = "http://vllm-a:8000/v1"
    api_key_env = "VLLM_A_KEY"          # the key is read from this variable, never the file
    models = ["Qwen/Qwen2.5-Coder-7B-Instruct"]   # the first is the default
    max_concurrency = 64                # in flight over all workers (0: unlimited)
    requests_per_minute = 0             # 0: unlimited
    tokens_per_minute = 0
    timeout_s = 60                      # no token for this long: the request is given up
    first_token_timeout_s = 600         # the server's queue plus reading the prompt
    context_tokens = 32768
    [endpoints.vllm-a.prices."Qwen/Qwen2.5-Coder-7B-Instruct"]
    input = 0.10                        # dollars per million tokens
    output = 0.30
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from reflectseq.llm.model_files import BUNDLED_MODELS
from reflectseq.llm.pricing import Price, PriceTable
from reflectseq.llm.ratelimit import Limits
from reflectseq.llm.streaming import FIRST_TOKEN_S, STALL_S, Deadlines
from reflectseq.settings import Settings
from reflectseq.specs import ENDPOINT_NAME_PATTERN, GenerationConfigSpec

LOCAL_ENDPOINT = "local"
DEFAULT_ENDPOINT = "default"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
_NAME = re.compile(ENDPOINT_NAME_PATTERN)
_ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]*$"


class EndpointFileError(ValueError):
    """The endpoints file is unreadable or malformed; the message names the entry and field."""


class EndpointChoiceError(ValueError):
    """A generation config names an endpoint or model the operator did not declare.

    ``field`` is the config field at fault (``endpoint`` or ``model``), so callers can point the
    submitter at it.
    """

    def __init__(self, field: Literal["endpoint", "model"], message: str) -> None:
        super().__init__(message)
        self.field = field


class _PriceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class _EndpointEntry(BaseModel):
    """One ``[endpoints.NAME]`` table of the file, as written by the operator."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["openai", "local"] = "openai"
    base_url: str = Field(default="", max_length=500)
    api_key_env: str | None = Field(default=None, pattern=_ENV_VAR)
    models: list[str] = Field(min_length=1)
    max_concurrency: int = Field(default=0, ge=0)
    requests_per_minute: int = Field(default=0, ge=0)
    tokens_per_minute: int = Field(default=0, ge=0)
    timeout_s: float = Field(default=STALL_S, gt=0)
    first_token_timeout_s: float = Field(default=FIRST_TOKEN_S, gt=0)
    context_tokens: int | None = Field(default=None, ge=256)
    extra_headers: dict[str, str] = Field(default_factory=dict)
    prices: dict[str, _PriceEntry] = Field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """A declared endpoint. ``api_key`` is held as a secret and never leaves the worker."""

    name: str
    kind: Literal["openai", "local"]
    models: tuple[str, ...]
    base_url: str = ""
    api_key: SecretStr = field(default_factory=lambda: SecretStr(""))
    limits: Limits = field(default_factory=Limits)
    timeout_s: float = STALL_S
    first_token_timeout_s: float = FIRST_TOKEN_S
    context_tokens: int | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    prices: PriceTable = field(default_factory=PriceTable)

    @property
    def deadlines(self) -> Deadlines:
        """How long a streamed answer may keep silent (``timeout_s`` between tokens)."""
        return Deadlines(first_token_s=self.first_token_timeout_s, stall_s=self.timeout_s)

    @property
    def default_model(self) -> str:
        """The model a config gets when it names none: the first of the allow-list."""
        return self.models[0]


@dataclass(frozen=True)
class EndpointRegistry:
    """The declared endpoints by name, and which one a config without a name gets."""

    endpoints: dict[str, Endpoint]
    default_name: str

    def get(self, name: str) -> Endpoint:
        """The endpoint called ``name``; ``EndpointChoiceError`` if none is declared."""
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            declared = ", ".join(sorted(self.endpoints)) or "none"
            raise EndpointChoiceError(
                "endpoint",
                f"endpoint {name!r} is not declared by the operator (declared: {declared})",
            )
        return endpoint

    def choose(self, name: str | None, model: str | None) -> tuple[Endpoint, str]:
        """The endpoint and model a config asks for, defaults filled in, allow-list enforced."""
        endpoint = self.get(name or self.default_name)
        chosen = model or endpoint.default_model
        if chosen not in endpoint.models:
            raise EndpointChoiceError(
                "model",
                f"model {chosen!r} is not allowed on endpoint {endpoint.name!r} "
                f"(allowed: {', '.join(endpoint.models)})",
            )
        return endpoint, chosen

    def with_endpoint(self, endpoint: Endpoint, *, default: bool = False) -> EndpointRegistry:
        """A copy with one more endpoint (the command line's own, for ``reflectseq run``)."""
        return EndpointRegistry(
            {**self.endpoints, endpoint.name: endpoint},
            endpoint.name if default else self.default_name,
        )


def _local_endpoint(settings: Settings) -> Endpoint:
    preferred = settings.local_model
    names = [preferred, *(name for name in BUNDLED_MODELS if name != preferred)]
    return Endpoint(
        name=LOCAL_ENDPOINT,
        kind="local",
        models=tuple(names),
        context_tokens=settings.local_context_tokens,
    )


def settings_limits(settings: Settings) -> Limits:
    """The rate limits the ``REFLECTSEQ_LLM_*`` settings declare."""
    return Limits(
        requests_per_minute=settings.llm_requests_per_minute,
        tokens_per_minute=settings.llm_tokens_per_minute,
        max_concurrency=settings.llm_max_concurrency,
    )


def url_endpoint(settings: Settings, base_url: str, model: str | None, *, name: str) -> Endpoint:
    """An endpoint at ``base_url`` with the settings' key, limits and prices.

    For the settings' own endpoint and for an operator's command line; never for a URL that
    arrived in a request.
    """
    return Endpoint(
        name=name,
        kind="openai",
        models=(model or settings.llm_model or DEFAULT_OPENAI_MODEL,),
        base_url=base_url,
        api_key=settings.llm_api_key,
        limits=settings_limits(settings),
        timeout_s=settings.llm_timeout_s,
        first_token_timeout_s=settings.llm_first_token_timeout_s,
        extra_headers=dict(settings.llm_extra_headers),
        prices=PriceTable.load(settings.llm_price_table),
    )


def command_line_endpoint(settings: Settings, base_url: str, model: str | None) -> Endpoint:
    """The endpoint of ``reflectseq run --endpoint URL``: there the user is the operator.

    Its name carries a hash of the URL, so a rerun against another URL is another config (and
    another run) rather than a resumption of the first.
    """
    digest = hashlib.sha256(base_url.encode("utf-8")).hexdigest()[:12]
    return url_endpoint(settings, base_url, model, name=f"url-{digest}")


def _settings_declare_default(settings: Settings) -> bool:
    return bool(settings.llm_base_url or settings.llm_model) or settings.llm_backend == "openai"


def _from_entry(name: str, entry: _EndpointEntry, environ: dict[str, str]) -> Endpoint:
    key = SecretStr(environ.get(entry.api_key_env, "") if entry.api_key_env else "")
    prices = {model: Price(p.input, p.output) for model, p in entry.prices.items()}
    return Endpoint(
        name=name,
        kind=entry.kind,
        models=tuple(entry.models),
        base_url=entry.base_url,
        api_key=key,
        limits=Limits(
            requests_per_minute=entry.requests_per_minute,
            tokens_per_minute=entry.tokens_per_minute,
            max_concurrency=entry.max_concurrency,
        ),
        timeout_s=entry.timeout_s,
        first_token_timeout_s=entry.first_token_timeout_s,
        context_tokens=entry.context_tokens,
        extra_headers=entry.extra_headers,
        prices=PriceTable(prices),
    )


def read_endpoints_file(path: Path, environ: dict[str, str] | None = None) -> list[Endpoint]:
    """The endpoints a TOML file declares; ``EndpointFileError`` naming the bad entry."""
    try:
        document = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise EndpointFileError(f"endpoints file {path}: {error}") from error
    unknown = sorted(set(document) - {"endpoints"})
    if unknown:
        raise EndpointFileError(f"endpoints file {path}: unknown table(s) {unknown}")
    tables = document.get("endpoints", {})
    if not isinstance(tables, dict):
        raise EndpointFileError(f"endpoints file {path}: `endpoints` must be a table")
    endpoints = []
    for name, table in tables.items():
        if not _NAME.match(name):
            raise EndpointFileError(
                f"endpoints file {path}: endpoint name {name!r} must match {ENDPOINT_NAME_PATTERN}"
            )
        try:
            entry = _EndpointEntry.model_validate(table)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise EndpointFileError(
                f"endpoints file {path}: endpoints.{name}.{where}: {first['msg']}"
            ) from error
        endpoints.append(_from_entry(name, entry, dict(os.environ if environ is None else environ)))
    return endpoints


def load_registry(settings: Settings) -> EndpointRegistry:
    """Every endpoint the settings declare, and the default one."""
    endpoints = {LOCAL_ENDPOINT: _local_endpoint(settings)}
    if _settings_declare_default(settings):
        endpoints[DEFAULT_ENDPOINT] = url_endpoint(
            settings, settings.llm_base_url, None, name=DEFAULT_ENDPOINT
        )
    if settings.llm_endpoints_file is not None:
        endpoints.update((e.name, e) for e in read_endpoints_file(settings.llm_endpoints_file))
    default = settings.llm_default_endpoint or (
        DEFAULT_ENDPOINT if settings.llm_backend == "openai" else LOCAL_ENDPOINT
    )
    if default not in endpoints:
        raise EndpointFileError(
            f"the default endpoint {default!r} is not declared "
            f"(declared: {', '.join(sorted(endpoints))})"
        )
    return EndpointRegistry(endpoints, default)


def resolve_generation_config(
    spec: GenerationConfigSpec, registry: EndpointRegistry
) -> tuple[GenerationConfigSpec, Endpoint]:
    """The config with its endpoint and model filled in, and the endpoint it names.

    What is stored (and hashed) is the resolved config, so two submissions that reach the same
    endpoint and model share one config row whether they named them or took the defaults.
    """
    endpoint, model = registry.choose(spec.endpoint, spec.model)
    return spec.model_copy(update={"endpoint": endpoint.name, "model": model}), endpoint
