"""Shared test constants and tolerances."""

import numpy as np

DTYPES = (np.float32, np.float64)

# Awkward shapes (rows, samples): 1x1, a batch of one, a single row, odd sizes.
SHAPES = ((1, 1), (1, 5), (4, 1), (3, 7), (17, 33))


def tolerances(dtype):
    """``dict(rtol=..., atol=...)`` for comparing a result in ``dtype`` with a float64
    reference on values of order 1 (sums of a few dozen products at most)."""
    if np.dtype(dtype) == np.float32:
        return {"rtol": 2e-5, "atol": 2e-6}
    return {"rtol": 1e-12, "atol": 1e-13}


def same_start(ours, theirs, X, y):
    """Fit scikit-learn's estimator ``theirs`` and fastnn's ``ours`` (both built with
    ``warm_start=True`` and the iterations of the start, e.g. ``max_iter=1``) on ``X, y``,
    then give ``ours`` scikit-learn's weights; returns ``(ours, theirs)``, ready to continue."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)
        ours.fit(X, y)
    ours.coefs_, ours.intercepts_ = theirs.coefs_, theirs.intercepts_
    return ours, theirs
