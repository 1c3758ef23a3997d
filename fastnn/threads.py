"""How many threads the BLAS library may use while fastnn trains.

fastnn's kernels are serial; its matrix products call the BLAS that Numba's ``np.dot``
uses (SciPy's OpenBLAS) and NumPy's own. On a machine with few cores shared with other
work, a two-thread BLAS region spin-waits whenever the other core is busy: measured on
the 2-core development machine, the MEAN training step got several times slower with 2
threads than with 1 (see the README's performance section). So fastnn limits BLAS to
one thread during training by default, and only around its own calls: the limit is
lifted again when the call returns, so the rest of the program is not affected.

The limit is applied only to batches big enough for the BLAS to use threads at all
(OpenBLAS runs a product of ``m * n * k < 262144`` multiply-adds on one thread anyway),
so small networks pay nothing for it.

Examples
--------
>>> import fastnn
>>> fastnn.get_num_threads()
1
>>> with fastnn.num_threads(2):      # let BLAS use two threads in this block
...     pass
>>> fastnn.set_num_threads(None)     # never touch the BLAS thread count
>>> fastnn.set_num_threads(1)        # back to the default
"""

import contextlib
import numbers

DEFAULT_THREADS = 1
"""BLAS threads during training unless :func:`set_num_threads` says otherwise."""

THREADED_WORK = 262144
"""OpenBLAS multithreads a gemm only from ``m * n * k >= 65536 * 4`` multiply-adds."""

_setting = DEFAULT_THREADS
_controller = None
_unavailable = False


def _check(n):
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"threads must be a positive integer or None; got {n!r} ({type(n).__name__})")
    if n < 1:
        raise ValueError(f"threads must be a positive integer or None (leave BLAS alone); got {n}")
    return int(n)


def set_num_threads(n):
    """Set how many BLAS threads fastnn's training calls may use.

    Parameters
    ----------
    n : int >= 1 or None
        ``None`` leaves the BLAS thread count alone (whatever ``OPENBLAS_NUM_THREADS``
        or the library chose). The default is :data:`DEFAULT_THREADS` (1).
    """
    global _setting
    _setting = _check(n)


def get_num_threads():
    """The current setting: an int, or None when fastnn leaves BLAS alone."""
    return _setting


@contextlib.contextmanager
def num_threads(n):
    """Context manager: :func:`set_num_threads` ``(n)`` inside the block only."""
    global _setting
    previous = _setting
    _setting = _check(n)
    try:
        yield
    finally:
        _setting = previous


def _blas():
    """threadpoolctl's controller of the loaded BLAS libraries, or None without it."""
    global _controller, _unavailable
    if _controller is None and not _unavailable:
        try:
            import scipy.linalg.cython_blas  # noqa: F401  (the BLAS of Numba's np.dot)
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _unavailable = True
            return None
        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


@contextlib.contextmanager
def training_threads(work):
    """Apply the thread setting around one training call, then restore the BLAS state.

    Parameters
    ----------
    work : int
        The largest matrix product of the call, in multiply-adds (``m * n_l * n_{l-1}``).
        Below :data:`THREADED_WORK` nothing is changed (BLAS would not thread anyway).
    """
    n = _setting
    blas = _blas() if n is not None and work >= THREADED_WORK else None
    if blas is None:
        yield
        return
    libs = blas.lib_controllers
    previous = [lib.get_num_threads() for lib in libs]
    changed = [lib for lib, old in zip(libs, previous) if old != n]
    for lib in changed:
        lib.set_num_threads(n)
    try:
        yield
    finally:
        for lib, old in zip(libs, previous):
            if old != n:
                lib.set_num_threads(old)
