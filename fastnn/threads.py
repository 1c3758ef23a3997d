"""How many threads the BLAS library may use while fastnn trains.

fastnn's kernels are serial; its matrix products call the BLAS that Numba's ``np.dot``
uses (SciPy's OpenBLAS) and NumPy's own. On a machine with few cores shared with other
work, a two-thread BLAS region spin-waits whenever the other core is busy, and the MEAN
training step gets several times slower with 2 threads than with 1 (measure it with
``python -m asv_benchmarks.threads --busy``; figures in the README's performance section
and docs/performance-notes.md). So fastnn limits BLAS to one thread during training by
default, and only around its own calls: the limit is lifted again when the call returns,
so the rest of the program is not affected.

The limit is applied only to batches big enough for the BLAS to use threads at all
(OpenBLAS runs a product of ``m * n * k < 262144`` multiply-adds on one thread anyway),
so small networks pay nothing for it.

``"auto"`` measures instead of guessing: for each size of call it times calls with one
thread and with every core, keeps a running mean of each (stalls included), uses the
faster and now and then tries the other again, within a time budget of about 0.5%. On
a quiet machine it settles on all cores for big layers, on a busy one on a single thread
(``python -m asv_benchmarks.threads``, with and without ``--busy``).
The price: OpenBLAS splits a product differently for another thread count, so results
can differ in the last bits between runs; the default (1) keeps training bitwise
reproducible.

Examples
--------
>>> import fastnn
>>> fastnn.get_num_threads()
1
>>> with fastnn.num_threads(2):      # let BLAS use two threads in this block
...     pass
>>> fastnn.set_num_threads("auto")   # measure, and use what is faster here and now
>>> fastnn.set_num_threads(None)     # never touch the BLAS thread count
>>> fastnn.set_num_threads(1)        # back to the default
"""

import contextlib
import numbers
import os
import time

DEFAULT_THREADS = 1
"""BLAS threads during training unless :func:`set_num_threads` says otherwise."""

THREADED_WORK = 262144
"""OpenBLAS multithreads a gemm only from ``m * n * k >= 65536 * 4`` multiply-adds."""

_setting = DEFAULT_THREADS
_controller = None
_unavailable = False


AUTO = "auto"


def check_threads(n):
    """``n`` as a thread setting (a positive int, "auto" or None), else TypeError/ValueError."""
    if n is None:
        return None
    if isinstance(n, str):
        if n == AUTO:
            return AUTO
        raise ValueError(f"threads must be a positive integer, 'auto' or None; got {n!r}")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"threads must be a positive integer, 'auto' or None; got {n!r} "
                        f"({type(n).__name__})")
    if n < 1:
        raise ValueError(f"threads must be a positive integer, 'auto' or None (leave BLAS alone); got {n}")
    return int(n)


def available_cores():
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class AutoThreads:
    """The ``"auto"`` policy: per size of call, the thread count with the lower running
    mean time; the others re-tried now and then, within a time budget.

    Parameters
    ----------
    candidates : tuple of int
        Thread counts to choose from, e.g. ``(1, 2)``.
    smoothing : float
        Weight of a new time in the running mean (an exponential moving average, so a
        machine whose load changes is followed).
    budget : float
        Re-tries of a slower count cost about ``1 / budget`` of the time: one is made
        when ``budget`` times its mean has passed since the last (a count whose calls
        stall to a mean of 36 ms is re-tried every 7 s; one slightly slower than the
        best every 200 calls or so).
    clock : callable
        Seconds, monotonic (tests pass a fake one).

    Notes
    -----
    Means, not medians: a two-thread region that stalls when another process takes a
    core costs its full time, and the policy must see it. A
    re-try that comes out faster than its count's old mean replaces that mean, so one
    good re-try is enough to switch back when the machine gets quiet; if the count then
    stalls again, the running mean leaves it after a call or two.
    """

    def __init__(self, candidates, smoothing=0.3, budget=200.0, clock=time.perf_counter):
        self.candidates = tuple(candidates)
        self.smoothing = smoothing
        self.budget = budget
        self.clock = clock
        self._sizes = {}

    def _state(self, key):
        state = self._sizes.get(key)
        if state is None:
            state = self._sizes[key] = {"mean": {}, "tried": {}}
        return state

    def _best(self, state):
        return min(state["mean"], key=lambda n: state["mean"][n][0])

    def choose(self, key):
        """The thread count for the next call of size ``key``."""
        state = self._state(key)
        for n in self.candidates:  # measure every candidate twice first
            if state["mean"].get(n, (0, 0))[1] < 2:
                return n
        best = self._best(state)
        now = self.clock()
        for n in self.candidates:
            if n != best and now - state["tried"].get(n, now) >= self.budget * state["mean"][n][0]:
                return n
        return best

    def record(self, key, n, seconds):
        """Add the time of a call of size ``key`` made with ``n`` threads."""
        state = self._state(key)
        mean, count = state["mean"].get(n, (seconds, 0))
        retry = len(state["mean"]) == len(self.candidates) and n != self._best(state)
        if count == 0 or (retry and seconds < mean):
            mean = seconds
        else:
            mean = mean + self.smoothing * (seconds - mean)
        state["mean"][n] = (mean, count + 1)
        state["tried"][n] = self.clock()

    def means(self, key):
        """``{threads: running mean seconds}`` measured so far for size ``key``."""
        return {n: mean for n, (mean, _) in self._sizes.get(key, {"mean": {}})["mean"].items()}


