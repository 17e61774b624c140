"""Versioned prompt templates of the two-stage construction, kept as data (``v1.toml``, ...).

A generation config names its prompt version; the loop renders every prompt through this module,
so a sequence can always be traced to the exact wording that produced it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, StrictUndefined, Template

_VERSION_NAME = re.compile(r"^v[0-9][0-9a-z_.-]*$")
TEMPLATE_NAMES = (
    "system",
    "reflection",
    "execution_feedback",
    "retry_after_failure",
    "missing_code",
    "one_off",
)
_environment = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


class UnknownPromptVersion(LookupError):
    """The config names a prompt version this installation does not ship."""


@dataclass(frozen=True)
class TaskView:
    """What the templates may show of a task."""

    task: str
    language: str
    fence: str
    tests: str
    show_tests: bool


@dataclass(frozen=True)
class PromptSet:
    """The compiled templates of one version."""

    version: str
    templates: dict[str, Template]

    def render(self, name: str, task: TaskView, **extra: Any) -> str:
        """Render template ``name`` for ``task``; ``extra`` adds execution fields."""
        context = {
            "task": task.task.strip(),
            "language": task.language,
            "fence": task.fence,
            "tests": task.tests.strip(),
            "show_tests": task.show_tests,
            **extra,
        }
        return self.templates[name].render(context).strip()


def available_versions() -> list[str]:
    """Every prompt version shipped with this installation, oldest first."""
    names = (entry.name for entry in files(__package__).iterdir())
    return sorted(name[: -len(".toml")] for name in names if name.endswith(".toml"))


@lru_cache(maxsize=8)
def load_prompts(version: str) -> PromptSet:
    """The prompt set ``version``; ``UnknownPromptVersion`` names the shipped ones otherwise."""
    if not _VERSION_NAME.match(version) or version not in available_versions():
        raise UnknownPromptVersion(
            f"unknown prompt version {version!r}; available: {', '.join(available_versions())}"
        )
    data = tomllib.loads(files(__package__).joinpath(f"{version}.toml").read_text("utf-8"))
    missing = [name for name in TEMPLATE_NAMES if not isinstance(data.get(name), str)]
    if missing:
        raise UnknownPromptVersion(f"prompt version {version!r} lacks {', '.join(missing)}")
    templates = {name: _environment.from_string(data[name]) for name in TEMPLATE_NAMES}
    return PromptSet(version=version, templates=templates)
