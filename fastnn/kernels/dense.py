"""The dense layer: fused forward (matmul + bias + activation) and accumulating backward.

Matrix products use ``np.dot(a, b, out)``, which Numba lowers to a BLAS gemm call with
no copy for transposed operands; everything else is one pass over the output.
"""

import numpy as np

from ._jit import kernel
from .activations import bias_activation


@kernel
def dense_forward(W, b, A_prev, Z, A, act):
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

    Notes
    -----
    ``Z[l] = W[l] A[l-1] + b[l]`` (b broadcast over the m columns), ``A[l] = g(Z[l])``.
    All arrays share one dtype, float32 or float64.
    """
    np.dot(W, A_prev, Z)
    bias_activation(Z, b, A, act)


@kernel
def dense_backward(W, A_prev, dZ, dW, db, dA_prev, scratch, accumulate, need_dA_prev):
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
        ACCUMULATED: ``dW += dZ @ A_prev.T`` (overwritten when ``accumulate`` is False).
    db : ndarray of shape (n_l, 1)
        ACCUMULATED: ``db += sum over columns of dZ`` (overwritten likewise).
    dA_prev : ndarray of shape (n_{l-1}, m), C-contiguous
        Overwritten with ``W.T @ dZ`` when ``need_dA_prev``; untouched otherwise
        (the first layer: nobody needs the gradient of the input).
    scratch : ndarray of at least n_l * n_{l-1} elements, 1-D
        Work space, overwritten when ``accumulate`` is True.
    accumulate : bool
        True: add into ``dW``/``db``. False: the caller knows they hold zeros, and the
        product is written straight into them (no extra pass over ``dW``).
    need_dA_prev : bool

    Notes
    -----
    ``dW[l] += dZ[l] A[l-1]^T``, ``db[l] += sum_columns dZ[l]``, ``dA[l-1] = W[l]^T dZ[l]``.
    """
    n, m = dZ.shape
    if accumulate:
        prod = scratch[: dW.size].reshape(dW.shape)
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
        if accumulate:
            db[i, 0] += total
        else:
            db[i, 0] = total
    if need_dA_prev:
        np.dot(W.T, dZ, dA_prev)
