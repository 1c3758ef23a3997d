"""Per-sample weights: scikit-learn's semantics in the estimators (same start, same path as
its MLP), the weighted objective against a NumPy reference and central differences, and
Keras' sample_weight / class_weight in Network.fit."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from test_sklearn import reference_forward  # noqa: E402

import reference as ref  # noqa: E402
from fastnn import SGD, Adam, Network  # noqa: E402
from fastnn.objective import FullBatchObjective  # noqa: E402
from fastnn.sklearn import FastMLPClassifier, FastMLPRegressor  # noqa: E402

PEERS = {FastMLPClassifier: MLPClassifier, FastMLPRegressor: MLPRegressor}


def _data(kind, n=23, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    w = rng.uniform(0.1, 3.0, size=n)
    if kind == "regressor":
        return FastMLPRegressor, X, rng.normal(size=(n, 2)), w
    classes = 2 if kind == "binary" else 3
    return FastMLPClassifier, X, rng.integers(0, classes, size=n), w


def _same_start(Estimator, X, y, w, **settings):
    """Both estimators with scikit-learn's weights after one weighted epoch, set to warm_start."""
    theirs = PEERS[Estimator](warm_start=True, random_state=0, max_iter=1, **settings)
    ours = Estimator(warm_start=True, random_state=0, max_iter=1, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y, sample_weight=w)
        ours.fit(X, y, sample_weight=w)
    ours.coefs_, ours.intercepts_ = theirs.coefs_, theirs.intercepts_
    return ours, theirs


@pytest.mark.parametrize("kind", ["regressor", "binary", "multiclass"])
def test_weighted_epochs_follow_sklearns_path(kind):
    """Mini-batches of 7 (a short last one), L2 penalty: from equal weights, the same loss
    curve and coefficients as scikit-learn's MLP with the same sample weights."""
    Estimator, X, y, w = _data(kind)
    # Plain SGD: the weights act in the loss and gradient, whatever the optimizer (Adam's
    # epsilon is placed differently from scikit-learn's, which would blur the comparison).
    settings = dict(hidden_layer_sizes=(5,), activation="tanh", solver="sgd", batch_size=7,
                    shuffle=False, alpha=0.3, learning_rate_init=0.05, momentum=0.0, tol=0.0,
                    n_iter_no_change=100)
    ours, theirs = _same_start(Estimator, X, y, w, **settings)
    for est in (ours, theirs):
        est.set_params(max_iter=6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y, sample_weight=w)
    # loss_curve_[0] is the first epoch of each one's own start.
    np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-10)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    # The weights change the path: the same start without them goes elsewhere.
    plain, _ = _same_start(Estimator, X, y, w, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain.set_params(max_iter=6).fit(X, y)
    assert not np.allclose(plain.loss_curve_[1:], ours.loss_curve_[1:])


def test_partial_fit_weights_as_sklearn():
    """partial_fit(X, y, sample_weight, classes) in scikit-learn's argument order."""
    _, X, y, w = _data("multiclass")
    settings = dict(hidden_layer_sizes=(4,), solver="sgd", batch_size=5, shuffle=False, random_state=0,
                    learning_rate_init=0.1, momentum=0.0)
    theirs = MLPClassifier(**settings).partial_fit(X, y, w, classes=[0, 1, 2])
    ours = FastMLPClassifier(**settings).partial_fit(X, y, w, classes=[0, 1, 2])
    ours.coefs_, ours.intercepts_ = theirs.coefs_, theirs.intercepts_
    theirs.partial_fit(X, y, sample_weight=w)
    ours.partial_fit(X, y, sample_weight=w)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-10)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["regressor", "multiclass"])
def test_lbfgs_weights_as_sklearn_and_as_repeated_samples(kind):
    """Full-batch lbfgs: the same run as scikit-learn's with weights, and integer weights
    give the objective (so the fit) of the data with the samples repeated."""
    Estimator, X, y, _ = _data(kind, n=40)
    counts = np.random.default_rng(3).integers(1, 4, size=40)
    settings = dict(hidden_layer_sizes=(6,), solver="lbfgs", alpha=0.1, tol=1e-10)
    ours, theirs = _same_start(Estimator, X, y, counts.astype(float), **settings)
    for est in (ours, theirs):
        est.set_params(max_iter=20)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y, sample_weight=counts.astype(float))
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-7)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-5, atol=1e-6)
    repeated = Estimator(**settings, random_state=0, max_iter=20, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        repeated.fit(np.repeat(X, counts, axis=0), np.repeat(y, counts, axis=0))
        start = _same_start(Estimator, X, y, counts.astype(float), **settings)[1]
        repeated.coefs_, repeated.intercepts_ = start.coefs_, start.intercepts_
        repeated.fit(np.repeat(X, counts, axis=0), np.repeat(y, counts, axis=0))
    assert repeated.loss_ == pytest.approx(ours.loss_, rel=1e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_objective_reference_and_finite_differences(dtype):
    """The kernels' weighted loss and gradient: sum w l / sum w + 0.5 alpha ||W||^2 / sum w,
    against NumPy float64 and central differences of it."""
    _, X, y, w = _data("multiclass")
    Y = np.eye(3)[y]
    est = FastMLPClassifier(hidden_layer_sizes=(4,), activation="tanh", solver="lbfgs", max_iter=1,
                            dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y, sample_weight=w)
    net = est._net
    objective = FullBatchObjective(net, np.ascontiguousarray(X, dtype=dtype), Y.astype(dtype), 0.3,
                                   sample_weight=w)

    def reference(theta):
        W1 = theta[:12].reshape(4, 3).T
        b1 = theta[12:16]
        W2 = theta[16:28].reshape(3, 4).T
        b2 = theta[28:31]
        P = reference_forward([W1, W2], [b1, b2], X, "tanh", "softmax")
        losses = -(Y * np.log(P)).sum(axis=1)
        return (w @ losses + 0.5 * 0.3 * ((W1**2).sum() + (W2**2).sum())) / w.sum()

    theta = net.params.astype(np.float64)
    value, grad = objective(theta)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert value == pytest.approx(reference(theta), rel=tol)
    numeric = np.array([(reference(theta + e) - reference(theta - e)) / 2e-6
                        for e in np.eye(theta.size) * 1e-6])
    np.testing.assert_allclose(grad, numeric, rtol=1e-5 if dtype == np.float64 else 1e-3,
                               atol=1e-8 if dtype == np.float64 else 1e-5)
    assert net.params.dtype == dtype


def test_bad_sample_weight_gets_sklearns_error():
    _, X, y, _ = _data("binary")
    with pytest.raises(ValueError, match="sample_weight.shape == \\(3,\\), expected \\(23,\\)"):
        FastMLPClassifier(max_iter=1).fit(X, y, sample_weight=np.ones(3))


# ----------------------------------------------------------------- Network.fit (Keras' semantics)


def _layers(net):
    return [(layer.W.astype(np.float64), layer.b.astype(np.float64), layer.activation) for layer in net.layers]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss, sizes", [("bce", [3, 4, 1]), ("cce", [3, 4, 3]), ("mse", [3, 4, 2]),
                                         ("poisson", [3, 4, 2])])
