"""A seeded, length-grouped sampler whose every global micro-batch comes from one source file.

Reflection and generation records take different loss paths, so a micro-batch must hold one
``type``; with one type per exported file, "one file per micro-batch" is enough. The sampler
yields indices in *chunks* of ``per_device_batch_size * world_size``: accelerate hands each
process consecutive ``per_device_batch_size`` slices of a chunk, so every process's micro-batch
is single-file too. Within a file, records are shuffled, grouped in mega-batches and sorted by
length (longest first) so padding stays small; then the chunks of all files are shuffled.

The order depends only on (seed, epoch), so resuming (which skips the batches already seen) and
several processes (which all compute the same order) agree. A file whose size is not a multiple
of the chunk has its last chunk filled with its own first records again, so nothing is dropped
and no chunk mixes files.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

MEGA_BATCH_CHUNKS = 50


class SourceGroupedLengthSampler(Sampler[int]):
    """Indices into a dataset made of consecutive files, one file per chunk."""

    def __init__(
        self, source_sizes: Sequence[int], lengths: Sequence[int], chunk_size: int, seed: int
    ) -> None:
        if sum(source_sizes) != len(lengths):
            raise ValueError("source sizes must add up to the number of records")
        if chunk_size < 1:
            raise ValueError("chunk size must be at least 1")
        self.source_sizes = list(source_sizes)
        self.lengths = np.asarray(lengths)
        self.chunk_size = chunk_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the training loop at the start of every epoch."""
        self.epoch = epoch

    def _chunks_of_source(
        self, offset: int, size: int, rng: np.random.Generator
    ) -> list[np.ndarray]:
        order = offset + rng.permutation(size)
        missing = -size % self.chunk_size
        order = np.concatenate([order, np.resize(order, missing)])
        mega = self.chunk_size * MEGA_BATCH_CHUNKS
        grouped = []
        for start in range(0, len(order), mega):
            part = order[start : start + mega]
            grouped.append(part[np.argsort(-self.lengths[part], kind="stable")])
        ordered = np.concatenate(grouped)
        return list(ordered.reshape(-1, self.chunk_size))

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        chunks: list[np.ndarray] = []
        offset = 0
        for size in self.source_sizes:
            if size:
                chunks += self._chunks_of_source(offset, size, rng)
            offset += size
        for chunk_index in rng.permutation(len(chunks)):
            yield from (int(i) for i in chunks[chunk_index])

    def __len__(self) -> int:
        return sum(-(-size // self.chunk_size) * self.chunk_size for size in self.source_sizes)
