"""Whole-network benchmarks: one training step, one epoch, predict, memory of a
training loop, the final loss of a fixed run, and the cold start of a fresh process.

The peers run the same step in :mod:`asv_benchmarks.bench_peers`, so the ratios are
visible in one ``asv`` run.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from .common import DTYPES, LR, NAMES, SEED, SMOKE, WORKLOADS, FastnnFit, FastnnStep


class TrainStep:
    """One full training step: ``Network.train_step`` (forward, backward, SGD update)."""

    params = (NAMES, DTYPES)
    param_names = ["workload", "dtype"]

    def setup(self, name, dtype):
        self.impl = FastnnStep(name, dtype)  # compiles (or loads the cache) and warms up

    def time_train_step(self, name, dtype):
        self.impl.step()

    def time_train_step_kernel(self, name, dtype):
        """The compiled step alone, without the API's input checks."""
        self.impl.kernel_step()


class FitStep:
    """``Network.fit``, the training loop users run (one compiled call per epoch), on the
    same workload as :class:`TrainStep`: ``time_fit`` is one call of
    :data:`~asv_benchmarks.common.FIT_STEPS` steps; ``track_fit_step`` the median time
    per step over 7 calls, the number to put next to ``time_train_step``."""

    params = (NAMES, DTYPES)
    param_names = ["workload", "dtype"]
    timeout = 120

    def setup(self, name, dtype):
        self.impl = FastnnFit(name, dtype)  # compiles (or loads the cache) and warms up

    def time_fit(self, name, dtype):
        self.impl.fit()

    def track_fit_step(self, name, dtype):
        times = []
        for _ in range(7):
            start = time.perf_counter()
            self.impl.fit()
            times.append((time.perf_counter() - start) / self.impl.steps)
        return statistics.median(times)

    track_fit_step.unit = "seconds"


class Epoch:
    """One epoch of 8 mini-batches of the workload's batch size, data gathered per batch
    from a sample-major array (what a fit loop does)."""

    params = (NAMES, DTYPES)
    param_names = ["workload", "dtype"]
    n_batches = 8

    def setup(self, name, dtype):
        import fastnn

        sizes, m = WORKLOADS[name]
        rng = np.random.default_rng(SEED)
        n = m * self.n_batches
        self.X = rng.standard_normal((sizes[0], n)).astype(dtype)
        self.Y = (rng.random((sizes[-1], n)) < 0.5).astype(dtype)
        self.batches = [(np.ascontiguousarray(self.X[:, s : s + m]), np.ascontiguousarray(self.Y[:, s : s + m]))
                        for s in range(0, n, m)]
        self.net = fastnn.Network(list(sizes), dtype=dtype, seed=SEED)
        self.time_epoch(name, dtype)

    def time_epoch(self, name, dtype):
        net = self.net
        for X, Y in self.batches:
            net.train_step(X, Y, LR)


class Predict:
    params = (NAMES, DTYPES)
    param_names = ["workload", "dtype"]

    def setup(self, name, dtype):
        import fastnn

        sizes, _ = WORKLOADS[name]
        rng = np.random.default_rng(SEED)
        self.X = rng.standard_normal((sizes[0], 2048)).astype(dtype)
        self.net = fastnn.Network(list(sizes), dtype=dtype, seed=SEED)
        self.net.predict(self.X)

    def time_predict(self, name, dtype):
        self.net.predict(self.X)


class Memory:
    """Peak memory of building a network and training it for 50 steps."""

    params = ([name for name in ("small", "medium") if name in NAMES] or NAMES[:1], DTYPES)
    param_names = ["workload", "dtype"]

    def setup(self, name, dtype):
        FastnnStep(name, dtype)  # compile outside the measured function

    def peakmem_train_loop(self, name, dtype):
        impl = FastnnStep(name, dtype)
        for _ in range(50):
            impl.step()


class FinalLoss:
    """Loss after 200 steps from a fixed seed: a change here is a change in numerics."""

    params = ([name for name in ("tiny", "small") if name in NAMES] or NAMES[:1], DTYPES)
    param_names = ["workload", "dtype"]
    unit = "loss"

    def setup(self, name, dtype):
        self.impl = FastnnStep(name, dtype)

    def track_final_loss(self, name, dtype):
        impl = FastnnStep(name, dtype)
        for _ in range(200):
            impl.step()
        return impl.loss()


