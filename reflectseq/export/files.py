"""Writing one export: the JSONL file (optionally gzipped) and its manifest, atomically.

Both files are written under temporary names in the target directory and renamed into place
only when complete, so a failed or interrupted export never leaves a half-written file that looks
finished. The sha256 is computed over the bytes as they are written (the compressed bytes for a
gzipped file, i.e. what a download delivers), without reading the file back.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from reflectseq.export.manifest import (
    MANIFEST_SUFFIX,
    ExportCounts,
    build_manifest,
    generator_configs,
)
from reflectseq.export.spec import ExportSpec
from reflectseq.export.stream import stream_sequences
from reflectseq.export.writers import IncompleteSequence, line_writer
from reflectseq.quality.flags import raised_flags

WRITE_CHUNK_BYTES = 1 << 20
PROGRESS_EVERY = 500

ProgressCallback = Callable[[int], None]


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True)
class WrittenExport:
    """Where an export landed and what it holds."""

    path: Path
    manifest_path: Path
    sha256: str
    size_bytes: int
    counts: ExportCounts
    manifest: dict[str, Any]


class _HashingSink(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to the file."""

    def __init__(self, target: IO[bytes]) -> None:
        super().__init__()
        self._target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.digest.update(view)
        self._target.write(view)
        self.size += len(view)
        return len(view)


def manifest_path_for(path: Path) -> Path:
    """Where the manifest of the export file ``path`` lies."""
    return path.with_name(path.name + MANIFEST_SUFFIX)


def _partial(path: Path) -> Path:
    """A temporary name beside ``path`` (same directory, so the final rename is atomic)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")


@contextmanager
def _atomic_pair(path: Path, manifest_path: Path) -> Iterator[tuple[Path, Path]]:
    """Temporary paths for the file and its manifest, renamed into place together on success.

    The file goes first and the manifest second, so a manifest never describes a missing file;
    if the second rename fails the first is undone. On any failure no partial file remains.
    """
    partial, manifest_partial = _partial(path), _partial(manifest_path)
    try:
        yield partial, manifest_partial
        os.replace(partial, path)
        try:
            os.replace(manifest_partial, manifest_path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    finally:
        partial.unlink(missing_ok=True)
        manifest_partial.unlink(missing_ok=True)


def _write_lines(
    session: Session,
    spec: ExportSpec,
    raw: _Writable,
    counts: ExportCounts,
    on_progress: ProgressCallback | None,
) -> None:
    write_line = line_writer(
        spec.format, spec.rendering, escape_special_tokens=spec.escape_special_tokens
    )
    filters = spec.filters
    chunk: list[str] = []
    chunk_size = 0
    seen = 0
    for sequence in stream_sequences(session, filters):
        seen += 1
        if on_progress is not None and seen % PROGRESS_EVERY == 0:
            on_progress(seen)
        raised = raised_flags(sequence.flags)
        if not raised.issuperset(filters.require_flags):
            counts.missing_required_flags += 1
            continue
        excluding = filters.excluding_flags(raised)
        if excluding:
            counts.excluded_for(excluding)
            continue
        try:
            line = write_line(sequence)
        except IncompleteSequence:
            counts.incomplete += 1
            continue
        counts.exported(sequence, raised)
        chunk.append(line)
        chunk_size += len(line)
        if chunk_size >= WRITE_CHUNK_BYTES:
            raw.write(("\n".join(chunk) + "\n").encode("utf-8"))
            chunk, chunk_size = [], 0
    if chunk:
        raw.write(("\n".join(chunk) + "\n").encode("utf-8"))
    if on_progress is not None:
        on_progress(seen)


def write_export(
    session_factory: sessionmaker[Session],
    spec: ExportSpec,
    path: Path,
    *,
    export_id: int | None = None,
    on_progress: ProgressCallback | None = None,
    manifest_path: Path | None = None,
) -> WrittenExport:
    """Stream the sequences ``spec`` selects into ``path`` and write the manifest beside it
    (or at ``manifest_path``, where a dataset directory wants it).

    ``on_progress`` gets the number of sequences read so far (exported or not).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    counts = ExportCounts()
    created_at = datetime.now(UTC)
    manifest_path = manifest_path or manifest_path_for(path)
    with (
        session_factory() as session,
        _atomic_pair(path, manifest_path) as (partial, manifest_partial),
    ):
        with partial.open("wb") as target:
            sink = _HashingSink(target)
            if spec.gzip:
                # mtime=0 and no file name: the same rows give the same bytes and sha256.
                with gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0) as compressed:
                    _write_lines(session, spec, compressed, counts, on_progress)
            else:
                _write_lines(session, spec, sink, counts, on_progress)
        manifest = build_manifest(
            spec=spec,
            counts=counts,
            configs=generator_configs(session, counts.generation_config_ids),
            file_name=path.name,
            sha256=sink.digest.hexdigest(),
            size_bytes=sink.size,
            created_at=created_at,
            export_id=export_id,
        )
        manifest_partial.write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return WrittenExport(
        path=path,
        manifest_path=manifest_path,
        sha256=manifest["sha256"],
        size_bytes=sink.size,
        counts=counts,
        manifest=manifest,
    )
