"""Numba kernels: every ``@njit`` function of fastnn, grouped by topic.

- :mod:`~fastnn.kernels.activations`: bias + activation (fused), activation derivatives
- :mod:`~fastnn.kernels.dense`: the fused dense forward and the accumulating backward
- :mod:`~fastnn.kernels.losses`: loss values and their output gradients
- :mod:`~fastnn.kernels.optimizers`: in-place parameter updates
- :mod:`~fastnn.kernels.network`: whole-network forward, backward and training step
  over flat parameter buffers
- :mod:`~fastnn.kernels.training`: a whole mini-batch epoch in one call
- :mod:`~fastnn.kernels._jit`: the JIT policy (flags, cache), defined once

Kernels never validate: the API layer guarantees shapes, dtypes and contiguity.

Before the kernel modules are imported, this package makes sure Numba's on-disk cache
is usable and current:

* Numba keys a cached function on its own source file only; a change to a helper in
  another module would leave a stale cache. A hash of all kernel sources is kept in a
  stamp file beside the cache, and fastnn's cache files are dropped when it changes.
* When the package folder is not writable (a system install, a read-only mount), the
  cache goes to a per-user temporary folder named after that hash instead of making
  Numba's decorator raise at import time.
"""

import hashlib
import os
import tempfile
from pathlib import Path

import numba

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


def _prepare_cache():
    """Drop stale cache files, or redirect the cache when the package is read-only."""
    source_hash = _source_hash()
    pycache = _HERE / "__pycache__"
    if numba.config.CACHE_DIR or not _writable(pycache):
        if not numba.config.CACHE_DIR:
            user = os.environ.get("USER") or str(os.getuid() if hasattr(os, "getuid") else "")
            fallback = Path(tempfile.gettempdir()) / f"fastnn-numba-cache-{user}-{source_hash}"
            fallback.mkdir(parents=True, exist_ok=True)
            numba.config.CACHE_DIR = str(fallback)
        return
    stamp = pycache / _STAMP_NAME
    try:
        current = stamp.read_text().strip()
    except OSError:
        current = ""
    if current != source_hash:
        for path in pycache.iterdir():
            if path.suffix in (".nbi", ".nbc"):
                path.unlink(missing_ok=True)
        stamp.write_text(source_hash + "\n")


_prepare_cache()

from . import activations, dense, losses, network, optimizers, training  # noqa: E402

__all__ = ["activations", "dense", "losses", "network", "optimizers", "training"]
