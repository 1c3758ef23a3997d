"""Do the step's matrix products get faster in another, equivalent formulation?

    python -m asv_benchmarks.gemm_layouts                 # medium and large, float32
    python -m asv_benchmarks.gemm_layouts -w medium -d float64 --rounds 21

Two questions, each timed interleaved (medians over rounds) with one BLAS thread:

1. Per product of the step, the feature-major (one sample per column) form, which is
   what fastnn computes (``Z = W A``, ``dW = dZ A^T``, ``dA = W^T dZ``), against the
   sample-major form (``Z^T = A^T W^T``, ``dW = dZ^T^T A^T``, ``dA^T = dZ^T W``), i.e. the
   other transposition flags and output layouts, through Numba's ``np.dot`` (SciPy's BLAS).
2. fastnn's compiled step against the same products alone, with Numba's BLAS and with
   NumPy's (they are different OpenBLAS builds): what everything around the products
   costs.
"""

import argparse
import statistics
import time

import numba
import numpy as np

from . import common


@numba.njit
def _nn(A, B, out):
    np.dot(A, B, out)


@numba.njit
def _nt(A, B, out):
    np.dot(A, B.T, out)


@numba.njit
def _tn(A, B, out):
    np.dot(A.T, B, out)


@numba.njit
def _gemms(Ws, As, dZs, dWs, X):
    L = len(Ws)
    A_prev = X
    for l in range(L):
        np.dot(Ws[l], A_prev, As[l])
        A_prev = As[l]
    for l in range(L - 1, 0, -1):
        np.dot(As[l], As[l - 1].T, dWs[l])
        np.dot(Ws[l].T, As[l], dZs[l - 1])
    np.dot(As[0], X.T, dWs[0])


def _median_times(impls, rounds, reps):
    for fn in impls.values():
        fn()
    samples = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            samples[name].append((time.perf_counter() - t0) / reps)
    return {name: statistics.median(values) for name, values in samples.items()}


def layouts(workload, dtype, rounds):
    sizes, m = common.WORKLOADS[workload]
    rng = np.random.default_rng(common.SEED)
    reps = 2 if workload == "large" else 20
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = rng.standard_normal((n_out, n_in)).astype(dtype)
        A = rng.standard_normal((n_in, m)).astype(dtype)
        dZ = rng.standard_normal((n_out, m)).astype(dtype)
        At, dZt = np.ascontiguousarray(A.T), np.ascontiguousarray(dZ.T)
        Z, Zt = np.empty((n_out, m), dtype), np.empty((m, n_out), dtype)
        dW = np.empty((n_out, n_in), dtype)
        dA, dAt = np.empty((n_in, m), dtype), np.empty((m, n_in), dtype)
        t = _median_times({
            "Z=W A": lambda: _nn(W, A, Z), "Zt=At W^T": lambda: _nt(At, W, Zt),
            "dW=dZ A^T": lambda: _nt(dZ, A, dW), "dW=dZt^T At": lambda: _tn(dZt, At, dW),
            "dA=W^T dZ": lambda: _tn(W, dZ, dA), "dAt=dZt W": lambda: _nn(dZt, W, dAt),
        }, rounds, reps)
        print(f"{workload:7} {dtype:8} layer {n_in:>4}->{n_out:<4} m={m}: "
              + "  ".join(f"{name} {value * 1e6:8.0f} us" for name, value in t.items()))


def overhead(workload, dtype, rounds):
    from numba.typed import List

    gemm = common.GemmOnly(workload, dtype)
    fast = common.FastnnStep(workload, dtype)
    args = [List(items) for items in (gemm.W, gemm.A, gemm.dZ, gemm.dW)] + [gemm.X]
    t = _median_times({"gemm-only (numpy BLAS)": gemm.step,
                       "gemm-only (numba BLAS)": lambda: _gemms(*args),
                       "fastnn-kernel": fast.kernel_step},
                      rounds, 1 if workload == "large" else 10)
    own = t["gemm-only (numba BLAS)"] / t["fastnn-kernel"] * 100
    print(f"{workload:7} {dtype:8} " + "  ".join(f"{name} {value * 1e3:.3f} ms" for name, value in t.items())
          + f"  -> the kernel runs at {own:.1f}% of its own BLAS's products alone")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-w", "--workloads", nargs="+", default=["medium", "large"], choices=list(common.WORKLOADS))
    parser.add_argument("-d", "--dtypes", nargs="+", default=["float32"], choices=common.DTYPES)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)

    import scipy.linalg.cython_blas  # noqa: F401  (load every BLAS before limiting threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    for workload in args.workloads:
        for dtype in args.dtypes:
            layouts(workload, dtype, args.rounds)
            overhead(workload, dtype, args.rounds)


if __name__ == "__main__":
    main()
