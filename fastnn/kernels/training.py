"""The training loop: whole mini-batch epochs in one compiled call.

The data arrive SAMPLE-MAJOR (:class:`~fastnn.kernels.bundles.Data`: ``Xs`` of shape
(N, n_0), ``Ys`` of shape (N, n_L), one sample per row). A batch is gathered by rows
(much faster than gathering columns: ``python -m asv_benchmarks.gemm_layouts``) and
passed to the network kernels as ``xb.T``, a free F-contiguous view of shape (n_0, m)
that BLAS reads with a transpose flag.

All work buffers are carved out of ONE flat ``work`` array by
:func:`~fastnn.kernels.network.carve`; a short last batch uses shorter views of the same
buffers. Nothing is allocated per step.

:func:`train_epochs` is the one epoch kernel: fastnn's ``fit`` and the scikit-learn
estimators (with a :class:`~fastnn.kernels.bundles.Penalty`) both drive it through
:class:`fastnn.engine.EpochEngine`. Its status codes are those of
:mod:`fastnn.kernels.bundles`.
"""

import numpy as np

from ._jit import kernel
from .bundles import LOSS_NOT_FINITE, OK, PARAMS_NOT_FINITE
from .network import N_OUT, carve, network_backward, network_loss, output_offset
from .optimizers import LR, epoch_update
from .regularization import scale_add_l2
from .sparse import gather_inputs, plan_layout
from .views import borrow2d, view2d
from .weights import batch_weights


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
def train_epochs(params, grads, layout, loss, hyper, state, Xs, Ys, batch_size, micro_batches,
                 stop, alpha, grad_scale, loss_scale, perms, step, work, sums, counts, drop_rates,
                 drop_seed, rates, weights=None, kinds=None):
    """Train one epoch per row of ``perms``: gather, forward, loss, backward, update.

    The arguments come in bundles (:mod:`fastnn.kernels.bundles`), passed as their fields
    in order: ``NetBuffers``, ``EpochOpt``, ``Data``, ``EpochPlan``, ``Penalty``.

    Parameters
    ----------
    params, grads, layout, loss : NetBuffers
        ``params`` updated in place; ``grads`` overwritten (the last group's gradient);
        ``layout`` and ``loss`` read.
    hyper, state : EpochOpt
        ``state`` updated in place; its type (None, 1-D or 2-D) selects the optimizer
        (:func:`~fastnn.kernels.optimizers.epoch_update`), so only that one compiles.
    Xs, Ys : Data
        Read: ``Xs`` (N, n_0) and ``Ys`` (N, n_L), one sample per ROW; or ``Xs`` the CSR
        arrays ``(indptr, indices, data)`` of the samples (:mod:`fastnn.kernels.sparse`;
        ``work`` then sized for :func:`~fastnn.kernels.sparse.plan_layout`).
    batch_size, micro_batches, stop : EpochPlan
        ``batch_size`` s, ``micro_batches`` k per update, ``stop``: micro-batches of the
        last epoch to train (negative: all).
    alpha, grad_scale, loss_scale : Penalty
        Three Nones for plain training: the penalty step is then not even compiled
        (``NO_PENALTY`` gives the same bits, compiled with it); any other needs
        ``micro_batches = 1``.
    perms : int64 ndarray of shape (E, N), C-contiguous
        Read: the order in which the samples are visited in each of the E epochs.
    step : int
        Updates done before this call (Adam's ``t`` before the first update).
    work : ndarray of shape (>= work_size(layout, s, True),)
        Work space, overwritten.
    sums : float64 ndarray of shape (>= E,)
        Overwritten: ``sums[e] = sum over batches of m_batch * J_batch``, epoch e.
    counts : int64 ndarray of shape (>= E,)
        Overwritten: correctly classified samples of epoch e (:func:`count_correct`), each
        measured on its batch before that batch's update, as Keras reports them.
    drop_rates : float64 ndarray of shape (L,)
        Read: dropout rate of each layer's output (zeros: no dropout, bitwise the plain
        training).
    drop_seed : int
        With ``drop_rates``: micro-batch i of the group of update t (1-based) uses the
        masks of ``(drop_seed, (t - 1) * micro_batches + i)``
        (:mod:`fastnn.kernels.dropout`), so a resumed fit draws the same masks.
    rates : float64 ndarray of shape (U,)
        Read: empty for a constant learning rate (``hyper``'s); else the learning rate of
        each update of this call, in order (a per-step schedule): update ``u`` (0-based,
        counted from this call's first) uses ``rates[u]`` (``U`` >= the call's updates),
        and ``hyper``'s rate is left at the last one used.
    weights : (w, wbuf, by_sum), optional
        Per-sample weights: ``w`` float64 (N,) the weight of each sample, ``wbuf`` float64
        (>= s,) work space, ``by_sum`` the convention (:func:`~fastnn.kernels.weights.batch_weights`:
        True for scikit-learn's, whose batch penalty then divides by the batch's weight sum
        instead of m). None (the default) compiles the unweighted loop.
    kinds : Kinds, optional
        The loss and the activation codes of ``layout`` (:mod:`fastnn.kernels.kinds`):
        only those compile. None (the default): every loss and activation.

    Returns
    -------
    status : int
        ``OK``, ``LOSS_NOT_FINITE`` or ``PARAMS_NOT_FINITE`` (the bad parameters are
        written: the caller restores its copy and replays up to the group before).
    epochs : int
        Epochs fully trained (E when ``OK``, else the 0-based index of the failing one).
    batch : int
        The failing micro-batch of that epoch (with ``OK``: micro-batches of the last).
    step : int
        Updates done after this call.

    Notes
    -----
    For micro-batch i of group g: ``J_i`` is its mean loss, measured BEFORE the group's
    update, and ``grads`` receives its gradient, overwriting on the first micro-batch of
    the group and ADDING on the next ones. The update then uses
    ``sum_i m_i grad_i / sum_i m_i``, the gradient of the whole group as one batch (when
    the last micro-batch is short, the sum so far is first rescaled by ``s / m_last``
    so that one factor ``m_last / M`` gives this weighted mean).

    With a penalty, per batch after the backward pass: ``grads <- grad_scale * grads``,
    then ``dW[l] += (alpha / m) W[l]``
    (:func:`~fastnn.kernels.regularization.scale_add_l2`), and the batch loss is
    ``loss_scale * J_data + 0.5 * alpha * sum_l ||W[l]||^2 / m``: scikit-learn's MLP with
    ``grad_scale = loss_scale = 1`` for its classifier and, for fastnn's "mse"
    (``sum (a - y)^2 / (m n_L)``), ``loss_scale = 0.5``, ``grad_scale = n_L / 2``.

    Loose arguments, not the bundles themselves: Numba types a tuple argument in Python
    on every call (about 2 us per bundle; ``python -m asv_benchmarks.compare`` shows it on
    the tiny workload). Inside, the bundles are plain tuples again.
    """
    net = (params, grads, layout, loss)
    data = (Xs, Ys)
    E = perms.shape[0]
    batch = 0
    first_step = step
    for e in range(E):
        last_stop = stop if e == E - 1 else -1
        if alpha is None:
            loss_sum, correct, status, batch, step = _epoch(net, hyper, state, data, batch_size,
                                                            micro_batches, None, perms[e], last_stop,
                                                            step, work, drop_rates, drop_seed, rates,
                                                            first_step, weights, kinds)
        else:
            loss_sum, correct, status, batch, step = _epoch(net, hyper, state, data, batch_size,
                                                            micro_batches, (alpha, grad_scale, loss_scale),
                                                            perms[e], last_stop, step, work, drop_rates,
                                                            drop_seed, rates, first_step, weights, kinds)
        sums[e] = loss_sum
        counts[e] = correct
        if status != OK:
            return status, e, batch, step
    return OK, E, batch, step


