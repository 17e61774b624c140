"""Sampling a stage-1 answer again when its program repeats one that already failed.

A small model answering near-greedily often sends back the very program that just failed; run
again, it fails the same way and the record gains a copy that teaches nothing. Before such an
answer is run, the same request is sent again at a raised temperature and another seed (the
chat is unchanged, so the stored answer is still a genuine answer to the stored conversation),
up to ``resample_repeats`` times. When every sample repeats, the model is stuck: stage 1 ends
there, flagged ``stalled``, and the repeat is never run or stored (the one-off answer is still
asked for). Run, a repeat would fail as before and add a round to the record that teaches
nothing but repeating.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from reflectseq.llm.base import Sampling

# Each resample raises the temperature by this much, up to TEMPERATURE_CEILING (never below
# the configured temperature): 0.2 -> 0.6 -> 1.0 with the defaults.
TEMPERATURE_STEP = 0.4
TEMPERATURE_CEILING = 1.0


def resample_limit(stored_sampling: Mapping[str, Any]) -> int:
    """How often a repeated program is sampled again (0 in configs stored before the option)."""
    return int(stored_sampling.get("resample_repeats") or 0)


def resampled(base: Sampling, attempt: int) -> Sampling:
    """The sampling of the ``attempt``-th resample (from 1) of one answer."""
    raised = min(TEMPERATURE_CEILING, base.temperature + TEMPERATURE_STEP * attempt)
    return replace(
        base,
        temperature=max(base.temperature, raised),
        seed=None if base.seed is None else base.seed + attempt,
    )
