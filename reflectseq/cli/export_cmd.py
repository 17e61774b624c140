"""``reflectseq export`` (training JSONL + manifest) and ``reflectseq flags compute``."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from reflectseq.cli.console import console
from reflectseq.cli.db_cmd import DatabaseOption, _url
from reflectseq.enums import BlockRendering, ExportFormat, ReviewFilter
from reflectseq.quality.flags import DEFAULT_EXCLUDED_FLAGS, NEAR_DUPLICATE_THRESHOLD, Flag

if TYPE_CHECKING:
    from rich.progress import Progress

flags_app = typer.Typer(help="Compute quality flags of stored sequences.", no_args_is_help=True)


class FinalPass(StrEnum):
    """The ``--final-pass`` choices."""

    PASSED = "passed"
    FAILED = "failed"
    ANY = "any"


_FINAL_PASS = {FinalPass.PASSED: True, FinalPass.FAILED: False, FinalPass.ANY: None}


def _utc(value: datetime | None) -> datetime | None:
    """Command-line times without a zone are read as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(),
    )


def export(
    out: Path = typer.Option(
        ..., "--out", "-o", help="File to write (.gz: gzip); with --hf, a directory."
    ),
    export_format: ExportFormat = typer.Option(ExportFormat.REFLECTION, "--format", "-f"),
    gzip: bool = typer.Option(False, "--gzip", help="Gzip the file (implied by a .gz name)."),
    rendering: BlockRendering = typer.Option(
        BlockRendering.FENCES, help="How openai and sharegpt render blocks."
    ),
    escape_special_tokens: bool = typer.Option(
        False,
        "--escape-special-tokens",
        help="Escape special-token strings in contents (for the paper's reference trainer).",
    ),
    sets: list[int] = typer.Option([], "--set", help="Instruction set id (repeatable)."),
    languages: list[str] = typer.Option([], "--language", help="Language (repeatable)."),
    final_pass: FinalPass = typer.Option(FinalPass.PASSED, help="Verdict of the one-off answer."),
    review: ReviewFilter = typer.Option(ReviewFilter.NOT_REJECTED, help="Review verdicts kept."),
    min_rounds: int | None = typer.Option(None, help="Fewest reflection rounds."),
    max_rounds: int | None = typer.Option(None, help="Most reflection rounds."),
    models: list[str] = typer.Option([], "--model", help="Generator model (repeatable)."),
    since: datetime | None = typer.Option(None, help="Created at or after (UTC if no zone)."),
    until: datetime | None = typer.Option(None, help="Created before (UTC if no zone)."),
    exclude_flags: list[Flag] = typer.Option(
        list(DEFAULT_EXCLUDED_FLAGS), "--exclude-flag", help="Leave out records with this flag."
    ),
    keep_flagged: bool = typer.Option(
        False, "--keep-flagged", help="Exclude no flag (overrides --exclude-flag)."
    ),
    require_flags: list[Flag] = typer.Option(
        [], "--require-flag", help="Only records with this flag (repeatable)."
    ),
    hf: bool = typer.Option(
        False,
        "--hf",
        help="Write a Hugging Face dataset directory at --out: data/train.jsonl, manifest.json "
        "and a README.md dataset card; datasets.load_dataset(DIR) reads it as is.",
    ),
    push_to_hub: str | None = typer.Option(
        None,
        "--push-to-hub",
        metavar="REPO",
        help="With --hf: upload the directory as the Hub dataset REPO (huggingface_hub, the "
        "`hub` extra; token from HF_TOKEN or `hf auth login`).",
    ),
    private: bool = typer.Option(False, help="With --push-to-hub: create the repo private."),
    database_url: str | None = DatabaseOption,
) -> None:
    """Export training data as JSONL with a manifest beside it; the export is recorded."""
    from pydantic import ValidationError

    from reflectseq.db.session import session_factory_for, transaction
    from reflectseq.export.files import manifest_path_for
    from reflectseq.export.filters import ExportFilters
    from reflectseq.export.hf import hf_paths, write_card
    from reflectseq.export.jobs import create_export, run_export_to
    from reflectseq.export.spec import ExportSpec
    from reflectseq.export.stream import count_selected

    if push_to_hub and not hf:
        console().print("[red]--push-to-hub needs --hf[/red]")
        raise typer.Exit(code=2)
    try:
        spec = ExportSpec(
            format=export_format,
            gzip=gzip or (not hf and out.suffix == ".gz"),
            rendering=rendering,
            escape_special_tokens=escape_special_tokens,
            filters=ExportFilters(
                instruction_set_ids=sets,
                languages=languages,
                final_pass=_FINAL_PASS[final_pass],
                review=review,
                min_rounds=min_rounds,
                max_rounds=max_rounds,
                models=models,
                created_from=_utc(since),
                created_to=_utc(until),
                exclude_flags=[] if keep_flagged else exclude_flags,
                require_flags=require_flags,
            ),
        )
    except ValidationError as error:
        console().print(f"[red]invalid export options:[/red]\n{error}")
        raise typer.Exit(code=2) from error
    factory = session_factory_for(_url(database_url))
    with transaction(factory) as session:
        total = count_selected(session, spec.filters)
        export_id = create_export(session, spec).id
    data_path, manifest_path = hf_paths(out, spec) if hf else (out, manifest_path_for(out))
    with _progress() as progress:
        task = progress.add_task("exporting", total=total)
        done = run_export_to(
            factory,
            export_id,
            data_path,
            manifest_path=manifest_path,
            on_progress=lambda seen: progress.update(task, completed=seen),
        )
    counts = done.counts
    console().print(
        f"export {done.id}: {counts['records']} records to {data_path} "
        f"({counts['excluded']} excluded by flags {counts['excluded_by_flag']}, "
        f"{counts['incomplete']} incomplete)\n"
        f"manifest {manifest_path}\nsha256 {done.sha256}"
    )
    if hf:
        console().print(f"dataset card {write_card(out, manifest_path)}")
    if push_to_hub:
        _push(out, push_to_hub, private=private)


