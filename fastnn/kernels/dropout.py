"""Inverted dropout inside the fused network kernels, with counter-based masks.

A dropout bundle ``drop = (rates, seed, step)`` is passed to the network kernels
(:mod:`fastnn.kernels.network`): ``rates`` is float64 (L,), the rate of each layer's
OUTPUT (0: none), ``seed`` and ``step`` int64. Whether element ``(i, j)`` (unit i,
sample j of the batch) of layer ``l`` is kept is a pure function of
``(seed, step, l, j * n_l + i)`` (:func:`keep_uniform`): no generator state, so a
training is bitwise reproducible, and the masks do not depend on the thread count or
on the order in which elements are visited. The backward pass recomputes the mask it
needs instead of storing it.

Kept elements are scaled by ``1 / (1 - rate)`` (inverted dropout), so ``predict`` and
``evaluate``, which pass no bundle, need no rescaling.
"""

import numpy as np
from numba.extending import register_jitable

from ._jit import HELPER_OPTIONS, kernel
from .activations import IDENTITY, RELU, SIGMOID, TANH

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@register_jitable(**HELPER_OPTIONS)
def _mix(x):
    """SplitMix64's finalizer: a bijection of uint64 that scrambles every bit."""
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


@register_jitable(**HELPER_OPTIONS)
def layer_key(seed, step, layer):
    """The per-layer base of the counter: ``mix(mix(mix(seed) ^ step) ^ layer)`` (uint64)."""
    h = _mix(np.uint64(seed) + _GOLDEN)
    h = _mix(h ^ np.uint64(step))
    return _mix(h ^ np.uint64(layer))


@register_jitable(**HELPER_OPTIONS)
def keep_uniform(key, element):
    """A uniform float64 in [0, 1) for ``element`` of the layer whose key is ``key``:
    SplitMix64's output for counter ``element`` (53 bits)."""
    h = _mix(key + (np.uint64(element) + np.uint64(1)) * _GOLDEN)
    return np.float64(h >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@register_jitable(**HELPER_OPTIONS)
def dropout_forward(A, rate, seed, step, layer):
    """Inverted dropout of a layer's output ``A`` (n, m), in place: an element is zeroed
    when its uniform is below ``rate``, else multiplied by ``1 / (1 - rate)``."""
    n, m = A.shape
    scale = A.dtype.type(1.0 / (1.0 - rate))
    zero = A.dtype.type(0.0)
    key = layer_key(seed, step, layer)
    for i in range(n):
        for j in range(m):
            if keep_uniform(key, j * n + i) < rate:
                A[i, j] = zero
            else:
                A[i, j] *= scale


@register_jitable(**HELPER_OPTIONS)
def dropout_activation_backward(A, dZ, act, rate, seed, step, layer):
    """``dZ = dA * mask / (1 - rate) * g'(Z)`` in place, for a layer whose output ``A`` was
    dropped out by :func:`dropout_forward` with the same key.

    ``g'`` is written from the output before dropout, ``A * (1 - rate)`` for a kept
    element (one rounding away from it); a dropped element gets ``dZ = 0``. Activations:
    identity, sigmoid, tanh, relu (the API refuses dropout on softmax layers).
    """
    n, m = dZ.shape
    one = dZ.dtype.type(1.0)
    zero = dZ.dtype.type(0.0)
    keep = dZ.dtype.type(1.0 - rate)
    scale = dZ.dtype.type(1.0 / (1.0 - rate))
    key = layer_key(seed, step, layer)
    for i in range(n):
        for j in range(m):
            if keep_uniform(key, j * n + i) < rate:
                dZ[i, j] = zero
                continue
            a = A[i, j] * keep
            if act == SIGMOID:
                slope = a * (one - a)
            elif act == TANH:
                slope = one - a * a
            elif act == RELU:
                slope = one if a > zero else zero
            else:  # IDENTITY
                slope = one
            dZ[i, j] *= scale * slope


@kernel
def dropout_mask(n, m, rate, seed, step, layer):
    """The mask :func:`dropout_forward` applies to an (n, m) output: float64 (n, m) of 0
    (dropped) and ``1 / (1 - rate)`` (kept); for tests and references."""
    out = np.empty((n, m), dtype=np.float64)
    key = layer_key(seed, step, layer)
    scale = 1.0 / (1.0 - rate)
    for i in range(n):
        for j in range(m):
            out[i, j] = 0.0 if keep_uniform(key, j * n + i) < rate else scale
    return out


DROPOUT_ACTIVATIONS = (IDENTITY, SIGMOID, TANH, RELU)
"""Activation codes :func:`dropout_activation_backward` handles."""
