"""Side-by-side comparison of one training step: fastnn against the installed peers.

    python -m asv_benchmarks.compare                  # all workloads, float32 and float64
    python -m asv_benchmarks.compare -w tiny small -d float32 --rounds 31

Every implementation runs the same step on the same seeded batch (see
:mod:`asv_benchmarks.common`). They are timed INTERLEAVED: each round times a block of
steps of every implementation in turn (in a shuffled order), so a burst of load from another process hits all
of them alike; the table gives the median over rounds of the time per step.

Rows: ``fastnn`` is ``Network.train_step`` (input checks included); ``fastnn-kernel`` is
the compiled step it calls; ``fastnn-fit`` is the time per step inside ``Network.fit``
(the training loop users run: one compiled call per epoch, shuffling and gathering
each batch, set-up amortized over :data:`common.FIT_STEPS` steps); ``gemm-only`` is
just the step's matrix products with NumPy on preallocated buffers. Ratios are
``peer time / fastnn time`` (above 1: fastnn is faster); for gemm-only, fastnn's speed
as a fraction of the products' alone.

Threads: fastnn uses its default (:mod:`fastnn.threads`, "auto": all cores for big
layers, one BLAS thread per tile) unless ``--threads N`` (or ``auto``) is given. Peers
use their own defaults unless ``--peer-threads N`` is given. The table gives medians; the
mean is printed beside them, since a stalled two-thread region shows in the mean first.

The header names the BLAS each library runs (threadpoolctl's view: library, version,
kernel architecture, threads). Where ``OPENBLAS_CORETYPE`` is set (some machines set it
for old OpenBLAS builds), every OpenBLAS in the process, fastnn's and NumPy's, runs the
kernels it names; to compare against a current NumPy as its users run it, unset it and
``OPENBLAS_L2_SIZE`` for that command alone::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m asv_benchmarks.compare
"""

import argparse
import os
import random
import statistics
import time

import numpy as np

from . import common


