"""``reflectseq train``: fine-tune a model on exported reflection data (needs the train extra).

torch and transformers are imported inside the command, so the rest of the CLI stays fast and
works without the ``train`` extra installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def train(
    *,
    config: Annotated[
        Path, typer.Option("--config", exists=True, dir_okay=False, help="YAML config.")
    ],
    dry_run: Annotated[
        bool,
        typer.Option(help="Print one record's trained and student-visible tokens; no training."),
    ] = False,
    rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Mask rate for --dry-run.")] = 0.5,
    file_index: Annotated[
        int, typer.Option(min=0, help="Which train file --dry-run reads (0-based).")
    ] = 0,
    record: Annotated[
        int, typer.Option(min=1, help="Which record of that file --dry-run shows (1-based).")
    ] = 1,
    output_dir: Annotated[
        Path | None, typer.Option(help="Override the config's output_dir.")
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(help="Resume from this checkpoint directory, or 'latest' in output_dir."),
    ] = None,
) -> None:
    """Train with reflection self-distillation and dynamically masked distillation."""
    try:
        from trainer.config import ConfigError, load_config
        from trainer.data import DataError
    except ImportError as exc:
        raise typer.BadParameter(
            f"the trainer needs the train extra (pip install 'reflectseq[train]'): {exc}"
        ) from exc

    overrides: dict[str, object] = {}
    if output_dir is not None:
        overrides["output_dir"] = str(output_dir)
    if resume is not None:
        overrides["resume_from_checkpoint"] = True if resume == "latest" else resume
    try:
        settings = load_config(config, overrides)
        if file_index >= len(settings.train_files):
            raise ConfigError(
                f"--file-index {file_index}: the config lists {len(settings.train_files)} files"
            )
        if dry_run:
            from trainer.dry_run import dry_run_rows

            for row in dry_run_rows(
                settings, file_index=file_index, record_number=record, rate=rate
            ):
                typer.echo(row)
            return
        from trainer.run import train as run_training

        final = run_training(settings)
    except (ConfigError, DataError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    typer.echo(f"saved the trained model to {final}")
