"""Near-duplicate instructions by MinHash LSH (``datasketch``) over word 3-gram shingles.

Instructions are fed in a stable order (sequence id); the first of a group of near-duplicates
stays unflagged and each later one points at it. LSH proposes candidates; each is confirmed by
the MinHash Jaccard estimate against ``threshold``, so the LSH's banding false positives do not
become flags. Signatures are kept as compact ``uint32`` arrays (datasketch's hash values fit
32 bits), about 0.5 KB per instruction.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from datasketch import MinHash, MinHashLSH

from reflectseq.quality.flags import NEAR_DUPLICATE_THRESHOLD
from reflectseq.quality.text import word_ngrams, words

NUM_PERM = 128
SHINGLE_WORDS = 3


def _shingles(text: str) -> set[bytes]:
    tokens = words(text)
    if len(tokens) < SHINGLE_WORDS:
        return {" ".join(tokens).encode("utf-8")}
    return {" ".join(gram).encode("utf-8") for gram in word_ngrams(tokens, SHINGLE_WORDS)}


class NearDuplicateFinder:
    """Remembers instructions seen so far and names the earlier one a new one nearly repeats."""

    def __init__(
        self, threshold: float = NEAR_DUPLICATE_THRESHOLD, num_perm: int = NUM_PERM
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("the near-duplicate threshold must be in (0, 1]")
        self.threshold = threshold
        self.num_perm = num_perm
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._signatures: dict[int, npt.NDArray[np.uint32]] = {}

    def _minhash(self, text: str) -> MinHash:
        minhash = MinHash(num_perm=self.num_perm)
        minhash.update_batch(list(_shingles(text)))
        return minhash

    def add(self, key: int, text: str) -> int | None:
        """Record ``text`` under ``key``; return the earliest earlier key it nearly duplicates.

        A near-duplicate is not added to the index itself, so every member of a group points at
        the group's first instruction rather than at a chain of intermediate copies.
        """
        minhash = self._minhash(text)
        signature = minhash.hashvalues.astype(np.uint32)
        matches = [
            candidate
            for candidate in self._lsh.query(minhash)
            if float(np.mean(self._signatures[candidate] == signature)) >= self.threshold
        ]
        if matches:
            return int(min(matches))
        self._lsh.insert(key, minhash)
        self._signatures[key] = signature
        return None
