"""Activation kernels: bias + activation fused in one pass, and derivatives in place.

Activations are selected by an integer code (one compiled kernel serves them all and
the choice costs one predictable branch per layer, not per element); with a ``kinds``
argument (:mod:`fastnn.kernels.kinds`) only the codes it names compile. Every derivative
is written from the forward OUTPUT ``A``, so the pre-activation ``Z`` need not be kept.

Exponentials come from :func:`exp_nonpositive` and :func:`expm1_nonpositive`, written
here as range reduction + a polynomial so that the loops calling them VECTORIZE
(Numba's ``np.exp`` stays a scalar libm call per element). Every activation needs
``exp(x)`` for ``x <= 0`` only (``exp(-|z|)`` in the sigmoid, ``expm1(-2|z|)`` in tanh,
``exp(z - max z)`` in softmax), so nothing can overflow. They are accurate to about
1 ulp, and subnormal results, ``-inf -> 0`` and ``NaN -> NaN`` are exact;
``python -m pytest tests/test_reliability_numerics.py`` checks the activations built on
them (how the exponentials themselves were measured: docs/performance-notes.md).
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload, register_jitable

from ._jit import HELPER_OPTIONS, kernel
from .kinds import activation_codes, code_chain

IDENTITY = 0
SIGMOID = 1
TANH = 2
RELU = 3
SOFTMAX = 4
EXP = 5

CODES = {"identity": IDENTITY, "sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "softmax": SOFTMAX,
         "exp": EXP}
"""Activation name -> kernel code."""


# ---------------------------------------------------------------- vectorizable exp


@intrinsic
def _float_from_bits(typingctx, bits):
    """Reinterpret an int64 (int32) as the float64 (float32) with the same bits."""
    if bits == types.int64:
        result = types.float64
    elif bits == types.int32:
        result = types.float32
    else:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(signature.return_type))

    return result(bits), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (``llvm.fma``). Fast-math reassociation cannot split
    it, which keeps the Cody-Waite range reduction below exact."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        ty = context.get_value_type(signature.return_type)
        fn = builder.module.declare_intrinsic("llvm.fma", [ty], ir.FunctionType(ty, [ty, ty, ty]))
        return builder.call(fn, args)

    return a(a, a, a), codegen


@register_jitable(**HELPER_OPTIONS)
def _reduce64(x):
    # x in [-746, 0]: k = round(x / ln2), r = x - k ln2 in [-ln2/2, ln2/2] (ln2 split in
    # two, the high part with 32 trailing zero bits), q = expm1(r) by Taylor to degree 13
    # (truncation < 5e-18 on that interval).
    k = np.floor(x * 1.4426950408889634 + 0.5)
    r = _fma(-k, 6.93147180369123816490e-01, x)
    r = _fma(-k, 1.90821492927058770002e-10, r)
    q = 1.0 / 6227020800.0
    q = q * r + 1.0 / 479001600.0
    q = q * r + 1.0 / 39916800.0
    q = q * r + 1.0 / 3628800.0
    q = q * r + 1.0 / 362880.0
    q = q * r + 1.0 / 40320.0
    q = q * r + 1.0 / 5040.0
    q = q * r + 1.0 / 720.0
    q = q * r + 1.0 / 120.0
    q = q * r + 1.0 / 24.0
    q = q * r + 1.0 / 6.0
    q = q * r + 0.5
    q = (q * r) * r + r
    return q, np.int64(k)


@register_jitable(**HELPER_OPTIONS)
def _reduce32(x):
    # x in [-104, 0]: as _reduce64 with Cephes' expf constants (minimax, about 1 ulp).
    k = np.floor(x * np.float32(1.44269504088896341) + np.float32(0.5))
    r = _fma(-k, np.float32(0.693359375), x)
    r = _fma(-k, np.float32(-2.12194440e-4), r)
    q = np.float32(1.9875691500e-4)
    q = q * r + np.float32(1.3981999507e-3)
    q = q * r + np.float32(8.3334519073e-3)
    q = q * r + np.float32(4.1665795894e-2)
    q = q * r + np.float32(1.6666665459e-1)
    q = q * r + np.float32(5.0000001201e-1)
    q = (q * r) * r + r
    return q, np.int32(k)


def _exp64(x):
    xc = x if x > -746.0 else -746.0
    q, k = _reduce64(xc)
    # 2**k as two powers of two, each a normal number, so that a subnormal result
    # is rounded once, correctly, by the last product.
    k1 = k >> 1
    p1 = _float_from_bits((k1 + 1023) << 52)
    p2 = _float_from_bits((k - k1 + 1023) << 52)
    e = (p1 * q + p1) * p2
    return e if x == x else x


def _exp32(x):
    lo = np.float32(-104.0)
    xc = x if x > lo else lo
    q, k = _reduce32(xc)
    k1 = k >> 1
    p1 = _float_from_bits(np.int32((k1 + 127) << 23))
    p2 = _float_from_bits(np.int32((k - k1 + 127) << 23))
    e = (p1 * q + p1) * p2
    return e if x == x else x


def _expm1_64(x):
    xc = x if x > -60.0 else -60.0
    q, k = _reduce64(xc)
    p = _float_from_bits((k + 1023) << 52)
    e = p * q + (p - 1.0)
    return e if x == x else x


def _expm1_32(x):
    lo = np.float32(-30.0)
    xc = x if x > lo else lo
    q, k = _reduce32(xc)
    p = _float_from_bits(np.int32((k + 127) << 23))
    e = p * q + (p - np.float32(1.0))
    return e if x == x else x


def exp_nonpositive(x):
    """``exp(x)`` for a float ``x <= 0`` (or NaN), vectorizable inside kernels.

    Inside a kernel this compiles to the branch-free polynomial code (float32 stays
    float32); called from Python it is ``np.exp``. Values above 0 are not supported.
    """
    return np.exp(x)


def expm1_nonpositive(x):
    """``exp(x) - 1`` for a float ``x <= 0`` (or NaN), accurate near 0 and vectorizable."""
    return np.expm1(x)


@overload(exp_nonpositive, jit_options=HELPER_OPTIONS)
def _exp_nonpositive_impl(x):
    if isinstance(x, types.Float):
        return _exp32 if x.bitwidth == 32 else _exp64
    return None


@overload(expm1_nonpositive, jit_options=HELPER_OPTIONS)
def _expm1_nonpositive_impl(x):
    if isinstance(x, types.Float):
        return _expm1_32 if x.bitwidth == 32 else _expm1_64
    return None


@register_jitable(**HELPER_OPTIONS)
def _sigmoid(z, one):
    # Stable and branch-free: e = exp(-|z|) <= 1 never overflows; a select picks
    # 1 / (1 + e) (z >= 0) or e / (1 + e) (z < 0). NaN stays NaN.
    e = exp_nonpositive(-np.abs(z))
    s = one / (one + e)
    return s if z >= one - one else e * s


@register_jitable(**HELPER_OPTIONS)
def _tanh(z, one):
    # tanh(|z|) = -em / (2 + em) with em = expm1(-2|z|) in (-1, 0]: no cancellation
    # near 0, no overflow far from it.
    two = one + one
    em = expm1_nonpositive(-two * np.abs(z))
    t = -em / (two + em)
    return t if z >= one - one else -t


# ---------------------------------------------------------------- kernels


def _add_bias(A, b, add_bias):
    if add_bias:
        for i in range(A.shape[0]):
            bi = b[i, 0]
            for j in range(A.shape[1]):
                A[i, j] += bi


def _forward_sigmoid(A, b, add_bias, unused, kinds):
    one = A.dtype.type(1.0)
    zero = A.dtype.type(0.0)
    for i in range(A.shape[0]):
        bi = b[i, 0] if add_bias else zero
        for j in range(A.shape[1]):
            A[i, j] = _sigmoid(A[i, j] + bi, one)


def _forward_tanh(A, b, add_bias, unused, kinds):
    one = A.dtype.type(1.0)
    zero = A.dtype.type(0.0)
    for i in range(A.shape[0]):
        bi = b[i, 0] if add_bias else zero
        for j in range(A.shape[1]):
            A[i, j] = _tanh(A[i, j] + bi, one)


def _forward_relu(A, b, add_bias, unused, kinds):
    zero = A.dtype.type(0.0)
    for i in range(A.shape[0]):
        bi = b[i, 0] if add_bias else zero
        for j in range(A.shape[1]):
            z = A[i, j] + bi
            A[i, j] = z if z > zero else zero


def _forward_identity(A, b, add_bias, unused, kinds):
    _add_bias(A, b, add_bias)


def _forward_softmax(A, b, add_bias, unused, kinds):
    _add_bias(A, b, add_bias)
    softmax_columns(A)


def _forward_exp(A, b, add_bias, unused, kinds):
    # the log link of the Poisson loss; may overflow to inf, as np.exp
    _add_bias(A, b, add_bias)
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            A[i, j] = np.exp(A[i, j])


def _backward_sigmoid(A, dZ, unused, unused2, kinds):
    one = dZ.dtype.type(1.0)
    for i in range(dZ.shape[0]):
        for j in range(dZ.shape[1]):
            a = A[i, j]
            dZ[i, j] *= a * (one - a)


def _backward_tanh(A, dZ, unused, unused2, kinds):
    one = dZ.dtype.type(1.0)
    for i in range(dZ.shape[0]):
        for j in range(dZ.shape[1]):
            a = A[i, j]
            dZ[i, j] *= one - a * a


def _backward_relu(A, dZ, unused, unused2, kinds):
    zero = dZ.dtype.type(0.0)
    for i in range(dZ.shape[0]):
        for j in range(dZ.shape[1]):
            if A[i, j] <= zero:
                dZ[i, j] = zero


def _backward_identity(A, dZ, unused, unused2, kinds):
    pass


def _backward_exp(A, dZ, unused, unused2, kinds):
    for i in range(dZ.shape[0]):
        for j in range(dZ.shape[1]):
            dZ[i, j] *= A[i, j]


def _backward_softmax(A, dZ, unused, unused2, kinds):
    n, m = dZ.shape
    zero = dZ.dtype.type(0.0)
    for j in range(m):
        dot = zero
        for i in range(n):
            dot += A[i, j] * dZ[i, j]
        for i in range(n):
            dZ[i, j] = A[i, j] * (dZ[i, j] - dot)


_add_bias = register_jitable(**HELPER_OPTIONS)(_add_bias)
_FORWARD = tuple((code, register_jitable(**HELPER_OPTIONS)(f)) for code, f in (
    (SIGMOID, _forward_sigmoid), (TANH, _forward_tanh), (RELU, _forward_relu),
    (IDENTITY, _forward_identity), (SOFTMAX, _forward_softmax), (EXP, _forward_exp)))
"""Code -> ``A = g(A + b)`` in place (the bias added only when ``add_bias``)."""
_BACKWARD = tuple((code, register_jitable(**HELPER_OPTIONS)(f)) for code, f in (
    (SIGMOID, _backward_sigmoid), (TANH, _backward_tanh), (RELU, _backward_relu),
    (EXP, _backward_exp), (SOFTMAX, _backward_softmax), (IDENTITY, _backward_identity)))
"""Code -> ``dZ *= g'`` in place, written from ``A``."""


