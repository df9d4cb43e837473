"""Timing distributions: a block sampler draws exactly what sampling one value at a time draws."""

from __future__ import annotations

import numpy as np
import pytest

from lwssim.model.timing import Distribution


@pytest.mark.parametrize(
    "dist",
    [
        Distribution("lognormal", 0.075, 0.6),
        Distribution("uniform", 5.0, 30.0),
        Distribution("normal", 3.0, 4.0),  # truncated at 0: many draws hit the bound
        Distribution.fixed(2.5),
    ],
)
def test_block_sampler_draws_the_same_values_in_the_same_order(dist: Distribution) -> None:
    one_by_one, blocks = np.random.default_rng(7), np.random.default_rng(7)
    draw = dist.sampler(blocks, block=64)
    assert [draw() for _ in range(1000)] == [dist.sample(one_by_one) for _ in range(1000)]