def test_network_fit_sample_weight_is_keras_weighted_loss(loss, sizes, dtype):
    """One full-batch SGD step follows -lr * the central-difference gradient of
    ``sum_j w_j l_j / m`` (NumPy float64 reference), and history's loss is that value."""
    rng = np.random.default_rng(0)
    N = 17
    X = rng.normal(size=(3, N))
    if loss == "mse":
        Y = rng.normal(size=(sizes[-1], N))
    elif loss == "poisson":
        Y = rng.poisson(1.5, size=(sizes[-1], N)).astype(float)
    elif loss == "cce":
        Y = np.eye(3)[rng.integers(0, 3, N)].T
    else:
        Y = rng.integers(0, 2, (1, N)).astype(float)
    w = rng.uniform(0.0, 3.0, N)
    net = Network(sizes, loss=loss, activation="tanh", seed=1, dtype=dtype)
    layers = _layers(net)
    lr = 0.1
    history = net.fit(X, Y, epochs=1, batch_size=N, optimizer=SGD(lr), shuffle=False, verbose=0,
                      sample_weight=w)
    expected = ref.weighted_network_loss(layers, X, Y, loss, w)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-12 if dtype == np.float64 else 1e-5)
    numeric = ref.numeric_gradients(layers, X, Y, loss, weights=w)
    for l, (W, b, _) in enumerate(layers):
        for P, new, g in ((W, net.layers[l].W, numeric[l][0]), (b, net.layers[l].b, numeric[l][1])):
            tol = dict(rtol=1e-6, atol=1e-9) if dtype == np.float64 else dict(rtol=1e-3, atol=1e-5)
            np.testing.assert_allclose(new, P - lr * g, **tol)
            assert new.dtype == dtype


def test_network_fit_class_weight_is_the_sample_weight_of_each_class():
    """class_weight {0: 1, 1: 4} trains as sample_weight with 4 on class 1 (mini-batches,
    shuffled, Adam): bitwise the same; unit weights give the unweighted fit (to rounding)."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3, 50))
    y = (X[0] + 0.3 * rng.normal(size=50) > 0.5).astype(int)

    def trained(**weights):
        net = Network([3, 5, 1], seed=0)
        history = net.fit(X, y, epochs=3, batch_size=8, optimizer=Adam(0.05), verbose=0, **weights)
        return net.params.copy(), history.history["loss"]

    by_class = trained(class_weight={0: 1.0, 1: 4.0})
    by_sample = trained(sample_weight=np.where(y == 1, 4.0, 1.0))
    np.testing.assert_array_equal(by_class[0], by_sample[0])
    assert by_class[1] == by_sample[1]
    plain, ones = trained(), trained(sample_weight=np.ones(50))
    np.testing.assert_allclose(ones[0], plain[0], rtol=1e-12)
    assert not np.allclose(by_class[0], plain[0])


def test_network_fit_weights_bad_values_are_clear_errors():
    X = np.zeros((2, 6))
    y = np.array([0, 1, 0, 1, 0, 1])
    net = Network([2, 3, 1])
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(6,\)"):
        net.fit(X, y, sample_weight=np.ones(5), verbose=0)
    with pytest.raises(ValueError, match="finite weights >= 0"):
        net.fit(X, y, sample_weight=-np.ones(6), verbose=0)
    with pytest.raises(ValueError, match="not both"):
        net.fit(X, y, sample_weight=np.ones(6), class_weight={0: 1.0}, verbose=0)
    with pytest.raises(ValueError, match="class indices 0..1"):
        net.fit(X, y, class_weight={2: 1.0}, verbose=0)
    with pytest.raises(TypeError, match="class_weight must be a dict"):
        net.fit(X, y, class_weight=[1.0, 2.0], verbose=0)
    with pytest.raises(ValueError, match="classification loss"):
        Network([2, 1], loss="mse").fit(X, y.astype(float), class_weight={0: 2.0}, verbose=0)
