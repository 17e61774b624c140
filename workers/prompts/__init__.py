"""Versioned prompt templates of the two-stage construction, kept as data (``v1.toml``, ...).

A generation config names its prompt version; the loop renders every prompt through this module,
so a sequence can always be traced to the exact wording that produced it.

From v2 on, a version may carry a ``[harness]`` table: which contract each language's tests imply
(a family: the tests bring their own ``main``, or they run as top-level statements after the
solution), the family's wording, and notes per language. It is rendered into the ``harness`` and
``harness_reminder`` variables, so the family-to-text mapping stays data too.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
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
# Templates later versions added. A version without one keeps its own behaviour: a repeated
# program gets the ordinary retry prompt, and a cut-off answer is recorded as it is.
OPTIONAL_TEMPLATE_NAMES = ("repeated_code", "continue_answer")
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
    language_code: str
    entry_point: str = ""


@dataclass(frozen=True)
class Harness:
    """The harness contract per language: its family's text and reminder, plus a note."""

    families: dict[str, str] = field(default_factory=dict)
    contracts: dict[str, Template] = field(default_factory=dict)
    reminders: dict[str, Template] = field(default_factory=dict)
    notes: dict[str, Template] = field(default_factory=dict)

    def variables(self, context: dict[str, Any]) -> dict[str, str]:
        """``harness`` and ``harness_reminder`` for the task in ``context`` (empty if none)."""
        family = self.families.get(context["language_code"])
        if family is None:
            return {"harness": "", "harness_reminder": ""}
        contract = self.contracts[family].render(context).strip()
        note = self.notes.get(context["language_code"])
        if note is not None:
            contract = f"{contract} {note.render(context).strip()}"
        return {
            "harness": contract,
            "harness_reminder": self.reminders[family].render(context).strip(),
        }


@dataclass(frozen=True)
class PromptSet:
    """The compiled templates of one version."""

    version: str
    templates: dict[str, Template]
    harness: Harness = field(default_factory=Harness)

    def has(self, name: str) -> bool:
        """Whether this version has template ``name`` (the optional ones may be missing)."""
        return name in self.templates

    def render(self, name: str, task: TaskView, **extra: Any) -> str:
        """Render template ``name`` for ``task``; ``extra`` adds execution fields."""
        context: dict[str, Any] = {
            "task": task.task.strip(),
            "language": task.language,
            "language_code": task.language_code,
            "entry_point": task.entry_point,
            "fence": task.fence,
            "tests": task.tests.strip(),
            "show_tests": task.show_tests,
        }
        context.update(self.harness.variables(context))
        context.update(extra)
        return self.templates[name].render(context).strip()


def available_versions() -> list[str]:
    """Every prompt version shipped with this installation, oldest first."""
    names = (entry.name for entry in files(__package__).iterdir())
    return sorted(name[: -len(".toml")] for name in names if name.endswith(".toml"))


def _harness(version: str, table: Any) -> Harness:
    """The ``[harness]`` table compiled; every family a language names must have its texts."""
    if table is None:
        return Harness()
    families = dict(table.get("families", {}))
    contracts, reminders = table.get("contracts", {}), table.get("reminders", {})
    lacking = sorted(
        family
        for family in set(families.values())
        if not isinstance(contracts.get(family), str) or not isinstance(reminders.get(family), str)
    )
    if lacking:
        raise UnknownPromptVersion(
            f"prompt version {version!r}: harness families without contract or reminder: "
            f"{', '.join(lacking)}"
        )
    return Harness(
        families=families,
        contracts=_compiled(contracts),
        reminders=_compiled(reminders),
        notes=_compiled(table.get("notes", {})),
    )


def _compiled(texts: dict[str, str]) -> dict[str, Template]:
    return {name: _environment.from_string(text) for name, text in texts.items()}


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
    names = [*TEMPLATE_NAMES, *(n for n in OPTIONAL_TEMPLATE_NAMES if isinstance(data.get(n), str))]
    templates = _compiled({name: data[name] for name in names})
    return PromptSet(
        version=version, templates=templates, harness=_harness(version, data.get("harness"))
    )
