"""Numerics at the edges: activations, losses and their gradients over z in [-1e4, 1e4],
and float32 training against float64 on the standard workloads.

The sweep is dense (every decade from 1e-8 to 1e4, both signs, and the points where the
exponential underflows in each dtype) and runs with every floating-point warning turned
into an error. Accuracy is measured in units in the last place (ulp) of the result's
dtype against the float64 NumPy reference (tests/reference.py).
"""

import warnings

import numpy as np
import pytest
import reference as ref

import fastnn
from fastnn.kernels import activations, losses

ACT = activations.CODES
LOSS = losses.CODES

ULPS = {np.dtype(np.float32): 4, np.dtype(np.float64): 4}
"""Largest error allowed, in ulp of the dtype, for sigmoid/tanh/softmax values."""


def sweep():
    """z values in [-1e4, 1e4]: decades, the exp underflow points of both dtypes, 0."""
    mags = np.concatenate([np.logspace(-8, 4, 97), [15.9, 17.3, 36.7, 44.4, 87.3, 88.7, 103.9,
                                                     708.3, 709.8, 745.1, 746.0]])
    z = np.concatenate([-mags[::-1], [0.0], mags])
    return np.sort(z)


def ulp_error(got, want, dtype):
    """|got - want| in ulp of ``dtype`` at ``want`` (subnormal spacing below tiny)."""
    want32 = want.astype(dtype)
    spacing = np.spacing(np.maximum(np.abs(want32), np.finfo(dtype).tiny)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want) / spacing


@pytest.fixture
def no_warnings():
    # NumPy's own warnings (overflow, invalid, divide by zero) become errors; underflow to
    # 0 or a subnormal is how exp(-1e4) is supposed to end.
    old = np.seterr(over="raise", invalid="raise", divide="raise", under="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    np.seterr(**old)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softmax", "relu", "identity"])
def test_activation_and_derivative_over_the_whole_range(name, dtype, no_warnings):
    z = sweep()
    Z = np.vstack([z, -z, np.zeros_like(z)]).astype(dtype)  # softmax: +-z and 0 in a column
    A = np.empty_like(Z)
    activations.bias_activation(Z.copy(), np.zeros((3, 1), dtype), A, ACT[name])
    want = ref.activation(name, Z)
    assert np.isfinite(A).all()
    worst = ulp_error(A, want, dtype).max()
    assert worst <= ULPS[np.dtype(dtype)], f"{name} {np.dtype(dtype)}: {worst:.2f} ulp"
    if name in ("sigmoid", "softmax"):
        assert A.min() >= 0 and A.max() <= 1
    if name == "tanh":
        assert np.abs(A).max() <= 1
    # The derivative, written from the forward output (dZ *= g'(A)): finite, and exact to
    # the rounding of its own formula evaluated in float64 on the same A.
    if name != "softmax":
        dZ = np.ones_like(A)
        activations.activation_backward(A, dZ, ACT[name])
        assert np.isfinite(dZ).all()
        A64 = A.astype(np.float64)
        deriv = {"sigmoid": A64 * (1 - A64), "tanh": 1 - A64 * A64, "relu": (A64 > 0) * 1.0,
                 "identity": np.ones_like(A64)}[name]
        # 1 - A*A cancels near |A| = 1: the error bound is absolute there.
        np.testing.assert_allclose(dZ, deriv, rtol=4 * np.finfo(dtype).eps, atol=2 * np.finfo(dtype).eps)


@pytest.mark.parametrize("loss,name", [("bce", "sigmoid"), ("cce", "softmax"), ("mse", "identity"),
                                        ("mse", "sigmoid"), ("mse", "tanh")])
