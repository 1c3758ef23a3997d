"""The dense layer: fused forward (matmul + bias + activation) and accumulating backward.

Matrix products use ``np.dot(a, b, out)``, which Numba lowers to a BLAS gemm call with
no copy for transposed operands; everything else is one pass over the output. Products
under :data:`SMALL_PRODUCT` multiply-adds (the tiny networks) run as plain loops
instead, because there the BLAS call itself costs more than the arithmetic; measure it
with ``python -m asv_benchmarks.compare -w tiny small`` (figures and why the threshold
stays low: docs/performance-notes.md).
"""

import numpy as np
from numba.extending import register_jitable

from ._jit import HELPER_OPTIONS, kernel
from .activations import bias_activation
from .views import borrow2d

SMALL_PRODUCT = 4096
"""Products of fewer multiply-adds than this run as plain loops, not a BLAS call."""


@register_jitable(**HELPER_OPTIONS)
def _small(a, b, c):
    return a * b * c < SMALL_PRODUCT


@register_jitable(**HELPER_OPTIONS)
def _loop_nn(W, A, out):
    """``out = W @ A`` as loops (W (n, k), A (k, m)); the inner loop runs along m.

    Also ``W.T @ D`` as ``_loop_nn(W.T, D, out)``: each output sums over the same index
    in the same order either way."""
    n, k = W.shape
    m = A.shape[1]
    zero = out.dtype.type(0)
    for i in range(n):
        for j in range(m):
            out[i, j] = zero
        for p in range(k):
            w = W[i, p]
            for j in range(m):
                out[i, j] += w * A[p, j]


@register_jitable(**HELPER_OPTIONS)
def _loop_nt(D, A, out, add_to_grads):
    """``out (+)= D @ A.T`` as loops (D (n, m), A (k, m)): dot products along m."""
    n, m = D.shape
    k = A.shape[0]
    for i in range(n):
        for p in range(k):
            total = D[i, 0] * A[p, 0]
            for j in range(1, m):
                total += D[i, j] * A[p, j]
            if add_to_grads:
                out[i, p] += total
            else:
                out[i, p] = total


@kernel
def dense_forward(W, b, A_prev, Z, A, act, kinds=None):
    """Fused dense forward: ``Z = W @ A_prev + b``, ``A = g(Z)``.

    Parameters
    ----------
    W : ndarray of shape (n_l, n_{l-1})
        Read.
    b : ndarray of shape (n_l, 1)
        Read.
    A_prev : ndarray of shape (n_{l-1}, m)
        Read. C- or F-contiguous (a transposed sample-major batch is passed as is).
    Z : ndarray of shape (n_l, m), C-contiguous
        Overwritten with ``W @ A_prev + b``. May be the same array as ``A`` when the
        pre-activation is not needed afterwards.
    A : ndarray of shape (n_l, m), C-contiguous
        Overwritten with ``g(Z)``.
    act : int
        Activation code (:data:`fastnn.kernels.activations.CODES`).
    kinds : Kinds, optional
        The activation codes that can occur: only those compile
        (:mod:`fastnn.kernels.kinds`). None: all.

    Notes
    -----
    ``Z[l] = W[l] A[l-1] + b[l]`` (b broadcast over the m columns), ``A[l] = g(Z[l])``.
    All arrays share one dtype, float32 or float64.
    """
    if _small(W.shape[0], W.shape[1], A_prev.shape[1]):
        _loop_nn(W, A_prev, Z)
    else:
        np.dot(W, A_prev, Z)
    bias_activation(Z, b, A, act, kinds)


@kernel
def dense_backward(W, A_prev, dZ, dW, db, dA_prev, scratch, add_to_grads, need_dA_prev):
    """Dense backward: gradients of the weights (accumulated) and of the input.

    Parameters
    ----------
    W : ndarray of shape (n_l, n_{l-1})
        Read.
    A_prev : ndarray of shape (n_{l-1}, m)
        Read: the layer's input from the forward pass.
    dZ : ndarray of shape (n_l, m)
        Read: gradient of the loss with respect to ``Z[l]``.
    dW : ndarray of shape (n_l, n_{l-1}), C-contiguous
        ACCUMULATED: ``dW += dZ @ A_prev.T`` (overwritten when ``add_to_grads`` is False).
    db : ndarray of shape (n_l, 1)
        ACCUMULATED: ``db += sum over columns of dZ`` (overwritten likewise).
    dA_prev : ndarray of shape (n_{l-1}, m), C-contiguous
        Overwritten with ``W.T @ dZ`` when ``need_dA_prev``; untouched otherwise
        (the first layer: nobody needs the gradient of the input).
    scratch : ndarray of at least n_l * n_{l-1} elements, 1-D
        Work space, overwritten when ``add_to_grads`` is True.
    add_to_grads : bool
        True: add into ``dW``/``db``. False: the caller knows they hold zeros, and the
        product is written straight into them (no extra pass over ``dW``).
    need_dA_prev : bool

    Notes
    -----
    ``dW[l] += dZ[l] A[l-1]^T``, ``db[l] += sum_columns dZ[l]``, ``dA[l-1] = W[l]^T dZ[l]``.
    """
    n, m = dZ.shape
    small = _small(n, m, A_prev.shape[0])
    if small:
        _loop_nt(dZ, A_prev, dW, add_to_grads)
    elif add_to_grads:
        prod = borrow2d(scratch, 0, dW.shape[0], dW.shape[1])
        np.dot(dZ, A_prev.T, prod)
        for i in range(n):
            for k in range(dW.shape[1]):
                dW[i, k] += prod[i, k]
    else:
        np.dot(dZ, A_prev.T, dW)
    for i in range(n):
        total = dZ[i, 0]
        for j in range(1, m):
            total += dZ[i, j]
        if add_to_grads:
            db[i, 0] += total
        else:
            db[i, 0] = total
    if need_dA_prev:
        if small:
            _loop_nn(W.T, dZ, dA_prev)
        else:
            np.dot(W.T, dZ, dA_prev)
