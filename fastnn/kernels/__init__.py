"""Numba kernels: every ``@njit`` function of fastnn, grouped by topic.

- :mod:`~fastnn.kernels.activations`: bias + activation (fused), activation derivatives
- :mod:`~fastnn.kernels.dense`: the fused dense forward and the accumulating backward
- :mod:`~fastnn.kernels.products`: the matrix products, in fixed tiles over threads
  (bitwise the same for any thread count; predictions independent of the batch)
- :mod:`~fastnn.kernels.losses`: loss values and their output gradients
- :mod:`~fastnn.kernels.optimizers`: in-place parameter updates
- :mod:`~fastnn.kernels.regularization`: the L2 penalty's gradient over flat buffers
- :mod:`~fastnn.kernels.views`: 2-D views carved out of flat buffers inside kernels
- :mod:`~fastnn.kernels.network`: whole-network forward, backward and training step
  over flat parameter buffers
- :mod:`~fastnn.kernels.training`: a whole mini-batch epoch in one call
- :mod:`~fastnn.kernels.objective`: the full-batch loss and gradient in one call (lbfgs)
- :mod:`~fastnn.kernels.weights`: per-sample weights in the loss and its gradient
- :mod:`~fastnn.kernels.sparse`: the first layer on CSR rows (sparse inputs)
- :mod:`~fastnn.kernels.checks`: cheap checks after a call (all weights finite)
- :mod:`~fastnn.kernels.bundles`: the named bundles kernels take, and the status codes
- :mod:`~fastnn.kernels._jit`: the JIT policy (flags, cache), defined once

Kernels never validate: the API layer guarantees shapes, dtypes and contiguity.

Before the kernel modules are imported, this package makes sure Numba's on-disk cache
is usable and current:

* Numba keys a cached function on its own source file only; a change to a helper in
  another module would leave a stale cache. A hash of all kernel sources is kept in a
  stamp file beside the cache, and fastnn's cache files are dropped when it changes.
* A cache file that cannot be read back (truncated, corrupt) would make Numba raise
  at the first call; every fastnn cache file is unpickled once at import and, if any
  fails, they are all dropped and the kernels recompile. Its cost is part of what the
  asv benchmark ``bench_training.ColdStart`` (warm_cache) times: docs/performance-notes.md.
* When the package folder is not writable (a system install, a read-only mount), the
  cache goes to a per-user temporary folder named after that hash instead of making
  Numba's decorator raise at import time.
"""

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

import numba

from . import _jit

_HERE = Path(__file__).resolve().parent
_STAMP_NAME = "fastnn-kernels.stamp"


def _source_hash():
    digest = hashlib.sha256(numba.__version__.encode())
    for path in sorted(_HERE.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _writable(folder):
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


def _readable(path):
    """True when a Numba cache file unpickles (an index: version, then the rest)."""
    try:
        with open(path, "rb") as f:
            if path.suffix == ".nbi":
                pickle.load(f)
            pickle.loads(f.read())
    except Exception:  # any failure means the file is unusable; it is rebuilt
        return False
    return True


def _clean(folder, source_hash):
    """Delete the cache files under ``folder`` if stale (stamp differs) or unreadable."""
    stamp = folder / _STAMP_NAME
    try:
        current = stamp.read_text().strip()
    except OSError:
        current = ""
    files = [path for path in folder.rglob("*") if path.suffix in (".nbi", ".nbc")]
    if current != source_hash or not all(_readable(path) for path in files):
        for path in files:
            path.unlink(missing_ok=True)
        stamp.write_text(source_hash + "\n")


def _prepare_cache():
    """Choose a writable cache folder, then drop stale or corrupt files from it.

    A folder the user chose (``NUMBA_CACHE_DIR``) is kept when writable and left alone.
    Otherwise: the package's own ``__pycache__``, else a per-user temporary folder,
    else caching is switched off (every process compiles; nothing raises).
    """
    if numba.config.CACHE_DIR and _writable(Path(numba.config.CACHE_DIR)):
        return
    source_hash = _source_hash()
    pycache = _HERE / "__pycache__"
    if not numba.config.CACHE_DIR and _writable(pycache):
        _clean(pycache, source_hash)
        return
    user = os.environ.get("USER") or str(os.getuid() if hasattr(os, "getuid") else "")
    fallback = Path(tempfile.gettempdir()) / f"fastnn-numba-cache-{user}"
    if _writable(fallback):
        numba.config.CACHE_DIR = str(fallback)
        _clean(fallback, source_hash)
    else:
        _jit.JIT_OPTIONS["cache"] = False


_prepare_cache()

from . import activations, bundles, dense, losses, network, optimizers, training  # noqa: E402

__all__ = ["activations", "bundles", "dense", "losses", "network", "optimizers", "training"]
