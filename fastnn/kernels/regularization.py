"""Regularization kernels over flat parameter and gradient buffers (see kernels.network)."""

import numpy as np

from ._jit import kernel
from .bundles import N_IN, N_OUT, W_OFF


@kernel
def scale_add_l2(params, grads, layout, grad_scale, coef):
    """Scale the whole gradient, then add an L2 penalty's gradient to the WEIGHTS only.

    Parameters
    ----------
    params : ndarray of shape (p,), float32 or float64
        Read.
    grads : ndarray of shape (p,), same dtype
        Updated in place: ``grads <- grad_scale * grads``, then ``dW[l] += coef * W[l]``
        for every layer (biases get no penalty).
    layout : int64 ndarray of shape (L, 5)
        Read (``[n_in, n_out, w_offset, b_offset, activation]`` per layer).
    grad_scale : float
        Factor applied to every gradient first (1.0 leaves them as they are).
    coef : float
        Penalty coefficient; 0 adds nothing.

    Returns
    -------
    float
        ``sum_l ||W[l]||^2`` in float64 (the squared Frobenius norm of all weights).

    Notes
    -----
    With ``coef = alpha / m``, this is the gradient of the penalty
    ``0.5 * alpha * sum_l ||W[l]||^2 / m`` that scikit-learn's MLP adds to the mean loss
    of a batch of m samples.
    """
    t = params.dtype.type
    scale = t(grad_scale)
    c = t(coef)
    if grad_scale != 1.0:
        for i in range(grads.size):
            grads[i] *= scale
    total = 0.0
    for l in range(layout.shape[0]):
        start = layout[l, W_OFF]
        stop = start + layout[l, N_IN] * layout[l, N_OUT]
        for i in range(start, stop):
            w = params[i]
            grads[i] += c * w
            total += np.float64(w) * np.float64(w)
    return total
