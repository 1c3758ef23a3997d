"""The one-time notice that kernels compile, for library users as for the CLI.

A fresh install compiles fastnn's kernels at their first call (10-30 s, silent otherwise);
later processes load them from Numba's on-disk cache in a fraction of a second. The first
call of a kernel that is not cached issues one :class:`~fastnn.errors.CompileWarning` per
process (silence it with ``warnings.filterwarnings("ignore", category=fastnn.CompileWarning)``).
"""

import os
import warnings

from .errors import CompileWarning

_checked = set()  # dispatchers already looked at in this process
_warned = False
_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def kernels_cached(dispatcher):
    """Whether the kernel ``dispatcher`` is compiled in this process or in Numba's on-disk
    cache (True when that cannot be told: better silent than wrong)."""
    if getattr(dispatcher, "signatures", None):
        return True
    try:
        return os.path.exists(dispatcher._cache._cache_file._index_path)
    except AttributeError:  # Numba's internals moved
        return True


def caller_stacklevel():
    """The stack level of the first frame outside fastnn (the user's call)."""
    import sys

    level, frame = 1, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    return level


def announce_compilation(dispatcher):
    """Warn once per process if ``dispatcher``'s first call will compile it.

    Parameters
    ----------
    dispatcher : numba Dispatcher
        The kernel about to be called.
    """
    global _warned
    if dispatcher in _checked:
        return
    _checked.add(dispatcher)
    if _warned or kernels_cached(dispatcher):
        return
    _warned = True
    warnings.warn(
        "compiling fastnn's kernels: the first run after an install or upgrade takes 10-30 s; "
        "later runs load them from the cache. Silence this with warnings.filterwarnings("
        "'ignore', category=fastnn.CompileWarning)",
        CompileWarning, stacklevel=caller_stacklevel())
