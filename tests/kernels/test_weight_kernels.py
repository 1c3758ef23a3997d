"""fastnn.kernels.weights: the weighted loss, the column weighting of the output gradient and
the batch weights of both conventions, against float64 NumPy."""

import numpy as np
import pytest
import reference as ref
from helpers import SHAPES
from kernel_cases import LOSS, PAIRINGS, rng_for, targets

from fastnn.kernels import losses, weights


def _column_losses(loss, name, Z, A, Y):
    """Each sample's loss l_j in float64 (mse and poisson read the rounded A, as the kernel)."""
    Z, A, Y = ref.f64(Z), ref.f64(A), ref.f64(Y)
    if loss == "mse":
        return ((A - Y) ** 2).mean(axis=0)
    if loss == "poisson":
        ylogy = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1.0)), 0.0)
        return (ylogy - Y * Z - Y + A).sum(axis=0)
    return np.array([ref.loss_value(loss, Z[:, j : j + 1], Y[:, j : j + 1], name) for j in range(Z.shape[1])])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("loss,name", PAIRINGS + [("poisson", "exp")])
def test_weighted_loss_value_matches_reference(loss, name, shape, dtype):
    n, m = shape
    rng = rng_for("weighted_loss_value", loss, name, shape)
    Z = rng.uniform(-3, 3, shape).astype(dtype)
    A = ref.activation(name, Z).astype(dtype)
    Y = (rng.poisson(1.5, shape).astype(dtype) if loss == "poisson" else targets(rng, loss, n, m, dtype))
    ws = rng.uniform(0, 3, m)
    J = weights.weighted_loss_value(Z, A, Y, LOSS[loss], ws)
    expected = float(ws @ _column_losses(loss, name, Z, A, Y)) / m
    assert J == pytest.approx(expected, rel=1e-12, abs=1e-14)
    # Unit weights: the unweighted loss.
    assert weights.weighted_loss_value(Z, A, Y, LOSS[loss], np.ones(m)) == pytest.approx(
        losses.loss_value(Z, A, Y, LOSS[loss]), rel=1e-12, abs=1e-14)


def test_scale_columns_and_batch_weights(dtype):
    rng = rng_for("scale_columns")
    dZ = rng.standard_normal((3, 5)).astype(dtype)
    ws = rng.uniform(0, 2, 5)
    expected = dZ * ws.astype(dtype)
    weights.scale_columns(dZ, ws)
    np.testing.assert_array_equal(dZ, expected)
    assert dZ.dtype == dtype
    w = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    rows = np.array([4, 0, 2], dtype=np.int64)
    out = np.empty(4)
    assert weights.batch_weights(w, rows, True, out) == 9.0  # scikit-learn: m w / sum w
    np.testing.assert_allclose(out[:3], [5 / 3, 1 / 3, 1.0], rtol=1e-15)
    assert weights.batch_weights(w, rows, False, out) == 3.0  # Keras: w as given
    np.testing.assert_array_equal(out[:3], [5.0, 1.0, 3.0])
