"""Benchmark contamination: exact substrings and 10-gram word overlap, as code SFT sets check it.

Two methods, both recorded with the benchmark, task id and record field they matched:

* ``substring`` (the bigcode/StarCoder practice): a benchmark text, lower-cased with whitespace
  collapsed, occurs verbatim in a record field. Candidates are found through the 3 words right
  after a benchmark text's first word (whole words in any containing text, whatever the first
  and last word are cut to), so each field costs one dictionary look-up per word instead of one
  scan per benchmark text. Texts under ``MIN_SUBSTRING_WORDS`` words are skipped: they are
  trivial (``return a + b``) and would flag correct code that merely resembles a solution.
* ``ngram10`` (DeepSeek-Coder, Qwen2.5-Coder): a field shares any run of 10 consecutive words
  with a benchmark text. This catches copies with changed punctuation or layout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from reflectseq.quality.benchmarks import BenchmarkProblem
from reflectseq.quality.text import normalized, word_ngrams, words

NGRAM = 10
ANCHOR_WORDS = 3
# How the manifest and the dataset card describe the check, in one line.
CONTAMINATION_METHOD = (
    "benchmark texts (prompts, docstrings, solutions) searched in the instruction, the "
    "reflection's code and the final answer: verbatim after lower-casing and collapsing "
    "whitespace (substring), or sharing a run of 10 words (ngram10)"
)
MIN_SUBSTRING_WORDS = ANCHOR_WORDS + 2  # a first word, the anchor, and a last word


@dataclass(frozen=True, order=True)
class ContaminationMatch:
    """One hit: which benchmark task, found how, in which field of the record."""

    benchmark: str
    task_id: str
    method: str
    field: str

    def as_flag(self) -> dict[str, Any]:
        """The form stored in ``Sequence.flags["contamination"]``."""
        return asdict(self)


class ContaminationIndex:
    """Benchmark texts indexed for fast checks of many records."""

    def __init__(self, problems: Iterable[BenchmarkProblem], *, ngram: int = NGRAM) -> None:
        self.ngram = ngram
        self._ngrams: dict[tuple[str, ...], set[tuple[str, str]]] = defaultdict(set)
        self._anchors: dict[tuple[str, ...], list[tuple[str, str, str]]] = defaultdict(list)
        self.problem_count = 0
        benchmarks: set[str] = set()
        for problem in problems:
            self.problem_count += 1
            benchmarks.add(problem.benchmark)
            task = (problem.benchmark, problem.task_id)
            for text in problem.texts:
                tokens = words(text)
                for gram in word_ngrams(tokens, ngram):
                    self._ngrams[gram].add(task)
                if len(tokens) >= MIN_SUBSTRING_WORDS:
                    anchor = tuple(tokens[1 : 1 + ANCHOR_WORDS])
                    self._anchors[anchor].append((*task, normalized(text)))
        self._benchmarks = sorted(benchmarks)

    @property
    def benchmarks(self) -> list[str]:
        """The benchmarks whose problems are indexed, sorted."""
        return self._benchmarks

    def _field_matches(self, field: str, text: str) -> set[ContaminationMatch]:
        tokens = words(text)
        found: set[ContaminationMatch] = set()
        for gram in word_ngrams(tokens, self.ngram):
            for benchmark, task_id in self._ngrams.get(gram, ()):
                found.add(ContaminationMatch(benchmark, task_id, f"ngram{self.ngram}", field))
        flat: str | None = None
        for anchor in word_ngrams(tokens, ANCHOR_WORDS):
            for benchmark, task_id, needle in self._anchors.get(anchor, ()):
                flat = flat if flat is not None else normalized(text)
                if needle in flat:
                    found.add(ContaminationMatch(benchmark, task_id, "substring", field))
        return found

    def matches(self, fields: Mapping[str, Iterable[str]]) -> list[ContaminationMatch]:
        """Every benchmark hit in the record's fields (field name → its texts), sorted."""
        found: set[ContaminationMatch] = set()
        for field, texts in fields.items():
            for text in texts:
                found |= self._field_matches(field, text)
        return sorted(found)
