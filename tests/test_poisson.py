"""FastMLPRegressor(loss="poisson") and Network(loss="poisson"): scikit-learn's half Poisson
deviance with an exp output, the same path as MLPRegressor from the same start, and the kernel
against the NumPy reference and central differences."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPRegressor  # noqa: E402

import reference as ref  # noqa: E402
from fastnn import SGD, Network  # noqa: E402
from fastnn.sklearn import FastMLPRegressor  # noqa: E402
from helpers import same_start  # noqa: E402


def _counts(n=40, outputs=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    rate = np.exp(0.4 * X[:, :1] - 0.2 * X[:, 1:2] + 0.1 * np.arange(outputs))
    y = rng.poisson(rate).astype(float)
    return X, (y[:, 0] if outputs == 1 else y)


def _same_start(X, y, **settings):
    start = dict(loss="poisson", warm_start=True, random_state=0, max_iter=1, **settings)
    return same_start(FastMLPRegressor(**start), MLPRegressor(**start), X, y)


@pytest.mark.parametrize("outputs", [1, 2])
@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_poisson_follows_sklearns_path(solver, outputs):
    """From equal weights: the same loss curve (sgd, mini-batches of 7) or L-BFGS-B run, the same
    coefficients and predictions as MLPRegressor(loss="poisson")."""
    X, y = _counts(outputs=outputs)
    settings = dict(hidden_layer_sizes=(5,), activation="tanh", solver=solver, alpha=0.01, tol=0.0,
                    n_iter_no_change=100, batch_size=7, shuffle=False, momentum=0.0, learning_rate_init=0.05)
    ours, theirs = _same_start(X, y, **settings)
    for est in (ours, theirs):
        est.set_params(max_iter=8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
    assert ours.out_activation_ == theirs.out_activation_ == "exp"
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9 if solver == "sgd" else 1e-7)
    if solver == "sgd":
        np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-10)
    tol = dict(rtol=1e-9, atol=1e-12) if solver == "sgd" else dict(rtol=1e-5, atol=1e-7)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, **tol)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), **tol)
    assert (ours.predict(X) > 0).all()


def test_poisson_from_sklearn_predicts_the_same():
    X, y = _counts()
    theirs = MLPRegressor(loss="poisson", hidden_layer_sizes=(4,), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)
    ours = FastMLPRegressor.from_sklearn(theirs)
    assert ours.loss == "poisson" and ours._net.loss_name == "poisson"
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-12)


def test_poisson_bad_values():
    X, y = _counts()
    with pytest.raises(ValueError, match="needs y >= 0"):
        FastMLPRegressor(loss="poisson", max_iter=1).fit(X, y - 1)
    with pytest.raises(ValueError, match="loss"):
        FastMLPRegressor(loss="absolute_error", max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match=r"targets in \[0, inf\] for loss 'poisson'"):
        Network([3, 2, 1], loss="poisson").fit(X.T, -np.ones(40), verbose=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_poisson_kernel_step_is_the_reference_gradient(dtype):
    """One full-batch SGD step of Network(loss="poisson") follows -lr * the central-difference
    gradient of the NumPy float64 deviance; history's loss is that deviance."""
    X, Y = _counts(n=17, outputs=2, seed=1)
    X, Y = X.T, Y.T
    net = Network([3, 4, 2], loss="poisson", activation="tanh", seed=1, dtype=dtype)
    assert net.layers[-1].activation == "exp"
    layers = [(layer.W.astype(np.float64), layer.b.astype(np.float64), layer.activation) for layer in net.layers]
    lr = 0.05
    history = net.fit(X, Y, epochs=1, batch_size=17, optimizer=SGD(lr), shuffle=False, verbose=0)
    expected = ref.network_loss(layers, X, Y, "poisson")
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-12 if dtype == np.float64 else 1e-5)
    numeric = ref.numeric_gradients(layers, X, Y, "poisson")
    for l, (W, b, _) in enumerate(layers):
        for P, new, g in ((W, net.layers[l].W, numeric[l][0]), (b, net.layers[l].b, numeric[l][1])):
            tol = dict(rtol=1e-6, atol=1e-9) if dtype == np.float64 else dict(rtol=1e-3, atol=1e-5)
            np.testing.assert_allclose(new, P - lr * g, **tol)
