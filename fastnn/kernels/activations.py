"""Activation kernels: bias + activation fused in one pass, and derivatives in place.

Activations are selected by an integer code (one compiled kernel serves them all and
the choice costs one predictable branch per layer, not per element). Every derivative
is written from the forward OUTPUT ``A``, so the pre-activation ``Z`` need not be kept.
"""

import numpy as np

from ._jit import kernel

IDENTITY = 0
SIGMOID = 1
TANH = 2
RELU = 3
SOFTMAX = 4

CODES = {"identity": IDENTITY, "sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "softmax": SOFTMAX}
"""Activation name -> kernel code."""


@kernel
def bias_activation(Z, b, A, act):
    """Add the bias to ``Z`` and apply the activation: ``A = g(Z + b)``.

    Parameters
    ----------
    Z : ndarray of shape (n, m), float32 or float64, C-contiguous
        Read: ``W @ A_prev``. Overwritten with ``Z + b``. May be the same array as ``A``.
    b : ndarray of shape (n, 1), same dtype
        Read.
    A : ndarray of shape (n, m), same dtype, C-contiguous
        Overwritten with ``g(Z + b)``.
    act : int
        Activation code (``CODES``).

    Notes
    -----
    sigmoid(z) = 1 / (1 + exp(-z)), evaluated as ``e = exp(-|z|)``, then ``1 / (1 + e)``
    for z >= 0 and ``e / (1 + e)`` otherwise: it never overflows and never divides by 0.
    softmax works per column (per sample): ``exp(z - max z) / sum exp(z - max z)``.
    """
    n, m = Z.shape
    one = Z.dtype.type(1.0)
    zero = Z.dtype.type(0.0)
    if act == SIGMOID:
        for i in range(n):
            bi = b[i, 0]
            for j in range(m):
                z = Z[i, j] + bi
                Z[i, j] = z
                e = np.exp(-np.abs(z))
                s = one / (one + e)
                A[i, j] = s if z >= zero else e * s
    elif act == TANH:
        for i in range(n):
            bi = b[i, 0]
            for j in range(m):
                z = Z[i, j] + bi
                Z[i, j] = z
                A[i, j] = np.tanh(z)
    elif act == RELU:
        for i in range(n):
            bi = b[i, 0]
            for j in range(m):
                z = Z[i, j] + bi
                Z[i, j] = z
                A[i, j] = z if z > zero else zero
    else:
        for i in range(n):
            bi = b[i, 0]
            for j in range(m):
                z = Z[i, j] + bi
                Z[i, j] = z
                A[i, j] = z
        if act == SOFTMAX:
            softmax_columns(A)


@kernel
def softmax_columns(A):
    """Replace each column of ``A`` (shape (n, m)) by its softmax, in place.

    Notes
    -----
    ``softmax(z)_k = exp(z_k - max z) / sum_j exp(z_j - max z)``: the shift keeps
    every exponent <= 0, so nothing overflows and the sum is at least 1.
    """
    n, m = A.shape
    for j in range(m):
        top = A[0, j]
        for i in range(1, n):
            top = max(top, A[i, j])
        total = A.dtype.type(0.0)
        for i in range(n):
            e = np.exp(A[i, j] - top)
            A[i, j] = e
            total += e
        inv = A.dtype.type(1.0) / total
        for i in range(n):
            A[i, j] *= inv


@kernel
def activation_backward(A, dZ, act):
    """Turn ``dA`` into ``dZ = dA * g'(Z)`` in place, with ``g'`` written from ``A = g(Z)``.

    Parameters
    ----------
    A : ndarray of shape (n, m), float32 or float64
        Read: the layer's forward output.
    dZ : ndarray of shape (n, m), same dtype, C-contiguous
        Read as ``dA``, overwritten with ``dZ``.
    act : int
        Activation code.

    Notes
    -----
    sigmoid: ``A (1 - A)``; tanh: ``1 - A^2``; relu: ``1 if A > 0 else 0``;
    identity: 1; softmax (per column): ``dZ_k = A_k (dA_k - sum_j A_j dA_j)``.
    """
    n, m = dZ.shape
    one = dZ.dtype.type(1.0)
    zero = dZ.dtype.type(0.0)
    if act == SIGMOID:
        for i in range(n):
            for j in range(m):
                a = A[i, j]
                dZ[i, j] *= a * (one - a)
    elif act == TANH:
        for i in range(n):
            for j in range(m):
                a = A[i, j]
                dZ[i, j] *= one - a * a
    elif act == RELU:
        for i in range(n):
            for j in range(m):
                if A[i, j] <= zero:
                    dZ[i, j] = zero
    elif act == SOFTMAX:
        for j in range(m):
            dot = zero
            for i in range(n):
                dot += A[i, j] * dZ[i, j]
            for i in range(n):
                dZ[i, j] = A[i, j] * (dZ[i, j] - dot)
