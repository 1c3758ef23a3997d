"""Sparse inputs through the API: a step against central differences, Network.fit/predict and
the estimators on sparse X equal to the dense fit, and no dense copy of X (the kernels
themselves: tests/kernels/test_sparse_kernels.py)."""

import warnings

import numpy as np
import pytest

scipy_sparse = pytest.importorskip("scipy.sparse")

import reference as ref  # noqa: E402
from fastnn import SGD, Adam, Network  # noqa: E402


def _csr(n=60, features=40, density=0.1, seed=0, dtype=np.float64):
    return scipy_sparse.random(n, features, density=density, format="csr", random_state=seed, dtype=dtype)


def test_sparse_step_is_the_central_difference_gradient():
    """One full-batch SGD step on sparse X follows -lr * the central-difference gradient of
    the NumPy loss of the dense X."""
    X = _csr(n=15, features=12, density=0.3)
    Xd = X.toarray().T
    y = (np.arange(15) % 2).astype(float)[None, :]
    net = Network([12, 5, 1], activation="tanh", seed=0, dtype=np.float64)
    layers = [(layer.W.copy(), layer.b.copy(), layer.activation) for layer in net.layers]
    lr = 0.3
    net.fit(X.T, y, epochs=1, batch_size=15, optimizer=SGD(lr), shuffle=False, verbose=0)
    numeric = ref.numeric_gradients(layers, Xd, y, "bce")
    for l, (W, b, _) in enumerate(layers):
        for P, new, g in ((W, net.layers[l].W, numeric[l][0]), (b, net.layers[l].b, numeric[l][1])):
            np.testing.assert_allclose(new, P - lr * g, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("fmt", ["csc", "csr", "coo"])
def test_network_fit_and_predict_on_sparse_equal_dense(fmt):
    """Mini-batches, shuffled, Adam, validation data: the same history and weights as the
    dense fit (to rounding); predict and evaluate in chunks."""
    X = _csr(n=90, features=30)
    y = (X @ np.linspace(-1, 1, 30) > 0).astype(int)
    Xs = X.T.asformat(fmt)
    histories, nets = [], []
    for inputs, val in ((Xs, X[:20].T.asformat(fmt)), (X.toarray().T, X.toarray().T[:, :20])):
        net = Network([30, 6, 1], seed=0, dtype=np.float64)
        histories.append(net.fit(inputs, y, epochs=4, batch_size=16, optimizer=Adam(0.05), verbose=0,
                                 validation_data=(val, y[:20])).history)
        nets.append(net)
    for key in histories[0]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-12)
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(nets[0].predict(Xs), nets[1].predict(X.toarray().T), rtol=1e-12)
    assert nets[0].evaluate(Xs, y) == pytest.approx(nets[1].evaluate(X.toarray().T, y), rel=1e-12)


def test_sparse_predict_runs_in_chunks(monkeypatch):
    import fastnn.network

    X = _csr(n=50, features=10, density=0.3)
    net = Network([10, 4, 3], loss="cce", seed=0, dtype=np.float64)
    whole = net.predict(X.T)
    monkeypatch.setattr(fastnn.network, "PREDICT_CHUNK", 7)
    np.testing.assert_array_equal(net.predict(X.T), whole)
    np.testing.assert_allclose(whole, net.predict(X.toarray().T), rtol=1e-12)


def test_sparse_bad_inputs_are_clear_errors():
    net = Network([10, 3, 1])
    X = _csr(n=8, features=10, density=0.5)
    with pytest.raises(ValueError, match="10 features per sample"):
        net.predict(_csr(n=8, features=9).T)
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        net.fit(bad.T, np.zeros(8), verbose=0)
    with pytest.raises(TypeError, match="validation_split does not take a sparse X"):
        net.fit(X.T, np.zeros(8), validation_split=0.5, verbose=0)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_estimators_on_sparse_equal_dense(kind, solver):
    """FastMLPClassifier/Regressor on CSR (and CSC) X: the fit and predictions of dense X,
    with sample weights and (adam) early stopping."""
    from fastnn.sklearn import FastMLPClassifier, FastMLPRegressor

    X = _csr(n=120, features=25)
    signal = X @ np.linspace(-2, 2, 25)
    Estimator = FastMLPClassifier if kind == "classifier" else FastMLPRegressor
    y = (signal > 0).astype(int) if kind == "classifier" else signal
    w = np.random.default_rng(0).uniform(0.5, 2.0, 120)
    settings = dict(hidden_layer_sizes=(6,), solver=solver, random_state=0, max_iter=15,
                    early_stopping=solver == "adam")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sparse = Estimator(**settings).fit(X, y, sample_weight=w)
        dense = Estimator(**settings).fit(X.toarray(), y, sample_weight=w)
    assert sparse.loss_ == pytest.approx(dense.loss_, rel=1e-9)
    for a, b in zip(sparse.coefs_, dense.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(sparse.predict(X.tocsc()), dense.predict(X.toarray()), rtol=1e-7, atol=1e-10)


def test_sparse_fit_holds_no_dense_copy_of_x():
    """tracemalloc: fitting a 2,000 x 20,000 CSR (0.1% non-zeros, 0.5 MB) allocates far less
    than its dense copy (320 MB) or one dense batch of all features per sample."""
    import tracemalloc

    from fastnn.sklearn import FastMLPClassifier

    X = _csr(n=2000, features=20_000, density=0.001)
    y = np.arange(2000) % 2
    est = FastMLPClassifier(hidden_layer_sizes=(4,), max_iter=1, random_state=0, batch_size=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X[:10], y[:10])  # compile outside the measurement
        tracemalloc.start()
        est.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    params = est._net.params.nbytes
    # The parameters, their gradients and Adam's two moments (4 copies of the model), the
    # CSR arrays and small buffers; no rollback copies (scikit-learn's estimators keep none).
    assert peak < 4 * params + 6 * X.data.nbytes + 10**6
    assert peak < 2000 * 20_000 * 8 / 20


def test_estimator_fit_peak_is_its_buffers():
    """FastMLPClassifier(solver="sgd") on a wide sparse X: the fit's traced peak is the
    parameters, gradients and momentum (three buffers of the weights' size) plus the small
    rest, no temporary of the weights' size (scikit-learn's init draws W in blocks)."""
    import tracemalloc

    pytest.importorskip("sklearn")
    from fastnn.sklearn import FastMLPClassifier

    X = scipy_sparse.random(300, 20_000, density=0.001, format="csr", random_state=0)
    y = np.arange(300) % 3
    est = FastMLPClassifier(solver="sgd", hidden_layer_sizes=(40,), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)  # compiled outside the measure
        tracemalloc.start()
        try:
            est.fit(X, y)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    weights = est.coefs_[0].nbytes
    assert 3 * weights < peak < 3.3 * weights
