"""fastnn.kernels.activations: bias + activation, softmax and the derivatives, against the float64
reference; exact and finite at extreme inputs.
"""

import warnings

import numpy as np
import pytest
import reference as ref
from helpers import SHAPES, tolerances
from kernel_cases import ACT, rng_for

from fastnn.kernels import activations


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_bias_activation_matches_reference(name, shape, dtype):
    rng = rng_for("bias_activation", name, shape)
    Z0 = rng.uniform(-3, 3, shape).astype(dtype)
    b = rng.uniform(-1, 1, (shape[0], 1)).astype(dtype)
    Z, A = Z0.copy(), np.full(shape, np.nan, dtype=dtype)
    activations.bias_activation(Z, b, A, ACT[name])
    tol = tolerances(dtype)
    np.testing.assert_allclose(Z, ref.f64(Z0) + b, **tol)
    np.testing.assert_allclose(A, ref.activation(name, ref.f64(Z0) + b), **tol)
    assert Z.dtype == A.dtype == dtype


@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_bias_activation_in_place_when_Z_is_A(name, dtype):
    rng = rng_for("in place", name)
    Z0 = rng.uniform(-3, 3, (3, 7)).astype(dtype)
    b = rng.uniform(-1, 1, (3, 1)).astype(dtype)
    Z = Z0.copy()
    activations.bias_activation(Z, b, Z, ACT[name])
    np.testing.assert_allclose(Z, ref.activation(name, ref.f64(Z0) + b), **tolerances(dtype))


@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_columns_matches_reference(shape, dtype):
    A0 = rng_for("softmax", shape).uniform(-5, 5, shape).astype(dtype)
    A = A0.copy()
    activations.softmax_columns(A)
    np.testing.assert_allclose(A, ref.softmax(A0), **tolerances(dtype))
    np.testing.assert_allclose(A.sum(axis=0), 1.0, **tolerances(dtype))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_activation_backward_matches_reference(name, shape, dtype):
    rng = rng_for("activation_backward", name, shape)
    Z = rng.uniform(-3, 3, shape)
    Z[np.abs(Z) < 1e-3] = 0.5  # keep relu away from its kink
    A = ref.activation(name, Z).astype(dtype)
    dA = rng.standard_normal(shape).astype(dtype)
    dZ = dA.copy()
    activations.activation_backward(A, dZ, ACT[name])
    # The kernel works from A = g(Z) (rounded to dtype), the reference from Z.
    expected = ref.activation_backward(name, Z, dA)
    np.testing.assert_allclose(dZ, expected, **tolerances(dtype))
    assert dZ.dtype == dtype


# ----------------------------------------------------------------------- extreme inputs

EXTREMES = np.array([[-1e4, -1000.0, -88.0, -1.0, 0.0, 1.0, 88.0, 1000.0, 1e4]])


@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_activations_finite_and_exact_at_extreme_inputs(name, dtype):
    Z = np.vstack([EXTREMES, -EXTREMES]).astype(dtype)  # softmax sees +-1e4 in a column
    b = np.zeros((2, 1), dtype=dtype)
    A = np.empty_like(Z)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        activations.bias_activation(Z.copy(), b, A, ACT[name])
        dZ = np.ones_like(A)
        activations.activation_backward(A, dZ, ACT[name])
    assert np.isfinite(A).all() and np.isfinite(dZ).all()
    np.testing.assert_allclose(A, ref.activation(name, Z), rtol=tolerances(dtype)["rtol"], atol=1e-30)
    if name in ("sigmoid", "softmax"):
        assert ((A >= 0) & (A <= 1)).all()
