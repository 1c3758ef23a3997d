"""Per-sample weights: the weighted loss of a batch and the weighting of its output gradient.

A batch of m samples (columns) carries a float64 weight vector ``ws`` of shape (m,),
already scaled by the caller so that the weighted mean loss is

    ``J = (1/m) sum_j ws_j l_j``

where ``l_j`` is sample j's loss (as :func:`~fastnn.kernels.losses.loss_value` sums it).
Then ``dJ/dZ[L]`` is the unweighted gradient of the mean loss with column j multiplied by
``ws_j``: :func:`scale_columns` after :func:`~fastnn.kernels.losses.loss_gradient`.

Two conventions are built from the user's weights ``w`` by the caller
(:func:`batch_weights` for the epoch kernel): scikit-learn's MLP (``ws_j = m w_j / sum_b w``:
the weighted average ``sum w_j l_j / sum w_j`` of the batch) and Keras' ``fit``
(``ws_j = w_j``: ``sum w_j l_j / m``, the "sum over batch size" reduction).
"""

import numpy as np

from ._jit import kernel
from .losses import BCE, CCE, MSE, POISSON, _softplus_tail, cce_sample_loss


@kernel
def weighted_loss_value(Z, A, Y, loss, ws):
    """Weighted mean loss ``(1/m) sum_j ws_j l_j`` over the m samples (columns), float64.

    Parameters
    ----------
    Z, A, Y, loss
        As in :func:`~fastnn.kernels.losses.loss_value` (whose per-sample terms are used).
    ws : float64 ndarray of shape (m,)
        Read: the weight of each column.

    Notes
    -----
    ``ws = 1`` gives :func:`~fastnn.kernels.losses.loss_value` up to the order of the sums.
    """
    n, m = A.shape
    total = 0.0
    if loss == BCE:
        for i in range(n):
            for j in range(m):
                z = np.float64(Z[i, j])
                total += ws[j] * (max(z, 0.0) - z * np.float64(Y[i, j]) + _softplus_tail(z))
        return total / m
    if loss == CCE:
        for j in range(m):
            total += ws[j] * cce_sample_loss(Z, Y, j)
        return total / m
    if loss == POISSON:
        for i in range(n):
            for j in range(m):
                y = np.float64(Y[i, j])
                z = np.float64(Z[i, j])
                ylogy = y * np.log(y) if y > 0.0 else 0.0
                total += ws[j] * (ylogy - y * z - y + np.float64(A[i, j]))
        return total / m
    for i in range(n):
        for j in range(m):
            d = np.float64(A[i, j]) - np.float64(Y[i, j])
            total += ws[j] * d * d
    return total / (m * n)


@kernel
def scale_columns(dZ, ws):
    """``dZ[:, j] *= ws[j]`` in place.

    Parameters
    ----------
    dZ : ndarray of shape (n, m), C-contiguous
        Updated in place.
    ws : float64 ndarray of shape (m,)
        Read.
    """
    n, m = dZ.shape
    for i in range(n):
        for j in range(m):
            dZ[i, j] *= dZ.dtype.type(ws[j])


@kernel
def batch_weights(weights, rows, by_sum, out):
    """Gather the weights of a batch and scale them to a convention of the module docstring.

    Parameters
    ----------
    weights : float64 ndarray of shape (N,)
        Read: the user's weight of each sample.
    rows : int64 ndarray of shape (m,)
        Read: the batch's samples.
    by_sum : bool
        True: scikit-learn's ``ws_j = m w_j / sum_batch w``; False: Keras' ``ws_j = w_j``.
    out : float64 ndarray of shape (>= m,)
        ``out[:m]`` overwritten with ``ws``.

    Returns
    -------
    float
        The divisor of the batch's L2 penalty: ``sum_batch w`` (by_sum) or m.
    """
    m = rows.size
    total = 0.0
    for j in range(m):
        w = weights[rows[j]]
        out[j] = w
        total += w
    if not by_sum:
        return np.float64(m)
    if total > 0.0:
        factor = m / total
        for j in range(m):
            out[j] *= factor
    return total
