"""One evaluation run from start to finish: prompts, answers, clean code, sandbox, scores.

Answers come either from a generator or from completions produced elsewhere (a vLLM batch job,
say); both go through the same post-processing, so scores of the two paths compare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from reflectseq import __version__
from reflectseq.enums import Template
from reflectseq.evaluation.generation import Generator, SamplingParams, generate_all
from reflectseq.evaluation.postprocess import clean_completion
from reflectseq.evaluation.problems import Problem
from reflectseq.evaluation.prompts import Prompt, build_prompt
from reflectseq.evaluation.runs import RunSummary, write_run
from reflectseq.evaluation.scoring import ProblemResult, overall_pass_at, score, status_counts
from reflectseq.languages import resolve_language

DEFAULT_KS = (1, 10, 100)


@dataclass(frozen=True)
class RunSpec:
    """What to evaluate and how; ``ks`` of ``None`` reports every standard k the samples allow."""

    name: str
    benchmark: str
    model: str
    backend: str
    template: Template
    n: int = 1
    ks: Sequence[int] | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    generation_concurrency: int = 1
    sandbox_concurrency: int | None = None
    run_timeout: float | None = None
    cut_completions_at_stops: bool = False
    """Answers from a completions file keep everything unless this asks for the stops."""


@dataclass(frozen=True)
class RunOutcome:
    """The summary, the per-problem results and the raw answers of a run."""

    summary: RunSummary
    results: list[ProblemResult]
    raw_completions: list[list[str]]

    def write(self, run_dir: Path) -> None:
        """Write the run directory."""
        write_run(run_dir, self.summary, self.results, self.raw_completions)


def build_prompts(problems: Sequence[Problem], template: Template) -> list[Prompt]:
    """The prompt of every problem, with the code fence of its language."""
    return [
        build_prompt(problem, template, resolve_language(problem.language).fence)
        for problem in problems
    ]


def clean(problem: Problem, prompt: Prompt, raw: str, *, cut_at_stops: bool = True) -> str:
    """The code to execute from one raw answer.

    The prompt's answer prefix (an opened code fence) is put back first, unless the answer
    opens its own fence, as completions produced with another prompt may. The template's stop
    sequences apply to what this run generated; answers produced elsewhere were stopped by
    their own generator, and cutting them again at Codex's markers (``\ndef``, ``\n#``) would
    drop helper functions and comments of correct answers.
    """
    text = raw if raw.lstrip().startswith("```") else prompt.answer_prefix + raw
    fence = resolve_language(problem.language).fence
    return clean_completion(
        text,
        language=problem.language,
        tags={fence, problem.language},
        stops=prompt.stops if cut_at_stops else (),
    )


def resolve_ks(requested: Sequence[int] | None, samples: Sequence[int]) -> list[int]:
    """The k values to report; every requested k must be possible with the fewest samples."""
    fewest = min(samples, default=0)
    if requested is None:
        return [k for k in DEFAULT_KS if k <= fewest] or [1]
    too_big = [k for k in requested if k > fewest]
    if too_big:
        raise ValueError(
            f"pass@{too_big[0]} needs at least {too_big[0]} samples per problem, "
            f"but a problem has {fewest}"
        )
    return sorted(set(requested))


def run_evaluation(
    spec: RunSpec,
    problems: Sequence[Problem],
    *,
    generator: Generator | None = None,
    completions: Sequence[Sequence[str]] | None = None,
    progress: Callable[[], None] | None = None,
) -> RunOutcome:
    """Generate (or take) answers, execute them, and score; exactly one answer source is used."""
    if (generator is None) == (completions is None):
        raise ValueError("give either a generator or completions")
    prompts = build_prompts(problems, spec.template)
    if completions is None:
        assert generator is not None
        ks = resolve_ks(spec.ks, [spec.n])
        raw = generate_all(
            generator,
            prompts,
            spec.n,
            spec.sampling,
            concurrency=spec.generation_concurrency,
            progress=progress,
        )
    else:
        ks = resolve_ks(spec.ks, [len(answers) for answers in completions])
        raw = [list(answers) for answers in completions]
    cut_at_stops = completions is None or spec.cut_completions_at_stops
    cleaned = [
        [clean(problem, prompt, answer, cut_at_stops=cut_at_stops) for answer in answers]
        for problem, prompt, answers in zip(problems, prompts, raw, strict=True)
    ]
    results = score(
        problems, cleaned, concurrency=spec.sandbox_concurrency, run_timeout=spec.run_timeout
    )
    summary = RunSummary(
        name=spec.name,
        benchmark=spec.benchmark,
        model=spec.model,
        backend=spec.backend,
        template=str(spec.template),
        problems=len(results),
        samples_per_problem=min((result.n for result in results), default=0),
        pass_at={str(k): value for k, value in overall_pass_at(results, ks).items()},
        statuses=status_counts(results),
        sampling=asdict(spec.sampling) if completions is None else {},
        created_at=datetime.now(UTC),
        reflectseq_version=__version__,
    )
    return RunOutcome(summary, results, raw)
