"""fastnn.kernels.losses: loss values and output gradients against the float64 reference, finite at
extreme inputs.
"""

import warnings

import numba
import numpy as np
import pytest
import reference as ref
from helpers import SHAPES, tolerances
from kernel_cases import ACT, LOSS, PAIRINGS, rng_for, targets

from fastnn.kernels import losses


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("loss,name", PAIRINGS)
def test_loss_value_matches_reference(loss, name, shape, dtype):
    n, m = shape
    rng = rng_for("loss_value", loss, name, shape)
    Z = rng.uniform(-4, 4, shape).astype(dtype)
    A = ref.activation(name, Z).astype(dtype)
    Y = targets(rng, loss, n, m, dtype)
    J = losses.loss_value(Z, A, Y, LOSS[loss])
    assert isinstance(J, float)
    if loss == "mse":
        # mse reads A (already rounded to dtype); the others read Z.
        expected = float(((ref.f64(A) - Y) ** 2).mean())
    else:
        expected = ref.loss_value(loss, Z, Y, name)
    # Accumulated in float64 whatever the dtype: exact up to float64 rounding.
    assert J == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_loss_value_accumulates_in_float64_for_float32_input():
    rng = rng_for("float64 accumulation")
    Z = rng.uniform(-4, 4, (3, 20000)).astype(np.float32)
    Y = rng.uniform(0, 1, Z.shape).astype(np.float32)
    J = losses.loss_value(Z, ref.sigmoid(Z).astype(np.float32), Y, LOSS["bce"])
    assert J == pytest.approx(ref.loss_value("bce", Z, Y, "sigmoid"), rel=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("loss,name", PAIRINGS)
def test_loss_gradient_matches_reference(loss, name, shape, dtype):
    n, m = shape
    rng = rng_for("loss_gradient", loss, name, shape)
    Z = rng.uniform(-4, 4, shape)
    Z[np.abs(Z) < 1e-3] = 0.5
    A = ref.activation(name, Z).astype(dtype)
    Y = targets(rng, loss, n, m, dtype)
    dZ = np.full(shape, np.nan, dtype=dtype)
    losses.loss_gradient(A, Y, LOSS[loss], ACT[name], dZ)
    np.testing.assert_allclose(dZ, ref.loss_gradient(loss, Z, Y, name), **tolerances(dtype))
    assert dZ.dtype == dtype


def test_cce_gradient_for_targets_not_summing_to_one(dtype):
    rng = rng_for("cce soft targets")
    Z = rng.uniform(-2, 2, (4, 6))
    A = ref.softmax(Z).astype(dtype)
    Y = rng.uniform(0, 1, (4, 6)).astype(dtype)  # column sums between 0 and 4
    Y[:, 0] = 0  # a column with no target at all: zero loss, zero gradient
    dZ = np.empty_like(A)
    losses.loss_gradient(A, Y, LOSS["cce"], ACT["softmax"], dZ)
    np.testing.assert_allclose(dZ, ref.loss_gradient("cce", Z, Y, "softmax"), **tolerances(dtype))
    np.testing.assert_array_equal(dZ[:, 0], 0)


EXTREMES = np.array([[-1e4, -1000.0, -88.0, -1.0, 0.0, 1.0, 88.0, 1000.0, 1e4]])


@pytest.mark.parametrize("loss,name", PAIRINGS)
def test_losses_finite_at_extreme_inputs(loss, name, dtype):
    Z = np.vstack([EXTREMES, -EXTREMES]).astype(dtype)
    A = ref.activation(name, Z).astype(dtype)
    m = Z.shape[1]
    Y = np.vstack([np.ones(m), np.zeros(m)]).astype(dtype)  # worst case for the saturated side
    dZ = np.empty_like(Z)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        J = losses.loss_value(Z, A, Y, LOSS[loss])
        losses.loss_gradient(A, Y, LOSS[loss], ACT[name], dZ)
    assert np.isfinite(J) and np.isfinite(dZ).all()
    if loss != "mse":
        # bce at z = -1e4 with y = 1 costs 1e4: the exact value, not log(0) = inf.
        assert J == pytest.approx(ref.loss_value(loss, Z, Y, name), rel=1e-12)
    np.testing.assert_allclose(dZ, ref.loss_gradient(loss, Z, Y, name), rtol=1e-6, atol=1e-12)


def test_softplus_tail_matches_numpy():
    @numba.njit
    def tail(z):
        out = np.empty_like(z)
        for i in range(z.size):
            out[i] = losses._softplus_tail(z[i])
        return out

    z = np.concatenate([np.linspace(-800, 800, 20001), np.geomspace(1e-300, 50, 2001),
                        -np.geomspace(1e-300, 50, 2001), [0.0, -0.0, np.inf, -np.inf]])
    expected = np.log1p(np.exp(-np.abs(z)))
    got = tail(z)
    normal = expected >= np.finfo(np.float64).tiny
    assert np.all(np.abs(got - expected)[normal] <= 4 * np.spacing(expected[normal]))
    assert np.all(np.abs(got - expected)[~normal] <= 5e-324)
    assert np.isnan(tail(np.array([np.nan]))[0])