_COLD_START = (
    "import numpy as np, fastnn\n"
    "X = np.ones((2, 4), dtype=np.{dtype}); Y = np.ones((1, 4), dtype=np.{dtype})\n"
    "fastnn.Network([2, 8, 1], dtype=np.{dtype}).train_step(X, Y, 0.1)\n"
    "import time; print(repr(time.time()))\n"
)


class _FreshProcess:
    """A child interpreter run with a chosen kernel cache folder (the cold-start benchmarks)."""

    params = (["cold_cache", "warm_cache"], DTYPES[:1] if SMOKE else DTYPES)
    param_names = ["cache", "dtype"]
    runs = 1 if SMOKE else 3  # cold runs compile everything: ~20 s each
    number = 1
    repeat = (1, 3, 30.0)
    timeout = 300
    template = None
    """The child's code, formatted with ``dtype``; it prints the wall-clock time when done."""

    def setup(self, cache, dtype):
        import fastnn

        self.root = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
        self.code = self.template.format(dtype=dtype)
        self.tmp = tempfile.mkdtemp(prefix="fastnn-asv-cache-")
        if cache == "warm_cache":
            self._run(self.tmp)

    def _run(self, cache_dir):
        """Run the child; return seconds from its start to the end of its work."""
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [self.root, env.get("PYTHONPATH")]))
        start = time.time()
        done = subprocess.run([sys.executable, "-c", self.code], check=True, env=env,
                              capture_output=True, text=True)
        return float(done.stdout.split()[-1]) - start

    def _cache_dir(self, cache):
        if cache == "cold_cache":
            return tempfile.mkdtemp(prefix="fastnn-asv-cold-", dir=self.tmp)
        return self.tmp

    def _median(self, cache):
        return statistics.median(self._run(self._cache_dir(cache)) for _ in range(self.runs))

    def teardown(self, cache, dtype):
        import shutil

        shutil.rmtree(self.tmp, ignore_errors=True)


class ColdStart(_FreshProcess):
    """A fresh process: ``import fastnn`` + the first training step, with the kernels
    compiled from scratch (empty cache) or loaded from a warm on-disk cache.

    ``time_first_step`` is the whole process, interpreter start-up and exit included;
    ``track_time_to_first_step`` stops the clock when the first step has returned (the
    child prints the wall-clock time then), which is what a user waits for: the
    interpreter's tear-down at exit (a garbage collection over every object Numba and
    SciPy created, about 0.2 s here) is not part of reaching the first step.
    """

    template = _COLD_START

    def time_first_step(self, cache, dtype):
        self._run(self._cache_dir(cache))

    def track_time_to_first_step(self, cache, dtype):
        return self._median(cache)

    track_time_to_first_step.unit = "seconds"


_COLD_FIT = (
    "import warnings, numpy as np, fastnn\n"
    "warnings.filterwarnings('ignore', category=fastnn.CompileWarning)\n"
    "rng = np.random.default_rng(0)\n"
    "X = rng.random((4, 64)).astype(np.{dtype})\n"
    "Y = (X.sum(axis=0, keepdims=True) > 2).astype(np.{dtype})\n"
    "net = fastnn.Network([4, 8, 1], dtype=np.{dtype})\n"
    "net.fit(X, Y, epochs=5, batch_size=16, optimizer='sgd', verbose=0)\n"
    "import time; print(repr(time.time()))\n"
)


class ColdFit(_FreshProcess):
    """A fresh process: ``import fastnn`` + the end of a first ``Network.fit`` (a small
    sigmoid network, plain SGD), with an empty or a warm kernel cache: what a new user
    waits for. The compile time per kernel: ``python -m asv_benchmarks.compile_times --run fit``.
    """

    template = _COLD_FIT
    # CI's smoke run: one empty-cache fit (one cold compile), not a second one to warm up.
    params = (["cold_cache"], DTYPES[:1]) if SMOKE else _FreshProcess.params

    def track_time_to_first_fit(self, cache, dtype):
        return self._median(cache)

    track_time_to_first_fit.unit = "seconds"
