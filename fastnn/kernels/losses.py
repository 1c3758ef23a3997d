"""Loss kernels: the loss value (from the pre-activation, for stability) and the
gradient at the output, fused with the output activation where the math allows it.
"""

import numpy as np

from numba.extending import overload, register_jitable

from ._jit import HELPER_OPTIONS, kernel
from .activations import activation_derivative, exp_nonpositive
from .kinds import code_chain, loss_codes

BCE = 0
CCE = 1
MSE = 2
POISSON = 3

CODES = {"bce": BCE, "cce": CCE, "mse": MSE, "poisson": POISSON}
"""Canonical loss name -> kernel code."""


@register_jitable(**HELPER_OPTIONS)
def _softplus_tail(z):
    """``log1p(exp(-|z|))`` in float64, branch-free so that the loss loop vectorizes.

    ``e = exp(-|z|)`` in (0, 1] (:func:`~fastnn.kernels.activations.exp_nonpositive`),
    then ``log1p(e) = 2 atanh(s) = 2 s sum_k s^(2k) / (2k + 1)`` with
    ``s = e / (2 + e)`` in [0, 1/3]: 16 terms leave a truncation below 2e-17 relative.
    A few flops instead of two libm calls per element, so the bce loss loop vectorizes
    (timings: docs/performance-notes.md). NaN stays NaN; the accuracy against NumPy is
    checked by ``python -m pytest tests/test_kernels.py -k softplus_tail``.
    """
    e = exp_nonpositive(-abs(z))
    s = e / (2.0 + e)
    t = s * s
    q = 1.0 / 31.0
    q = q * t + 1.0 / 29.0
    q = q * t + 1.0 / 27.0
    q = q * t + 1.0 / 25.0
    q = q * t + 1.0 / 23.0
    q = q * t + 1.0 / 21.0
    q = q * t + 1.0 / 19.0
    q = q * t + 1.0 / 17.0
    q = q * t + 1.0 / 15.0
    q = q * t + 1.0 / 13.0
    q = q * t + 1.0 / 11.0
    q = q * t + 1.0 / 9.0
    q = q * t + 1.0 / 7.0
    q = q * t + 1.0 / 5.0
    q = q * t + 1.0 / 3.0
    q = q * t + 1.0
    return 2.0 * s * q


def _value_bce(Z, A, Y, unused, kinds):
    # Two sums of non-negative terms (no cancellation between them): the one with
    # the exponentials reads only Z (C-contiguous), so it vectorizes even when Y is
    # a strided view (the epoch loop passes a transpose); max(z, 0) - z y stays
    # per element, exact when the two cancel.
    n, m = A.shape
    total = 0.0
    tails = 0.0
    for i in range(n):
        for j in range(m):
            tails += _softplus_tail(np.float64(Z[i, j]))
    for i in range(n):
        for j in range(m):
            z = np.float64(Z[i, j])
            total += max(z, 0.0) - z * np.float64(Y[i, j])
    return (total + tails) / m


def _value_cce(Z, A, Y, unused, kinds):
    n, m = A.shape
    total = 0.0
    for j in range(m):
        top = np.float64(Z[0, j])
        for i in range(1, n):
            top = max(top, np.float64(Z[i, j]))
        sumexp = 0.0
        ysum = 0.0
        yz = 0.0
        for i in range(n):
            z = np.float64(Z[i, j])
            y = np.float64(Y[i, j])
            sumexp += np.exp(z - top)
            ysum += y
            yz += y * z
        total += (top + np.log(sumexp)) * ysum - yz
    return total / m


def _value_poisson(Z, A, Y, unused, kinds):
    n, m = A.shape
    total = 0.0
    for i in range(n):
        for j in range(m):
            y = np.float64(Y[i, j])
            ylogy = y * np.log(y) if y > 0.0 else 0.0
            total += ylogy - y * np.float64(Z[i, j]) - y + np.float64(A[i, j])
    return total / m


def _value_mse(Z, A, Y, unused, kinds):
    n, m = A.shape
    total = 0.0
    for i in range(n):
        for j in range(m):
            d = np.float64(A[i, j]) - np.float64(Y[i, j])
            total += d * d
    return total / (m * n)


def _gradient_cce(A, Y, dZ, act, kinds):
    n, m = A.shape
    scale = A.dtype.type(1.0 / m)
    for j in range(m):
        ysum = Y[0, j]
        for i in range(1, n):
            ysum += Y[i, j]
        for i in range(n):
            dZ[i, j] = (A[i, j] * ysum - Y[i, j]) * scale


def _gradient_matched(A, Y, dZ, act, kinds):
    # bce + sigmoid, poisson + exp: the activation's derivative cancels.
    n, m = A.shape
    scale = A.dtype.type(1.0 / m)
    for i in range(n):
        for j in range(m):
            dZ[i, j] = (A[i, j] - Y[i, j]) * scale


