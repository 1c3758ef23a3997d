"""The thread setting: validated and scoped, applied around big kernel calls only (Numba's
threads set, BLAS held to one thread, both restored), per fit and per estimator, and the
"auto" policy. That the bits do not depend on it: tests/test_thread_invariance.py."""

import numba
import numpy as np
import pytest

import fastnn
from fastnn import datasets, threads
from fastnn.kernels import network as knet


def _net_and_batch(sizes, m, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((sizes[0], m)).astype(dtype)
    Y = (rng.random((sizes[-1], m)) < 0.5).astype(dtype)
    return fastnn.Network(sizes, dtype=dtype, seed=0), X, Y


def xor(dtype=np.float32):
    X, y = datasets.make_xor(dtype=dtype)
    return X, y.reshape(1, -1).astype(dtype)


def test_thread_setting_validated_and_scoped():
    assert fastnn.get_num_threads() == threads.DEFAULT_THREADS == "auto"
    with fastnn.num_threads(2):
        assert fastnn.get_num_threads() == 2
        with fastnn.num_threads(None):
            assert fastnn.get_num_threads() is None
    assert fastnn.get_num_threads() == "auto"
    with pytest.raises(ValueError, match="threads"):
        fastnn.set_num_threads(0)
    with pytest.raises(TypeError, match="threads"):
        fastnn.set_num_threads(1.5)


def test_blas_threads_limited_during_big_steps_and_restored():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import scipy.linalg.cython_blas  # noqa: F401

    net, X, Y = _net_and_batch([512, 256, 2], 64, np.float32)
    assert 64 * 512 * 256 >= threads.THREADED_WORK
    seen = []
    original = knet.checked_train_step

    def spy(*args):
        seen.append({i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info()
                     if i["user_api"] == "blas"})
        return original(*args)

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = {i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info()
                  if i["user_api"] == "blas"}
        knet.checked_train_step = spy
        try:
            net.train_step(X, Y, 0.1)
        finally:
            knet.checked_train_step = original
        after = {i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info()
                 if i["user_api"] == "blas"}
    assert seen and all(n == 1 for n in seen[0].values()), seen
    assert after == before


class _Seen(list):
    def __init__(self):
        super().__init__()
        self.numba = []


def _blas_threads_seen_by(monkeypatch, module, names):
    """Wrap the kernels ``names`` of ``module``: each call records the BLAS thread counts
    in effect (threadpoolctl) and runs the original. Numba's thread count at each call
    is appended to the list's attribute ``numba``."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import scipy.linalg.cython_blas  # noqa: F401

    seen = _Seen()
    for name in names:
        original = getattr(module, name)

        def spy(*args, _original=original):
            seen.append({i["num_threads"] for i in threadpoolctl.threadpool_info()
                         if i["user_api"] == "blas"})
            seen.numba.append(numba.get_num_threads())
            return _original(*args)

        monkeypatch.setattr(module, name, spy)
    return seen


@pytest.mark.parametrize("threads_arg", [1, 2, 8])
def test_fit_threads_argument_sets_numba_threads_for_that_fit_only(monkeypatch, threads_arg):
    from fastnn.kernels import training as ktrain

    seen = _blas_threads_seen_by(monkeypatch, ktrain, ["train_epochs"])
    net, X, Y = _net_and_batch([512, 256, 2], 128, np.float32)
    assert 64 * 512 * 256 >= threads.THREADED_WORK
    before = numba.get_num_threads()
    net.fit(X, Y, epochs=2, batch_size=64, verbose=0, threads=threads_arg)
    assert seen and all(counts == {1} for counts in seen), seen  # BLAS on one thread
    # Numba's threads: as asked, within its pool (8 on a 2-core machine runs 2).
    assert seen.numba == [min(threads_arg, numba.config.NUMBA_NUM_THREADS)] * len(seen)
    assert numba.get_num_threads() == before
    assert threads.get_num_threads() == "auto"  # the global setting is untouched


def test_threads_none_leaves_numba_and_blas_alone(monkeypatch):
    from fastnn.kernels import training as ktrain

    seen = _blas_threads_seen_by(monkeypatch, ktrain, ["train_epochs"])
    net, X, Y = _net_and_batch([512, 256, 2], 128, np.float32)
    outside = {i["num_threads"] for i in __import__("threadpoolctl").threadpool_info()
               if i["user_api"] == "blas"}
    net.fit(X, Y, epochs=1, batch_size=64, verbose=0, threads=None)  # None: the global "auto"
    with fastnn.num_threads(None):
        net.fit(X, Y, epochs=1, batch_size=64, verbose=0)
    assert seen[0] == {1} and seen[-1] == outside, seen
    assert seen.numba[-1] == numba.get_num_threads()


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                        ("2", ValueError), ("fast", ValueError), (True, TypeError)])
def test_fit_threads_argument_validated(bad, error):
    net, X, Y = _net_and_batch([3, 4, 1], 8, np.float64)
    before = net.params.copy()
    with pytest.raises(error, match="threads"):
        net.fit(X, Y, epochs=1, verbose=0, threads=bad)
    np.testing.assert_array_equal(net.params, before)


def test_estimator_threads_parameter(monkeypatch):
    pytest.importorskip("sklearn")
    from fastnn.kernels import training as ktrain
    from fastnn.sklearn import FastMLPClassifier

    seen = _blas_threads_seen_by(monkeypatch, ktrain, ["train_epochs"])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 512)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    clf = FastMLPClassifier(hidden_layer_sizes=(256,), max_iter=2, batch_size=64, dtype=np.float32,
                            threads=2, random_state=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after 2 iterations
        clf.fit(X, y)
    assert seen and all(counts == {1} for counts in seen), seen
    assert seen.numba == [min(2, numba.config.NUMBA_NUM_THREADS)] * len(seen)
    assert clf.get_params()["threads"] == 2
    with pytest.raises(ValueError, match="threads"):
        FastMLPClassifier(threads=0, max_iter=1).fit(X[:20], y[:20])


def test_auto_threads_policy_follows_the_faster_count_and_retries_the_other():
    """The "auto" policy on made-up timings and a fake clock: it measures both counts,
    uses the faster by running mean, re-tries the slower within its time budget, and
    switches when the machine changes (the other core gets busy, then quiet again)."""
    now = [0.0]
    policy = threads.AutoThreads((1, 2), smoothing=0.5, budget=50.0, clock=lambda: now[0])
    key = ("train", 10**9)
    cost = {1: 10.0, 2: 6.0}  # a quiet machine: two threads faster

    def run(calls):
        used = []
        for _ in range(calls):
            n = policy.choose(key)
            now[0] += cost[n]
            policy.record(key, n, cost[n])
            used.append(n)
        return used

    first = run(4)
    assert sorted(first) == [1, 1, 2, 2]  # each measured twice first
    used = run(500)
    tries = used.count(1)  # one re-try per 50 x 10 s of 6 s calls: every ~83 calls
    assert 4 <= tries <= 8, tries
    assert tries * cost[1] <= 0.03 * sum(cost[n] for n in used)  # within the budget
    assert policy.means(key) == {1: 10.0, 2: 6.0}
    cost[2] = 60.0  # the other core got busy: two-thread calls stall
    used = run(60)
    assert used[2:].count(2) <= 2, used  # left after a call or two, re-tried within budget
    assert policy.means(key)[1] < policy.means(key)[2]
    cost[2] = 6.0  # quiet again: a re-try of two threads wins it back (the stalled
    used = run(300)  # count's re-try interval is 50 x its mean, ~170 calls here)
    assert used[-100:].count(2) >= 97, used
    # Another size of call is measured on its own.
    assert policy.choose(("train", 5)) == 1 and policy.means(("train", 5)) == {}


def test_auto_threads_in_fit_uses_one_or_all_cores_and_records_times(monkeypatch):
    from fastnn.kernels import training as ktrain

    seen = _blas_threads_seen_by(monkeypatch, ktrain, ["train_epochs"])
    policy = threads.AutoThreads((1, 2))
    monkeypatch.setattr(threads, "_auto", policy)
    net, X, Y = _net_and_batch([512, 256, 2], 128, np.float32)
    net.fit(X, Y, epochs=6, batch_size=64, verbose=0, validation_data=(X, Y), threads="auto")
    assert all(counts == {1} for counts in seen), seen
    two = min(2, numba.config.NUMBA_NUM_THREADS)
    assert seen.numba == [1, 1, two, two, *seen.numba[4:]], seen.numba
    assert all(n in (1, two) for n in seen.numba)
    means = policy.means(("train", 64 * 512 * 256))
    assert set(means) == {1, 2} and all(t > 0 for t in means.values())
    assert threads.get_num_threads() == "auto"


def test_auto_threads_on_one_core_is_one_thread(monkeypatch):
    from fastnn.kernels import training as ktrain

    seen = _blas_threads_seen_by(monkeypatch, ktrain, ["train_epochs"])
    monkeypatch.setattr(threads, "_auto", threads.AutoThreads((1,)))
    net, X, Y = _net_and_batch([512, 256, 2], 128, np.float32)
    net.fit(X, Y, epochs=3, batch_size=64, verbose=0, validation_data=(X, Y), threads="auto")
    assert seen and all(counts == {1} for counts in seen), seen
    assert seen.numba == [1] * len(seen)


def test_threads_script_prints_every_setting(capsys):
    """``python -m asv_benchmarks.threads`` (the README's threads table), quick run."""
    script = pytest.importorskip("asv_benchmarks.threads")
    script.main(["-w", "tiny", "--rounds", "1", "--block", "0.001"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("tiny ")]
    settings = {" ".join(row[2:4]) for row in rows}
    counts = script._settings(threads.available_cores())
    expected = {f"{what}, {n}" for what in ("train_step", "fit") for n in counts}
    assert settings == expected
    assert all(float(row[row.index("mean") + 1]) > 0 for row in rows)
    assert threads.get_num_threads() == "auto"


def test_fit_applies_the_thread_policy_around_each_epoch(monkeypatch):
    import contextlib

    calls = []

    @contextlib.contextmanager
    def record(work, steps=1, kind="train"):
        calls.append((work, steps, kind))
        yield

    monkeypatch.setattr(threads, "training_threads", record)
    net, X, Y = _net_and_batch([512, 256, 2], 128, np.float32)
    net.fit(X, Y, epochs=3, batch_size=64, validation_data=(X, Y), verbose=0)
    # one epoch call each: batch 64 x the largest layer (256 x 512), 2 steps of the 128 samples
    assert calls.count((64 * 512 * 256, 2, "train")) == 3
    assert calls.count((128 * 512 * 256, 1, "forward")) == 3  # one validation pass each
    assert len(calls) == 6
    # Below the size from which OpenBLAS threads, the epoch kernel is called without it.
    calls.clear()
    X, Y = xor()
    fastnn.Network([2, 8, 1], seed=0).fit(X, Y, epochs=3, batch_size=2, verbose=0)
    assert calls == []