_auto = None


def _auto_policy():
    global _auto
    if _auto is None:
        _auto = AutoThreads(sorted({1, available_cores()}))
    return _auto


def set_num_threads(n):
    """Set how many BLAS threads fastnn's training calls may use.

    Parameters
    ----------
    n : int >= 1, "auto" or None
        ``None`` leaves the BLAS thread count alone (whatever ``OPENBLAS_NUM_THREADS``
        or the library chose); ``"auto"`` measures which is faster (see the module
        notes). The default is :data:`DEFAULT_THREADS` (1).
    """
    global _setting
    _setting = check_threads(n)


def get_num_threads():
    """The current setting: an int, "auto", or None when fastnn leaves BLAS alone."""
    return _setting


@contextlib.contextmanager
def num_threads(n):
    """Context manager: :func:`set_num_threads` ``(n)`` inside the block only."""
    global _setting
    previous = _setting
    _setting = check_threads(n)
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


def for_call(threads):
    """Context manager for a ``threads=`` argument: :func:`num_threads` ``(threads)``
    (validated there), or nothing when it is None (fastnn's setting stays)."""
    return contextlib.nullcontext() if threads is None else num_threads(threads)


@contextlib.contextmanager
def training_threads(work, steps=1, kind="train"):
    """Apply the thread setting around one training call, then restore the BLAS state.

    Parameters
    ----------
    work : int
        The largest matrix product of the call, in multiply-adds (``m * n_l * n_{l-1}``).
        Below :data:`THREADED_WORK` nothing is changed (BLAS would not thread anyway).
    steps : int, default 1
        Steps (or forward chunks) the call runs: with ``"auto"``, its time per step is
        what is compared.
    kind : str, default "train"
        With ``"auto"``, calls of one kind and one ``work`` are compared with each other
        ("train": training steps; "forward": forward passes only).
    """
    n = _setting
    blas = _blas() if n is not None and work >= THREADED_WORK else None
    if blas is None:
        yield
        return
    auto = _auto_policy() if n == AUTO else None
    if auto is not None:
        key = (kind, work)
        n = auto.choose(key)
    libs = blas.lib_controllers
    previous = [lib.get_num_threads() for lib in libs]
    for lib, old in zip(libs, previous):
        if old != n:
            lib.set_num_threads(n)
    start = time.perf_counter()
    try:
        yield
        if auto is not None:
            auto.record(key, n, (time.perf_counter() - start) / max(1, steps))
    finally:
        for lib, old in zip(libs, previous):
            if old != n:
                lib.set_num_threads(old)


@contextlib.contextmanager
def single_threaded_blas():
    """BLAS on one thread inside the block, then as it was: for work between fastnn's calls
    whose vector operations are too small to gain from threads, such as SciPy's L-BFGS-B
    (its two-loop recursion on a few thousand parameters stalled for milliseconds per
    call with two threads on a loaded machine; the kernels it calls still follow
    :func:`training_threads`)."""
    blas = _blas()
    if blas is None:
        yield
        return
    with blas.limit(limits=1):
        yield
