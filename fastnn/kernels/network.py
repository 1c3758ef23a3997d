"""Whole-network kernels over flat buffers: forward, backward, loss, one training step.

A network's parameters live in ONE flat array ``params`` (and its gradients in one flat
``grads`` of the same size); ``layout`` says where each layer's pieces are. Each layer's
``W``, ``b``, ``dW``, ``db`` are free C-contiguous views ``buf[o:o + r*c].reshape((r, c))``,
so one compiled kernel serves any depth and the optimizer update is one loop.

``layout`` is an int64 array of shape (L, 5), one row per layer::

    [n_in, n_out, w_offset, b_offset, activation_code]

Work buffers, for batches of up to m samples, are carved out of ONE flat array of the
network's dtype by :func:`carve` (:func:`work_views` in Python), whose plan
(:func:`work_plan`) is the only description of it; :func:`work_size` gives its length. In
order:

- ``acts``: ``m * sum(n_l)``; layer l's output ``A[l]`` (n_l, m) follows layer l-1's.
- ``z_out``: ``m * n_L``; the output pre-activation ``Z[L]`` (kept for a stable loss).
  A forward pass needs only these two (``work_size(layout, m, False)``).
- ``delta``: ``2 * m * max(n_l)``; two halves used in turn for ``dZ``.
- ``xbuf``, ``ybuf``: ``m * n_0`` and ``m * n_L``; a gathered batch (epoch kernel).
- ``scratch``: ``max(n_l * n_{l-1})``; only used when adding into the gradients.
"""

from numba.extending import register_jitable

from ._jit import HELPER_OPTIONS, kernel
from .bundles import ACT, B_OFF, BAD_BATCH, N_IN, N_OUT, OK, PARAMS_NOT_FINITE, W_OFF
from .checks import batch_ok
from .views import borrow2d
from .activations import activation_backward
from .dense import dense_backward, dense_forward
from .dropout import dropout_activation_backward, dropout_forward
from .losses import loss_gradient, loss_value
from .optimizers import sgd_update_checked
from .sparse import batch_columns, first_backward, first_forward
from .weights import scale_columns, weighted_loss_value


@register_jitable(**HELPER_OPTIONS)
def work_plan(layout, m, training):
    """Start of each work buffer in the flat work array, for batches of up to m samples.

    Returns
    -------
    (z_out, delta, xbuf, ybuf, scratch, end) : tuple of int
        ``acts`` starts at 0; ``end`` is the length. Without ``training`` only ``acts``
        and ``z_out`` are used and ``end`` is where ``delta`` would start.
    """
    L = layout.shape[0]
    total_out = 0
    widest = 0
    weights = 0
    for l in range(L):
        total_out += layout[l, N_OUT]
        widest = max(widest, layout[l, N_OUT])
        weights = max(weights, layout[l, N_IN] * layout[l, N_OUT])
    z_out = m * total_out
    delta = z_out + m * layout[L - 1, N_OUT]
    if not training:
        return z_out, delta, delta, delta, delta, delta
    xbuf = delta + 2 * m * widest
    ybuf = xbuf + m * layout[0, N_IN]
    scratch = ybuf + m * layout[L - 1, N_OUT]
    return z_out, delta, xbuf, ybuf, scratch, scratch + weights


@register_jitable(**HELPER_OPTIONS)
def carve(work, layout, m, training):
    """The work buffers ``(acts, z_out, delta, xbuf, ybuf, scratch)``, 1-D slices of
    ``work`` placed by :func:`work_plan` (empty slices for what a forward pass skips)."""
    z_out, delta, xbuf, ybuf, scratch, end = work_plan(layout, m, training)
    return (work[:z_out], work[z_out:delta], work[delta:xbuf], work[xbuf:ybuf],
            work[ybuf:scratch], work[scratch:end])


@kernel
def work_offsets(layout, m, training):
    """:func:`work_plan` for the API layer, which slices its work spaces by it (returning
    the six views from a kernel would box six arrays: several microseconds a call)."""
    return work_plan(layout, m, training)


def work_size(layout, m, training):
    """Length of the flat work array for batches of up to m samples (:func:`work_plan`)."""
    return work_offsets(layout, m, training)[5]


def work_views(work, layout, m, training):
    """:func:`carve` in Python: ``(acts, z_out, delta, xbuf, ybuf, scratch)``, 1-D views."""
    z_out, delta, xbuf, ybuf, scratch, end = work_offsets(layout, m, training)
    return (work[:z_out], work[z_out:delta], work[delta:xbuf], work[xbuf:ybuf],
            work[ybuf:scratch], work[scratch:end])


@register_jitable(**HELPER_OPTIONS)
def output_offset(layout, m):
    """Where the last layer's ``A[L]`` starts in ``acts`` for a batch of m samples."""
    start = 0
    for l in range(layout.shape[0] - 1):
        start += layout[l, N_OUT] * m
    return start


