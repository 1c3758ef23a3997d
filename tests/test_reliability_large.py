"""Large inputs: 10^6 samples x 100 features (float32, 381 MB) train for one epoch and are
predicted, with the memory measured in a fresh process (tracemalloc sees NumPy's
allocations; the peak RSS is reported too).

What the measurement shows (see the README's reliability section):

- ``fit`` gathers batches from a sample-major array (rows gather 8-16x faster than
  columns). Row-layout data passed as ``rows.T`` (F-contiguous) already is one: extra
  memory = targets + a few batches. Seed-layout (C-contiguous) data is copied once:
  extra memory = data + targets + a few batches.
- ``predict``, ``evaluate`` and ``loss`` work in chunks of 4096 samples: extra memory =
  the output (predict) or the targets (evaluate) + one chunk.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fastnn

ROOT = Path(fastnn.__file__).resolve().parent.parent

SCRIPT = textwrap.dedent("""
    import json, resource, time, tracemalloc
    import numpy as np, fastnn

    MB = 2.0**20
    N, n = 10**6, 100
    net = fastnn.Network([n, 16, 1], dtype=np.float32, seed=0)
    net.fit(np.zeros((n, 10), np.float32), np.zeros(10), epochs=1, verbose=0)  # compile first
    net.predict(np.zeros((n, 10), np.float32)); net.evaluate(np.zeros((n, 10), np.float32), np.zeros(10))
    rows = np.random.default_rng(0).standard_normal((N, n), dtype=np.float32)
    y = (rows[:, 0] > 0).astype(np.float32)
    out = {"data_mb": rows.nbytes / MB, "targets_mb": y.nbytes / MB}
    tracemalloc.start()
    t = time.perf_counter()
    history = net.fit(rows.T, y, epochs=1, batch_size=256, verbose=0)  # row layout, F order
    out["fit_rows_s"] = time.perf_counter() - t
    out["fit_rows_peak_mb"] = tracemalloc.get_traced_memory()[1] / MB
    out["loss"] = history.history["loss"][0]
    tracemalloc.stop()
    X = np.ascontiguousarray(rows.T)  # feature-major (one sample per column), C order (made outside the measure)
    del rows
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    t = time.perf_counter()
    net.fit(X, y, epochs=1, batch_size=256, verbose=0)
    out["fit_s"] = time.perf_counter() - t
    out["fit_peak_mb"] = tracemalloc.get_traced_memory()[1] / MB
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["rss_before_fit_mb"] = rss_before
    tracemalloc.reset_peak()
    P = net.predict(X)
    out["predict_output_mb"] = P.nbytes / MB
    out["predict_peak_mb"] = tracemalloc.get_traced_memory()[1] / MB
    del P
    tracemalloc.reset_peak()
    out["accuracy"] = net.evaluate(X, y)[1]
    out["evaluate_peak_mb"] = tracemalloc.get_traced_memory()[1] / MB
    print(json.dumps(out))
""")


def test_a_million_samples_train_with_bounded_memory():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    m = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps({k: round(v, 2) for k, v in m.items()}))
    batch_mb = 256 * (100 + 16 + 1) * 4 / 2**20  # one batch of inputs and activations
    assert m["loss"] < 0.7 and m["accuracy"] > 0.95  # it learned (y is the sign of feature 0)
    # fit on row-layout data (rows.T): no copy of X; the sample-major targets and a few batches.
    assert m["fit_rows_peak_mb"] <= m["targets_mb"] + 16 * batch_mb + 8
    # fit on feature-major data: one sample-major copy of X, the targets and a few batches.
    assert m["fit_peak_mb"] <= m["data_mb"] + m["targets_mb"] + 16 * batch_mb + 8
    # predict: the output plus one 4096-sample chunk (1.6 MB) and its work space.
    assert m["predict_peak_mb"] <= m["predict_output_mb"] + 8
    # evaluate: the targets in the network's dtype plus one chunk and its work space.
    assert m["evaluate_peak_mb"] <= m["targets_mb"] + 8
