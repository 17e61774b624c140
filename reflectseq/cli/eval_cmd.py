"""``reflectseq eval``: pass@k of a model on HumanEval, MBPP or an instruction set with tests.

``reflectseq eval --benchmark humaneval --model NAME`` generates (or, with ``--completions``,
reads) answers, executes them in the sandbox and writes a run directory; ``reflectseq eval
report RUN_DIR...`` compares finished runs in a Markdown table and a PNG chart.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from reflectseq.cli.console import console
from reflectseq.enums import Template

if TYPE_CHECKING:
    from reflectseq.evaluation.generation import Generator

app = typer.Typer(
    help="Evaluate a model: pass@k on HumanEval, MBPP or an instruction set with tests.",
    invoke_without_command=True,
)


class BackendName(StrEnum):
    """Where answers come from."""

    OPENAI = "openai"
    LOCAL = "local"
    HF = "hf"


def _fail(error: Exception) -> NoReturn:
    """Report bad input on one unwrapped line (it names a file and line) and exit with 2."""
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(2) from error


def parse_ks(value: str | None) -> list[int] | None:
    """``"1,10"`` as ``[1, 10]``; every k a positive integer."""
    if value is None:
        return None
    try:
        ks = [int(part) for part in value.split(",") if part.strip()]
    except ValueError as error:
        raise typer.BadParameter(f"{value!r} is not a comma-separated list of integers") from error
    if not ks or min(ks) < 1:
        raise typer.BadParameter("every k must be a positive integer")
    return ks


def _run_name(benchmark: str, model: str, template: Template) -> str:
    stem = Path(benchmark).stem if benchmark not in ("humaneval", "mbpp") else benchmark
    model_stem = Path(model.rstrip("/")).name or model
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return re.sub(r"[^\w.-]+", "_", f"{stem}-{model_stem}-{template}-{stamp}")


def _generator(backend: BackendName, model: str, base_url: str | None) -> Generator:
    from reflectseq.evaluation.generation import EndpointGenerator, local_generator
    from reflectseq.settings import get_settings

    settings = get_settings()
    if backend is BackendName.OPENAI:
        return EndpointGenerator(
            model=model,
            base_url=base_url or settings.llm_base_url or None,
            api_key=settings.llm_api_key.get_secret_value(),
            # Not streamed: nothing arrives before the whole answer, so the first-token wait.
            timeout_s=settings.llm_first_token_timeout_s,
        )
    if backend is BackendName.LOCAL:
        return local_generator(
            model,
            settings.data_dir / "models",
            threads=settings.local_threads,
            context=settings.local_context_tokens,
        )
    from reflectseq.evaluation.hf_generation import HFGenerator

    return HFGenerator(Path(model))


@app.callback()
def evaluate(
    ctx: typer.Context,
    benchmark: str | None = typer.Option(
        None, help="humaneval, mbpp, or an instruction-set JSONL whose lines carry tests."
    ),
    model: str | None = typer.Option(
        None,
        help="Endpoint model name (openai), bundled model (local) or checkpoint directory (hf); "
        "not needed with --completions.",
    ),
    backend: BackendName = typer.Option(BackendName.OPENAI, help="Where answers come from."),
    base_url: str | None = typer.Option(
        None, help="OpenAI-compatible endpoint (default: REFLECTSEQ_LLM_BASE_URL)."
    ),
    template: Template = typer.Option(
        Template.CHAT,
        help="chat (model's chat template), special (reflectseq-trained models) or raw "
        "(base models continue the code prompt).",
    ),
    completions: Path | None = typer.Option(
        None,
        exists=True,
        dir_okay=False,
        help="Score answers produced elsewhere (JSONL of task_id + completion) instead; "
        "--model is then only the name shown (default: the file's name).",
    ),
    cut_at_stops: bool = typer.Option(
        False,
        "--cut-at-stops",
        help="With --completions: cut the answers at the template's stop sequences "
        "(never done otherwise: answers from elsewhere are taken as they are).",
    ),
    n: int = typer.Option(1, "--n", min=1, max=1000, help="Samples per problem."),
    k: str | None = typer.Option(
        None, "-k", help="pass@k to report, e.g. 1,10 (default: 1, 10, 100 up to n)."
    ),
    temperature: float | None = typer.Option(
        None, min=0.0, max=2.0, help="Sampling temperature (default: 0 for n=1, else 0.8)."
    ),
    top_p: float = typer.Option(0.95, min=0.0, max=1.0, help="Nucleus sampling."),
    max_tokens: int = typer.Option(1024, min=1, help="Longest answer, in tokens."),
    seed: int | None = typer.Option(None, help="Sampling seed, where the backend supports one."),
    limit: int | None = typer.Option(None, min=1, help="Evaluate only the first N problems."),
    concurrency: int | None = typer.Option(
        None, min=1, help="Programs run at once in the sandbox (default: sandbox setting)."
    ),
    requests: int = typer.Option(4, min=1, help="Generation requests in flight at once."),
    run_timeout: float | None = typer.Option(
        None, min=0.1, max=600, help="Seconds per program (default: the language's)."
    ),
    out: Path | None = typer.Option(
        None, help="Run directory to write (default: eval-runs/<name>)."
    ),
    name: str | None = typer.Option(None, help="Run name shown in reports."),
) -> None:
    """Generate answers, execute them in the sandbox, report pass@k and write a run directory."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from reflectseq.evaluation.benchmarks import BenchmarkError, load_benchmark
    from reflectseq.evaluation.generation import GenerationError, SamplingParams
    from reflectseq.evaluation.prompts import TemplateError
    from reflectseq.evaluation.report import markdown_table
    from reflectseq.evaluation.runner import RunSpec, run_evaluation
    from reflectseq.evaluation.runs import RunFileError, read_completions

    if benchmark is None:
        raise typer.BadParameter("is required", param_hint="--benchmark")
    if completions is not None:
        model = model or completions.stem  # the file is the model
    elif model is None:
        raise typer.BadParameter("is required (the model evaluated)", param_hint="--model")
    elif cut_at_stops:
        raise typer.BadParameter("goes with --completions", param_hint="--cut-at-stops")
    ks = parse_ks(k)
    try:
        everything = load_benchmark(benchmark)
        problems, left_out = everything[:limit], everything[len(everything[:limit]) :]
        answers = (
            read_completions(completions, problems, {p.task_id for p in left_out})
            if completions
            else None
        )
    except (BenchmarkError, RunFileError) as error:
        _fail(error)
    sampling = SamplingParams(
        temperature=temperature if temperature is not None else (0.0 if n == 1 else 0.8),
        top_p=top_p,
        max_tokens=max_tokens,
        seed=seed,
    )
    run_name = name or _run_name(benchmark, model, template)
    spec = RunSpec(
        name=run_name,
        benchmark=benchmark,
        model=model,
        backend="completions-file" if answers is not None else str(backend),
        template=template,
        n=n,
        ks=ks,
        sampling=sampling,
        generation_concurrency=requests,
        sandbox_concurrency=concurrency,
        run_timeout=run_timeout,
        cut_completions_at_stops=cut_at_stops,
    )
    run_dir = out or Path("eval-runs") / run_name
    try:
        if answers is not None:
            console().print(f"scoring {len(problems)} problems from {completions}")
            outcome = run_evaluation(spec, problems, completions=answers)
        else:
            generator = _generator(backend, model, base_url)
            with Progress(
                "generating",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console(),
            ) as bar:
                task = bar.add_task("generate", total=len(problems))
                outcome = run_evaluation(
                    spec, problems, generator=generator, progress=lambda: bar.advance(task)
                )
    except (GenerationError, TemplateError, ValueError) as error:
        _fail(error)
    outcome.write(run_dir)
    typer.echo(markdown_table([outcome.summary]), nl=False)
    statuses = ", ".join(f"{status} {count}" for status, count in outcome.summary.statuses.items())
    console().print(f"samples: {statuses}")
    console().print(f"run written to {run_dir}")


@app.command()
def report(
    runs: list[Path] = typer.Argument(..., help="Run directories written by reflectseq eval."),
    out: Path | None = typer.Option(None, help="Markdown file for the table (default: stdout)."),
    plot: Path | None = typer.Option(None, help="PNG file for the chart comparing the runs."),
) -> None:
    """Compare finished runs: a Markdown table of pass@k and, optionally, a bar chart."""
    from reflectseq.evaluation.report import markdown_table, plot_runs
    from reflectseq.evaluation.runs import RunFileError, read_summary

    try:
        summaries = [read_summary(run) for run in runs]
    except RunFileError as error:
        _fail(error)
    table = markdown_table(summaries)
    if out is None:
        typer.echo(table, nl=False)
    else:
        out.write_text(table, encoding="utf-8")
        console().print(f"table written to {out}")
    if plot is not None:
        plot_runs(summaries, plot)
        console().print(f"chart written to {plot}")