@kernel
def network_forward(params, layout, X, acts, z_out, drop=None, kinds=None):
    """Forward pass of every layer for ``X`` of shape (n_0, m).

    Parameters
    ----------
    params : ndarray of shape (p,)
        Read.
    layout : int64 ndarray of shape (L, 5)
        Read.
    X : ndarray of shape (n_0, m), C- or F-contiguous, or a sparse batch
        Read. A sparse batch is ``(indptr, indices, data, rows)``: m CSR rows
        (:mod:`fastnn.kernels.sparse`).
    acts : ndarray of shape (>= m * sum(n_l),)
        Overwritten with ``A[1..L]``.
    z_out : ndarray of shape (>= m * n_L,)
        Overwritten with ``Z[L]``.
    drop : (rates, seed, step), optional
        Training with dropout (:mod:`fastnn.kernels.dropout`): ``A[l]`` of each hidden
        layer with ``rates[l] > 0`` is dropped out, as written in ``acts``.
    kinds : Kinds, optional
        The activation codes of ``layout`` (:mod:`fastnn.kernels.kinds`): only those
        compile. None: every activation.

    Notes
    -----
    ``A[0] = X``, ``Z[l] = W[l] A[l-1] + b[l]``, ``A[l] = g_l(Z[l])``; the output of the
    last layer is ``acts[m * sum_{l<L} n_l :][: m * n_L]``.
    """
    L = layout.shape[0]
    m = batch_columns(X)
    # Layer 1 reads X (C- or F-contiguous), the others a C-contiguous slice of acts: two
    # array types, so layer 1 is called on its own.
    n_in, n_out, wo, bo = layout[0, N_IN], layout[0, N_OUT], layout[0, W_OFF], layout[0, B_OFF]
    W = borrow2d(params, wo, n_out, n_in)
    b = borrow2d(params, bo, n_out, 1)
    A = borrow2d(acts, 0, n_out, m)
    Z = borrow2d(z_out, 0, n_out, m) if L == 1 else A
    first_forward(W, b, X, Z, A, layout[0, ACT], kinds)
    if drop is not None and L > 1 and drop[0][0] > 0.0:
        dropout_forward(A, drop[0][0], drop[1], drop[2], 0)
    start = 0
    for l in range(1, L):
        n_in, n_out, wo, bo = layout[l, N_IN], layout[l, N_OUT], layout[l, W_OFF], layout[l, B_OFF]
        A_prev = borrow2d(acts, start, n_in, m)
        start += n_in * m
        W = borrow2d(params, wo, n_out, n_in)
        b = borrow2d(params, bo, n_out, 1)
        A = borrow2d(acts, start, n_out, m)
        Z = borrow2d(z_out, 0, n_out, m) if l == L - 1 else A
        dense_forward(W, b, A_prev, Z, A, layout[l, ACT], kinds)
        if drop is not None and l < L - 1 and drop[0][l] > 0.0:
            dropout_forward(A, drop[0][l], drop[1], drop[2], l)


@kernel
def network_backward(params, grads, layout, loss, X, Y, acts, delta, scratch, add_to_grads, drop=None,
                     ws=None, kinds=None):
    """Backward pass of every layer after :func:`network_forward` on the same ``X``.

    Parameters
    ----------
    params : ndarray of shape (p,)
        Read.
    grads : ndarray of shape (p,)
        ACCUMULATED: ``grads += dJ/dparams`` (overwritten when ``add_to_grads`` is False).
    layout : int64 ndarray of shape (L, 5)
        Read.
    loss : int
        Loss code (:data:`fastnn.kernels.losses.CODES`).
    X : ndarray of shape (n_0, m)
        Read: the forward input.
    Y : ndarray of shape (n_L, m)
        Read: the targets.
    acts : ndarray
        Read: the forward activations.
    delta : ndarray of shape (2 * h,), h >= m * max(n_l)
        Work space, overwritten.
    scratch : ndarray of shape (>= max(n_l * n_{l-1}),)
        Work space, overwritten when ``add_to_grads``.
    add_to_grads : bool
        Add into ``grads``; False (overwrite) only when the caller knows they hold zeros.
    drop : (rates, seed, step), optional
        The dropout bundle of the forward pass (its masks are recomputed).
    ws : float64 ndarray of shape (m,), optional
        Per-sample weights (:mod:`fastnn.kernels.weights`): column j of ``dZ[L]`` is
        multiplied by ``ws[j]``, the gradient of :func:`network_loss` with the same ``ws``.
    kinds : Kinds, optional
        The loss and the activation codes of ``layout``: only those compile. None: all.

    Notes
    -----
    ``dZ[L]`` from :func:`~fastnn.kernels.losses.loss_gradient`; then for l = L..1:
    ``dW[l] += dZ[l] A[l-1]^T``, ``db[l] += sum_columns dZ[l]``,
    ``dZ[l-1] = (W[l]^T dZ[l]) * g'_{l-1}(A[l-1])`` (not formed for l = 1).
    """
    L = layout.shape[0]
    m = batch_columns(X)
    half = delta.size // 2
    start = output_offset(layout, m)
    n_out = layout[L - 1, N_OUT]
    A = borrow2d(acts, start, n_out, m)
    dZ = borrow2d(delta, 0, n_out, m)
    loss_gradient(A, Y, loss, layout[L - 1, ACT], dZ, kinds)
    if ws is not None:
        scale_columns(dZ, ws)
    side = 0
    for l in range(L - 1, 0, -1):
        n_in, n_out, wo, bo = layout[l, N_IN], layout[l, N_OUT], layout[l, W_OFF], layout[l, B_OFF]
        W = borrow2d(params, wo, n_out, n_in)
        dW = borrow2d(grads, wo, n_out, n_in)
        db = borrow2d(grads, bo, n_out, 1)
        start -= n_in * m
        A_prev = borrow2d(acts, start, n_in, m)
        side = half - side
        dA_prev = borrow2d(delta, side, n_in, m)
        dense_backward(W, A_prev, dZ, dW, db, dA_prev, scratch, add_to_grads, True)
        if drop is not None and drop[0][l - 1] > 0.0:
            dropout_activation_backward(A_prev, dA_prev, layout[l - 1, ACT], drop[0][l - 1], drop[1],
                                        drop[2], l - 1)
        else:
            activation_backward(A_prev, dA_prev, layout[l - 1, ACT], kinds)
        dZ = dA_prev
    n_in, n_out, wo, bo = layout[0, N_IN], layout[0, N_OUT], layout[0, W_OFF], layout[0, B_OFF]
    W = borrow2d(params, wo, n_out, n_in)
    dW = borrow2d(grads, wo, n_out, n_in)
    db = borrow2d(grads, bo, n_out, 1)
    first_backward(W, X, dZ, dW, db, scratch, add_to_grads)