def _activate(A, b, add_bias, act, kinds):
    """``A = g_act(A + b)`` in place; compiled inside kernels only (an overload)."""
    raise TypeError("_activate is compiled inside kernels only")


def activation_derivative(A, dZ, act, kinds):
    """``dZ *= g_act'(A)`` in place; compiled inside kernels only (an overload)."""
    raise TypeError("activation_derivative is compiled inside kernels only")


@overload(_activate, jit_options=HELPER_OPTIONS)
def _activate_impl(A, b, add_bias, act, kinds):
    chain = code_chain(_FORWARD, activation_codes(kinds, [code for code, _ in _FORWARD]))
    return lambda A, b, add_bias, act, kinds: chain(A, b, add_bias, None, act, kinds)


@overload(activation_derivative, jit_options=HELPER_OPTIONS)
def _derivative_impl(A, dZ, act, kinds):
    chain = code_chain(_BACKWARD, activation_codes(kinds, [code for code, _ in _BACKWARD]))
    return lambda A, dZ, act, kinds: chain(A, dZ, None, None, act, kinds)


@kernel
def bias_activation(Z, b, A, act, kinds=None):
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
    kinds : Kinds, optional
        The activation codes that can occur (:mod:`fastnn.kernels.kinds`): only those
        compile. None: all.

    Notes
    -----
    sigmoid(z) = 1 / (1 + exp(-z)), evaluated as ``e = exp(-|z|)``, then ``1 / (1 + e)``
    for z >= 0 and ``e / (1 + e)`` otherwise: it never overflows and never divides by 0.
    tanh(z) = sign(z) * (-em / (2 + em)) with ``em = expm1(-2|z|)``: exact to a few ulp
    near 0 as well. NaN gives NaN; +-inf give the limits.
    softmax works per column (per sample): ``exp(z - max z) / sum exp(z - max z)``.
    """
    n, m = Z.shape
    # The activation loops read and write ONE array, A: a loop reading Z and writing A
    # where Z is A (hidden layers) fails LLVM's runtime overlap check and runs scalar
    # (docs/performance-notes.md). When Z is a separate array, Z + b is first stored in both.
    if Z.ctypes.data != A.ctypes.data:
        for i in range(n):
            bi = b[i, 0]
            for j in range(m):
                z = Z[i, j] + bi
                Z[i, j] = z
                A[i, j] = z
        add_bias = False
    else:
        add_bias = True
    _activate(A, b, add_bias, act, kinds)


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
            e = exp_nonpositive(A[i, j] - top)
            A[i, j] = e
            total += e
        inv = A.dtype.type(1.0) / total
        for i in range(n):
            A[i, j] *= inv


@kernel
def activation_backward(A, dZ, act, kinds=None):
    """Turn ``dA`` into ``dZ = dA * g'(Z)`` in place, with ``g'`` written from ``A = g(Z)``.

    Parameters
    ----------
    A : ndarray of shape (n, m), float32 or float64
        Read: the layer's forward output.
    dZ : ndarray of shape (n, m), same dtype, C-contiguous
        Read as ``dA``, overwritten with ``dZ``.
    act : int
        Activation code.
    kinds : Kinds, optional
        The activation codes that can occur (only those compile); None: all.

    Notes
    -----
    sigmoid: ``A (1 - A)``; tanh: ``1 - A^2``; relu: ``1 if A > 0 else 0``;
    identity: 1; softmax (per column): ``dZ_k = A_k (dA_k - sum_j A_j dA_j)``; exp: ``A``.
    """
    activation_derivative(A, dZ, act, kinds)