def test_loss_and_gradient_over_the_whole_range(loss, name, dtype, no_warnings):
    z = sweep()
    m = z.size
    Z = np.vstack([z, -z]).astype(dtype)
    A = np.empty_like(Z)
    activations.bias_activation(Z.copy(), np.zeros((2, 1), dtype), A, ACT[name])
    for Y in (np.vstack([np.ones(m), np.zeros(m)]), np.vstack([np.zeros(m), np.ones(m)]),
              np.full((2, m), 0.5)):
        Y = Y.astype(dtype)
        J = losses.loss_value(Z, A, Y, LOSS[loss])
        dZ = np.empty_like(Z)
        losses.loss_gradient(A, Y, LOSS[loss], ACT[name], dZ)
        assert np.isfinite(J) and np.isfinite(dZ).all()
        if loss == "mse" and name == "identity":
            continue  # (1e4)^2: exact enough, compared by the kernel tests
        J_ref = ref.loss_value(loss, Z, Y, name)
        # bce/cce at z = -1e4 with y = 1 cost 1e4 exactly: never log(0) = inf.
        assert J == pytest.approx(J_ref, rel=1e-5 if dtype == np.float32 else 1e-12)
        np.testing.assert_allclose(dZ, ref.loss_gradient(loss, Z, Y, name),
                                   rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=8 * np.finfo(dtype).eps / m)  # A's own rounding near 1


@pytest.mark.parametrize("scale", [1.0, 1e2, 1e4])
def test_network_at_the_edges_has_no_warnings(scale, dtype, no_warnings):
    """Forward, loss, backward and a training step with inputs up to 1e4, every dtype warning an error."""
    rng = np.random.default_rng(3)
    for loss, act in (("bce", "sigmoid"), ("cce", "tanh"), ("mse", "sigmoid")):
        net = fastnn.Network([5, 7, 3], loss=loss, activation=act, dtype=dtype, seed=3)
        X = scale * rng.standard_normal((5, 11))
        Y = np.eye(3)[:, rng.integers(0, 3, 11)]
        A = net.forward(X)
        net.backward(Y)
        assert np.isfinite(A).all() and np.isfinite(net.grads).all()
        assert np.isfinite(net.loss(X, Y))
        net.train_step(X, Y, 0.1)
        assert np.isfinite(net.params).all()


# ----------------------------------------------------------------------- float32 vs float64

F32_TOLERANCE = {"outputs": 1e-5, "loss_rel": 1e-5, "weights": 1e-4}
"""float32 training against float64 from the same initial weights (measured: outputs differ
by 2e-8 on XOR and 1.3e-6 on digits, losses by 5e-7 relative, weights by 3.4e-6)."""


def train_both(sizes, loss, X, y, **fit):
    out = {}
    for dtype in (np.float32, np.float64):
        net = fastnn.Network(sizes, loss=loss, dtype=dtype, seed=0)
        history = net.fit(X, y, verbose=0, **{k: (v() if callable(v) else v) for k, v in fit.items()})
        out[dtype] = (net, history.history["loss"][-1])
    return out


def compare(out, X, y):
    (n32, l32), (n64, l64) = out[np.float32], out[np.float64]
    assert np.abs(n32.predict(X) - n64.predict(X)).max() <= F32_TOLERANCE["outputs"]
    assert l32 == pytest.approx(l64, rel=F32_TOLERANCE["loss_rel"])
    assert np.abs(n32.params - n64.params).max() <= F32_TOLERANCE["weights"]
    acc32, acc64 = n32.evaluate(X, y)[1], n64.evaluate(X, y)[1]
    assert abs(acc32 - acc64) <= 1 / X.shape[1] + 1e-12  # at most one sample flips


def test_float32_training_matches_float64_on_xor():
    X, y = fastnn.datasets.make_xor()
    out = train_both([2, 8, 1], "bce", X, y, epochs=2000, batch_size=4, optimizer=lambda: fastnn.SGD(2.0))
    compare(out, X, y)
    assert (out[np.float32][0].predict_classes(X) == y).all()


@pytest.mark.parametrize("optimizer", [lambda: fastnn.SGD(0.1, momentum=0.9), lambda: fastnn.Adam(0.003)],
                         ids=["sgd_momentum", "adam"])
def test_float32_training_matches_float64_on_digits(optimizer):
    X, y = fastnn.datasets.load_digits()
    Xtr, Xte, ytr, yte = fastnn.datasets.train_test_split(X, y, test_size=0.25, seed=0)
    out = train_both([64, 32, 10], "cce", Xtr, ytr, epochs=20, batch_size=32, optimizer=optimizer)
    compare(out, Xte, yte)
    assert out[np.float32][0].evaluate(Xte, yte)[1] >= 0.93