@kernel
def network_loss(params, layout, loss, X, Y, acts, z_out, drop=None, ws=None, kinds=None):
    """Forward pass, then the mean loss over the m samples (float64).

    Parameters are those of :func:`network_forward`, plus the loss code and ``Y``
    (n_L, m). ``acts`` and ``z_out`` are overwritten. With per-sample weights ``ws``
    (float64 (m,)), the weighted mean ``(1/m) sum_j ws_j l_j``
    (:func:`~fastnn.kernels.weights.weighted_loss_value`). With ``kinds``, only its loss and
    activations compile (:mod:`fastnn.kernels.kinds`).
    """
    network_forward(params, layout, X, acts, z_out, drop, kinds)
    m = batch_columns(X)
    n_out = layout[layout.shape[0] - 1, N_OUT]
    A = borrow2d(acts, output_offset(layout, m), n_out, m)
    Z = borrow2d(z_out, 0, n_out, m)
    if ws is not None:
        return weighted_loss_value(Z, A, Y, loss, ws)
    return loss_value(Z, A, Y, loss, kinds)


@kernel
def train_step(params, grads, layout, loss, X, Y, acts, z_out, delta, scratch, lr):
    """One gradient-descent step on one batch: forward, backward, ``params -= lr grads``.

    ``grads`` is overwritten with this batch's gradient (not accumulated). Arguments
    are those of :func:`network_forward` and :func:`network_backward`.

    Returns
    -------
    bool
        True if the update was applied; False if it would have made a parameter NaN
        or infinite, in which case ``params`` is unchanged (see
        :func:`~fastnn.kernels.optimizers.sgd_update_checked`).
    """
    network_forward(params, layout, X, acts, z_out)
    network_backward(params, grads, layout, loss, X, Y, acts, delta, scratch, False)
    return sgd_update_checked(params, grads, lr)


@kernel
def checked_train_step(params, grads, layout, loss, X, Y, acts, z_out, delta, scratch, lr, lo, hi,
                       loss_out, drop=None):
    """:func:`~fastnn.kernels.checks.batch_ok` then :func:`train_step`, in one call.

    The per-step path of ``Network.train_step``: one kernel call instead of two.

    Parameters
    ----------
    params, grads, layout, loss, X, Y, acts, z_out, delta, scratch, lr
        As in :func:`train_step`.
    lo, hi : float
        Bounds for ``Y`` (see :func:`~fastnn.kernels.checks.batch_ok`).
    loss_out : float64 ndarray of shape (>= 1,)
        ``loss_out[0]`` overwritten with the batch's mean loss before the update (as
        :func:`network_loss`: the forward pass the step needs anyway, plus one pass over
        the outputs); left as it was with ``BAD_BATCH``.
    drop : (rates, seed, step), optional
        Dropout for this step (:func:`network_forward`).

    Returns
    -------
    int
        ``OK``; ``BAD_BATCH`` when ``X`` is not all finite or ``Y`` not all finite and
        within ``[lo, hi]`` (nothing is computed or changed); or ``PARAMS_NOT_FINITE``
        when the update would have made a parameter NaN or infinite (it is refused:
        ``params`` unchanged). See :mod:`fastnn.kernels.bundles`.
    """
    if not batch_ok(X, Y, lo, hi):
        return BAD_BATCH
    loss_out[0] = network_loss(params, layout, loss, X, Y, acts, z_out, drop)
    network_backward(params, grads, layout, loss, X, Y, acts, delta, scratch, False, drop)
    if sgd_update_checked(params, grads, lr):
        return OK
    return PARAMS_NOT_FINITE
