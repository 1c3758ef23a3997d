"""Every core, the same bits: every entry point gives bitwise the same results for 1, 2,
3, 4 and 8 threads and for "auto" (in a subprocess whose Numba pool has 8 threads, so
that a 2-core machine runs 8), in float32 and float64; and a sample's prediction is
bitwise the same alone, in any batch, at any position, in any order."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn.kernels import products

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def test_the_nets_of_the_thread_runs_share_tiles_among_threads():
    import thread_runs

    n, m = thread_runs.SIZES[0], 129
    assert n * n * m >= products.PARALLEL_WORK  # a parallel region, not a loop
    assert m % products.SAMPLE_TILE and n > products.OUTPUT_TILE  # a padded tile, two output tiles
    assert 40 * 2 * 13201 >= products.PARALLEL_WORK and 13201 % products.SAMPLE_TILE  # gradcheck's


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_entry_point_same_bits_for_any_thread_count(dtype):
    env = dict(os.environ, NUMBA_NUM_THREADS="8", PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]))
    env.pop("FASTNN_NUM_THREADS", None)
    done = subprocess.run([sys.executable, str(HERE / "thread_runs.py"), dtype], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.splitlines()[-1])
    one = results["1"]
    assert len(one) == 11 and len(set(one.values())) == len(one)  # each run computed something
    for setting, digests in results.items():
        differ = sorted(name for name in one if digests[name] != one[name])
        assert not differ, f"{setting} threads differ from 1 thread in {differ}"


SHAPES = [([784, 256, 10], "sigmoid"), ([300, 300, 3, 1], "tanh"), ([1, 300, 3], "relu"),
          ([64, 32, 10], "sigmoid")]


@pytest.mark.parametrize("sizes, activation", SHAPES, ids=lambda v: "-".join(map(str, v)) if
                         isinstance(v, list) else v)
def test_prediction_of_a_sample_does_not_depend_on_its_batch(sizes, activation, dtype):
    rng = np.random.default_rng(1)
    net = fastnn.Network(sizes, activation=activation, dtype=dtype, seed=2)
    X = rng.standard_normal((sizes[0], 300)).astype(dtype)
    full = net.predict(X)
    alone = np.hstack([net.predict(X[:, j : j + 1]) for j in (0, 1, 64, 128, 299)])
    np.testing.assert_array_equal(alone, full[:, [0, 1, 64, 128, 299]])
    for start, size in [(0, 1), (3, 7), (100, 129), (1, 299)]:
        part = X[:, start : start + size]
        np.testing.assert_array_equal(net.predict(part), full[:, start : start + size])
    order = rng.permutation(300)
    np.testing.assert_array_equal(net.predict(X[:, order]), full[:, order])
    # Sample-major input, as the estimators pass it (an F-contiguous (n_0, m) view).
    np.testing.assert_array_equal(net.predict(np.ascontiguousarray(X.T[order]).T), full[:, order])
    np.testing.assert_array_equal(net(X[:, 7:8]), full[:, 7:8])  # forward, as predict


def test_estimators_predictions_do_not_depend_on_the_batch(dtype):
    pytest.importorskip("sklearn")
    import warnings

    from fastnn.sklearn import FastMLPClassifier, FastMLPRegressor

    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 40)).astype(dtype)
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = FastMLPClassifier(hidden_layer_sizes=(200,), max_iter=2, dtype=dtype, random_state=0).fit(X, y)
        reg = FastMLPRegressor(hidden_layer_sizes=(200,), max_iter=2, dtype=dtype,
                               random_state=0).fit(X, X[:, 1])
    order = rng.permutation(300)
    for predict in (clf.predict_proba, reg.predict):
        full = predict(X)
        np.testing.assert_array_equal(predict(X[order]), full[order])
        np.testing.assert_array_equal(predict(X[5:6]), full[5:6])
        np.testing.assert_array_equal(predict(X[100:229]), full[100:229])
