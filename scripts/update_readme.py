"""Regenerate the configuration table in README.md from the settings model."""

from __future__ import annotations

import re
from pathlib import Path

from reflectseq.cli.config_cmd import reference_markdown

START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"


def render(readme: str) -> str:
    """README text with the table between the markers replaced by the current reference."""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    return pattern.sub(f"{START}\n{reference_markdown()}\n{END}", readme)


if __name__ == "__main__":
    path = Path(__file__).resolve().parents[1] / "README.md"
    path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")
