"""The training loop: one whole mini-batch epoch in one compiled call.

The data arrive SAMPLE-MAJOR: ``Xs`` of shape (N, n_0) and ``Ys`` of shape (N, n_L) (the
transposes of the seed's ``X``, ``Y``). A batch is gathered by rows, which is 8-16x
faster than gathering columns, and passed to the network kernels as ``xb.T``, a free
F-contiguous view of shape (n_0, m) that BLAS reads with a transpose flag.

All work buffers are carved out of ONE flat ``work`` array (see :func:`epoch_work_size`)
as free C-contiguous views ``work[o:o + n*m].reshape((n, m))``; a short last batch uses
shorter views of the same buffers. Nothing is allocated per step.

:func:`train_epoch_l2` is the same loop with scikit-learn's per-batch L2 penalty on the
weights and rescaled loss and gradient (for :mod:`fastnn.sklearn`); both share one
compiled loop, :func:`_train_batches`.

Status codes returned by :func:`train_epoch` and :func:`train_epoch_l2`:

- ``OK``: every requested batch was trained.
- ``LOSS_NOT_FINITE``: the loss of a batch was NaN or infinite. Training stopped
  before that batch's gradient was used, so the parameters are those of the last update.
- ``PARAMS_NOT_FINITE``: an update produced a NaN or infinite parameter. The caller
  restores its copy from the start of the epoch and replays the epoch up to the group of
  batches before (the loop is deterministic), see :func:`fastnn.training.fit`.
"""

import numpy as np

from ._jit import kernel
from .views import borrow2d, view2d
from .network import N_OUT, network_backward, network_loss, output_offset
from .optimizers import LR, SGD, SGD_MOMENTUM, SGD_WEIGHT_DECAY, optimizer_update, sgd_plain_update
from .regularization import scale_add_l2

OK = 0
LOSS_NOT_FINITE = 1
PARAMS_NOT_FINITE = 2


@kernel
def epoch_work_size(layout, batch_size):
    """Number of elements of the flat ``work`` buffer :func:`train_epoch` needs.

    Parameters
    ----------
    layout : int64 ndarray of shape (L, 5)
    batch_size : int

    Returns
    -------
    int
        ``bs * (sum n_l + n_L + 2 max n_l + n_0 + n_L) + max(n_l n_{l-1})`` for the
        activations, output pre-activation, two delta halves, gathered inputs and
        targets, and the accumulation scratch.
    """
    L = layout.shape[0]
    total_out = 0
    widest = 0
    weights = 0
    for l in range(L):
        total_out += layout[l, 1]
        widest = max(widest, layout[l, 1])
        weights = max(weights, layout[l, 0] * layout[l, 1])
    n_0 = layout[0, 0]
    n_L = layout[L - 1, 1]
    return batch_size * (total_out + n_L + 2 * widest + n_0 + n_L) + weights


@kernel
def output_view(acts, layout, m):
    """View of the last layer's activations ``A[L]`` in ``acts``, shape (n_L, m)."""
    return view2d(acts, output_offset(layout, m), layout[layout.shape[0] - 1, N_OUT], m)


@kernel
def count_correct(A, Y):
    """Number of samples (columns) whose prediction matches the target.

    Parameters
    ----------
    A : ndarray of shape (n_L, m)
        Read: network outputs.
    Y : ndarray of shape (n_L, m)
        Read: targets.

    Returns
    -------
    int

    Notes
    -----
    One output: correct when ``(a > 0.5) == (y > 0.5)``. Several outputs: correct when
    ``argmax_k a_k == argmax_k y_k`` (the first maximum, as ``np.argmax``).
    """
    n, m = A.shape
    correct = 0
    if n == 1:
        half = A.dtype.type(0.5)
        for j in range(m):
            if (A[0, j] > half) == (Y[0, j] > half):
                correct += 1
        return correct
    for j in range(m):
        best_a = 0
        best_y = 0
        for i in range(1, n):
            if A[i, j] > A[best_a, j]:
                best_a = i
            if Y[i, j] > Y[best_y, j]:
                best_y = i
        if best_a == best_y:
            correct += 1
    return correct


