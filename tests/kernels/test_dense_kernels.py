"""fastnn.kernels.dense: the fused forward and the accumulating backward, against the float64
reference, on both sides of the loop/BLAS threshold.
"""

import numpy as np
import pytest
import reference as ref
from helpers import SHAPES, tolerances
from kernel_cases import ACT, rng_for

from fastnn.kernels import dense


@pytest.mark.parametrize("n_in", [1, 6])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_dense_forward_matches_reference(name, shape, n_in, dtype):
    n_out, m = shape
    rng = rng_for("dense_forward", name, shape, n_in)
    W = rng.uniform(-1, 1, (n_out, n_in)).astype(dtype)
    b = rng.uniform(-1, 1, (n_out, 1)).astype(dtype)
    A_prev = rng.standard_normal((n_in, m)).astype(dtype)
    Z = np.full((n_out, m), np.nan, dtype=dtype)
    A = np.full((n_out, m), np.nan, dtype=dtype)
    dense.dense_forward(W, b, A_prev, Z, A, ACT[name])
    Z_ref, A_ref = ref.dense_forward(W, b, A_prev, name)
    np.testing.assert_allclose(Z, Z_ref, **tolerances(dtype))
    np.testing.assert_allclose(A, A_ref, **tolerances(dtype))
    assert Z.dtype == A.dtype == dtype


def test_dense_forward_accepts_fortran_ordered_input_and_Z_aliasing_A(dtype):
    rng = rng_for("dense_forward F")
    W = rng.uniform(-1, 1, (5, 4)).astype(dtype)
    b = rng.uniform(-1, 1, (5, 1)).astype(dtype)
    A_prev = np.asfortranarray(rng.standard_normal((4, 9)).astype(dtype))
    A = np.empty((5, 9), dtype=dtype)
    dense.dense_forward(W, b, A_prev, A, A, ACT["tanh"])
    np.testing.assert_allclose(A, ref.dense_forward(W, b, A_prev, "tanh")[1], **tolerances(dtype))


def backward_case(shape, n_in, dtype, seed_key):
    n_out, m = shape
    rng = rng_for(*seed_key)
    W = rng.uniform(-1, 1, (n_out, n_in)).astype(dtype)
    A_prev = rng.standard_normal((n_in, m)).astype(dtype)
    dZ = rng.standard_normal((n_out, m)).astype(dtype)
    dW0 = rng.standard_normal((n_out, n_in)).astype(dtype)
    db0 = rng.standard_normal((n_out, 1)).astype(dtype)
    return W, A_prev, dZ, dW0, db0


@pytest.mark.parametrize("n_in", [1, 5])
@pytest.mark.parametrize("shape", SHAPES)
def test_dense_backward_accumulates(shape, n_in, dtype):
    W, A_prev, dZ, dW0, db0 = backward_case(shape, n_in, dtype, ("acc", shape, n_in))
    dW, db = dW0.copy(), db0.copy()
    dA_prev = np.full(A_prev.shape, np.nan, dtype=dtype)
    scratch = np.full(W.size + 3, np.nan, dtype=dtype)
    dense.dense_backward(W, A_prev, dZ, dW, db, dA_prev, scratch, True, True)
    dW_ref, db_ref, dA_ref = ref.dense_backward(W, A_prev, dZ)
    tol = tolerances(dtype)
    np.testing.assert_allclose(dW, ref.f64(dW0) + dW_ref, **tol)
    np.testing.assert_allclose(db, ref.f64(db0) + db_ref, **tol)
    np.testing.assert_allclose(dA_prev, dA_ref, **tol)
    assert dW.dtype == db.dtype == dA_prev.dtype == dtype


@pytest.mark.parametrize("n_in", [1, 5])
@pytest.mark.parametrize("shape", SHAPES)
def test_dense_backward_overwrites_without_accumulate(shape, n_in, dtype):
    W, A_prev, dZ, dW0, db0 = backward_case(shape, n_in, dtype, ("overwrite", shape, n_in))
    dW, db = dW0.copy(), db0.copy()  # garbage that must be ignored
    dA_prev = np.full(A_prev.shape, np.nan, dtype=dtype)
    scratch = np.empty(0, dtype=dtype)  # not needed when not accumulating
    dense.dense_backward(W, A_prev, dZ, dW, db, dA_prev, scratch, False, True)
    dW_ref, db_ref, dA_ref = ref.dense_backward(W, A_prev, dZ)
    tol = tolerances(dtype)
    np.testing.assert_allclose(dW, dW_ref, **tol)
    np.testing.assert_allclose(db, db_ref, **tol)
    np.testing.assert_allclose(dA_prev, dA_ref, **tol)


