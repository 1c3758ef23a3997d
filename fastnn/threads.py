"""How many threads fastnn's kernels use, and why the bits never depend on it.

fastnn's matrix products (:mod:`fastnn.kernels.products`) are cut into tiles fixed by
the shapes alone, each one single-threaded BLAS call, and Numba's threads share the
tiles out. So the thread count changes the speed and never the result: training,
prediction and every other call give bitwise the same numbers for 1, 2 or 64 threads.
Around each call fastnn sets Numba's thread count and holds BLAS itself to one thread
(a multi-threaded BLAS call sums in another order); both are restored when the call
returns, so the rest of the program is not affected.

The default, ``"auto"``, uses the cores of the process's CPU affinity for work big
enough to gain (products of at least :data:`THREADED_WORK` multiply-adds; smaller calls
are left alone and run on one thread) and measures instead of trusting: for each size
of call it keeps a running mean of the time with one thread and with all cores (stalls
included), uses the faster and now and then tries the other again, within a time budget
of about 0.5%. On a quiet machine it settles on all cores for big layers; when another
process holds a core, on one thread (``python -m asv_benchmarks.threads``, with and
without ``--busy``). Since the bits do not depend on the thread count, the choice is free.

Pin the count with ``threads=N`` on a call, :func:`set_num_threads`, or the environment
variable ``FASTNN_NUM_THREADS`` (read at import: an int or "auto"). More threads than
cores are accepted (Numba runs at most ``NUMBA_NUM_THREADS``, the cores by default).

Examples
--------
>>> import fastnn
>>> fastnn.get_num_threads()
'auto'
>>> with fastnn.num_threads(2):      # two threads in this block
...     pass
>>> fastnn.set_num_threads(1)        # one thread: the same bits, on one core
>>> fastnn.set_num_threads(None)     # never touch Numba's or BLAS's thread count
>>> fastnn.set_num_threads("auto")   # back to the default
"""

import contextlib
import numbers
import os
import time

import numba

AUTO = "auto"

DEFAULT_THREADS = AUTO
"""Threads of fastnn's calls unless :func:`set_num_threads` or ``FASTNN_NUM_THREADS`` say otherwise."""

ENV_VAR = "FASTNN_NUM_THREADS"

THREADED_WORK = 262144
"""Calls whose largest product has fewer multiply-adds run as they are: their products are
one tile (or too few to share), and OpenBLAS runs a gemm of ``m * n * k < 65536 * 4``
multiply-adds on one thread anyway."""

_controller = None
_unavailable = False


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


def _from_environment():
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return DEFAULT_THREADS
    try:
        return check_threads(value if value == AUTO else int(value))
    except (TypeError, ValueError):
        raise ValueError(f"{ENV_VAR} must be a positive integer or 'auto'; got {value!r} "
                         f"(unset it for the default, 'auto')") from None


def available_cores():
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


_setting = _from_environment()


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
        _auto = AutoThreads(sorted({1, _numba_threads(available_cores())}))
    return _auto


def set_num_threads(n):
    """Set how many threads fastnn's calls may use; the results do not depend on it.

    Parameters
    ----------
    n : int >= 1, "auto" or None
        ``"auto"`` (the default, :data:`DEFAULT_THREADS`) measures whether all cores or
        one is faster (see the module notes). ``None`` leaves Numba's and BLAS's thread
        counts alone (then a multi-threaded BLAS may change the last bits).
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


def _numba_threads(n):
    """``n`` within Numba's pool (``NUMBA_NUM_THREADS``, fixed at import): more threads
    than that run on the pool, with the same bits."""
    return max(1, min(n, numba.config.NUMBA_NUM_THREADS))


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
    """Apply the thread setting around one call, then restore Numba's and BLAS's state.

    Numba runs the setting's threads (or "auto"'s choice), BLAS one thread.

    Parameters
    ----------
    work : int
        The largest matrix product of the call, in multiply-adds (``m * n_l * n_{l-1}``,
        m at least a forward tile). Below :data:`THREADED_WORK` nothing is changed.
    steps : int, default 1
        Steps (or forward chunks) the call runs: with ``"auto"``, its time per step is
        what is compared.
    kind : str, default "train"
        With ``"auto"``, calls of one kind and one ``work`` are compared with each other
        ("train": training steps; "forward": forward passes only).
    """
    n = _setting
    if n is None or work < THREADED_WORK:
        yield
        return
    auto = _auto_policy() if n == AUTO else None
    if auto is not None:
        key = (kind, work)
        n = auto.choose(key)
    blas = _blas()
    libs = blas.lib_controllers if blas is not None else []
    previous = [lib.get_num_threads() for lib in libs]
    for lib, old in zip(libs, previous):
        if old != 1:
            lib.set_num_threads(1)
    numba_previous = numba.get_num_threads()
    numba.set_num_threads(_numba_threads(n))
    start = time.perf_counter()
    try:
        yield
        if auto is not None:
            auto.record(key, n, (time.perf_counter() - start) / max(1, steps))
    finally:
        numba.set_num_threads(numba_previous)
        for lib, old in zip(libs, previous):
            if old != 1:
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