@kernel
def _epoch(net, hyper, state, data, batch_size, micro_batches, penalty, perm, stop, step, work,
           drop_rates, drop_seed, rates, first_step, weights, kinds):
    """One epoch of :func:`train_epochs` over ``perm``, its first ``stop`` micro-batches
    (negative: all); ``first_step`` is the step count when the call began (``rates[0]`` is
    its next update's rate). Returns ``(loss_sum, correct, status, batch, step)``.

    ``penalty`` is None or ``(alpha, grad_scale, loss_scale)``: Numba prunes the branches
    of ``penalty is None`` before typing, so plain training does not compile the L2 step."""
    params, grads, layout, loss = net
    Xs, Ys = data
    N = perm.size
    n_L = Ys.shape[1]
    bs = batch_size
    accumulate = micro_batches
    acts, z_out, delta, xbuf, ybuf, scratch = carve(work, plan_layout(layout, Xs), bs, True)

    n_batches = (N + bs - 1) // bs
    if stop < 0 or stop > n_batches:
        stop = n_batches
    loss_sum = 0.0
    correct = 0
    group_samples = 0
    for k in range(stop):
        start = k * bs
        m = min(bs, N - start)
        X = gather_inputs(Xs, perm, start, m, xbuf)
        yb = borrow2d(ybuf, 0, m, n_L)
        for j in range(m):
            r = perm[start + j]
            for c in range(n_L):
                yb[j, c] = Ys[r, c]
        Y = yb.T
        drop = (drop_rates, drop_seed, step * accumulate + k % accumulate)
        if weights is None:
            divisor = np.float64(m)
            batch_loss = network_loss(params, layout, loss, X, Y, acts, z_out, drop, None, kinds)
        else:
            divisor = batch_weights(weights[0], perm[start:start + m], weights[2], weights[1])
            batch_loss = network_loss(params, layout, loss, X, Y, acts, z_out, drop, weights[1][:m], kinds)
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
        if weights is None:
            network_backward(params, grads, layout, loss, X, Y, acts, delta, scratch, not first, drop, None,
                             kinds)
        else:
            network_backward(params, grads, layout, loss, X, Y, acts, delta, scratch, not first, drop,
                             weights[1][:m], kinds)
        if penalty is not None:
            alpha, grad_scale, loss_scale = penalty
            if alpha != 0.0 or grad_scale != 1.0 or loss_scale != 1.0:
                squares = scale_add_l2(params, grads, layout, grad_scale, alpha / divisor)
                batch_loss = batch_loss * loss_scale + 0.5 * alpha * squares / divisor
                if not np.isfinite(batch_loss):
                    return loss_sum, correct, LOSS_NOT_FINITE, k, step
        loss_sum += batch_loss * m
        if (k + 1) % accumulate == 0 or k == n_batches - 1:
            if rates.size > 0:
                hyper[LR] = rates[step - first_step]  # epoch_update reads the rate from hyper
            step += 1
            check = epoch_update(params, grads, hyper, state, step, m / group_samples)
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
    8 x 8 tiles keep the strided side of the copy within a few cache lines; the check saves
    ``fit`` a separate read of the inputs (figures and how they were taken:
    docs/performance-notes.md).
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
