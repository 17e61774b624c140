"""Compare evaluation runs: a Markdown table and a bar chart.

The chart is drawn on a bare ``matplotlib.figure.Figure`` rather than through ``pyplot``, so no
GUI backend or global figure state is involved (the CLI may run headless, or inside a server).
Runs are grouped by benchmark, one panel each, since pass rates of different benchmarks do not
compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from reflectseq.evaluation.runs import RunSummary

MISSING = "-"


def all_ks(summaries: Sequence[RunSummary]) -> list[int]:
    """Every k reported by any of the runs, ascending."""
    return sorted({int(k) for summary in summaries for k in summary.pass_at})


def _percent(value: float | None) -> str:
    return MISSING if value is None else f"{100 * value:.1f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(summaries: Sequence[RunSummary]) -> str:
    """One row per run, pass@k in percent; a k a run did not report shows as a dash."""
    ks = all_ks(summaries)
    header = ["run", "benchmark", "model", "template", "problems", "n"]
    header += [f"pass@{k}" for k in ks]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 4 + "---:|" * (2 + len(ks))]
    for summary in summaries:
        row = [
            summary.name,
            summary.benchmark,
            summary.model,
            summary.template,
            str(summary.problems),
            str(summary.samples_per_problem),
        ]
        row += [_percent(summary.pass_at.get(str(k))) for k in ks]
        lines.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
    return "\n".join(lines) + "\n"


def plot_runs(summaries: Sequence[RunSummary], path: Path) -> None:
    """Bars of pass@k (percent) per run, one panel per benchmark, saved as a PNG."""
    benchmarks = list(dict.fromkeys(summary.benchmark for summary in summaries))
    ks = all_ks(summaries)
    figure = Figure(figsize=(max(6.0, 1.6 * len(summaries) + 2), 3.6 * len(benchmarks)))
    axes_list = figure.subplots(len(benchmarks), 1, squeeze=False)[:, 0]
    width = 0.8 / max(1, len(ks))
    for axes, benchmark in zip(axes_list, benchmarks, strict=True):
        runs = [summary for summary in summaries if summary.benchmark == benchmark]
        for offset, k in enumerate(ks):
            positions = [index + (offset - (len(ks) - 1) / 2) * width for index in range(len(runs))]
            values = [100 * (run.pass_at.get(str(k)) or 0.0) for run in runs]
            bars = axes.bar(positions, values, width, label=f"pass@{k}")
            labels = [_percent(run.pass_at.get(str(k))) for run in runs]
            axes.bar_label(bars, labels=labels, fontsize=8, padding=2)
        axes.set_xticks(range(len(runs)), [run.name for run in runs], rotation=15, ha="right")
        axes.set_ylim(0, 120)  # headroom above 100 % for the value labels and the legend
        axes.set_ylabel("% of problems")
        axes.set_title(benchmark)
        axes.legend(loc="upper left", fontsize=8, ncols=len(ks))
        axes.set_yticks(range(0, 101, 20))
        axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=120)
