"""fastnn.kernels.checks: the range and batch checks."""

import numpy as np
import pytest
from kernel_cases import rng_for


@pytest.mark.parametrize("size", [1, 2, 101])
def test_all_in_range(size, dtype):
    from fastnn.kernels.checks import all_in_range

    a = rng_for("range", size).uniform(0, 1, size).astype(dtype)
    assert all_in_range(a, 0.0, 1.0)
    a[size // 2] = 1.0
    a[0] = 0.0
    assert all_in_range(a, 0.0, 1.0)
    for value in (np.nan, np.inf, -np.inf, -1e-30, 1.0 + np.finfo(dtype).eps):
        b = a.copy()
        b[size // 2] = value
        assert not all_in_range(b, 0.0, 1.0), value


@pytest.mark.parametrize("shape", [(1, 1), (2, 4), (7, 33)])
def test_batch_ok(shape, dtype):
    from fastnn.kernels.checks import batch_ok

    rng = rng_for("batch_ok", *shape)
    X = rng.standard_normal(shape).astype(dtype)
    Y = rng.uniform(0, 1, shape).astype(dtype)
    assert batch_ok(X, Y, 0.0, 1.0)
    assert batch_ok(X, 1e30 * Y, -np.inf, np.inf)
    for value in (np.nan, np.inf, -np.inf):
        bad = X.copy()
        bad[-1, -1] = value
        assert not batch_ok(bad, Y, 0.0, 1.0)
        bad = Y.copy()
        bad[-1, -1] = value
        assert not batch_ok(X, bad, 0.0, 1.0)
        assert not batch_ok(X, bad, -np.inf, np.inf)
    for value in (-1e-30, 1.5):
        bad = Y.copy()
        bad[0, 0] = value
        assert not batch_ok(X, bad, 0.0, 1.0)
        assert batch_ok(X, bad, -np.inf, np.inf)
