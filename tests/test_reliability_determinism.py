"""Determinism: the same seed gives bitwise the same weights after fit, across repeated
runs, across processes, across BLAS thread environments and across fastnn's thread counts.

What could break it: the NUMBER of BLAS threads (OpenBLAS splits a product's sums
differently with 1, 2 or 4 threads). fastnn holds BLAS to one thread around its calls and
spreads fixed tiles of its products over Numba's threads instead, so the default gives
the same bits whatever ``OPENBLAS_NUM_THREADS`` says, and so does any thread count
(tests/test_thread_invariance.py checks every entry point). ``set_num_threads(None)``
hands the choice back to the environment, and with it bitwise reproducibility.
"""

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastnn

ROOT = Path(fastnn.__file__).resolve().parent.parent

# A medium network: its products (256 x 784 x 256 = 51M multiply-adds) are far above the
# size from which OpenBLAS uses several threads.
MEDIUM = textwrap.dedent("""
    import hashlib
    import numpy as np
    import fastnn

    def medium_run(threads="default"):
        rng = np.random.default_rng(0)
        X = rng.standard_normal((784, 1024)).astype(np.float32)
        y = rng.integers(0, 10, 1024)
        net = fastnn.Network([784, 256, 10], loss="cce", dtype=np.float32, seed=0)
        import contextlib
        context = contextlib.nullcontext() if threads == "default" else fastnn.num_threads(threads)
        with context:
            net.fit(X, y, epochs=1, batch_size=256, optimizer=fastnn.SGD(0.05, momentum=0.9), seed=1,
                    verbose=0)
            P = net.predict(X[:, :300])
        return (hashlib.sha256(net.params.tobytes()).hexdigest(),
                hashlib.sha256(P.tobytes()).hexdigest())
""")
namespace = {}
exec(MEDIUM, namespace)  # noqa: S102 - the same code, in this process and in subprocesses
medium_run = namespace["medium_run"]


def digest(net):
    return hashlib.sha256(net.params.tobytes()).hexdigest()


def small_run(dtype, optimizer, accumulate=1):
    X, y = fastnn.datasets.make_moons(300, noise=0.2, seed=4)
    net = fastnn.Network([2, 16, 16, 1], activation="tanh", dtype=dtype, seed=11)
    history = net.fit(X, y, epochs=4, batch_size=17, optimizer=optimizer(), seed=5,
                      accumulate=accumulate, validation_data=(X[:, :50], y[:50]), verbose=0)
    return digest(net), history.history


@pytest.mark.parametrize("optimizer", [lambda: fastnn.SGD(0.3, momentum=0.9, nesterov=True),
                                       lambda: fastnn.Adam(0.01, weight_decay=1e-3)],
                         ids=["sgd_nesterov", "adam"])
@pytest.mark.parametrize("accumulate", [1, 3])
def test_repeated_fits_are_bitwise_identical(dtype, optimizer, accumulate):
    runs = [small_run(dtype, optimizer, accumulate) for _ in range(3)]
    assert all(run == runs[0] for run in runs)


def test_train_step_loop_is_bitwise_reproducible(dtype):
    def run():
        rng = np.random.default_rng(2)
        net = fastnn.Network([5, 9, 3], loss="cce", dtype=dtype, seed=2)
        for _ in range(50):
            X = rng.standard_normal((5, 8))
            net.train_step(X, np.eye(3)[:, rng.integers(0, 3, 8)], 0.2)
        return digest(net)
    assert run() == run()


def test_different_seeds_differ():
    X, y = fastnn.datasets.make_moons(100, seed=0)
    nets = []
    for seed in (0, 1):
        net = fastnn.Network([2, 8, 1], seed=0)
        net.fit(X, y, epochs=2, seed=seed, verbose=0)
        nets.append(digest(net))
    assert nets[0] != nets[1]  # the shuffling seed is used


def run_in_subprocess(env_threads, call="medium_run()"):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(env_threads), PYTHONPATH=str(ROOT))
    code = MEDIUM + f"\nprint(*{call})\n"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return tuple(done.stdout.split())


def test_same_bits_across_processes_and_blas_environments():
    """Default setting: one BLAS thread during fit/predict, whatever the environment says."""
    here = medium_run()
    assert run_in_subprocess(1) == here
    assert run_in_subprocess(2) == here


ADAM_FIT = textwrap.dedent("""
    import hashlib
    import numpy as np
    import fastnn
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 512)).astype(np.float32)
    net = fastnn.Network([30, 16, 10], loss="cce", dtype=np.float32, seed=0)
    net.fit(X, rng.integers(0, 10, 512), epochs=1, batch_size=256, optimizer="adam", verbose=0)
    print(hashlib.sha256(net.params.tobytes()).hexdigest())
""")


def test_adam_fit_same_bits_whether_kernels_are_compiled_or_cached(tmp_path):
    """It differed while the JIT policy had the 'contract' flag (see kernels/_jit.py)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    runs = [subprocess.run([sys.executable, "-c", ADAM_FIT], env=env, cwd=ROOT, capture_output=True,
                           text=True, timeout=600) for _ in range(2)]  # compiles, then loads
    assert all(run.returncode == 0 for run in runs), runs[0].stderr + runs[1].stderr
    assert runs[0].stdout == runs[1].stdout


def test_same_bits_across_thread_settings():
    base = medium_run()
    assert medium_run(1) == base  # the default ("auto") gives the bits of one thread
    with fastnn.num_threads(2):
        assert fastnn.get_num_threads() == 2
    assert fastnn.get_num_threads() == "auto"
    assert medium_run(2) == base
