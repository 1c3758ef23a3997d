"""The full-batch objective in one compiled call: scikit-learn's loss and its gradient.

:func:`full_batch_objective` is what :class:`fastnn.objective.FullBatchObjective` calls for
each evaluation of SciPy's L-BFGS-B: it copies the flat ``theta`` into the parameters,
runs forward and backward over the data in chunks, and writes the float64 gradient into a
preallocated buffer, so one evaluation is one kernel call with no array made in Python.
"""

import numpy as np

from ._jit import kernel
from .bundles import N_IN, N_OUT, W_OFF
from .network import carve, network_backward, network_loss
from .sparse import chunk_inputs, plan_layout


@kernel
def full_batch_objective(params, grads, layout, loss, Xs, Ys, rows, theta, total, work, chunk, alpha,
                         divisor, grad_scale, loss_scale, ws=None):
    """``J = loss_scale * mean_loss + 0.5 * alpha * sum ||W||^2 / divisor`` and its gradient.

    Parameters
    ----------
    params, grads, layout, loss : NetBuffers
        ``params`` overwritten with ``theta``; ``grads`` overwritten (the last chunk's).
    Xs, Ys : Data
        Read: dense ``Xs`` (N, n_0) or the CSR arrays of the samples; ``Ys`` (N, n_L).
    rows : int64 ndarray of shape (N,)
        Read: ``arange(N)`` (the sparse chunks' sample indices).
    theta : float64 ndarray of shape (p,)
        Read: the parameters to evaluate at.
    total : float64 ndarray of shape (p,)
        Overwritten with the gradient.
    work : ndarray
        Work space for chunks of ``chunk`` samples (``work_size(plan_layout(layout, Xs),
        chunk, True)``), overwritten.
    chunk : int
        Samples per forward/backward call.
    alpha, divisor : float
        The L2 term ``0.5 alpha sum ||W||^2 / divisor`` (N, or the weight sum), biases free.
    grad_scale, loss_scale : float
        Factors on the data gradient and the data loss.
    ws : float64 ndarray of shape (N,), optional
        Per-sample weights, scaled to ``N w / sum w`` (:mod:`fastnn.kernels.weights`).

    Returns
    -------
    float
        ``J`` (float64).

    Notes
    -----
    With chunks c of m_c samples, ``mean_loss = sum_c m_c J_c / N`` and the data gradient
    is ``sum_c (m_c / N) dJ_c``.
    """
    N = Ys.shape[0]
    p = params.size
    for i in range(p):
        params[i] = theta[i]
    plan = plan_layout(layout, Xs)
    data_loss = 0.0
    for start in range(0, N, chunk):
        stop = min(start + chunk, N)
        m = stop - start
        acts, z_out, delta, _, _, scratch = carve(work, plan, m, True)
        X = chunk_inputs(Xs, rows, start, stop)
        Y = Ys[start:stop].T
        if ws is None:
            data_loss += network_loss(params, layout, loss, X, Y, acts, z_out) * m
            network_backward(params, grads, layout, loss, X, Y, acts, delta, scratch, False)
        else:
            w = ws[start:stop]
            data_loss += network_loss(params, layout, loss, X, Y, acts, z_out, None, w) * m
            network_backward(params, grads, layout, loss, X, Y, acts, delta, scratch, False, None, w)
        factor = m / N
        if start == 0:
            for i in range(p):
                total[i] = np.float64(grads[i]) * factor
        else:
            for i in range(p):
                total[i] += np.float64(grads[i]) * factor
    if grad_scale != 1.0:
        for i in range(p):
            total[i] *= grad_scale
    squares = 0.0
    step = alpha / divisor
    for l in range(layout.shape[0]):
        start = layout[l, W_OFF]
        for i in range(start, start + layout[l, N_IN] * layout[l, N_OUT]):
            w = np.float64(params[i])
            squares += w * w
            total[i] += step * w
    return loss_scale * data_loss / N + 0.5 * alpha * squares / divisor