def _push(out: Path, repo: str, *, private: bool) -> None:
    """Upload the dataset directory; the Hub's or the network's refusal in one line."""
    from reflectseq.export.hf import push_to_hub as hf_push

    try:
        url = hf_push(out, repo, private=private)
    except ImportError as error:
        needs = "needs huggingface_hub: pip install 'reflectseq[hub]'"
        console().print(f"[red]--push-to-hub {needs}[/]")
        raise typer.Exit(code=2) from error
    except (OSError, ValueError) as error:
        console().print(f"[red]the push to {repo} failed:[/red] {error}", highlight=False)
        raise typer.Exit(code=1) from error
    console().print(f"pushed to {url}")


@flags_app.command("compute")
def compute(
    sets: list[int] = typer.Option([], "--set", help="Instruction set id (repeatable)."),
    mbpp: Path | None = typer.Option(
        None, help="MBPP problems file (mbpp.jsonl); default: the copy in reflectseq/data."
    ),
    without_mbpp: bool = typer.Option(False, help="Check HumanEval only."),
    tokenizer: str | None = typer.Option(
        None,
        help="The trainer's tokenizer for the over-length flag: model directory (or its "
        "tokenizer.json) or hub name.",
    ),
    max_len: int | None = typer.Option(None, min=16, help="The trainer's max_len (tokens)."),
    near_duplicate_threshold: float = typer.Option(
        NEAR_DUPLICATE_THRESHOLD, min=0.01, max=1.0, help="MinHash Jaccard for near-duplicates."
    ),
    database_url: str | None = DatabaseOption,
) -> None:
    """Compute the quality flags of completed sequences (see docs/export.md) and store them."""
    from reflectseq.db.session import session_factory_for, transaction
    from reflectseq.export.filters import ExportFilters
    from reflectseq.export.stream import count_selected
    from reflectseq.quality.benchmarks import humaneval_problems, mbpp_problems
    from reflectseq.quality.compute import FlagComputer, LengthLimit, compute_flags
    from reflectseq.quality.contamination import ContaminationIndex
    from reflectseq.quality.near_duplicates import NearDuplicateFinder
    from reflectseq.quality.over_length import TokenizerUnavailable, load_tokenizer
    from reflectseq.quality.special_text import (
        DEFAULT_SPECIAL_TEXTS,
        SpecialTextFinder,
        tokenizer_texts,
    )

    if (tokenizer is None) != (max_len is None):
        console().print("[red]--tokenizer and --max-len go together[/red]")
        raise typer.Exit(code=2)
    try:
        problems = humaneval_problems()
        if not without_mbpp:
            problems += mbpp_problems(mbpp)
        limit = None
        special_texts = DEFAULT_SPECIAL_TEXTS
        if tokenizer is not None and max_len is not None:
            name, ids = load_tokenizer(tokenizer)
            limit = LengthLimit(tokenizer_name=name, ids=ids, max_len=max_len)
            special_texts |= tokenizer_texts(ids.tokenizer)
    except (ValueError, TokenizerUnavailable) as error:
        console().print(f"[red]{error}[/red]")
        raise typer.Exit(code=2) from error
    computer = FlagComputer(
        ContaminationIndex(problems),
        NearDuplicateFinder(near_duplicate_threshold),
        limit,
        SpecialTextFinder(special_texts),
    )
    factory = session_factory_for(_url(database_url))
    with transaction(factory) as session:
        total = count_selected(
            session,
            ExportFilters(
                instruction_set_ids=sets, final_pass=None, review=ReviewFilter.ANY, exclude_flags=[]
            ),
        )
    with _progress() as progress:
        task = progress.add_task("flagging", total=total)
        summary = compute_flags(
            factory,
            computer,
            instruction_set_ids=sets,
            on_progress=lambda seen: progress.update(task, completed=seen),
        )
    flagged = ", ".join(f"{name} {n}" for name, n in sorted(summary.flagged.items())) or "none"
    console().print(f"{summary.sequences} sequences checked; flagged: {flagged}")


def register(app: typer.Typer) -> None:
    """Add ``export`` and ``flags`` to the main command line."""
    app.command("export")(export)
    app.add_typer(flags_app, name="flags")
