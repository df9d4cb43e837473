"""Uniform tie-breaks among equally scored nodes, drawn as ``Generator.integers(k)`` draws them.

A scheduling cycle picks one of the best nodes at random; ``rng.integers(k)`` costs about 3 µs of call
overhead, paid for every pod. This draws the same numbers from the same stream at a third of the
cost, by NumPy's own method for bounds below 2**32 (``random_bounded_uint64_fill`` → Lemire's
``buffered_bounded_lemire_uint32`` in ``numpy/random/src/distributions/distributions.c``) over PCG64's
``next_uint32``, which hands out the low then the high half of one 64-bit output. It must be the only
consumer of its generator (``tests/test_scheduler_feasible.py`` checks it against ``integers``).
"""

from __future__ import annotations

import numpy as np

UINT32_MAX = 0xFFFFFFFF


class TieBreak:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._raw = rng.bit_generator.random_raw if isinstance(rng.bit_generator, np.random.PCG64) else None
        self._high: int | None = None  # the unused half of the last 64-bit output

    def _next_uint32(self) -> int:
        if self._high is not None:
            value, self._high = self._high, None
            return value
        raw = int(self._raw())  # type: ignore[misc]
        self._high = raw >> 32
        return raw & UINT32_MAX

    def below(self, k: int) -> int:
        """A uniform integer in [0, k): what ``rng.integers(k)`` returns."""
        if self._raw is None or k > UINT32_MAX:
            return int(self.rng.integers(k))
        if k == 1:
            return 0
        m = self._next_uint32() * k
        leftover = m & UINT32_MAX
        if leftover < k:
            threshold = (UINT32_MAX - (k - 1)) % k
            while leftover < threshold:
                m = self._next_uint32() * k
                leftover = m & UINT32_MAX
        return m >> 32
