"""Regenerate the documents derived from code: the README's settings table, the configuration
reference, ``.env.example`` and the architecture diagram (when Graphviz is installed).

Tests check that the committed copies are current, so a new setting cannot go undocumented.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from reflectseq.cli.config_cmd import reference_env, reference_markdown

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
CONFIGURATION_INTRO = """# Configuration reference

Every setting is an environment variable with the prefix `REFLECTSEQ_` (or a line in a `.env`
file in the working directory). Generated from `reflectseq/settings.py` by `make docs`;
`.env.example` at the top of the repository lists the same variables.

"""


def render_readme(readme: str) -> str:
    """README text with the table between the markers replaced by the current reference."""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    return pattern.sub(lambda _: f"{START}\n{reference_markdown()}\n{END}", readme)


def render_configuration() -> str:
    """The text of docs/configuration.md."""
    return CONFIGURATION_INTRO + reference_markdown() + "\n"


def main() -> None:
    readme = ROOT / "README.md"
    readme.write_text(render_readme(readme.read_text(encoding="utf-8")), encoding="utf-8")
    (ROOT / "docs" / "configuration.md").write_text(render_configuration(), encoding="utf-8")
    (ROOT / ".env.example").write_text(reference_env(), encoding="utf-8")
    if shutil.which("dot"):
        subprocess.run(
            ["dot", "-Tsvg", "docs/architecture.dot", "-o", "docs/architecture.svg"],
            cwd=ROOT,
            check=True,
        )


if __name__ == "__main__":
    main()
