"""The language registry: the MultiPL-E languages as data, from ``sandbox_images/languages.toml``.

The table lives as data beside the Dockerfiles so that the local backend, the docker images and the
toolchain installer cannot drift apart; this module only validates it and answers look-ups.
"""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Found through the package, so that it also loads from an installed wheel.
LANGUAGES_TOML = Path(str(files("sandbox_images").joinpath("languages.toml")))

MemoryPolicy = Literal["address_space", "runtime", "none"]


class PassRule(BaseModel):
    """How a finished run is judged (MultiPL-E's per-language rules, see languages.toml)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exit_code: int = 0
    stderr_must_be_empty: bool = False
    failure_patterns: tuple[str, ...] = ()
    success_patterns: tuple[str, ...] = ()
    compile_error_patterns: tuple[str, ...] = ()
    assertion_patterns: tuple[str, ...] = ()
    memory_patterns: tuple[str, ...] = ()

    @field_validator(
        "failure_patterns",
        "success_patterns",
        "compile_error_patterns",
        "assertion_patterns",
        "memory_patterns",
    )
    @classmethod
    def _patterns_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return patterns


class Language(BaseModel):
    """One row of the language table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(description="MultiPL-E code, e.g. 'py', 'rkt'.")
    name: str = Field(description="Human name, e.g. 'Python'.")
    fence: str = Field(description="Markdown code-fence tag, e.g. 'python'.")
    aliases: tuple[str, ...] = ()
    file_name: str
    compile: tuple[str, ...] | None = None
    run: tuple[str, ...]
    compile_timeout: float = Field(gt=0)
    run_timeout: float = Field(gt=0)
    max_processes: int = Field(ge=8)
    memory_policy: MemoryPolicy
    env: dict[str, str] = Field(default_factory=dict)
    debian_packages: tuple[str, ...] = ()
    npm_packages: tuple[str, ...] = ()
    ro_binds: tuple[str, ...] = Field(
        default=(), description="Host paths outside /usr and /etc the toolchain reads."
    )
    docker_base: str
    docker_setup: tuple[str, ...] = Field(
        default=(), description="Extra shell steps of the image, after the packages."
    )
    pass_rule: PassRule = PassRule()

    @field_validator("file_name")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if "/" in value or value.startswith("."):
            raise ValueError(f"file_name must be a plain file name, got {value!r}")
        return value

    @property
    def docker_image(self) -> str:
        """The per-language image the docker backend runs (built from sandbox_images/<code>/)."""
        return f"reflectseq-sandbox-{self.code}:latest"

    @property
    def required_paths(self) -> tuple[str, ...]:
        """Absolute paths that must exist on a host for this language to run there."""
        argv_heads = [cmd[0] for cmd in (self.compile, self.run) if cmd is not None]
        tools = [arg for cmd in (self.compile, self.run) if cmd for arg in cmd[1:]]
        absolute = [path for path in [*argv_heads, *tools] if path.startswith("/")]
        return tuple(dict.fromkeys(absolute))


def _parse_table(raw: dict[str, Any]) -> dict[str, Language]:
    """Merge each language with the [defaults] table and validate it."""
    defaults = dict(raw.get("defaults", {}))
    default_env = defaults.pop("env", {})
    languages: dict[str, Language] = {}
    for code, entry in raw.get("languages", {}).items():
        merged = {**defaults, **entry, "code": code}
        merged["env"] = {**default_env, **entry.get("env", {})}
        try:
            languages[code] = Language.model_validate(merged)
        except ValueError as exc:
            raise ValueError(f"languages.toml [languages.{code}]: {exc}") from exc
    return languages


@lru_cache(maxsize=1)
def load_languages() -> dict[str, Language]:
    """The language table, keyed by MultiPL-E code (read once per process)."""
    with LANGUAGES_TOML.open("rb") as handle:
        return _parse_table(tomllib.load(handle))


def language_codes() -> list[str]:
    """All language codes, in table order."""
    return list(load_languages())


def get_language(code: str) -> Language:
    """The language with this exact code; ``KeyError`` naming the known codes otherwise."""
    try:
        return load_languages()[code]
    except KeyError:
        known = ", ".join(language_codes())
        raise KeyError(f"unknown language {code!r}; known codes: {known}") from None


@lru_cache(maxsize=1)
def _alias_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for language in load_languages().values():
        for name in (language.code, language.fence, *language.aliases):
            index.setdefault(name.lower(), language.code)
    return index


def resolve_language(name: str) -> Language:
    """The language for a code, fence tag or common alias (case-insensitive): 'Python' -> py."""
    code = _alias_index().get(name.strip().lower())
    if code is None:
        known = ", ".join(language_codes())
        raise KeyError(f"unknown language {name!r}; known codes: {known} (and their aliases)")
    return load_languages()[code]
