"""The JIT policy for every fastnn kernel, defined once.

Every ``@njit`` function in :mod:`fastnn.kernels` is decorated with :func:`kernel`,
so compilation flags live here and nowhere else (a test fails on a hard-coded
``fastmath=`` anywhere else in the package).

- ``error_model='numpy'``: the default 'python' model adds a division check to every
  loop and blocks vectorization.
- ``fastmath`` is a *set* of safe flags. ``nnan`` and ``ninf`` are deliberately left
  out: they make ``np.isnan`` return False and break overflow handling. ``contract``
  (fusing a*b+c into one FMA) is left out too: with it, the code compiled in a process
  and the same kernel loaded from the on-disk cache fused differently, so a float32
  Adam fit gave other weights in the first (compiling) run than in every later run
  (``python -m pytest tests/test_reliability_determinism.py -k compiled_or_cached``).
  Where an FMA matters it is written explicitly (``llvm.fma`` in activations.py).
- ``cache=True``: compiled code is stored beside the module (or in a fallback folder,
  see :mod:`fastnn.kernels`), so a second process starts in a fraction of a second.
"""

import numba

FASTMATH = frozenset({"arcp", "afn", "reassoc", "nsz"})
"""LLVM fast-math flags allowed in kernels: no ``nnan``/``ninf``, no ``contract``."""

JIT_OPTIONS = {
    "cache": True,
    "error_model": "numpy",
    "fastmath": set(FASTMATH),
    "nogil": True,
}

HELPER_OPTIONS = {key: value for key, value in JIT_OPTIONS.items() if key not in ("cache", "nogil")}
"""Options for ``numba.extending.overload`` helpers (inlined into kernels, which are
cached themselves): the same flags, without the dispatcher-only ones."""


def kernel(func):
    """Compile ``func`` with fastnn's JIT policy (``numba.njit(**JIT_OPTIONS)``)."""
    return numba.njit(**JIT_OPTIONS)(func)


def parallel_kernel(func):
    """:func:`kernel` with ``parallel=True``, for the tiled products (kernels/products.py)
    only: parallel kernels compile slower, so nothing else gets the flag."""
    return numba.njit(parallel=True, **JIT_OPTIONS)(func)
