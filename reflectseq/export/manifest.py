"""The manifest written beside every export: what was asked, what came out, and from what.

It lets a trainer (or a person) tell how a file was made without the database: the filters,
counts per language, verdict and flag, every record left out and why, the generator configs and
prompt versions behind the records, and the file's sha256.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from reflectseq import __version__
from reflectseq.db.models import GenerationConfig
from reflectseq.export.loaded import LoadedSequence
from reflectseq.export.spec import ExportSpec
from reflectseq.quality.contamination import CONTAMINATION_METHOD
from reflectseq.quality.flags import CONTAMINATION_CHECKED_KEY, Flag

MANIFEST_SUFFIX = ".manifest.json"


def _verdict(final_pass: bool | None) -> str:
    return {True: "passed", False: "failed", None: "unverified"}[final_pass]


@dataclass
class ExportCounts:
    """Running counts of one export, kept while streaming (constant size)."""

    records: int = 0
    by_language: Counter[str] = field(default_factory=Counter)
    by_final_pass: Counter[str] = field(default_factory=Counter)
    by_review: Counter[str] = field(default_factory=Counter)
    flagged: Counter[str] = field(default_factory=Counter)
    excluded_by_flag: Counter[str] = field(default_factory=Counter)
    excluded: int = 0
    missing_required_flags: int = 0
    incomplete: int = 0
    edited_blocks: int = 0
    contamination_checked: Counter[str] = field(default_factory=Counter)
    generation_config_ids: set[int] = field(default_factory=set)

    def exported(self, sequence: LoadedSequence, raised: frozenset[Flag]) -> None:
        """Count a written record."""
        self.records += 1
        self.by_language[sequence.language] += 1
        self.by_final_pass[_verdict(sequence.final_pass)] += 1
        self.by_review[sequence.review] += 1
        self.flagged.update(flag.value for flag in raised)
        self.edited_blocks += sequence.edited_blocks
        self.contamination_checked.update(sequence.flags.get(CONTAMINATION_CHECKED_KEY, []))
        self.generation_config_ids.add(sequence.generation_config_id)

    def excluded_for(self, flags: list[Flag]) -> None:
        """Count a record left out for raising excluded flags."""
        self.excluded += 1
        self.excluded_by_flag.update(flag.value for flag in flags)

    def as_dict(self) -> dict[str, Any]:
        """The counts as stored in ``export.counts`` and in the manifest."""
        return {
            "records": self.records,
            "by_language": dict(sorted(self.by_language.items())),
            "by_final_pass": dict(sorted(self.by_final_pass.items())),
            "by_review": dict(sorted(self.by_review.items())),
            "flagged": dict(sorted(self.flagged.items())),
            "excluded": self.excluded,
            "excluded_by_flag": dict(sorted(self.excluded_by_flag.items())),
            "missing_required_flags": self.missing_required_flags,
            "incomplete": self.incomplete,
            "edited_blocks": self.edited_blocks,
        }


def generator_configs(session: Session, config_ids: set[int]) -> list[dict[str, Any]]:
    """The generation configs behind the exported records, as the manifest lists them."""
    if not config_ids:
        return []
    configs = session.scalars(
        select(GenerationConfig)
        .where(GenerationConfig.id.in_(sorted(config_ids)))
        .order_by(GenerationConfig.id)
    )
    return [
        {
            "id": config.id,
            "config_hash": config.config_hash,
            "backend": config.backend,
            "model": config.model,
            "sampling": config.sampling,
            "prompt_version": config.prompt_version,
            "max_rounds": config.max_rounds,
            "show_tests": config.show_tests,
        }
        for config in configs
    ]


def build_manifest(
    *,
    spec: ExportSpec,
    counts: ExportCounts,
    configs: list[dict[str, Any]],
    file_name: str,
    sha256: str,
    size_bytes: int,
    created_at: datetime,
    export_id: int | None,
) -> dict[str, Any]:
    """The manifest document."""
    return {
        "export_id": export_id,
        "format": spec.format.value,
        "rendering": spec.rendering.value,
        "escape_special_tokens": spec.escape_special_tokens,
        "file": file_name,
        "gzip": spec.gzip,
        "sha256": sha256,
        "bytes": size_bytes,
        "created_at": created_at.isoformat(),
        "reflectseq_version": __version__,
        "filters": spec.filters.model_dump(mode="json"),
        "counts": counts.as_dict(),
        "generator_configs": configs,
        "prompt_versions": sorted({config["prompt_version"] for config in configs}),
        "contamination": {
            "method": CONTAMINATION_METHOD,
            "records_checked_against": dict(sorted(counts.contamination_checked.items())),
        },
    }