@kernel
def train_epoch(params, grads, layout, Xs, Ys, perm, batch_size, accumulate, loss,
                opt_code, hyper, state, step, work, stop):
    """Train one epoch of mini-batches: gather, forward, loss, backward, update.

    Parameters
    ----------
    params : ndarray of shape (p,)
        Updated in place.
    grads : ndarray of shape (p,)
        Overwritten: holds the last group's gradient (the sum of its micro-batch means).
    layout : int64 ndarray of shape (L, 5)
        Read (see :mod:`fastnn.kernels.network`).
    Xs : ndarray of shape (N, n_0), C-contiguous
        Read: inputs, one sample per ROW.
    Ys : ndarray of shape (N, n_L), C-contiguous
        Read: targets, one sample per row.
    perm : int64 ndarray of shape (N,)
        Read: the order in which samples are visited.
    batch_size : int
        Samples per micro-batch ``s``; the last one has ``N - s * (nb - 1)``.
    accumulate : int
        Micro-batches per update ``k`` (the last group of the epoch may have fewer).
    loss : int
        Loss code (:data:`fastnn.kernels.losses.CODES`).
    opt_code : int
        Optimizer code (:data:`fastnn.kernels.optimizers.CODES`).
    hyper : float64 ndarray
        The optimizer's hyperparameters.
    state : ndarray, the params' dtype
        The optimizer's state, updated in place.
    step : int
        Updates done before this call (Adam's ``t`` before the first update).
    work : ndarray of shape (>= epoch_work_size(layout, batch_size),)
        Work space, overwritten.
    stop : int
        Train only the first ``stop`` micro-batches (a negative value: all of them).

    Returns
    -------
    loss_sum : float
        ``sum over batches of m_batch * J_batch`` (float64); divide by the samples seen.
    correct : int
        Correctly classified samples (:func:`count_correct`), each measured on its batch
        before that batch's update, as Keras reports training metrics.
    status : int
        ``OK``, ``LOSS_NOT_FINITE`` or ``PARAMS_NOT_FINITE``.
    batch : int
        Micro-batches fully trained (the 0-based index of the failing one on error).
    step : int
        Updates done after this call.

    Notes
    -----
    For micro-batch i of group g: ``J_i`` is its mean loss, measured BEFORE the group's
    update, and ``grads`` receives its gradient, overwriting on the first micro-batch of
    the group and ACCUMULATING on the next ones. The update then uses
    ``sum_i m_i grad_i / sum_i m_i``, the gradient of the whole group as one batch (when
    the last micro-batch is short, the sum so far is first rescaled by ``s / m_last``
    so that one factor ``m_last / M`` gives this weighted mean).
    """
    return _train_batches(params, grads, layout, Xs, Ys, perm, batch_size, accumulate, loss,
                          opt_code, hyper, state, step, work, stop, 0.0, 1.0, 1.0)


@kernel
def train_epochs(params, grads, layout, Xs, Ys, perms, batch_size, accumulate, loss, opt_code,
                 hyper, state, step, work, sums, counts):
    """Train several whole epochs in one call: epoch e is :func:`train_epoch` over ``perms[e]``.

    For small data sets an epoch takes microseconds and the Python work around each
    call (backups, thread policy, the call itself) becomes a sizeable share of it;
    :func:`fastnn.training.fit` hands a run of epochs to this kernel when nothing needs
    Python between them (no validation, callbacks, early stopping or progress output).

    Parameters
    ----------
    params, grads, layout, Xs, Ys, batch_size, accumulate, loss, opt_code, hyper, state, step, work
        As in :func:`train_epoch`.
    perms : int64 ndarray of shape (E, N), C-contiguous
        Read: the order of the samples in each of the E epochs.
    sums : float64 ndarray of shape (>= E,)
        Overwritten: ``sums[e]`` is epoch e's ``loss_sum`` (for the epochs run).
    counts : int64 ndarray of shape (>= E,)
        Overwritten: ``counts[e]`` is epoch e's ``correct``.

    Returns
    -------
    status : int
        ``OK``, or the status of the first failing epoch (see :func:`train_epoch`).
    epochs : int
        Epochs fully trained (E when ``OK``; else the 0-based index of the failing one).
    batch : int
        On failure, the failing micro-batch of that epoch (0 when ``OK``).
    step : int
        Updates done after this call.

    Notes
    -----
    Bitwise the same as calling :func:`train_epoch` once per row of ``perms``.
    """
    for e in range(perms.shape[0]):
        loss_sum, correct, status, batch, step = _train_batches(
            params, grads, layout, Xs, Ys, perms[e], batch_size, accumulate, loss, opt_code, hyper,
            state, step, work, -1, 0.0, 1.0, 1.0)
        sums[e] = loss_sum
        counts[e] = correct
        if status != OK:
            return status, e, batch, step
    return OK, perms.shape[0], 0, step


