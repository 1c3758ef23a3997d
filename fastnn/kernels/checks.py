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
