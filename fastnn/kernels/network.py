"""Whole-network kernels over flat buffers: forward, backward, loss, one training step.

A network's parameters live in ONE flat array ``params`` (and its gradients in one flat
``grads`` of the same size); ``layout`` says where each layer's pieces are. Each layer's
``W``, ``b``, ``dW``, ``db`` are free C-contiguous views ``buf[o:o + r*c].reshape((r, c))``,
so one compiled kernel serves any depth and the optimizer update is one loop.

``layout`` is an int64 array of shape (L, 5), one row per layer::

    [n_in, n_out, w_offset, b_offset, activation_code]

Work buffers, for a batch of m samples (all flat, 1-D, the network's dtype):

- ``acts``: at least ``m * sum(n_l)``; layer l's output ``A[l]`` (n_l, m) follows
  layer l-1's.
- ``z_out``: at least ``m * n_L``; the output pre-activation ``Z[L]`` (kept for a
  stable loss).
- ``delta``: ``2 * h`` with ``h >= m * max(n_l)``; two halves used in turn for ``dZ``.
- ``scratch``: at least ``max(n_l * n_{l-1})``; only used when accumulating.
"""

from numba.extending import register_jitable

from ._jit import HELPER_OPTIONS, kernel
from .checks import batch_ok
from .views import borrow2d
from .activations import activation_backward
from .dense import dense_backward, dense_forward
from .losses import loss_gradient, loss_value
from .optimizers import sgd_update_checked

N_IN = 0
N_OUT = 1
W_OFF = 2
B_OFF = 3
ACT = 4


@register_jitable(**HELPER_OPTIONS)
def output_offset(layout, m):
    """Where the last layer's ``A[L]`` starts in ``acts`` for a batch of m samples."""
    start = 0
    for l in range(layout.shape[0] - 1):
        start += layout[l, N_OUT] * m
    return start


@kernel
def network_forward(params, layout, X, acts, z_out):
    """Forward pass of every layer for ``X`` of shape (n_0, m).

    Parameters
    ----------
    params : ndarray of shape (p,)
        Read.
    layout : int64 ndarray of shape (L, 5)
        Read.
    X : ndarray of shape (n_0, m), C- or F-contiguous
        Read.
    acts : ndarray of shape (>= m * sum(n_l),)
        Overwritten with ``A[1..L]``.
    z_out : ndarray of shape (>= m * n_L,)
        Overwritten with ``Z[L]``.

    Notes
    -----
    ``A[0] = X``, ``Z[l] = W[l] A[l-1] + b[l]``, ``A[l] = g_l(Z[l])``; the output of the
    last layer is ``acts[m * sum_{l<L} n_l :][: m * n_L]``.
    """
    L = layout.shape[0]
    m = X.shape[1]
    # Layer 1 reads X (C- or F-contiguous), the others a C-contiguous slice of acts: two
    # array types, so layer 1 is called on its own.
    n_in, n_out, wo, bo = layout[0, N_IN], layout[0, N_OUT], layout[0, W_OFF], layout[0, B_OFF]
    W = borrow2d(params, wo, n_out, n_in)
    b = borrow2d(params, bo, n_out, 1)
    A = borrow2d(acts, 0, n_out, m)
    Z = borrow2d(z_out, 0, n_out, m) if L == 1 else A
    dense_forward(W, b, X, Z, A, layout[0, ACT])
    start = 0
    for l in range(1, L):
        n_in, n_out, wo, bo = layout[l, N_IN], layout[l, N_OUT], layout[l, W_OFF], layout[l, B_OFF]
        A_prev = borrow2d(acts, start, n_in, m)
        start += n_in * m
        W = borrow2d(params, wo, n_out, n_in)
        b = borrow2d(params, bo, n_out, 1)
        A = borrow2d(acts, start, n_out, m)
        Z = borrow2d(z_out, 0, n_out, m) if l == L - 1 else A
        dense_forward(W, b, A_prev, Z, A, layout[l, ACT])


