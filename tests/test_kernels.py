"""Each kernel of fastnn.kernels against the float64 NumPy reference (tests/reference.py).

Awkward shapes (1x1, a batch of one, odd sizes), float32 and float64 with tolerances
for each, extreme inputs, and the JIT policy itself.
"""

import re
import warnings
import zlib
from pathlib import Path

import numba
import numpy as np
import pytest
import reference as ref
from helpers import SHAPES, tolerances

import fastnn
from fastnn.kernels import _jit, activations, dense, losses, network, optimizers, views

ACT = activations.CODES
LOSS = losses.CODES
# Every (loss, output activation) pairing the API allows.
PAIRINGS = [("bce", "sigmoid"), ("cce", "softmax"), ("mse", "identity"), ("mse", "sigmoid"),
            ("mse", "tanh"), ("mse", "relu"), ("mse", "softmax")]


def rng_for(*key):
    """A Generator seeded from a test's parameters, so each case draws its own data
    (crc32 of their text: stable across runs, unlike ``hash``)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def targets(rng, loss, n, m, dtype):
    if loss == "bce":
        return rng.uniform(0, 1, (n, m)).astype(dtype)
    if loss == "cce":
        return np.eye(n, dtype=dtype)[:, rng.integers(0, n, m)]
    return rng.standard_normal((n, m)).astype(dtype)


# ----------------------------------------------------------------------- activations


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


# ----------------------------------------------------------------------- dense layer


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


@numba.njit
def _carve(flat, offset, rows, cols):
    view = views.view2d(flat, offset, rows, cols)
    if view.size:
        view[0, 0] = -1
    return view


@numba.njit
def _carve_borrowed(flat, offset, rows, cols):
    """A borrowed view must not leave the kernel: return a copy (and the view's
    C-contiguity, which a copy would not show)."""
    view = views.borrow2d(flat, offset, rows, cols)
    if view.size:
        view[0, 0] = -1
    return view.copy(), view.strides[0], view.strides[1]


VIEWS = [(0, 3, 4), (5, 2, 7), (19, 1, 1), (0, 20, 1), (20, 0, 3)]
OUTSIDE = [(18, 1, 3), (0, 21, 1), (-1, 1, 1), (0, -1, 2), (5, 4, 4)]


def _expected_view(flat, offset, rows, cols):
    expected = flat[offset : offset + rows * cols].copy().reshape((rows, cols))
    if expected.size:
        expected[0, 0] = -1
    return expected


@pytest.mark.parametrize("offset, rows, cols", VIEWS)
def test_view2d_is_the_reshaped_slice_sharing_memory(offset, rows, cols, dtype):
    flat = np.arange(20, dtype=dtype)
    expected = _expected_view(flat, offset, rows, cols)
    view = _carve(flat, offset, rows, cols)
    np.testing.assert_array_equal(view, expected)
    assert view.dtype == dtype and view.flags.c_contiguous and view.shape == (rows, cols)
    if view.size:
        assert flat[offset] == -1 and np.shares_memory(view, flat)
    del flat  # the returned view keeps the buffer alive
    np.testing.assert_array_equal(view, expected)


@pytest.mark.parametrize("offset, rows, cols", VIEWS)
def test_borrow2d_is_the_reshaped_slice_sharing_memory(offset, rows, cols, dtype):
    flat = np.arange(20, dtype=dtype)
    expected = _expected_view(flat, offset, rows, cols)
    copy, row_stride, col_stride = _carve_borrowed(flat, offset, rows, cols)
    np.testing.assert_array_equal(copy, expected)
    assert copy.dtype == dtype and copy.shape == (rows, cols)
    assert (row_stride, col_stride) == (cols * flat.itemsize, flat.itemsize)
    if copy.size:
        assert flat[offset] == -1  # written through the view


@pytest.mark.parametrize("carve", [_carve, _carve_borrowed])
@pytest.mark.parametrize("offset, rows, cols", OUTSIDE)
def test_views_outside_the_buffer_raise(carve, offset, rows, cols):
    with pytest.raises(IndexError, match="does not fit"):
        carve(np.zeros(20), offset, rows, cols)


# ----------------------------------------------------------------------- losses


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


# ----------------------------------------------------------------------- optimizer


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


# ----------------------------------------------------------------------- whole network


def flat_network(spec, dtype, rng):
    """Flat ``params`` and ``layout`` for ``spec`` = [(n_in, n_out, activation), ...],
    and the same layers as reference triples ``(W, b, activation)``."""
    rows, layers, offset = [], [], 0
    pieces = []
    for n_in, n_out, name in spec:
        W = rng.uniform(-1, 1, (n_out, n_in)).astype(dtype)
        b = rng.uniform(-0.5, 0.5, (n_out, 1)).astype(dtype)
        rows.append([n_in, n_out, offset, offset + W.size, ACT[name]])
        offset += W.size + b.size
        pieces += [W.ravel(), b.ravel()]
        layers.append((W, b, name))
    return np.concatenate(pieces), np.array(rows, dtype=np.int64), layers


def buffers(spec, m, dtype):
    sizes = [n_out for _, n_out, _ in spec]
    acts = np.full(m * sum(sizes), np.nan, dtype=dtype)
    z_out = np.full(m * sizes[-1], np.nan, dtype=dtype)
    delta = np.full(2 * m * max(sizes), np.nan, dtype=dtype)
    scratch = np.full(max(i * o for i, o, _ in spec), np.nan, dtype=dtype)
    return acts, z_out, delta, scratch


def unflatten(flat, layers):
    out, o = [], 0
    for W, b, _ in layers:
        out.append((flat[o : o + W.size].reshape(W.shape), flat[o + W.size : o + W.size + b.size].reshape(b.shape)))
        o += W.size + b.size
    return out


NETWORK_SPECS = {
    "one layer": [(3, 2, "sigmoid")],
    "1x1": [(1, 1, "sigmoid")],
    "deep": [(4, 5, "tanh"), (5, 1, "relu"), (1, 6, "sigmoid"), (6, 3, "sigmoid")],
}


@pytest.mark.parametrize("m", [1, 9])
@pytest.mark.parametrize("which", NETWORK_SPECS)
def test_network_kernels_match_reference(which, m, dtype):
    spec = NETWORK_SPECS[which]
    rng = rng_for("network", which, m)
    params, layout, layers = flat_network(spec, dtype, rng)
    X = rng.standard_normal((spec[0][0], m)).astype(dtype)
    Y = rng.uniform(0, 1, (spec[-1][1], m)).astype(dtype)
    acts, z_out, delta, scratch = buffers(spec, m, dtype)
    tol = tolerances(dtype)

    network.network_forward(params, layout, X, acts, z_out)
    Zs, As = ref.network_forward(layers, X)
    n_L = spec[-1][1]
    out = acts[m * sum(o for _, o, _ in spec[:-1]) :][: m * n_L].reshape(n_L, m)
    np.testing.assert_allclose(out, As[-1], **tol)
    np.testing.assert_allclose(z_out.reshape(n_L, m), Zs[-1], **tol)

    grads = np.full(params.size, np.nan, dtype=dtype)  # overwritten when not accumulating
    network.network_backward(params, grads, layout, X, Y, acts, delta, scratch, LOSS["bce"], False)
    expected = ref.network_backward(layers, X, Y, "bce")
    for (dW, db), (dW_ref, db_ref) in zip(unflatten(grads, layers), expected):
        np.testing.assert_allclose(dW, dW_ref, **tol)
        np.testing.assert_allclose(db, db_ref, **tol)

    once = grads.copy()
    network.network_backward(params, grads, layout, X, Y, acts, delta, scratch, LOSS["bce"], True)
    np.testing.assert_array_equal(grads, 2 * once)

    J = network.network_loss(params, layout, X, Y, acts, z_out, LOSS["bce"])
    assert J == pytest.approx(ref.network_loss(layers, X, Y, "bce"), rel=tol["rtol"] * 10)


def test_train_step_kernel_is_forward_backward_update(dtype):
    spec = NETWORK_SPECS["deep"]
    rng = rng_for("train_step kernel")
    params, layout, _ = flat_network(spec, dtype, rng)
    X = rng.standard_normal((4, 6)).astype(dtype)
    Y = rng.uniform(0, 1, (3, 6)).astype(dtype)
    acts, z_out, delta, scratch = buffers(spec, 6, dtype)

    p1, g1 = params.copy(), np.zeros_like(params)
    network.network_forward(p1, layout, X, acts, z_out)
    network.network_backward(p1, g1, layout, X, Y, acts, delta, scratch, LOSS["bce"], False)
    optimizers.sgd_update(p1, g1, 0.25)

    p2, g2 = params.copy(), np.full_like(params, 5.0)  # stale gradient: overwritten
    network.train_step(p2, g2, layout, X, Y, acts, z_out, delta, scratch, LOSS["bce"], 0.25)
    np.testing.assert_array_equal(p2, p1)
    np.testing.assert_array_equal(g2, g1)


@pytest.mark.parametrize("case", ["ok", "nan X", "inf X", "Y above", "Y below", "nan Y", "overflow"])
def test_checked_train_step_checks_the_batch_then_steps(case, dtype):
    spec = NETWORK_SPECS["deep"]
    rng = rng_for("checked train_step", case)
    params, layout, _ = flat_network(spec, dtype, rng)
    X = rng.standard_normal((4, 6)).astype(dtype)
    Y = rng.uniform(0, 1, (3, 6)).astype(dtype)
    acts, z_out, delta, scratch = buffers(spec, 6, dtype)
    lr = 0.25
    expected = network.STEP_APPLIED
    if case in ("nan X", "inf X"):
        X[2, 3] = np.nan if case == "nan X" else np.inf
        expected = network.STEP_BAD_BATCH
    elif case in ("Y above", "Y below", "nan Y"):
        Y[1, 4] = {"Y above": 1.5, "Y below": -0.5, "nan Y": np.nan}[case]
        expected = network.STEP_BAD_BATCH
    elif case == "overflow":
        lr = float("inf")  # every new weight infinite (or NaN): the update is refused
        expected = network.STEP_REFUSED
    p1, g1 = params.copy(), np.zeros_like(params)
    if expected == network.STEP_APPLIED:
        network.train_step(p1, g1, layout, X, Y, acts, z_out, delta, scratch, LOSS["bce"], lr)
    p2, g2 = params.copy(), np.zeros_like(params)
    status = network.checked_train_step(p2, g2, layout, X, Y, acts, z_out, delta, scratch,
                                        LOSS["bce"], lr, 0.0, 1.0)
    assert status == expected
    np.testing.assert_array_equal(p2, p1)  # unchanged unless applied
    if expected == network.STEP_BAD_BATCH:
        np.testing.assert_array_equal(g2, 0)  # nothing computed


# ----------------------------------------------------------------------- JIT policy

PACKAGE = Path(fastnn.__file__).resolve().parent


def test_no_hard_coded_fastmath_outside_jit_policy():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert PACKAGE / "kernels" / "_jit.py" in sources and len(sources) > 5
    pattern = re.compile(r"fastmath\s*=")
    # The policy module itself mentions it, so the pattern is known to match.
    assert pattern.search((PACKAGE / "kernels" / "_jit.py").read_text())
    offenders = [
        str(path.relative_to(PACKAGE.parent))
        for path in sources
        if path != PACKAGE / "kernels" / "_jit.py" and pattern.search(path.read_text())
    ]
    assert offenders == [], f"hard-coded fastmath= in {offenders}; use fastnn.kernels._jit.kernel"


def test_every_kernel_compiled_with_the_jit_policy():
    dispatchers = {
        f"{module.__name__}.{name}": obj
        for module in (activations, dense, losses, network, optimizers)
        for name, obj in vars(module).items()
        if isinstance(obj, numba.core.dispatcher.Dispatcher) and obj.py_func.__module__ == module.__name__
    }
    assert len(dispatchers) >= 10
    for name, disp in dispatchers.items():
        assert disp.targetoptions["fastmath"] == set(_jit.FASTMATH), name
        assert disp.targetoptions["error_model"] == "numpy", name
        assert type(disp._cache).__name__ != "NullCache", f"{name} is not cached"
    assert not {"nnan", "ninf", "fast"} & set(_jit.FASTMATH)
