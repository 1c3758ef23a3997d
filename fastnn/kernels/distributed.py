"""Kernels of data-parallel training (:mod:`fastnn.dask`): one micro-batch's gradient, the
ordered fold of micro-batch gradients, and the update.

Together they reproduce, step by step, what :func:`~fastnn.kernels.training.train_epochs`
does with ``micro_batches = k``: there the first micro-batch of a group writes its gradient
into ``grads`` and each next one computes its product apart and ADDS it (``dW += prod``,
:func:`~fastnn.kernels.dense.dense_backward`), after rescaling the sum by ``s / m`` when it
is short. Computing every micro-batch's gradient into its own buffer
(:func:`micro_batch_gradient`) and folding them left to right in micro-batch order
(:func:`fold_gradient`) performs the same floating-point operations in the same order, so
the update (:func:`apply_update`) gets bitwise the same gradient, wherever the micro-batches
were computed.
"""

import numpy as np

from ._jit import kernel
from .network import carve, network_backward, network_loss
from .optimizers import epoch_update
from .sparse import gather_inputs
from .training import count_correct, output_view
from .views import borrow2d


@kernel
def micro_batch_gradient(params, grads, layout, loss, Xs, Ys, rows, batch_size, work, drop_rates,
                         drop_seed, drop_step):
    """Loss, correct count and gradient of the micro-batch of samples ``rows``.

    Parameters
    ----------
    params, grads, layout, loss : NetBuffers
        ``params`` read; ``grads`` (p,) OVERWRITTEN with the micro-batch's mean gradient
        (as the first micro-batch of a group in :func:`~fastnn.kernels.training.train_epochs`).
    Xs, Ys : ndarray of shape (N, n_0) and (N, n_L), C-contiguous
        Read: the samples, one per row.
    rows : int64 ndarray of shape (m,), 1 <= m <= batch_size
        Read: the rows of the micro-batch, in order.
    batch_size : int
        The fit's batch size: ``work`` is carved for it, as in the epoch kernel.
    work : ndarray of shape (>= work_size(layout, batch_size, True),)
        Work space, overwritten.
    drop_rates, drop_seed, drop_step : dropout bundle
        Masks of ``(drop_seed, drop_step)`` (zero rates: no dropout).

    Returns
    -------
    loss : float
        The mean loss of the micro-batch before any update (float64); when it is not
        finite, ``grads`` is left unspecified and ``correct`` is 0.
    correct : int
        Correctly classified samples (:func:`~fastnn.kernels.training.count_correct`).
    """
    acts, z_out, delta, xbuf, ybuf, scratch = carve(work, layout, batch_size, True)
    m = rows.size
    n_L = Ys.shape[1]
    X = gather_inputs(Xs, rows, 0, m, xbuf)  # as the epoch kernel gathers a batch
    yb = borrow2d(ybuf, 0, m, n_L)
    for j in range(m):
        r = rows[j]
        for c in range(n_L):
            yb[j, c] = Ys[r, c]
    Y = yb.T
    drop = (drop_rates, drop_seed, drop_step)
    batch_loss = network_loss(params, layout, loss, X, Y, acts, z_out, drop)
    if not np.isfinite(batch_loss):
        return batch_loss, 0
    correct = count_correct(output_view(acts, layout, m), Y)
    network_backward(params, grads, layout, loss, X, Y, acts, delta, scratch, False, drop)
    return batch_loss, correct


@kernel
def fold_gradient(acc, grad, previous_m, m):
    """``acc <- acc * (previous_m / m) + grad``: add the next micro-batch's gradient.

    Parameters
    ----------
    acc : ndarray of shape (p,)
        Updated in place: the fold of the group's micro-batches so far, scaled so that
        ``acc = sum_j (m_j / m_last) grad_j``.
    grad : ndarray of shape (p,), same dtype
        Read: the mean gradient of a micro-batch of ``m`` samples.
    previous_m, m : int
        Samples of the previous micro-batch and of this one. Equal sizes skip the rescale
        (bitwise the epoch kernel, whose only short micro-batch is an epoch's last).
    """
    if previous_m != m:
        factor = acc.dtype.type(previous_m / m)
        for i in range(acc.size):
            acc[i] *= factor
    for i in range(acc.size):
        acc[i] += grad[i]


@kernel
def apply_update(params, grads, hyper, state, step, m_last, group_samples):
    """One optimizer update from a folded group gradient, as the epoch kernel applies it.

    Parameters
    ----------
    params : ndarray of shape (p,)
        Updated in place.
    grads : ndarray of shape (p,)
        Read: the fold of the group (:func:`fold_gradient`).
    hyper, state : EpochOpt
        The optimizer as the epoch kernel takes it (:func:`~fastnn.kernels.optimizers.epoch_opt`;
        the type of ``state`` selects the update); ``state`` updated in place.
    step : int
        The 1-based number of this update (Adam's ``t``).
    m_last, group_samples : int
        Samples of the group's last micro-batch and of the whole group: the update uses
        ``grads * m_last / group_samples``, the group's sample-weighted mean gradient.

    Returns
    -------
    float
        0.0 when every updated parameter is finite, NaN otherwise
        (:func:`~fastnn.kernels.optimizers.epoch_update`, the epoch kernel's update).
    """
    return epoch_update(params, grads, hyper, state, step, m_last / group_samples)