def test_dense_backward_twice_is_exactly_twice(dtype):
    W, A_prev, dZ, _, _ = backward_case((7, 13), 5, dtype, ("twice",))
    dW, db = np.zeros_like(W), np.zeros((7, 1), dtype=dtype)
    dA_prev = np.empty_like(A_prev)
    scratch = np.empty(W.size, dtype=dtype)
    dense.dense_backward(W, A_prev, dZ, dW, db, dA_prev, scratch, False, True)
    once_W, once_b = dW.copy(), db.copy()
    dense.dense_backward(W, A_prev, dZ, dW, db, dA_prev, scratch, True, True)
    np.testing.assert_array_equal(dW, 2 * once_W)
    np.testing.assert_array_equal(db, 2 * once_b)


def test_dense_backward_leaves_dA_prev_alone_when_not_needed(dtype):
    W, A_prev, dZ, dW0, db0 = backward_case((3, 4), 2, dtype, ("no dA",))
    sentinel = np.full(A_prev.shape, 7.0, dtype=dtype)
    dA_prev = sentinel.copy()
    dense.dense_backward(W, A_prev, dZ, dW0, db0, dA_prev, np.empty(W.size, dtype=dtype), True, False)
    np.testing.assert_array_equal(dA_prev, sentinel)


@pytest.mark.parametrize("fortran", [False, True])
@pytest.mark.parametrize("side", ["loops", "blas"])
def test_dense_kernels_on_both_sides_of_the_small_product_threshold(side, fortran, dtype):
    """Products under dense.SMALL_PRODUCT multiply-adds run as loops, larger ones call
    BLAS: both paths, forward and backward (accumulating or not), on C- and F-ordered
    input, against the reference."""
    n_out, n_in = 9, 8
    m = dense.SMALL_PRODUCT // (n_out * n_in) + (1 if side == "blas" else -1)
    assert (n_out * n_in * m < dense.SMALL_PRODUCT) == (side == "loops")
    rng = rng_for("both paths", side, fortran)
    W = rng.uniform(-1, 1, (n_out, n_in)).astype(dtype)
    b = rng.uniform(-1, 1, (n_out, 1)).astype(dtype)
    A_prev = rng.standard_normal((n_in, m)).astype(dtype)
    if fortran:
        A_prev = np.asfortranarray(A_prev)
    Z, A = np.empty((n_out, m), dtype=dtype), np.empty((n_out, m), dtype=dtype)
    dense.dense_forward(W, b, A_prev, Z, A, ACT["sigmoid"])
    Z_ref, A_ref = ref.dense_forward(W, b, A_prev, "sigmoid")
    tol = tolerances(dtype)
    np.testing.assert_allclose(Z, Z_ref, **tol)
    np.testing.assert_allclose(A, A_ref, **tol)
    dZ = rng.standard_normal((n_out, m)).astype(dtype)
    dW_ref, db_ref, dA_ref = ref.dense_backward(W, A_prev, dZ)
    for accumulate in (False, True):
        dW0 = rng.standard_normal((n_out, n_in)).astype(dtype)
        db0 = rng.standard_normal((n_out, 1)).astype(dtype)
        dW, db = dW0.copy(), db0.copy()
        dA_prev = np.full((n_in, m), np.nan, dtype=dtype)
        scratch = np.full(W.size, np.nan, dtype=dtype)
        dense.dense_backward(W, A_prev, dZ, dW, db, dA_prev, scratch, accumulate, True)
        start_W, start_b = (ref.f64(dW0), ref.f64(db0)) if accumulate else (0, 0)
        np.testing.assert_allclose(dW, start_W + dW_ref, **tol)
        np.testing.assert_allclose(db, start_b + db_ref, **tol)
        np.testing.assert_allclose(dA_prev, dA_ref, **tol)