def _gradient_mse(A, Y, dZ, act, kinds):
    n, m = A.shape
    scale = A.dtype.type(2.0 / (m * n))
    for i in range(n):
        for j in range(m):
            dZ[i, j] = (A[i, j] - Y[i, j]) * scale
    activation_derivative(A, dZ, act, kinds)


_VALUE = tuple((code, register_jitable(**HELPER_OPTIONS)(f)) for code, f in (
    (BCE, _value_bce), (CCE, _value_cce), (POISSON, _value_poisson), (MSE, _value_mse)))
"""Loss code -> mean loss ``f(Z, A, Y, unused, kinds)``."""
_GRADIENT = tuple((code, register_jitable(**HELPER_OPTIONS)(f)) for code, f in (
    (CCE, _gradient_cce), (MSE, _gradient_mse), (BCE, _gradient_matched), (POISSON, _gradient_matched)))
"""Loss code -> ``dZ = dJ/dZ[L]``, ``f(A, Y, dZ, act, kinds)``."""


def _value(Z, A, Y, loss, kinds):
    """The mean loss of code ``loss``; compiled inside kernels only (an overload)."""
    raise TypeError("_value is compiled inside kernels only")


def _gradient(A, Y, loss, act, dZ, kinds):
    """``dZ = dJ/dZ[L]`` for the loss of code ``loss``; compiled inside kernels only."""
    raise TypeError("_gradient is compiled inside kernels only")


@overload(_value, jit_options=HELPER_OPTIONS)
def _value_impl(Z, A, Y, loss, kinds):
    chain = code_chain(_VALUE, loss_codes(kinds, [code for code, _ in _VALUE]))
    return lambda Z, A, Y, loss, kinds: chain(Z, A, Y, None, loss, kinds)


@overload(_gradient, jit_options=HELPER_OPTIONS)
def _gradient_impl(A, Y, loss, act, dZ, kinds):
    chain = code_chain(_GRADIENT, loss_codes(kinds, [code for code, _ in _GRADIENT]))
    return lambda A, Y, loss, act, dZ, kinds: chain(A, Y, dZ, act, loss, kinds)


@kernel
def loss_value(Z, A, Y, loss, kinds=None):
    """Mean loss over the m samples (columns), as a float64.

    Parameters
    ----------
    Z : ndarray of shape (n_L, m)
        Read: output pre-activation (used by "bce", "cce" and "poisson").
    A : ndarray of shape (n_L, m)
        Read: output activation (used by "mse" and "poisson").
    Y : ndarray of shape (n_L, m)
        Read: targets.
    loss : int
        Loss code (``CODES``).
    kinds : Kinds, optional
        Its loss is the only one compiled (:mod:`fastnn.kernels.kinds`); None: all.

    Notes
    -----
    bce (sigmoid output): ``J = (1/m) sum_samples sum_k [max(z,0) - z y + log1p(exp(-|z|))]``,
    which equals ``-(1/m) sum [y log a + (1-y) log(1-a)]`` and never takes ``log(0)``.
    cce (softmax output): ``J = (1/m) sum_samples [lse(z) sum_k y_k - sum_k y_k z_k]``
    with ``lse(z) = max z + log sum exp(z - max z)``.
    mse: ``J = (1/(m n_L)) sum (a - y)^2`` (the mean over every entry, as in Keras
    and ``torch.nn.MSELoss``).
    poisson (exp output, ``a = exp(z)``): half the Poisson deviance summed over the outputs,
    ``J = (1/m) sum [y log y - y z - y + a]`` (``0 log 0 = 0``), scikit-learn's ``poisson_loss``.
    The sum is accumulated in float64 whatever the dtype.
    """
    return _value(Z, A, Y, loss, kinds)


@kernel
def loss_gradient(A, Y, loss, act, dZ, kinds=None):
    """Gradient of the mean loss with respect to the output pre-activation ``Z[L]``.

    Parameters
    ----------
    A : ndarray of shape (n_L, m)
        Read: output activation.
    Y : ndarray of shape (n_L, m)
        Read: targets.
    loss : int
        Loss code.
    act : int
        Output activation code (used by "mse"; "bce" implies sigmoid, "cce" softmax).
    dZ : ndarray of shape (n_L, m), C-contiguous
        Overwritten with ``dJ/dZ[L]``.
    kinds : Kinds, optional
        Its loss and activations are the only ones compiled; None: all.

    Notes
    -----
    bce + sigmoid and poisson + exp: ``dZ = (A - Y) / m`` (the activation's derivative cancels).
    cce + softmax: ``dZ = (A sum_k Y_k - Y) / m`` per column, which is ``(A - Y) / m``
    for one-hot or probability targets (columns summing to 1) and stays the exact
    gradient of the loss above for any other non-negative targets.
    mse: ``dA = 2 (A - Y) / (m n_L)``, then ``dZ = dA * g'(Z)``.
    """
    _gradient(A, Y, loss, act, dZ, kinds)
