"""Sparse input: FastMLPClassifier next to MLPClassifier on a TF-IDF-like CSR matrix.

Workload: 20,000 x 50,000 CSR, 0.1% non-zeros (1,000,000 values, seeded), 10 classes drawn
from a random linear model of the features, ``hidden_layer_sizes=(64,)``, batches of
200, ``max_iter=EPOCHS`` with ``tol=0``, ``random_state=0``; each benchmark once with Adam and once
with ``solver="sgd"`` (scikit-learn's defaults: Nesterov momentum 0.9, so one state buffer the
size of the weights instead of Adam's two). The matrix itself is 12 MB
(float64 values and int32 indices); the first layer's weights 25.6 MB.

- ``time_fit``: the fit, next to scikit-learn's;
- ``peakmem_fit``: the process's peak memory during the fit (asv's RSS measure);
- ``track_traced_peak``: tracemalloc's peak of the fit alone (numpy buffers are traced), in MB.

``python -m asv_benchmarks.bench_sparse`` runs the two side by side once and prints the
times and tracemalloc's peak with a breakdown of what fastnn holds.
"""

import os
import sys
import time
import tracemalloc
import warnings

try:
    import fastnn  # noqa: F401
except ImportError:  # a source checkout that is not installed: benchmark the checkout
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import fastnn  # noqa: F401

import numpy as np

SMOKE = os.environ.get("FASTNN_ASV_SMOKE") == "1"
SAMPLES, FEATURES, DENSITY = (2_000, 5_000, 0.001) if SMOKE else (20_000, 50_000, 0.001)
EPOCHS = 2


def make_data(samples=SAMPLES, features=FEATURES, density=DENSITY):
    """The seeded CSR matrix and labels of the workload."""
    import scipy.sparse

    rng = np.random.default_rng(0)
    X = scipy.sparse.random(samples, features, density=density, format="csr", random_state=rng,
                            dtype=np.float64)
    X.indices = X.indices.astype(np.int32)
    X.indptr = X.indptr.astype(np.int32)
    scores = X @ rng.normal(size=(features, 10))
    return X, scores.argmax(axis=1)


def make_estimator(name):
    settings = dict(hidden_layer_sizes=(64,), batch_size=200, max_iter=EPOCHS, tol=0.0, random_state=0)
    if name == "fastnn":
        from fastnn.sklearn import FastMLPClassifier

        return FastMLPClassifier(**settings)
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(**settings)


class SparseFit:
    params = (["fastnn", "sklearn"], ["adam", "sgd"])
    param_names = ["estimator", "solver"]
    timeout = 600

    def setup(self, estimator, solver):
        try:
            import sklearn  # noqa: F401
        except ImportError:
            raise NotImplementedError("scikit-learn is not installed")
        warnings.simplefilter("ignore")  # ConvergenceWarning: EPOCHS on purpose
        self.X, self.y = make_data()
        self.estimator = make_estimator(estimator).set_params(solver=solver)
        self.estimator.set_params(max_iter=1).fit(self.X[:400], self.y[:400])  # compile outside
        self.estimator.set_params(max_iter=EPOCHS)

    def time_fit(self, estimator, solver):
        self.estimator.fit(self.X, self.y)

    def peakmem_fit(self, estimator, solver):
        self.estimator.fit(self.X, self.y)

    def track_traced_peak(self, estimator, solver):
        tracemalloc.start()
        self.estimator.fit(self.X, self.y)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak / 1e6

    track_traced_peak.unit = "MB"


def main():
    """Both estimators side by side: median fit time of 3 runs and tracemalloc's peak."""
    warnings.simplefilter("ignore")
    X, y = make_data()
    matrix = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    print(f"X: {X.shape}, {X.nnz} non-zeros, {matrix / 1e6:.1f} MB; {EPOCHS} epochs, batches of 200")
    results = {}
    for name in ("fastnn", "sklearn"):
        est = make_estimator(name)
        est.set_params(max_iter=1).fit(X[:400], y[:400])
        est.set_params(max_iter=EPOCHS)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            est.fit(X, y)
            times.append(time.perf_counter() - start)
        tracemalloc.start()
        est.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        params = sum(c.nbytes for c in est.coefs_) + sum(b.nbytes for b in est.intercepts_)
        results[name] = (float(np.median(times)), peak)
        print(f"{name:8s} fit {np.median(times):7.2f} s (runs {', '.join(f'{t:.2f}' for t in times)}), "
              f"tracemalloc peak {peak / 1e6:7.1f} MB, params {params / 1e6:.1f} MB, "
              f"accuracy {est.score(X, y):.3f}")
    ratio = results["sklearn"][0] / results["fastnn"][0]
    print(f"sklearn / fastnn time: {ratio:.2f}x")


if __name__ == "__main__":
    main()
