"""Shared test constants and tolerances."""

import numpy as np

DTYPES = (np.float32, np.float64)

# Awkward shapes (rows, samples): 1x1, a batch of one, a single row, odd sizes.
SHAPES = ((1, 1), (1, 5), (4, 1), (3, 7), (17, 33))


def tolerances(dtype):
    """``dict(rtol=..., atol=...)`` for comparing a result in ``dtype`` with a float64
    reference on values of order 1 (sums of a few dozen products at most)."""
    if np.dtype(dtype) == np.float32:
        return {"rtol": 2e-5, "atol": 2e-6}
    return {"rtol": 1e-12, "atol": 1e-13}
