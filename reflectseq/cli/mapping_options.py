"""The field-mapping options that ``reflectseq run`` and ``reflectseq submit`` share.

Declared once so the two commands spell, document and validate them alike; the mapping itself
is built by ``reflectseq.ingest.mapping``, as the API builds it from its query parameters.
"""

from __future__ import annotations

import typer

from reflectseq.ingest.presets import preset_table

PresetOption = typer.Option(
    None,
    "--preset",
    help=(
        "Read a known dataset layout: "
        + ", ".join(sorted(preset_table().presets))
        + " (see docs/instructions.md)."
    ),
)
FieldOption = typer.Option(
    [],
    "--field",
    help=(
        "FIELD=COLUMN (repeatable): the column holding text, language, tests, entry_point or "
        "metadata.KEY, e.g. --field text=instruction --field tests=test; overrides the preset."
    ),
)
LanguageOption = typer.Option(
    None, "--language", help="Language of the rows that name none (a code or alias)."
)
