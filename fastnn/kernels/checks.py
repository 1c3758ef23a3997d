"""Cheap checks the API layer runs after a kernel call."""

from ._jit import kernel


@kernel
def all_finite(a):
    """True if no element of ``a`` is NaN or infinite.

    Parameters
    ----------
    a : 1-D ndarray, float32 or float64
        Read.

    Returns
    -------
    bool

    Notes
    -----
    Branch-free so that it vectorizes: ``x * 0`` is 0 for a finite ``x`` and NaN for
    NaN or +-inf, and the sum is NaN as soon as one term is. (The fast-math set has no
    ``nnan``, so ``x * 0`` is not folded to 0.)
    """
    zero = a.dtype.type(0)
    acc = zero
    for i in range(a.size):
        acc += a[i] * zero
    return acc == zero


@kernel
def all_in_range(a, lo, hi):
    """True if every element of ``a`` lies in ``[lo, hi]`` (NaN never does).

    Parameters
    ----------
    a : 1-D ndarray, float32 or float64
        Read.
    lo, hi : float
        The bounds, included (cast to ``a``'s dtype).

    Returns
    -------
    bool

    Notes
    -----
    One pass, no allocation, branch-free: counts the elements with
    ``not (lo <= x <= hi)``, which is true for NaN. With finite bounds it also checks
    that every element is finite: the targets' ``[0, 1]`` check is then one pass
    instead of ``isfinite``, ``min`` and ``max``.
    """
    low = a.dtype.type(lo)
    high = a.dtype.type(hi)
    outside = 0
    for i in range(a.size):
        x = a[i]
        outside += not ((x >= low) & (x <= high))
    return outside == 0


@kernel
def batch_ok(X, Y, lo, hi):
    """True if ``X`` is all finite and ``Y`` all finite and within ``[lo, hi]``.

    The per-step check of a training batch in one call (the API's fast path; any
    failure goes through the full checks, which raise the precise error).

    Parameters
    ----------
    X : ndarray of shape (n_0, m), float32 or float64, C-contiguous
        Read.
    Y : ndarray of shape (n_L, m), same dtype, C-contiguous
        Read.
    lo, hi : float
        Bounds for ``Y``, included; ``-inf``/``inf`` for no bound.

    Returns
    -------
    bool

    Notes
    -----
    As :func:`all_finite` (``x * 0`` is NaN for NaN and +-inf) and :func:`all_in_range`,
    branch-free, one pass over each array.
    """
    zero = X.dtype.type(0)
    low = Y.dtype.type(lo)
    high = Y.dtype.type(hi)
    acc = zero
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            acc += X[i, j] * zero
    outside = 0
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            y = Y[i, j]
            acc += y * zero
            outside += not ((y >= low) & (y <= high))
    return acc == zero and outside == 0
