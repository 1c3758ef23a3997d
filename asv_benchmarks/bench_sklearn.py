"""fit() of the scikit-learn estimators next to scikit-learn's own MLPClassifier.

Workload: scikit-learn's bundled digits (1,797 samples x 64 features / 16, 10 classes),
``hidden_layer_sizes=(100,)``, relu, Adam, 20 epochs (``tol=0`` so that every run does all
20), ``random_state=0``. The same settings for every peer, so their times can be divided.

- "fastnn", "fastnn-float32": :class:`fastnn.FastMLPClassifier` (float64 / float32);
- "sklearn": :class:`sklearn.neural_network.MLPClassifier` as its users run it (the BLAS
  picks its thread count);
- "sklearn-1-thread": the same with BLAS limited to one thread (threadpoolctl), the
  setting fastnn's training uses by default (see :mod:`fastnn.threads`).
"""

import os
import sys
import warnings

try:
    import fastnn  # noqa: F401
except ImportError:  # a source checkout that is not installed: benchmark the checkout
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import fastnn  # noqa: F401

import numpy as np

EPOCHS = 20


class TimeEstimatorFit:
    params = (["fastnn", "fastnn-float32", "sklearn", "sklearn-1-thread"], [32, 200])
    param_names = ["estimator", "batch_size"]
    timeout = 300

    def setup(self, estimator, batch_size):
        try:
            from sklearn.datasets import load_digits
            from sklearn.neural_network import MLPClassifier
        except ImportError:
            raise NotImplementedError("scikit-learn is not installed")
        from fastnn.sklearn import FastMLPClassifier

        X, y = load_digits(return_X_y=True)
        self.X, self.y = X / 16.0, y
        settings = dict(max_iter=EPOCHS, tol=0.0, batch_size=batch_size, random_state=0)
        if estimator.startswith("fastnn"):
            dtype = np.float32 if estimator.endswith("float32") else np.float64
            self.estimator = FastMLPClassifier(dtype=dtype, **settings)
        else:
            self.estimator = MLPClassifier(**settings)
        self.limits = None
        if estimator == "sklearn-1-thread":
            from threadpoolctl import threadpool_limits

            self.limits = threadpool_limits(1, user_api="blas")
        warnings.simplefilter("ignore")  # ConvergenceWarning: 20 epochs on purpose
        self.estimator.set_params(max_iter=1).fit(self.X, self.y)  # compile outside the timing
        self.estimator.set_params(max_iter=EPOCHS)

    def teardown(self, estimator, batch_size):
        if getattr(self, "limits", None) is not None:  # setup may have raised NotImplementedError
            self.limits.restore_original_limits()

    def time_fit(self, estimator, batch_size):
        self.estimator.fit(self.X, self.y)

    def track_train_accuracy(self, estimator, batch_size):
        return self.estimator.fit(self.X, self.y).score(self.X, self.y)

    track_train_accuracy.unit = "accuracy"


LBFGS_ITERATIONS = 50
SMOKE = os.environ.get("FASTNN_ASV_SMOKE") == "1"  # CI's smoke run: the small data sets only


class TimeLbfgsFit:
    """``solver="lbfgs"`` next to ``MLPClassifier(solver="lbfgs")`` / ``MLPRegressor``.

    Workloads: scikit-learn's bundled iris, digits, breast_cancer (classifiers) and diabetes
    (regressor, target divided by its standard deviation), inputs standardized,
    ``hidden_layer_sizes=(64,)``, ``max_iter=50`` with ``tol=0`` (every run does all 50
    L-BFGS-B iterations unless it hits ``max_fun``), ``random_state=0``. Peers as in
    :class:`TimeEstimatorFit`; ``track_iterations`` shows both ran the same count.
    """

    params = (["iris", "diabetes"] if SMOKE else ["iris", "digits", "breast_cancer", "diabetes"],
              ["fastnn", "fastnn-float32", "sklearn", "sklearn-1-thread"])
    param_names = ["dataset", "estimator"]
    timeout = 300

    def setup(self, dataset, estimator):
        try:
            from sklearn import datasets
            from sklearn.neural_network import MLPClassifier, MLPRegressor
            from sklearn.preprocessing import StandardScaler
        except ImportError:
            raise NotImplementedError("scikit-learn is not installed")
        from fastnn.sklearn import FastMLPClassifier, FastMLPRegressor

        X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
        regression = dataset == "diabetes"
        self.X = StandardScaler().fit_transform(X)
        self.y = y / y.std() if regression else y
        settings = dict(solver="lbfgs", hidden_layer_sizes=(64,), max_iter=LBFGS_ITERATIONS, tol=0.0,
                        random_state=0)
        if estimator.startswith("fastnn"):
            if estimator.endswith("float32"):
                self.X = self.X.astype(np.float32)  # the default dtype follows the input
            self.estimator = (FastMLPRegressor if regression else FastMLPClassifier)(**settings)
        else:
            self.estimator = (MLPRegressor if regression else MLPClassifier)(**settings)
        self.limits = None
        if estimator == "sklearn-1-thread":
            from threadpoolctl import threadpool_limits

            self.limits = threadpool_limits(1, user_api="blas")
        warnings.simplefilter("ignore")  # ConvergenceWarning: a fixed iteration count on purpose
        self.estimator.fit(self.X, self.y)  # compile outside the timing

    def teardown(self, dataset, estimator):
        if getattr(self, "limits", None) is not None:
            self.limits.restore_original_limits()

    def time_fit(self, dataset, estimator):
        self.estimator.fit(self.X, self.y)

    def track_iterations(self, dataset, estimator):
        return self.estimator.fit(self.X, self.y).n_iter_

    track_iterations.unit = "iterations"


def lbfgs_side_by_side(rounds=7):
    """:class:`TimeLbfgsFit`'s workloads, interleaved: the median fit time of fastnn and of
    scikit-learn with its default BLAS threads and with one, and the training scores."""
    import statistics
    import time

    results = {}
    for dataset in ["iris", "digits", "breast_cancer", "diabetes"]:
        peers = {}
        for estimator in ("fastnn", "sklearn", "sklearn-1-thread"):
            bench = TimeLbfgsFit()
            bench.setup(dataset, estimator)
            bench.teardown(dataset, estimator)  # its thread limit is applied per run below
            peers[estimator] = bench
        times = {name: [] for name in peers}
        for _ in range(rounds):
            for name, bench in peers.items():
                limits = None
                if name == "sklearn-1-thread":
                    from threadpoolctl import threadpool_limits

                    limits = threadpool_limits(1, user_api="blas")
                start = time.perf_counter()
                bench.time_fit(dataset, name)
                times[name].append(time.perf_counter() - start)
                if limits is not None:
                    limits.restore_original_limits()
        medians = {name: statistics.median(values) for name, values in times.items()}
        scores = {name: bench.estimator.score(bench.X, bench.y) for name, bench in peers.items()}
        results[dataset] = medians
        print(f"{dataset:14s} fastnn {medians['fastnn'] * 1e3:7.1f} ms | sklearn "
              f"{medians['sklearn'] * 1e3:7.1f} ms ({medians['sklearn'] / medians['fastnn']:5.2f}x) | "
              f"sklearn-1-thread {medians['sklearn-1-thread'] * 1e3:7.1f} ms "
              f"({medians['sklearn-1-thread'] / medians['fastnn']:5.2f}x) | train score "
              f"{scores['fastnn']:.4f} vs {scores['sklearn']:.4f}")
    return results


if __name__ == "__main__":  # python -m asv_benchmarks.bench_sklearn: the lbfgs table
    lbfgs_side_by_side()

