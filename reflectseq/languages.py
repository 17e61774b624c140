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
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

# Found through the package, so that it also loads from an installed wheel.
LANGUAGES_TOML = Path(str(files("sandbox_images").joinpath("languages.toml")))

MemoryPolicy = Literal["address_space", "runtime", "none"]


def _compiled(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
    return pattern


Regex = Annotated[str, AfterValidator(_compiled)]
"""A Python regular expression, checked when the table loads."""


class PassRule(BaseModel):
    """How a finished run is judged (MultiPL-E's per-language rules, see languages.toml)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exit_code: int = 0
    stderr_must_be_empty: bool = False
    failure_patterns: tuple[Regex, ...] = ()
    success_patterns: tuple[Regex, ...] = ()
    compile_error_patterns: tuple[Regex, ...] = ()
    assertion_patterns: tuple[Regex, ...] = ()
    memory_patterns: tuple[Regex, ...] = ()
    stderr_error_patterns: tuple[Regex, ...] = Field(
        default=(), description="A passed run whose stderr matches one passed with errors."
    )


class Syntax(BaseModel):
    """How comments and strings look, so that assembly rules never match inside them.

    The default is the C family's (``//``, ``/* */``, ``"..."``, ``'c'`` character literals).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    line_comments: tuple[str, ...] = ("//",)
    block_comments: tuple[tuple[str, str], ...] = (("/*", "*/"),)
    strings: tuple[str, ...] = ('"',)
    raw_strings: tuple[str, ...] = ()
    char_literals: bool = True


Extent = Literal["braced", "call", "indented", "line", "match"]


class CodeRule(BaseModel):
    """A part of the model's code that is dropped (or rewritten) when the task brings tests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: Regex = Field(description="Where the part starts (a regular expression, multi-line).")
    extent: Extent = Field(
        description="braced: through the block the match opens; call: through the parenthesis "
        "the match opens; indented: the line and the lines indented below it; line: the lines "
        "of the match; match: the match itself."
    )
    tests: Regex | None = Field(default=None, description="Apply only when the tests match this.")
    same_name: bool = Field(
        default=False,
        description="Only parts whose (?P<name>...) the tests define too (see `definitions`).",
    )
    replace: str | None = Field(default=None, description="extent = match: the replacement.")
    end: Regex | None = Field(
        default=None, description="extent = indented: the line closing the block (`end`)."
    )


class Header(BaseModel):
    """A line the program must start with (``package main``, ``<?php``) when it has none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: Regex
    text: str


class Enclosing(BaseModel):
    """The tests end with the closing brace of a class the code must leave open.

    MultiPL-E's Java, C# and Scala suites are the ``main`` method plus that brace: the solution's
    last class is reopened (or ``opening`` put first when the code declares none) and, when the
    run command names the class, renamed to ``name``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    opening: str
    header: Regex = Field(description="Finds the reopened block's (?P<name>...) in its header.")
    name: str | None = None


class Imports(BaseModel):
    """Merged import declarations (Go rejects both unused and missing imports)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    style: Literal["go"]
    implicit: tuple[str, ...] = Field(
        default=(), description="Standard packages imported when used but not imported."
    )


class SentinelRule(BaseModel):
    """Where the end-of-tests line is printed: after the tests, inside a block or by rewriting.

    ``{sentinel}`` in ``text`` and ``with`` stands for the line.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    tests: Regex | None = Field(default=None, description="Fits only when the tests match this.")
    inside: Regex | None = Field(
        default=None, description="A block of the tests: `text` goes before its closing brace."
    )
    replace: Regex | None = Field(
        default=None, description="The last match in the tests is replaced by `with`."
    )
    with_: str | None = Field(default=None, alias="with")
    text: str = Field(default="", description="The statement that prints the line.")
    indent: Literal["none", "last_line"] = "none"


class Assembly(BaseModel):
    """How the program is put together from the model's code and the task's tests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    syntax: Syntax = Syntax()
    header: Header | None = None
    definitions: tuple[Regex, ...] = Field(
        default=(), description="Top-level definitions of the tests, with a (?P<name>...)."
    )
    rules: tuple[CodeRule, ...] = ()
    hoist: tuple[Regex, ...] = Field(
        default=(), description="Lines of the tests that must come first (imports)."
    )
    between: str = Field(default="", description="Text between the code and the tests.")
    enclosing: Enclosing | None = None
    imports: Imports | None = None
    sentinel: tuple[SentinelRule, ...] = ()


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
    assembly: Assembly = Assembly()

    @property
    def fence_words(self) -> frozenset[str]:
        """Fence words (lowercased) that mean "this language": its tag, code and aliases."""
        return frozenset(name.lower() for name in (self.fence, self.code, *self.aliases))

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
    """Merge each language with the [defaults] table (env and pass_rule key by key); validate."""
    defaults = dict(raw.get("defaults", {}))
    default_env = defaults.pop("env", {})
    default_rule = defaults.pop("pass_rule", {})
    languages: dict[str, Language] = {}
    for code, entry in raw.get("languages", {}).items():
        merged = {**defaults, **entry, "code": code}
        merged["env"] = {**default_env, **entry.get("env", {})}
        merged["pass_rule"] = {**default_rule, **entry.get("pass_rule", {})}
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
