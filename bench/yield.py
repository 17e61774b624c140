"""Data yield of the reflection loop with the bundled model, beside its one-shot pass@1.

The bundled Qwen2.5-Coder-0.5B (``local-llm`` extra) answers the task set of
``bench/tasks/yield.jsonl`` twice, through the real commands and in the same sandbox:

1. one-shot: ``reflectseq eval --benchmark FILE --backend local`` (one sample per task), the
   baseline;
2. the reflection loop: ``reflectseq run FILE --backend local`` into a fresh SQLite database,
   read back afterwards.

Per language it reports the one-shot pass@1, the reflection pass (stage 1 ended with passing
tests), the final pass (the one-off answer passes), final minus one-shot in points, assembly
collisions (failed executions whose output shows the answer's own driver clashing with the
appended tests: a duplicate ``main``, a redeclared name, ...), stalled sequences (flag
``stalled``), repeated rounds (stage-1 programs identical to an earlier round's), answers sampled
again for repeating a failed program (calls with status ``repeated``), sequences that ended
failed, mean rounds and the model's tokens per second. Both runs use the same sampling.

Usage: ``python bench/yield.py [--languages py,cpp] [--limit 2] [--max-rounds 4] [--out f.json]``
(``--limit`` keeps the first N tasks of each language; the whole set takes about an hour on two
cores). Tasks run interleaved by language, so a run stopped early has covered every language
alike; ``--report WORK_DIR`` prints the figures of such a run (kept with ``--work-dir``) for the
sequences that ended, beside the one-shot answers to the same tasks.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reflectseq.db.models import Block, Instruction, LlmCall, Message, Sequence
from reflectseq.db.session import session_factory_for
from reflectseq.enums import (
    BlockKind,
    ExecutionStatus,
    LlmCallStatus,
    SequenceStage,
    SequenceStatus,
)

ROOT = Path(__file__).resolve().parents[1]
# The options a run was made with, kept in its work directory for ``--report``.
RUN_OPTIONS = (
    "max_rounds", "max_tokens", "temperature", "seed", "resample_repeats", "threads", "concurrency"
)  # fmt: skip
RUN_FILE = "run.json"
TASK_FILE = ROOT / "bench" / "tasks" / "yield.jsonl"
MODEL = "qwen2.5-coder-0.5b"
# What a failed execution prints when the answer's own driver or harness collides with the tests
# appended to it (the answer alone would have compiled).
COLLISION_PATTERNS = tuple(
    re.compile(pattern)
    for pattern in (
        r"redefinition of",  # C++: a second main
        r"multiple definition of",  # C/C++ at link time
        r"defined multiple times",  # Rust E0428: the name `main` is defined multiple times
        r"redeclared in this block",  # Go: main or TestX redeclared
        r"has already been declared",  # JavaScript: Identifier 'assert' has already been declared
        r"Cannot redeclare block-scoped variable",  # TypeScript
        r"Duplicate (identifier|function implementation)",  # TypeScript
        r"duplicate class",  # Java: the answer's own Problem class
        r"is already defined in",  # Java: method main(String[]) is already defined in class ...
        r"is public, should be declared in a file named",  # Java: public class beside Problem
        r"NameError: name 'check' is not defined",  # Python: the answer calls the tests' check
    )
)


def is_collision(output: str) -> bool:
    """True when ``output`` shows an assembly collision."""
    return any(pattern.search(output) for pattern in COLLISION_PATTERNS)


@dataclass
class LanguageFigures:
    """Counts for one language (or all); rates are derived when printing."""

    tasks: int = 0
    one_shot: int = 0
    one_shot_collisions: int = 0
    sequences_failed: int = 0
    reflection: int = 0
    final: int = 0
    executions_failed: int = 0
    collisions: int = 0
    stalled: int = 0
    rounds: int = 0
    programs: int = 0
    repeated: int = 0
    resampled: int = 0  # answers discarded for repeating a failed program (sampled again)
    tokens_out: int = 0
    llm_seconds: float = 0.0

    def add(self, other: LanguageFigures) -> None:
        """Add ``other``'s counts to these."""
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def rates(self) -> dict[str, float | None]:
        """The derived figures: pass rates in percent, mean rounds, tokens/s."""
        tasks = self.tasks or 1
        one_shot, final = 100 * self.one_shot / tasks, 100 * self.final / tasks
        return {
            "one_shot_pct": one_shot,
            "reflection_pct": 100 * self.reflection / tasks,
            "final_pct": final,
            "final_minus_one_shot_pts": final - one_shot,
            "repeated_rounds_pct": 100 * self.repeated / self.programs if self.programs else None,
            "mean_rounds": self.rounds / tasks,
            "tokens_per_s": self.tokens_out / self.llm_seconds if self.llm_seconds else None,
        }


