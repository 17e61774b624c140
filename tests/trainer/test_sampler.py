"""Single-file, length-grouped, seeded batches that hold under several processes."""

from __future__ import annotations

from accelerate.data_loader import BatchSamplerShard
from torch.utils.data import BatchSampler

from trainer.sampler import SourceGroupedLengthSampler

SIZES = [10, 7, 3]
LENGTHS = [5 * i + 1 for i in range(sum(SIZES))]


def source_of(index: int) -> int:
    bounds = [0, 10, 17, 20]
    return next(s for s in range(3) if bounds[s] <= index < bounds[s + 1])


def test_every_chunk_comes_from_one_file_and_nothing_is_dropped() -> None:
    sampler = SourceGroupedLengthSampler(SIZES, LENGTHS, chunk_size=4, seed=0)
    order = list(sampler)
    assert len(order) == len(sampler) == 12 + 8 + 4
    chunks = [order[i : i + 4] for i in range(0, len(order), 4)]
    assert all(len({source_of(i) for i in chunk}) == 1 for chunk in chunks)
    assert set(order) == set(range(20))
    # Length-grouped: within a file's mega-batch chunks run longest first.
    for chunk in chunks:
        assert [LENGTHS[i] for i in chunk] == sorted((LENGTHS[i] for i in chunk), reverse=True)


def test_order_depends_only_on_seed_and_epoch() -> None:
    a = SourceGroupedLengthSampler(SIZES, LENGTHS, chunk_size=4, seed=0)
    b = SourceGroupedLengthSampler(SIZES, LENGTHS, chunk_size=4, seed=0)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)
    a.set_epoch(1)
    assert list(a) == list(b)


def test_each_process_gets_single_file_micro_batches() -> None:
    per_device, processes = 2, 2
    sampler = SourceGroupedLengthSampler(SIZES, LENGTHS, chunk_size=per_device * processes, seed=3)
    seen = []
    for rank in range(processes):
        shard = BatchSamplerShard(
            BatchSampler(sampler, per_device, drop_last=False), processes, rank
        )
        batches = list(shard)
        assert all(len({source_of(i) for i in batch}) == 1 for batch in batches)
        seen += [i for batch in batches for i in batch]
    assert set(seen) == set(range(20))
