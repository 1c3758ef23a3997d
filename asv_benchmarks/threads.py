"""fastnn's thread settings side by side: 1 thread, all cores, and "auto" (the default).

    python -m asv_benchmarks.threads                 # medium and large, float32
    python -m asv_benchmarks.threads --busy          # with another process holding a core

Times ``Network.train_step`` and the step inside ``Network.fit`` of a workload under
``fastnn.num_threads(n)`` for each setting, interleaved as in
:mod:`asv_benchmarks.compare`, and prints the median and the MEAN time per step (the
mean is what a stalled two-thread region shows in). ``--busy`` starts a busy-looping
child process for the duration, the case of a shared machine whose other core is taken.
NumPy's own BLAS is limited to one thread so that only fastnn's threads are measured.
"""

import argparse
import statistics
import subprocess
import sys

from . import common
from .compare import blas_report, measure


def _settings(cores):
    return [1, cores, "auto"] if cores > 1 else [1, "auto"]


def build(workload, dtype, settings):
    import fastnn

    step = common.FastnnStep(workload, dtype)
    fit = common.FastnnFit(workload, dtype)
    impls = {}
    for n in settings:
        def run_step(n=n):
            with fastnn.num_threads(n):
                step.step()

        def run_fit(n=n):
            with fastnn.num_threads(n):
                fit.fit()

        run_fit.steps = fit.steps
        impls[f"train_step, {n}"] = run_step
        impls[f"fit, {n}"] = run_fit
    return impls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-w", "--workloads", nargs="+", default=["medium", "large"], choices=common.NAMES)
    parser.add_argument("-d", "--dtypes", nargs="+", default=["float32"], choices=common.DTYPES)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=float, default=0.05, help="seconds per timed block (default 0.05)")
    parser.add_argument("--busy", action="store_true", help="keep another core busy meanwhile")
    args = parser.parse_args(argv)

    import scipy.linalg.cython_blas  # noqa: F401  (load every BLAS before limiting threads)
    from threadpoolctl import threadpool_limits

    from fastnn import threads

    with threadpool_limits(1, user_api="blas"):  # NumPy's pool stays quiet; fastnn sets its own
        _run(args, threads.available_cores())


def _run(args, cores):
    print(f"cores available: {cores}; other core busy: {args.busy}; "
          f"median and mean of {args.rounds} interleaved rounds")
    print("\n".join(blas_report()))
    hog = None
    if args.busy:
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        for workload in args.workloads:
            for dtype in args.dtypes:
                impls = build(workload, dtype, _settings(cores))
                medians, samples = measure(impls, args.rounds, args.block)
                for name, t in medians.items():
                    mean = statistics.mean(samples[name])
                    print(f"{workload:8} {dtype:7} {name:16} median {t * 1e3:9.3f} ms   "
                          f"mean {mean * 1e3:9.3f} ms")
                print()
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()


if __name__ == "__main__":
    main()
