"""Every entry point of fastnn on nets big enough to share tiles among threads; the digests
of their results under each thread setting (run by tests/test_thread_invariance.py in a
subprocess whose ``NUMBA_NUM_THREADS`` is 8, so 3, 4 and 8 threads really run).

    NUMBA_NUM_THREADS=8 python tests/thread_runs.py float32    # prints JSON
"""

import hashlib
import json
import sys
import warnings

import numpy as np

import fastnn

SETTINGS = [1, 2, 3, 4, 8, "auto"]
SIZES = [300, 300, 3, 1]
"""Layers of 300, 3 and 1 units: the 300 x 300 products over 129+ samples have several
sample tiles (the last one padded) and two output tiles, above the parallel threshold
(gradcheck's [2, 40, 1] over 13201 samples too)."""


def _digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _data(dtype, m=300):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((SIZES[0], m)).astype(dtype)
    y = (X[0] + X[1] > 0).astype(dtype)
    return X, y


def network_runs(dtype):
    """``{name: digest}`` of each Network entry point with the current thread setting."""
    X, y = _data(dtype)
    out = {}
    for name, optimizer in [("sgd", fastnn.SGD(0.1, momentum=0.9, nesterov=True)),
                            ("adam", fastnn.Adam(0.01, weight_decay=1e-3))]:
        net = fastnn.Network(SIZES, activation="tanh", dtype=dtype, seed=3)
        history = net.fit(X, y, epochs=2, batch_size=129, optimizer=optimizer, seed=1, verbose=0,
                          accumulate=2, validation_data=(X[:, :77], y[:77]), patience=1)
        out[f"fit {name}"] = _digest(net.params, np.array(history.history["val_loss"]))
    net = fastnn.Network(SIZES, dtype=dtype, seed=4)
    net.fit(X, y, epochs=1, batch_size=7, seed=2, verbose=0)
    out["fit batch 7"] = _digest(net.params)
    losses = [net.train_step(X[:, :129], y[:129], 0.1), net.train_step(X, y, 0.1)]
    out["train_step"] = _digest(net.params, np.array(losses))
    A = net.forward(X[:, 5:134])
    net.backward(y[5:134].reshape(1, -1))
    grads = net.grads.copy()
    net.step(0.05)
    out["forward/backward/step"] = _digest(A, grads, net.params)
    out["predict"] = _digest(net.predict(X), net.predict(np.asfortranarray(X[:, :1])))
    out["loss/evaluate"] = _digest(np.array([net.loss(X, y.reshape(1, -1)), *net.evaluate(X, y)]))
    # gradcheck differentiates along every parameter: a net of few parameters, many samples.
    rng = np.random.default_rng(1)
    small = fastnn.Network([2, 40, 1], dtype=dtype, seed=5)
    Xg = rng.standard_normal((2, 13201)).astype(dtype)
    out["gradcheck"] = _digest(np.array([fastnn.gradcheck(small, Xg, (Xg[:1] > 0).astype(dtype))]))
    return out


def estimator_runs(dtype):
    """``{name: digest}`` of both estimators' fit and predictions (sample-major data)."""
    from fastnn.sklearn import FastMLPClassifier, FastMLPRegressor

    X, y = _data(dtype)
    Xs = np.ascontiguousarray(X.T)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after a few iterations
        for solver in ("adam", "lbfgs"):
            clf = FastMLPClassifier(hidden_layer_sizes=(300, 3), solver=solver, max_iter=3, batch_size=129,
                                    dtype=dtype, random_state=0, early_stopping=solver == "adam").fit(Xs, y)
            out[f"classifier {solver}"] = _digest(clf.predict_proba(Xs), clf.predict(Xs[:1]))
        reg = FastMLPRegressor(hidden_layer_sizes=(300,), max_iter=3, batch_size=101, dtype=dtype,
                               random_state=0).fit(Xs, X[2])
        out["regressor"] = _digest(reg.predict(Xs))
    return out


def main(dtype):
    """``{setting: {name: digest}}`` for every setting of :data:`SETTINGS`."""
    results = {}
    for setting in SETTINGS:
        with fastnn.num_threads(setting):
            results[str(setting)] = {**network_runs(dtype), **estimator_runs(dtype)}
    return results


if __name__ == "__main__":
    print(json.dumps(main(np.dtype(sys.argv[1]))))
