"""Performance contracts that can be checked without timing anything.

- A training step allocates nothing in steady state: no Numba (NRT) allocation inside
  the compiled step, and no Python-side memory growth across many ``train_step`` calls.
- The compare script runs (the thread contracts are in test_threads.py).
"""

import tracemalloc

import numba
import numpy as np
import pytest

import fastnn
from fastnn.kernels import network as knet
from fastnn.kernels.bundles import OK


@pytest.fixture
def nrt_stats():
    """Numba's runtime allocation counters, switched on for the test."""
    from numba.core.runtime import _nrt_python, rtsys

    _nrt_python.memsys_enable_stats()
    try:
        yield rtsys.get_allocation_stats
    finally:
        _nrt_python.memsys_disable_stats()


def _net_and_batch(sizes, m, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((sizes[0], m)).astype(dtype)
    Y = (rng.random((sizes[-1], m)) < 0.5).astype(dtype)
    return fastnn.Network(sizes, dtype=dtype, seed=0), X, Y


@numba.njit
def _repeat_step(n, params, grads, layout, loss, X, Y, acts, z_out, delta, scratch, lr, lo, hi, loss_out):
    applied = 0
    for _ in range(n):  # the API's step kernel: batch check + train_step
        status = knet.checked_train_step(params, grads, layout, loss, X, Y, acts, z_out, delta, scratch,
                                         lr, lo, hi, loss_out)
        applied += status == OK
    return applied


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sizes, m", [([2, 8, 1], 4), ([64, 32, 10], 32), ([5, 7, 6, 3], 9)])
def test_compiled_step_allocates_nothing(nrt_stats, sizes, m, dtype):
    # Calling a compiled function from Python wraps each array argument in a Numba
    # MemInfo, which the counters see; so the steps run inside one compiled loop, and
    # 1 step and 200 steps must allocate exactly as much: nothing per step.
    net, X, Y = _net_and_batch(sizes, m, dtype)
    net.train_step(X, Y, 0.1)  # compile, allocate the workspace
    args = net.kernel_step_args(X, Y, 0.1)
    assert _repeat_step(1, *args) == 1
    counts = []
    for n in (1, 200):
        before = nrt_stats()
        assert _repeat_step(n, *args) == n
        after = nrt_stats()
        counts.append((after.alloc - before.alloc, after.free - before.free))
    assert counts[0] == counts[1], counts
    assert counts[1][0] == counts[1][1], counts


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_train_step_memory_does_not_grow(nrt_stats, dtype):
    net, X, Y = _net_and_batch([64, 32, 10], 32, dtype)
    for _ in range(20):
        net.train_step(X, Y, 0.1)
    stats_before = nrt_stats()
    tracemalloc.start()
    try:
        for _ in range(50):
            net.train_step(X, Y, 0.1)
        first, _ = tracemalloc.get_traced_memory()
        for _ in range(500):
            net.train_step(X, Y, 0.1)
        second, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    stats_after = nrt_stats()
    # Python-side temporaries of the input checks are freed at once: no growth.
    assert second - first < 4096, (first, second)
    # Numba allocations (if any) are all freed again.
    assert (stats_after.alloc - stats_before.alloc) == (stats_after.free - stats_before.free)


def test_compare_script_prints_every_row_and_the_blas_it_ran(capsys):
    """``python -m asv_benchmarks.compare`` (the peer comparison the README quotes):
    a quick run prints the BLAS header and one row per implementation with a ratio."""
    compare = pytest.importorskip("asv_benchmarks.compare")
    compare.main(["-w", "tiny", "-d", "float64", "-p", "numpy", "gemm", "--rounds", "1",
                  "--block", "0.001", "--threads", "1", "--peer-threads", "1"])
    out = capsys.readouterr().out
    assert "BLAS threads while training: 1; peers' threads: 1" in out
    assert "BLAS of scipy" in out and "BLAS of numpy" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("tiny ")]
    assert [row[2] for row in rows] == ["fastnn", "fastnn-kernel", "fastnn-fit", "numpy", "gemm-only"]
    numpy_row = next(row for row in rows if row[2] == "numpy")
    ratio, word = numpy_row[-6:-4]  # "N.NNx faster (kernel: N.NNx, fit: N.NNx)"
    assert word == "faster" and ratio.endswith("x") and float(ratio[:-1]) > 0


def test_train_step_calls_the_kernel_with_kernel_step_args(monkeypatch):
    """The benchmarks time the step kernel alone with kernel_step_args: it must be exactly
    what train_step passes."""
    net, X, Y = _net_and_batch([5, 7, 3], 9, np.float32)
    seen = []
    real = knet.checked_train_step
    monkeypatch.setattr(knet, "checked_train_step", lambda *args: seen.append(args) or real(*args))
    net.train_step(X, Y, 0.1)
    expected = net.kernel_step_args(X, Y, 0.1)
    assert len(seen) == 1 and len(seen[0]) == len(expected)
    assert all(a is b or a == b for a, b in zip(seen[0], expected))
