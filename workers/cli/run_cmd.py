"""``reflectseq run``: the whole pipeline on one machine, from an instruction file to a dataset.

Embedded on purpose: SQLite (by default), a local pool of threads, the bundled offline model
unless an endpoint is configured. Nothing to start first, so this is the first command a new user
runs. The database keeps every block, so a rerun of the same file continues where an interrupted
one stopped (Ctrl-C or SIGTERM stops at once and leaves every committed step), and
``--retry-failed`` runs its failed sequences again. On a terminal progress is a bar; otherwise (a
log file, CI) it is log lines: each finished sequence, each retried LLM call, each failure with
its reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from reflectseq.cli.console import console
from reflectseq.cli.mapping_options import FieldOption, LanguageOption, PresetOption

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session, sessionmaker

    from reflectseq.llm.endpoints import Endpoint, EndpointRegistry
    from reflectseq.settings import Settings
    from reflectseq.specs import GenerationConfigSpec, InstructionSpec
    from workers.embedded import SetProgress
    from workers.loop.machine import LoopContext


def _read_or_exit(
    instructions: Path, *, preset: str | None, fields: list[str], language: str | None
) -> list[tuple[int, InstructionSpec]]:
    """The file's instructions through the mapping options, or exit 2 naming what is wrong."""
    from reflectseq.ingest.checker import InvalidInstructions
    from reflectseq.ingest.files import problem_text, read_instruction_file
    from reflectseq.ingest.mapping import FieldMapping, MappingError

    try:
        mapping = FieldMapping.from_options(preset=preset, fields=fields, language=language)
        return read_instruction_file(instructions, mapping)
    except MappingError as error:
        console().print(f"[red]--{error.option}: {error.message}[/red]", highlight=False)
        raise typer.Exit(2) from error
    except InvalidInstructions as error:
        lines = "\n".join(problem_text(instructions, problem) for problem in error.problems)
        console().print(
            f"[red]invalid instruction file[/red]\n{lines}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(2) from error


def command_line_config(
    settings: Settings,
    spec: GenerationConfigSpec,
    *,
    backend: str | None,
    endpoint: str | None,
) -> tuple[EndpointRegistry, GenerationConfigSpec, Endpoint]:
    """The registry, resolved config and endpoint of a ``run`` command line.

    On one machine the user is the operator, so ``--endpoint`` may be a URL: it becomes an
    endpoint of this run's own registry, sent the settings' key.
    """
    from reflectseq.llm.endpoints import (
        DEFAULT_ENDPOINT,
        LOCAL_ENDPOINT,
        EndpointChoiceError,
        command_line_endpoint,
        load_registry,
        resolve_generation_config,
        url_endpoint,
    )

    registry = load_registry(settings)
    name: str | None = None
    if endpoint and "://" in endpoint:
        own = command_line_endpoint(settings, endpoint, spec.model)
        registry, name = registry.with_endpoint(own), own.name
    elif endpoint:
        name = endpoint
    elif backend == "local":
        name = LOCAL_ENDPOINT
    elif backend == "openai":
        if DEFAULT_ENDPOINT not in registry.endpoints:  # OpenAI's own API, the settings' key
            registry = registry.with_endpoint(
                url_endpoint(settings, "", spec.model, name=DEFAULT_ENDPOINT)
            )
        name = DEFAULT_ENDPOINT
    elif backend is not None:
        raise EndpointChoiceError("endpoint", f"unknown backend {backend!r} (local or openai)")
    resolved, chosen = resolve_generation_config(
        spec.model_copy(update={"endpoint": name}), registry
    )
    return registry, resolved, chosen


def _progress_line(progress: SetProgress) -> str:
    return (
        f"done {progress.completed} failed {progress.failed} "
        f"rounds {progress.rounds} tokens {progress.tokens:,}"
    )


def run(
    instructions: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        help="Instruction file: .jsonl, .json (an array), .csv or .parquet.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset to write (ReflectionCoder JSONL)."),
    backend: str | None = typer.Option(
        None,
        help=(
            "local (the bundled model) or openai (the `default` endpoint of the settings); "
            "default from settings. --endpoint overrides it."
        ),
    ),
    model: str | None = typer.Option(None, help="Model name (default: the endpoint's first)."),
    endpoint: str | None = typer.Option(
        None,
        help=(
            "A declared endpoint's name, or the base URL of an OpenAI-compatible endpoint "
            "(sent the REFLECTSEQ_LLM_API_KEY)."
        ),
    ),
    max_rounds: int = typer.Option(4, min=1, max=32, help="Execution rounds before giving up."),
    show_tests: bool = typer.Option(True, help="Show the tasks' tests to the model."),
    temperature: float = typer.Option(0.2, min=0.0, max=2.0),
    max_tokens: int = typer.Option(1024, min=16),
    seed: int | None = typer.Option(None, help="Sampling seed (where the backend supports one)."),
    max_continuations: int = typer.Option(
        2, min=0, max=8, help="Continue an answer cut off at --max-tokens this often (0: keep it)."
    ),
    resample_repeats: int = typer.Option(
        2,
        min=0,
        max=4,
        help="Sample an answer that repeats a failed program again, hotter, this often; "
        "if every sample repeats, stage 1 stops (stalled). 0: run repeats with a nudge.",
    ),
    prompt_version: str = typer.Option(
        "v2", help="Prompt wording (workers/prompts/<version>.toml); v1 reproduces older data."
    ),
    concurrency: int | None = typer.Option(None, "--concurrency", "-j", min=1),
    database_url: str | None = typer.Option(None, help="Database (default: embedded SQLite)."),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Run the failed sequences of an earlier run again."
    ),
    preset: str | None = PresetOption,
    fields: list[str] = FieldOption,
    language: str | None = LanguageOption,
) -> None:
    """Generate reflection sequences for every instruction and write the dataset."""
    from reflectseq.db import migrate
    from reflectseq.db.session import session_factory_for
    from reflectseq.llm.endpoints import EndpointChoiceError, EndpointFileError
    from reflectseq.logs import configure_logging
    from reflectseq.settings import get_settings
    from reflectseq.specs import GenerationConfigSpec
    from workers.embedded import interrupts_ignored, run_set
    from workers.prompts import UnknownPromptVersion, load_prompts
    from workers.runtime import loop_context

    settings = get_settings()
    try:
        load_prompts(prompt_version)
    except UnknownPromptVersion as error:
        console().print(f"[red]{error}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from error
    specs = _read_or_exit(instructions, preset=preset, fields=fields, language=language)
    try:
        registry, config_spec, chosen = command_line_config(
            settings,
            GenerationConfigSpec(
                model=model,
                temperature=temperature,
                max_tokens=max_tokens,
                seed=seed,
                max_continuations=max_continuations,
                resample_repeats=resample_repeats,
                prompt_version=prompt_version,
                max_rounds=max_rounds,
                show_tests=show_tests,
            ),
            backend=backend,
            endpoint=endpoint,
        )
    except (EndpointChoiceError, EndpointFileError) as error:
        console().print(f"[red]{error}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from error
    url = database_url or settings.database_url
    if url.startswith("sqlite"):
        settings.ensure_data_dir()
    migrate.upgrade(url)
    factory = session_factory_for(url)
    # The file's content and the config identify the run: running it again resumes it.
    identity = json.dumps(
        [
            str(instructions.resolve()),
            config_spec.config_hash(),
            [s.content_hash() for _, s in specs],
        ]
    )
    resume_key = "run:" + hashlib.sha256(identity.encode()).hexdigest()
    set_id = _create_or_resume(
        factory,
        resume_key,
        name=instructions.name,
        specs=specs,
        config_spec=config_spec,
        backend=chosen.kind,
        retry_failed=retry_failed,
    )
    console().print(
        f"instruction set {set_id}: {len(specs)} instructions, endpoint {chosen.name} "
        f"({chosen.kind}, {config_spec.model}), database {url}",
        highlight=False,
    )
    context = loop_context(settings, session_factory=factory, registry=registry)
    if not console().is_terminal:
        configure_logging(settings.log_level, json=settings.log_json)
    try:
        with _sigterm_interrupts(), _progress_display(len(specs)) as show:
            if chosen.kind == "local":
                _load_model_or_exit(context, factory, set_id)
            final = run_set(
                context,
                set_id,
                concurrency=concurrency or settings.worker_concurrency,
                stale_after_s=settings.stale_after_s,
                on_progress=show,
            )
    except KeyboardInterrupt as interrupt:
        with interrupts_ignored():  # ending now: a second interrupt must not cut that short
            console().print(
                "interrupted: completed steps are kept; run the same command again to resume",
                highlight=False,
            )
            # 128 + the signal's number, as a shell reports a process that a signal stopped.
            stopped_by = signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT
            _exit_at_once(128 + stopped_by)
    flag_set(factory, set_id)
    _export_set(factory, set_id, out, final)


def _load_model_or_exit(context: LoopContext, factory: sessionmaker[Session], set_id: int) -> None:
    """Load the set's local model now, before any sequence runs.

    llama-cpp-python points the process's stdout and stderr at /dev/null while it loads a model,
    so whatever any thread printed meanwhile was lost: loaded by the first sequence, the model
    swallowed the other sequences' log lines and, when Ctrl-C came then, the "interrupted" line.
    The load runs on a thread of its own all the same: on the main thread, an interrupt landed
    in the loader's logging callback and was dropped there. The main thread waits; interrupted,
    it waits on for the loader to give the streams back, then stops the run. A model that cannot
    be loaded (its files missing) ends the run here, exit status 2, instead of every sequence.
    """
    from concurrent.futures import ThreadPoolExecutor, wait

    from reflectseq.llm.model_files import ModelUnavailable
    from reflectseq.store.instruction_sets import get_instruction_set
    from workers.embedded import interrupts_ignored

    with factory() as session:
        config = get_instruction_set(session, set_id).generation_config
    loader = ThreadPoolExecutor(1, thread_name_prefix="model-load")
    loading = loader.submit(context.backend_for, config)
    loader.shutdown(wait=False)
    try:
        loading.result()
    except KeyboardInterrupt:
        with interrupts_ignored():
            wait([loading])
        raise
    except ModelUnavailable as error:
        console().print(f"[red]{error}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from error


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a service manager, a CI timeout), made to stop the run as Ctrl-C does.

    Python's default for SIGTERM ends the process on the spot, leaving the sequences in flight
    marked running until the next run requeues them; raised in the main thread instead, it takes
    Ctrl-C's path: requeue, say so, exit.
    """


def _raise_terminated(_signum: int, _frame: object) -> None:
    raise Terminated


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises ``Terminated`` inside (the run's sequences), its previous handler after."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_at_once(code: int) -> NoReturn:
    """End the process without finalizing the interpreter.

    By now the sequences in flight are requeued and every committed step is durable, but their
    threads may still be inside llama.cpp (a local model's generation cannot be stopped between
    tokens): finalizing the interpreter under them freed what they were using and crashed the
    process (exit 139) in one interrupt of three to eight. So only what the finalizer would have
    done that matters is done here: the sandboxes waiting for programs are ended (otherwise a
    subreaper above this process keeps them as zombies), logs and streams are flushed. Sandboxes
    still running die with this process (``--die-with-parent``) and keep their scratch in tmpfs;
    an uncommitted transaction is rolled back by the database.
    """
    from reflectseq.sandbox.warm import close_all_pools

    with suppress(Exception):
        close_all_pools()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _create_or_resume(
    factory: sessionmaker[Session],
    resume_key: str,
    *,
    name: str,
    specs: list[tuple[int, InstructionSpec]],
    config_spec: GenerationConfigSpec,
    backend: str,
    retry_failed: bool,
) -> int:
    """The id of the run's instruction set: created on the first run, resumed on a rerun."""
    from reflectseq.db.session import transaction
    from reflectseq.store.instruction_sets import (
        create_instruction_set,
        find_by_idempotency_key,
        get_or_create_generation_config,
    )
    from reflectseq.store.loop import requeue_failed, requeue_stale

    with transaction(factory) as session:
        existing = find_by_idempotency_key(session, resume_key, submitted_by_key_id=None)
        if existing is None:
            config = get_or_create_generation_config(session, config_spec, backend=backend)
            created = create_instruction_set(
                session,
                name=name,
                config=config,
                instructions=specs,
                idempotency_key=resume_key,
            )
            return created.instruction_set.id
        # A rerun: what an interrupted run left running has no worker any more.
        requeue_stale(session, stale_after=timedelta(0), set_id=existing.id)
        if retry_failed:
            requeue_failed(session, existing.id)
        return existing.id


def _export_set(factory: sessionmaker[Session], set_id: int, out: Path, final: SetProgress) -> None:
    """Write the set's dataset to ``out`` and say what the run produced."""
    from reflectseq.db.session import transaction
    from reflectseq.enums import ReviewFilter
    from reflectseq.export.files import manifest_path_for
    from reflectseq.export.filters import ExportFilters
    from reflectseq.export.jobs import create_export, run_export_to
    from reflectseq.export.spec import ExportSpec

    spec = ExportSpec(filters=ExportFilters(instruction_set_ids=[set_id], review=ReviewFilter.ANY))
    with transaction(factory) as session:
        export_id = create_export(session, spec).id
    done = run_export_to(factory, export_id, out)
    console().print(
        f"{final.completed} completed ({final.passed} final answers pass), {final.failed} failed; "
        f"export {done.id}: wrote {done.record_count} records to {out} "
        f"(manifest {manifest_path_for(out).name}, {done.counts['excluded']} excluded by flags)",
        highlight=False,
    )


@contextmanager
def _progress_display(total: int) -> Iterator[Callable[[SetProgress], None] | None]:
    """A progress bar on a terminal; elsewhere nothing (the run logs each sequence instead)."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if not console().is_terminal:
        yield None
        return
    with Progress(
        TextColumn("[bold]reflect"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console(),
    ) as bar:
        task = bar.add_task("", total=total)

        def show(progress: SetProgress) -> None:
            bar.update(
                task,
                completed=progress.finished,
                total=progress.total,
                description=_progress_line(progress),
            )

        yield show


def flag_set(factory: sessionmaker[Session], set_id: int) -> None:
    """Compute the set's quality flags, so the export leaves contaminated records out.

    Contamination is checked against HumanEval, and against MBPP when its problems file is
    installed (``reflectseq/data``); the manifest says which benchmarks each record was checked
    against (``contamination.records_checked_against``), so a missing MBPP file is stated
    there once rather than on every run. Over-length needs a tokenizer and is left to
    ``reflectseq flags compute``.
    """
    from reflectseq.evaluation.benchmarks import BenchmarkError
    from reflectseq.quality.benchmarks import humaneval_problems, mbpp_problems
    from reflectseq.quality.compute import FlagComputer, compute_flags
    from reflectseq.quality.contamination import ContaminationIndex
    from reflectseq.quality.near_duplicates import NearDuplicateFinder

    problems = humaneval_problems()
    with suppress(BenchmarkError):
        problems += mbpp_problems()
    computer = FlagComputer(ContaminationIndex(problems), NearDuplicateFinder())
    compute_flags(factory, computer, instruction_set_ids=[set_id])