@kernel
def network_backward(params, grads, layout, X, Y, acts, delta, scratch, loss, accumulate):
    """Backward pass of every layer after :func:`network_forward` on the same ``X``.

    Parameters
    ----------
    params : ndarray of shape (p,)
        Read.
    grads : ndarray of shape (p,)
        ACCUMULATED: ``grads += dJ/dparams`` (overwritten when ``accumulate`` is False).
    layout : int64 ndarray of shape (L, 5)
        Read.
    X : ndarray of shape (n_0, m)
        Read: the forward input.
    Y : ndarray of shape (n_L, m)
        Read: the targets.
    acts : ndarray
        Read: the forward activations.
    delta : ndarray of shape (2 * h,), h >= m * max(n_l)
        Work space, overwritten.
    scratch : ndarray of shape (>= max(n_l * n_{l-1}),)
        Work space, overwritten when ``accumulate``.
    loss : int
        Loss code (:data:`fastnn.kernels.losses.CODES`).
    accumulate : bool
        False only when the caller knows ``grads`` holds zeros.

    Notes
    -----
    ``dZ[L]`` from :func:`~fastnn.kernels.losses.loss_gradient`; then for l = L..1:
    ``dW[l] += dZ[l] A[l-1]^T``, ``db[l] += sum_columns dZ[l]``,
    ``dZ[l-1] = (W[l]^T dZ[l]) * g'_{l-1}(A[l-1])`` (not formed for l = 1).
    """
    L = layout.shape[0]
    m = X.shape[1]
    half = delta.size // 2
    start = output_offset(layout, m)
    n_out = layout[L - 1, N_OUT]
    A = borrow2d(acts, start, n_out, m)
    dZ = borrow2d(delta, 0, n_out, m)
    loss_gradient(A, Y, loss, layout[L - 1, ACT], dZ)
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
        dense_backward(W, A_prev, dZ, dW, db, dA_prev, scratch, accumulate, True)
        activation_backward(A_prev, dA_prev, layout[l - 1, ACT])
        dZ = dA_prev
    n_in, n_out, wo, bo = layout[0, N_IN], layout[0, N_OUT], layout[0, W_OFF], layout[0, B_OFF]
    W = borrow2d(params, wo, n_out, n_in)
    dW = borrow2d(grads, wo, n_out, n_in)
    db = borrow2d(grads, bo, n_out, 1)
    dense_backward(W, X, dZ, dW, db, dZ, scratch, accumulate, False)


@kernel
def network_loss(params, layout, X, Y, acts, z_out, loss):
    """Forward pass, then the mean loss over the m samples (float64).

    Parameters are those of :func:`network_forward`, plus ``Y`` (n_L, m) and the loss
    code. ``acts`` and ``z_out`` are overwritten.
    """
    network_forward(params, layout, X, acts, z_out)
    m = X.shape[1]
    n_out = layout[layout.shape[0] - 1, N_OUT]
    A = borrow2d(acts, output_offset(layout, m), n_out, m)
    Z = borrow2d(z_out, 0, n_out, m)
    return loss_value(Z, A, Y, loss)


@kernel
def train_step(params, grads, layout, X, Y, acts, z_out, delta, scratch, loss, lr):
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
    network_backward(params, grads, layout, X, Y, acts, delta, scratch, loss, False)
    return sgd_update_checked(params, grads, lr)


STEP_APPLIED = 0
STEP_BAD_BATCH = 1
STEP_REFUSED = 2


@kernel
def checked_train_step(params, grads, layout, X, Y, acts, z_out, delta, scratch, loss, lr, lo, hi):
    """:func:`~fastnn.kernels.checks.batch_ok` then :func:`train_step`, in one call.

    The per-step path of ``Network.train_step``: one kernel call instead of two.

    Parameters
    ----------
    params, grads, layout, X, Y, acts, z_out, delta, scratch, loss, lr
        As in :func:`train_step`.
    lo, hi : float
        Bounds for ``Y`` (see :func:`~fastnn.kernels.checks.batch_ok`).

    Returns
    -------
    int
        ``STEP_APPLIED``; ``STEP_BAD_BATCH`` when ``X`` is not all finite or ``Y`` not
        all finite and within ``[lo, hi]`` (nothing is computed or changed); or
        ``STEP_REFUSED`` when the update would have made a parameter NaN or infinite
        (``params`` unchanged).
    """
    if not batch_ok(X, Y, lo, hi):
        return STEP_BAD_BATCH
    if train_step(params, grads, layout, X, Y, acts, z_out, delta, scratch, loss, lr):
        return STEP_APPLIED
    return STEP_REFUSED
