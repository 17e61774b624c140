"""The dataset layouts ``--preset`` and ``?preset=`` name, as shipped in ``presets.toml``.

Apart from the mapping code, so that a command line can list the preset names in its help
without importing the language table (which ``reflectseq --help`` would pay for at every start).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files


@dataclass(frozen=True)
class Preset:
    """A named mapping of a known dataset layout."""

    name: str
    description: str
    fields: dict[str, str]
    language: str | None = None
    completes_signature: bool = False
    tests_suffix: str = ""


@dataclass(frozen=True)
class PresetTable:
    """Every preset, and the instruction wording of signature-completion tasks."""

    presets: dict[str, Preset]
    signature_instruction: str


@lru_cache(maxsize=1)
def preset_table() -> PresetTable:
    """The presets shipped in ``presets.toml``."""
    data = tomllib.loads(files(__package__).joinpath("presets.toml").read_text("utf-8"))
    presets = {
        name: Preset(
            name=name,
            description=entry["description"],
            fields=dict(entry["fields"]),
            language=entry.get("language"),
            completes_signature=bool(entry.get("completes_signature", False)),
            tests_suffix=entry.get("tests_suffix", ""),
        )
        for name, entry in data["presets"].items()
    }
    return PresetTable(presets=presets, signature_instruction=data["signature_instruction"])