@kernel
def train_epoch_l2(params, grads, layout, Xs, Ys, perm, batch_size, loss, opt_code, hyper,
                   state, step, work, stop, alpha, grad_scale, loss_scale):
    """Train one epoch as :func:`train_epoch` (one update per batch), with scikit-learn's
    per-batch L2 penalty on the weights and a rescaled loss.

    Parameters
    ----------
    params, grads, layout, Xs, Ys, perm, batch_size, loss, opt_code, hyper, state, step, work, stop
        As in :func:`train_epoch` (with ``accumulate = 1``).
    alpha : float
        L2 coefficient: a batch of m samples adds ``0.5 * alpha * sum_l ||W[l]||^2 / m``
        to its loss and ``(alpha / m) * W[l]`` to ``dW[l]`` (biases get no penalty).
    grad_scale : float
        Factor applied to the whole data gradient before the penalty is added.
    loss_scale : float
        Factor applied to the data loss before the penalty is added.

    Returns
    -------
    loss_sum, correct, status, batch, step
        As in :func:`train_epoch`; ``loss_sum`` sums ``m * J_batch`` with
        ``J_batch = loss_scale * J_data + 0.5 * alpha * sum_l ||W[l]||^2 / m``, the
        weights taken before the batch's update, and ``LOSS_NOT_FINITE`` refers to it.

    Notes
    -----
    Per batch, after the backward pass: ``grads <- grad_scale * grads``, then
    ``dW[l] += (alpha / m) W[l]`` (:func:`~fastnn.kernels.regularization.scale_add_l2`),
    then the optimizer update: exactly what scikit-learn's MLP does with
    ``grad_scale = loss_scale = 1`` for its classifier and, for fastnn's "mse"
    (``sum (a - y)^2 / (m n_L)``), ``loss_scale = 0.5`` and ``grad_scale = n_L / 2`` for
    its regressor.
    """
    return _train_batches(params, grads, layout, Xs, Ys, perm, batch_size, 1, loss, opt_code,
                          hyper, state, step, work, stop, alpha, grad_scale, loss_scale)


