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