def select_tasks(path: Path, languages: list[str] | None, limit: int | None) -> list[str]:
    """The task lines to run: those of ``languages`` (all if None), the first ``limit`` of each.

    They are interleaved by language (the first task of each language, then the second of
    each, ...), so that a run stopped early has covered every language alike.
    """
    per_language: dict[str, list[str]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        language = json.loads(line)["language"]
        if languages is not None and language not in languages:
            continue
        if limit is None or len(per_language[language]) < limit:
            per_language[language].append(line)
    rounds = itertools.zip_longest(*per_language.values())
    return [line for round_ in rounds for line in round_ if line is not None]


def reflectseq(args: list[str], env: dict[str, str]) -> float:
    """Run a ``reflectseq`` command of this checkout; returns its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "reflectseq", *args], check=True, env=env)
    return time.perf_counter() - started


def ended_sequences(database_url: str) -> dict[int, str]:
    """The loop's sequences that ended (completed or failed), with their tasks' ids."""
    with session_factory_for(database_url)() as session:
        rows = session.execute(
            select(Sequence.id, Instruction.metadata_)
            .join(Instruction, Sequence.instruction_id == Instruction.id)
            .where(Sequence.status.in_([SequenceStatus.COMPLETED, SequenceStatus.FAILED]))
        ).all()
    return {sequence_id: str((metadata or {}).get("task_id")) for sequence_id, metadata in rows}


def one_shot_figures(run_dir: Path, task_ids: set[str]) -> dict[str, LanguageFigures]:
    """Tasks, passing answers and collisions per language from an eval run's results, for the
    tasks of ``task_ids``."""
    figures: dict[str, LanguageFigures] = defaultdict(LanguageFigures)
    for line in (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines():
        result = json.loads(line)
        if result["task_id"] not in task_ids:
            continue
        language = figures[result["language"]]
        language.tasks += 1
        language.one_shot += result["correct"]
        language.one_shot_collisions += sum(
            not sample["passed"] and is_collision(sample["detail"]) for sample in result["samples"]
        )
    return figures


def _normalised(code: str) -> str:
    return " ".join(code.split())


def loop_figures(
    database_url: str, figures: dict[str, LanguageFigures], sequence_ids: set[int]
) -> None:
    """Add the figures of the loop's ``sequence_ids``, read from the run's database, per
    language to ``figures``."""
    with session_factory_for(database_url)() as session:
        sequences = session.execute(
            select(Sequence, Instruction.language)
            .join(Instruction, Sequence.instruction_id == Instruction.id)
            .where(Sequence.id.in_(sequence_ids))
        ).all()
        language_of = {sequence.id: language for sequence, language in sequences}
        for sequence, language in sequences:
            counts = figures[language]
            counts.sequences_failed += sequence.status == SequenceStatus.FAILED
            counts.reflection += bool(sequence.reflection_pass)
            counts.final += bool(sequence.final_pass)
            counts.stalled += bool((sequence.flags or {}).get("stalled"))
            counts.rounds += sequence.rounds
        blocks = session.execute(
            select(Message.sequence_id, Message.stage, Block)
            .join(Block, Block.message_id == Message.id)
            .where(
                Block.kind.in_([BlockKind.CODE, BlockKind.EXECUTION]),
                Message.sequence_id.in_(sequence_ids),
            )
            .order_by(Message.sequence_id, Message.index, Block.index)
        ).all()
        # A stage-1 round runs the code block stored just before its execution block; other
        # code blocks of an answer (examples, expected output) are not programs.
        seen: dict[int, set[str]] = defaultdict(set)
        last_code: dict[int, str] = {}
        for sequence_id, stage, block in blocks:
            counts = figures[language_of[sequence_id]]
            if block.kind == BlockKind.CODE:
                last_code[sequence_id] = _normalised(block.content)
                continue
            if stage == SequenceStage.REFLECTION and sequence_id in last_code:
                program = last_code.pop(sequence_id)
                counts.programs += 1
                counts.repeated += program in seen[sequence_id]
                seen[sequence_id].add(program)
            if block.execution_status != ExecutionStatus.PASSED:
                counts.executions_failed += 1
                output = f"{block.stdout or ''}\n{block.stderr or ''}\n{block.content}"
                counts.collisions += is_collision(output)
        calls = session.execute(
            select(Sequence.id, LlmCall.tokens_out, LlmCall.latency_s, LlmCall.status)
            .join(Sequence, LlmCall.sequence_id == Sequence.id)
            .where(Sequence.id.in_(sequence_ids))
        ).all()
        for sequence_id, tokens_out, latency_s, status in calls:
            counts = figures[language_of[sequence_id]]
            counts.resampled += status == LlmCallStatus.REPEATED
            counts.tokens_out += tokens_out
            counts.llm_seconds += latency_s or 0.0


def print_table(figures: dict[str, LanguageFigures], total: LanguageFigures) -> None:
    """One row per language and a total row."""
    header = (
        f"{'lang':<6}{'tasks':>6}{'one-shot':>10}{'reflect':>9}{'final':>8}{'Δ pts':>8}"
        f"{'collide':>9}{'(1-shot)':>9}{'stalled':>8}{'repeat':>8}{'resampl':>8}{'failed':>7}"
        f"{'rounds':>8}{'tok/s':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, counts in [*sorted(figures.items()), ("all", total)]:
        rates = counts.rates()
        repeated = rates["repeated_rounds_pct"]
        speed = rates["tokens_per_s"]
        print(
            f"{name:<6}{counts.tasks:>6}{rates['one_shot_pct']:>9.0f}%"
            f"{rates['reflection_pct']:>8.0f}%{rates['final_pct']:>7.0f}%"
            f"{rates['final_minus_one_shot_pts']:>+8.0f}{counts.collisions:>9}"
            f"{counts.one_shot_collisions:>9}{counts.stalled:>8}"
            f"{'-' if repeated is None else f'{repeated:.0f}%':>8}{counts.resampled:>8}"
            f"{counts.sequences_failed:>7}"
            f"{rates['mean_rounds']:>8.2f}{'-' if speed is None else f'{speed:.1f}':>7}"
        )


def run_both(args: argparse.Namespace, selected: Path, work: Path) -> dict[str, float]:
    """The one-shot eval, then the loop, on the task file ``selected``; their wall times."""
    env = {
        **os.environ,
        # The commands import this checkout, as this script does.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "REFLECTSEQ_LOCAL_THREADS": str(args.threads),
        "REFLECTSEQ_LOCAL_MODEL": MODEL,
    }
    sampling = [
        f"--max-tokens={args.max_tokens}",
        f"--temperature={args.temperature}",
        f"--seed={args.seed}",
    ]
    one_shot_s = reflectseq(
        [
            "eval", f"--benchmark={selected}", "--backend=local", f"--model={MODEL}",
            "--n=1", "-k", "1", "--requests=1", f"--out={work / 'one-shot'}", "--name=one-shot",
            *sampling,
        ],
        env,
    )  # fmt: skip
    loop_s = reflectseq(
        [
            "run", str(selected), f"--out={work / 'dataset.jsonl'}", "--backend=local",
            f"--model={MODEL}", f"--max-rounds={args.max_rounds}",
            f"--concurrency={args.concurrency}", f"--database-url=sqlite:///{work / 'loop.db'}",
            f"--resample-repeats={args.resample_repeats}", *sampling,
        ],
        env,
    )  # fmt: skip
    return {"one_shot": one_shot_s, "loop": loop_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=Path, default=TASK_FILE, help="Task file (JSONL).")
    parser.add_argument("--languages", help="Comma-separated language codes (default: all).")
    parser.add_argument("--limit", type=int, help="First N tasks of each language.")
    parser.add_argument("--max-rounds", type=int, default=4, help="Stage-1 rounds of the loop.")
    parser.add_argument("--max-tokens", type=int, default=1024, help="Longest answer.")
    parser.add_argument("--temperature", type=float, default=0.2, help="For both runs.")
    parser.add_argument("--seed", type=int, default=7, help="Sampling seed of both runs.")
    parser.add_argument(
        "--resample-repeats", type=int, default=2, help="The loop's resamples of a repeat."
    )
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the model.")
    parser.add_argument("--concurrency", type=int, default=1, help="Sequences at once.")
    parser.add_argument("--work-dir", type=Path, help="Keep the runs here (default: temporary).")
    parser.add_argument(
        "--report",
        type=Path,
        metavar="WORK_DIR",
        help="Run nothing: the figures of the runs kept in WORK_DIR (one stopped early too).",
    )
    parser.add_argument("--out", type=Path, help="JSON file for the figures.")
    args = parser.parse_args()

    if args.report:
        work, wall_s = args.report, None
        if not (work / RUN_FILE).is_file():
            parser.error(f"{work} holds no {RUN_FILE}: not a work directory of this benchmark")
        vars(args).update(json.loads((work / RUN_FILE).read_text(encoding="utf-8")))
        lines = (work / "tasks.jsonl").read_text(encoding="utf-8").splitlines()
    else:
        languages = args.languages.split(",") if args.languages else None
        lines = select_tasks(args.tasks, languages, args.limit)
        if not lines:
            parser.error("no task matches --languages/--limit")
        work = args.work_dir or Path(tempfile.mkdtemp(prefix="reflectseq-yield-"))
        work.mkdir(parents=True, exist_ok=True)
        selected = work / "tasks.jsonl"
        selected.write_text("\n".join(lines) + "\n", encoding="utf-8")
        options = {name: getattr(args, name) for name in RUN_OPTIONS}
        (work / RUN_FILE).write_text(json.dumps(options) + "\n", encoding="utf-8")
        wall_s = run_both(args, selected, work)

    database_url = f"sqlite:///{work / 'loop.db'}"
    ended = ended_sequences(database_url)
    figures = one_shot_figures(work / "one-shot", set(ended.values()))
    loop_figures(database_url, figures, set(ended))
    total = LanguageFigures()
    for counts in figures.values():
        total.add(counts)
    timing = (
        f"one-shot run {wall_s['one_shot']:.0f} s, loop run {wall_s['loop']:.0f} s"
        if wall_s
        else f"{len(ended)} of {len(lines)} sequences ended (one-shot of the same tasks)"
    )
    print(
        f"\n{MODEL}, {len(lines)} tasks, max rounds {args.max_rounds}, temperature "
        f"{args.temperature}, seed {args.seed}, {args.threads} thread(s), {args.concurrency} "
        f"sequence(s) at once; {timing}; "
        f"runs kept in {work}\n"
    )
    print_table(figures, total)
    print(
        "\none-shot: reflectseq eval pass@1; reflect: stage 1 ended passing; final: the one-off "
        "answer passes;\nΔ pts: final minus one-shot; collide: failed loop executions showing an "
        "assembly collision\n((1-shot): the same in the eval answers); repeat: stage-1 programs "
        "identical to an earlier round's;\nresampl: answers sampled again for repeating a failed "
        "program (not run);\nfailed: sequences that ended failed; tok/s: generated "
        "tokens per second of model time"
    )
    if args.out:
        document: dict[str, Any] = {
            "model": MODEL,
            "tasks": str(args.tasks),
            "sequences_ended": len(ended),
            "max_rounds": args.max_rounds,
            "resample_repeats": args.resample_repeats,
            "sampling": {
                "temperature": args.temperature,
                "seed": args.seed,
                "max_tokens": args.max_tokens,
            },
            "threads": args.threads,
            "wall_s": wall_s,
            "languages": {
                name: {**asdict(counts), **counts.rates()}
                for name, counts in sorted(figures.items())
            },
            "all": {**asdict(total), **total.rates()},
        }
        args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.out}")


if __name__ == "__main__":
    main()