@kernel
def _train_batches(params, grads, layout, Xs, Ys, perm, batch_size, accumulate, loss, opt_code,
                   hyper, state, step, work, stop, alpha, grad_scale, loss_scale):
    """The loop shared by :func:`train_epoch` and :func:`train_epoch_l2`.

    Arguments and results are those of :func:`train_epoch`, plus ``alpha``,
    ``grad_scale`` and ``loss_scale`` of :func:`train_epoch_l2`; ``alpha = 0`` with
    ``grad_scale = loss_scale = 1`` is plain :func:`train_epoch` (bitwise: the penalty
    step is skipped). The penalty needs ``accumulate = 1``.
    """
    N = perm.size
    n_0 = Xs.shape[1]
    n_L = Ys.shape[1]
    L = layout.shape[0]
    bs = batch_size
    total_out = 0
    widest = 0
    for l in range(L):
        total_out += layout[l, 1]
        widest = max(widest, layout[l, 1])
    o = 0
    acts = work[o : o + bs * total_out]
    o += bs * total_out
    z_out = work[o : o + bs * n_L]
    o += bs * n_L
    delta = work[o : o + 2 * bs * widest]
    o += 2 * bs * widest
    xbuf = work[o : o + bs * n_0]
    o += bs * n_0
    ybuf = work[o : o + bs * n_L]
    o += bs * n_L
    scratch = work[o:]

    n_batches = (N + bs - 1) // bs
    if stop < 0 or stop > n_batches:
        stop = n_batches
    loss_sum = 0.0
    correct = 0
    group_samples = 0
    penalized = alpha != 0.0 or grad_scale != 1.0 or loss_scale != 1.0
    # Plain SGD with an unscaled gradient (one micro-batch per update) skips the generic
    # update's weight-decay term and state: bitwise the same parameters
    # (see sgd_plain_update; a scale != 1 could be reassociated into lr, so it keeps
    # the generic path).
    plain_sgd = opt_code == SGD and hyper[SGD_MOMENTUM] == 0.0 and hyper[SGD_WEIGHT_DECAY] == 0.0
    lr = hyper[LR]
    for k in range(stop):
        start = k * bs
        m = min(bs, N - start)
        xb = borrow2d(xbuf, 0, m, n_0)
        yb = borrow2d(ybuf, 0, m, n_L)
        for j in range(m):
            r = perm[start + j]
            for c in range(n_0):
                xb[j, c] = Xs[r, c]
            for c in range(n_L):
                yb[j, c] = Ys[r, c]
        X = xb.T
        Y = yb.T
        batch_loss = network_loss(params, layout, X, Y, acts, z_out, loss)
        if not np.isfinite(batch_loss):
            return loss_sum, correct, LOSS_NOT_FINITE, k, step
        correct += count_correct(output_view(acts, layout, m), Y)
        first = k % accumulate == 0
        if first:
            group_samples = 0
        elif m < bs:
            factor = grads.dtype.type(bs / m)
            for i in range(grads.size):
                grads[i] *= factor
        group_samples += m
        network_backward(params, grads, layout, X, Y, acts, delta, scratch, loss, not first)
        if penalized:
            squares = scale_add_l2(params, grads, layout, grad_scale, alpha / m)
            batch_loss = batch_loss * loss_scale + 0.5 * alpha * squares / m
            if not np.isfinite(batch_loss):
                return loss_sum, correct, LOSS_NOT_FINITE, k, step
        loss_sum += batch_loss * m
        if (k + 1) % accumulate == 0 or k == n_batches - 1:
            step += 1
            if plain_sgd and m == group_samples:
                check = sgd_plain_update(params, grads, lr, m / group_samples)
            else:
                check = optimizer_update(params, grads, opt_code, hyper, state, step, m / group_samples)
            if not np.isfinite(check):
                return loss_sum, correct, PARAMS_NOT_FINITE, k, step
    return loss_sum, correct, OK, stop, step


@kernel
def transpose_into(src, dst):
    """Blocked transpose copy: ``dst = src.T`` (the sample-major copy of the data).

    Parameters
    ----------
    src : ndarray of shape (n, N)
        Read.
    dst : ndarray of shape (N, n), C-contiguous
        Overwritten.

    Notes
    -----
    :func:`transpose_finite` with its finiteness result dropped (one tiled loop for both).
    """
    transpose_finite(src, dst)


@kernel
def transpose_finite(src, dst):
    """:func:`transpose_into` and an all-finite check of ``src`` in one pass.

    Parameters
    ----------
    src : ndarray of shape (n, N)
        Read.
    dst : ndarray of shape (N, n), C-contiguous
        Overwritten with ``src.T`` (whatever the result).

    Returns
    -------
    bool
        True if no element of ``src`` is NaN or infinite (as
        :func:`~fastnn.kernels.checks.all_finite`: ``x * 0`` is NaN for NaN and +-inf).

    Notes
    -----
    8 x 8 tiles keep the strided side of the copy within a few cache lines (measured
    about 5x faster than ``np.ascontiguousarray(src.T)`` for (784, 4096) float32; 16 x 16
    was 1.5-2x slower at N = 4096). The check saves :func:`fit` a separate read of the
    inputs: 5-10% less time than ``all_finite`` + a plain transpose.
    """
    n, N = src.shape
    zero = src.dtype.type(0)
    acc = zero
    tile = 8
    for i0 in range(0, n, tile):
        i1 = min(i0 + tile, n)
        for j0 in range(0, N, tile):
            j1 = min(j0 + tile, N)
            for i in range(i0, i1):
                for j in range(j0, j1):
                    x = src[i, j]
                    dst[j, i] = x
                    acc += x * zero
    return acc == zero
