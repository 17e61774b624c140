"""``reflectseq sandbox``: run a file in the sandbox and check what the sandbox can do here."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer

app = typer.Typer(
    help="Execute programs in the sandbox; check its protections.", no_args_is_help=True
)


@app.command()
def run(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    language: str = typer.Option(..., "--language", "-l", help="Language code or alias, e.g. py."),
    tests: Path | None = typer.Option(
        None,
        exists=True,
        dir_okay=False,
        readable=True,
        help="Tests appended to FILE under the language's assembly rules (with the end-of-tests "
        "check); without it FILE is run as it is.",
    ),
    stdin: Path | None = typer.Option(None, help="File fed to the program's standard input."),
    run_timeout: float | None = typer.Option(None, help="Seconds the run step may take."),
    memory_mb: int | None = typer.Option(None, help="Memory budget in MiB."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole result as JSON."),
) -> None:
    """Run FILE (program plus its tests, or --tests) and judge it; exit code 0 when it passed."""
    from pydantic import ValidationError

    from reflectseq.sandbox import ExecutionRequest, execute

    try:
        request = ExecutionRequest(
            language=language,
            code=file.read_text(),
            tests=tests.read_text() if tests else None,
            stdin=stdin.read_text() if stdin else None,
            run_timeout=run_timeout,
            memory_mb=memory_mb,
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc
    result = execute(request)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        for name, step in (("compile", result.compile), ("run", result.run)):
            if step is None:
                continue
            typer.echo(f"--- {name}: exit {step.exit_code}, {step.duration:.2f} s")
            if step.stdout:
                typer.echo(step.stdout, nl=not step.stdout.endswith("\n"))
            if step.stderr:
                typer.echo(step.stderr, nl=not step.stderr.endswith("\n"), err=True)
        typer.echo(
            f"status: {result.status.value}" + (f" ({result.message})" if result.message else "")
        )
        if result.passed_with_errors:
            typer.echo(f"passed with errors on stderr: {result.stderr_error}")
    raise typer.Exit(0 if result.passed else 1)


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Say which protections are active here and which languages are ready."""
    from rich.console import Console
    from rich.table import Table

    from reflectseq.sandbox import get_backend
    from reflectseq.sandbox.doctor import (
        MemoryBound,
        Protection,
        languages_readiness,
        memory_bounds,
        memory_works,
        protections,
    )
    from reflectseq.sandbox.local import LocalBackend
    from reflectseq.settings import get_settings

    settings = get_settings()
    backend = get_backend()
    layers: list[Protection] = []
    bounds: list[MemoryBound] = []
    if isinstance(backend, LocalBackend):
        bounded = memory_works(backend)
        layers = protections(backend, memory_bounded=bounded)
        bounds = memory_bounds(backend.memory, bounded)
    languages = languages_readiness()
    if as_json:
        report = {
            "backend": settings.sandbox_backend,
            "protections": [dataclasses.asdict(layer) for layer in layers],
            "memory": [dataclasses.asdict(bound) for bound in bounds],
            "languages": [dataclasses.asdict(language) for language in languages],
        }
        typer.echo(json.dumps(report, indent=2))
        return
    console = Console()
    console.print(f"backend: {settings.sandbox_backend}")
    if layers:
        table = Table("protection", "active", "detail")
        for layer in layers:
            table.add_row(layer.name, "yes" if layer.active else "NO", layer.detail)
        console.print(table)
    memory = {bound.code: bound.detail for bound in bounds}
    table = Table("language", "name", "local", "how to get it", *(["memory"] if bounds else []))
    for language in languages:
        extra = [memory[language.code]] if bounds else []
        table.add_row(language.code, language.name, language.readiness, language.detail, *extra)
    console.print(table)
    if unbounded := [bound.code for bound in bounds if not bound.active]:
        console.print(
            "[bold red]warning:[/] nothing bounds the memory of a whole execution here "
            f"({', '.join(unbounded)}): see docs/sandbox.md, memory"
        )


@app.command()
def dockerfiles() -> None:
    """Write sandbox_images/<code>/Dockerfile for every language from the language table."""
    from reflectseq.languages import load_languages
    from reflectseq.sandbox.dockerfiles import dockerfile_path, render_dockerfile

    for language in load_languages().values():
        path = dockerfile_path(language)
        path.parent.mkdir(exist_ok=True)
        path.write_text(render_dockerfile(language))
        typer.echo(f"wrote {path}")
