"""fastnn.kernels.optimizers: the in-place updates against the float64 reference; the checked
update refuses a non-finite one.
"""

import numpy as np
import pytest
import reference as ref
from helpers import tolerances
from kernel_cases import rng_for

from fastnn.kernels import optimizers


@pytest.mark.parametrize("size", [1, 2, 101])
def test_sgd_update_matches_reference(size, dtype):
    rng = rng_for("sgd", size)
    params0 = rng.standard_normal(size).astype(dtype)
    grads = rng.standard_normal(size).astype(dtype)
    params = params0.copy()
    grads_before = grads.copy()
    optimizers.sgd_update(params, grads, 0.3)
    np.testing.assert_allclose(params, ref.sgd_update(params0, grads, 0.3), **tolerances(dtype))
    np.testing.assert_array_equal(grads, grads_before)
    assert params.dtype == dtype


@pytest.mark.parametrize("size", [1, 2, 101])
def test_sgd_update_checked_equals_sgd_update_when_finite(size, dtype):
    rng = rng_for("sgd_checked", size)
    params = rng.standard_normal(size).astype(dtype)
    grads = rng.standard_normal(size).astype(dtype)
    expected = params.copy()
    optimizers.sgd_update(expected, grads, 0.3)
    assert optimizers.sgd_update_checked(params, grads, 0.3) is True
    np.testing.assert_array_equal(params, expected)


@pytest.mark.parametrize("bad", ["inf", "nan", "overflow", "grad_inf"])
@pytest.mark.parametrize("size", [1, 2, 101])
def test_sgd_update_checked_refuses_a_non_finite_update(bad, size, dtype):
    rng = rng_for("sgd_refused", size)
    params = rng.standard_normal(size).astype(dtype)
    grads = rng.standard_normal(size).astype(dtype)
    i = size // 2
    if bad == "inf":
        params[i] = np.inf
    elif bad == "nan":
        params[i] = np.nan
    elif bad == "overflow":  # finite operands, non-finite result
        params[i] = -np.finfo(dtype).max
        grads[i] = np.finfo(dtype).max
    else:
        grads[i] = np.inf
    before, grads_before = params.copy(), grads.copy()
    assert optimizers.sgd_update_checked(params, grads, 2.0) is False
    np.testing.assert_array_equal(params, before)
    np.testing.assert_array_equal(grads, grads_before)


def test_sgd_update_checked_stores_what_it_checked():
    # p - lr*g is finite when rounded once (an FMA) but not when lr*g is rounded first:
    # whichever the compiler picks, the check pass and the write pass must agree.
    params = np.full(37, -3e38, dtype=np.float32)
    grads = np.full(37, -4e38 / 2.0, dtype=np.float32)
    before = params.copy()
    if optimizers.sgd_update_checked(params, grads, 2.0):
        assert np.isfinite(params).all()
    else:
        np.testing.assert_array_equal(params, before)