def _block_size(fn, target):
    """Steps per timed block so that a block takes about ``target`` seconds.

    ``fn`` runs once untimed first: a first call that loads compiled code from the cache
    (milliseconds) made the block one call long, and one-call blocks timed a cold call
    (a tiny step measured 7.4 us instead of 1.3 us)."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(target / once))


def measure(impls, rounds, target):
    """Median seconds per step of each callable in ``impls`` (dict), timed interleaved."""
    sizes = {name: _block_size(fn, target) for name, fn in impls.items()}
    samples = {name: [] for name in impls}
    order = list(impls)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)  # no implementation always runs right after the same other one
        for name in order:
            fn, n = impls[name], sizes[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            # A callable with a ``steps`` attribute runs that many steps per call.
            samples[name].append((time.perf_counter() - t0) / (n * getattr(fn, "steps", 1)))
    return {name: statistics.median(values) for name, values in samples.items()}, samples


def _fmt_time(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.2f} us"
    return f"{seconds * 1e3:8.2f} ms"


def build(workload, dtype, peers):
    impls, labels = {}, {}
    fast = common.FastnnStep(workload, dtype)
    impls["fastnn"] = fast.step
    impls["fastnn-kernel"] = fast.kernel_step
    fit = common.FastnnFit(workload, dtype)

    def fit_step():
        fit.fit()

    fit_step.steps = fit.steps
    impls["fastnn-fit"] = fit_step
    for peer in peers:
        if peer == "gemm" or (peer == "torch" and not common.torch_available()):
            continue
        try:
            impl = common.PEERS[peer](workload, dtype)
        except ImportError:
            continue
        impls[peer] = impl.step
    if workload == "large" or "gemm" in peers:
        impls["gemm-only"] = common.GemmOnly(workload, dtype).step
    return impls, labels


def blas_report():
    """Lines naming each loaded BLAS: owner (numpy/scipy/torch/...), library, version,
    kernel architecture, thread count; and the environment variables that steer it."""
    from threadpoolctl import threadpool_info

    lines = []
    for info in threadpool_info():
        if info.get("user_api") != "blas":
            continue
        path = info.get("filepath", "")
        owner = next((name for name in ("numpy", "scipy", "torch", "sklearn") if f"{name}" in path), "?")
        lines.append(f"  BLAS of {owner:6} {info.get('internal_api')} {info.get('version')} "
                     f"kernels={info.get('architecture')} threads={info.get('num_threads')}")
    if common.torch_available():
        import torch

        lines.append(f"  torch {torch.__version__}: {torch.get_num_threads()} intra-op threads, "
                     f"MKL={torch.backends.mkl.is_available()}")
    steering = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                           "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if k in os.environ}
    if steering:
        lines.append("  environment: " + " ".join(f"{k}={v}" for k, v in steering.items()))
    if "OPENBLAS_CORETYPE" in os.environ:
        lines.append("  note: OPENBLAS_CORETYPE pins every OpenBLAS here to those kernels; to compare "
                     "with NumPy as its users run it: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...")
    return lines


def _limit_peers(n):
    """Limit the peers to ``n`` threads for the whole run (fastnn sets its own around
    each of its calls and restores what it found)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(n, user_api="blas")
    if common.torch_available():
        import torch

        torch.set_num_threads(n)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-w", "--workloads", nargs="+", default=common.NAMES, choices=common.NAMES)
    parser.add_argument("-d", "--dtypes", nargs="+", default=common.DTYPES, choices=common.DTYPES)
    parser.add_argument("-p", "--peers", nargs="+", default=list(common.PEERS),
                        choices=list(common.PEERS) + ["gemm"])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--block", type=float, default=0.02,
                        help="seconds per timed block of steps (default 0.02)")
    parser.add_argument("--peer-threads", type=int, default=None,
                        help="limit the peers' threads (default: their own defaults)")
    parser.add_argument("--threads", type=lambda v: v if v == "auto" else int(v), default=None,
                        help="fastnn's threads, N or 'auto' (default: fastnn's default)")
    args = parser.parse_args(argv)

    import scipy.linalg.cython_blas  # noqa: F401  (load every BLAS before limiting threads)

    import fastnn

    if args.peer_threads is not None:
        _limit_peers(args.peer_threads)
    if args.threads is not None:
        fastnn.set_num_threads(args.threads)
    print(f"fastnn {fastnn.__version__}, threads: {fastnn.get_num_threads()}; "
          f"peers' threads: {args.peer_threads or 'their defaults'}; "
          f"median of {args.rounds} interleaved rounds")
    for peer in args.peers:  # load every peer's libraries before reporting their BLAS
        if peer in common.PEERS and (peer != "torch" or common.torch_available()):
            try:
                common.PEERS[peer]("tiny", "float32")
            except ImportError:
                pass
    print("\n".join(blas_report()))
    header = (f"{'workload':8} {'dtype':7} {'impl':14} {'step':>11} {'mean':>11} {'samples/s':>12}"
              "  fastnn (train_step) is")
    print(header)
    print("-" * len(header))
    for workload in args.workloads:
        m = common.WORKLOADS[workload][1]
        for dtype in args.dtypes:
            impls, _ = build(workload, dtype, args.peers)
            medians, samples = measure(impls, args.rounds, args.block)
            ours = medians["fastnn"]
            for name, t in medians.items():
                if name == "fastnn":
                    note = ""
                elif name == "fastnn-kernel":
                    note = "(the compiled step alone)"
                elif name == "fastnn-fit":
                    note = "(per step inside Network.fit)"
                elif name == "gemm-only":
                    note = (f"{t / ours * 100:5.1f}% of gemm-only speed (kernel: "
                            f"{t / medians['fastnn-kernel'] * 100:5.1f}%, fit: {t / medians['fastnn-fit'] * 100:5.1f}%)")
                else:
                    note = (f"{t / ours:7.2f}x faster (kernel: {t / medians['fastnn-kernel']:.2f}x, "
                            f"fit: {t / medians['fastnn-fit']:.2f}x)")
                mean = statistics.mean(samples[name])
                print(f"{workload:8} {dtype:7} {name:14} {_fmt_time(t):>11} {_fmt_time(mean):>11} "
                      f"{m / t:12.0f}  {note}")
            print()


if __name__ == "__main__":
    main()
