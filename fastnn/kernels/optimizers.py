"""In-place optimizer updates over flat parameter and gradient buffers."""

import numpy as np

from numba import types
from numba.extending import overload

from ._jit import HELPER_OPTIONS, kernel
from .bundles import EpochOpt


@kernel
def sgd_update(params, grads, lr):
    """Plain gradient descent, in place: ``params -= lr * grads``.

    Parameters
    ----------
    params : ndarray of shape (p,), float32 or float64
        Updated in place.
    grads : ndarray of shape (p,), same dtype
        Read.
    lr : float
        Learning rate (cast to the buffers' dtype).

    Notes
    -----
    ``W[l] <- W[l] - lr dW[l]``, ``b[l] <- b[l] - lr db[l]`` for every layer at once.
    """
    step = params.dtype.type(lr)
    for i in range(params.size):
        params[i] -= step * grads[i]



@kernel
def sgd_update_checked(params, grads, lr):
    """Plain gradient descent, in place, only if every new value is finite.

    Parameters
    ----------
    params : ndarray of shape (p,), float32 or float64
        Updated in place when the update is finite; untouched otherwise.
    grads : ndarray of shape (p,), same dtype
        Read.
    lr : float
        Learning rate (cast to the buffers' dtype).

    Returns
    -------
    bool
        True if the update was applied; False if some ``params[i] - lr * grads[i]`` is
        NaN or infinite (an overflow), in which case ``params`` is unchanged.

    Notes
    -----
    Two passes over the buffers, no copy: the first only reads, computing every new
    value and summing ``new * 0`` (0 for a finite value, NaN otherwise; no ``nnan`` in
    the fast-math set, so it is not folded away), the second writes the same
    expression, so what was checked is what is stored. Same result as
    :func:`sgd_update` when it returns True.
    """
    step = params.dtype.type(lr)
    zero = params.dtype.type(0)
    acc = zero
    for i in range(params.size):
        acc += (params[i] - step * grads[i]) * zero
    if acc != zero:
        return False
    for i in range(params.size):
        params[i] = params[i] - step * grads[i]
    return True


SGD = 0
ADAM = 1

CODES = {"sgd": SGD, "adam": ADAM}
"""Optimizer name -> kernel code."""

# Positions in the float64 ``hyper`` array of each optimizer.
LR = 0
SGD_MOMENTUM = 1
SGD_WEIGHT_DECAY = 2
SGD_NESTEROV = 3
ADAM_BETA1 = 1
ADAM_BETA2 = 2
ADAM_EPS = 3
ADAM_WEIGHT_DECAY = 4
N_HYPER = 5


@kernel
def sgd_decay_update(params, grads, lr, weight_decay, grad_scale):
    """SGD with L2 weight decay and no momentum, in place (no state buffer).

    Parameters
    ----------
    params : ndarray of shape (p,), float32 or float64
        Updated in place.
    grads : ndarray of shape (p,), same dtype
        Read.
    lr, weight_decay, grad_scale : float
        Cast to the buffers' dtype.

    Returns
    -------
    float
        0.0 when every new parameter is finite, NaN otherwise (as :func:`optimizer_update`).

    Notes
    -----
    ``g = grad_scale * grads + weight_decay * params``, ``params <- params - lr * g``:
    :func:`sgd_momentum_update` with ``momentum = 0`` (it calls this kernel).
    """
    t = params.dtype.type
    step = t(lr)
    wd = t(weight_decay)
    scale = t(grad_scale)
    zero = t(0)
    total = zero
    for i in range(params.size):
        g = grads[i] * scale + wd * params[i]
        p = params[i] - step * g
        params[i] = p
        total += p * zero
    return np.float64(total)


@kernel
def sgd_momentum_update(params, grads, hyper, velocity, grad_scale):
    """SGD with momentum, Nesterov momentum and L2 weight decay, in place (PyTorch's SGD).

    Parameters
    ----------
    params : ndarray of shape (p,), float32 or float64
        Updated in place.
    grads : ndarray of shape (p,), same dtype
        Read.
    hyper : float64 ndarray of shape (N_HYPER,)
        ``[lr, momentum, weight_decay, nesterov (0 or 1), unused]``.
    velocity : ndarray of shape (p,), same dtype
        The momentum buffer, zeros before the first step; updated in place (untouched
        when momentum is 0).
    grad_scale : float
        Every gradient is multiplied by it first (1 / micro-batches when accumulating).

    Returns
    -------
    float
        0.0 when every new parameter is finite, NaN otherwise (the sum of ``p * 0`` in
        the params' dtype: unlike a sum of the parameters it cannot overflow).

    Notes
    -----
    With ``g = grad_scale * grads + weight_decay * params``::

        v <- momentum * v + g                  (v = g on the first step: v starts at 0)
        d <- g + momentum * v  if nesterov else v   (d = g when momentum is 0)
        params <- params - lr * d

    exactly ``torch.optim.SGD`` with ``dampening=0``.
    """
    t = params.dtype.type
    lr = t(hyper[LR])
    mu = t(hyper[SGD_MOMENTUM])
    wd = t(hyper[SGD_WEIGHT_DECAY])
    nesterov = hyper[SGD_NESTEROV] != 0.0
    scale = t(grad_scale)
    zero = t(0)
    total = zero
    if hyper[SGD_MOMENTUM] == 0.0:
        return sgd_decay_update(params, grads, hyper[LR], hyper[SGD_WEIGHT_DECAY], grad_scale)
    if nesterov:
        for i in range(params.size):
            g = grads[i] * scale + wd * params[i]
            v = mu * velocity[i] + g
            velocity[i] = v
            p = params[i] - lr * (g + mu * v)
            params[i] = p
            total += p * zero
    else:
        for i in range(params.size):
            g = grads[i] * scale + wd * params[i]
            v = mu * velocity[i] + g
            velocity[i] = v
            p = params[i] - lr * v
            params[i] = p
            total += p * zero
    return np.float64(total)


@kernel
def adam_update(params, grads, hyper, moments, step, grad_scale):
    """Adam with L2 weight decay, in place (PyTorch's Adam, ``amsgrad=False``).

    Parameters
    ----------
    params : ndarray of shape (p,), float32 or float64
        Updated in place.
    grads : ndarray of shape (p,), same dtype
        Read.
    hyper : float64 ndarray of shape (N_HYPER,)
        ``[lr, beta1, beta2, eps, weight_decay]``.
    moments : ndarray of shape (2 * p,), same dtype
        ``m`` (first half) and ``v`` (second half), zeros before the first step;
        updated in place.
    step : int
        The number of this step, ``t >= 1`` (for the bias corrections).
    grad_scale : float
        Every gradient is multiplied by it first.

    Returns
    -------
    float
        0.0 when every new parameter is finite, NaN otherwise (the sum of ``p * 0`` in
        the params' dtype: unlike a sum of the parameters it cannot overflow).

    Notes
    -----
    With ``g = grad_scale * grads + weight_decay * params``::

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        params <- params - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    the bias-corrected form ``params -= lr m_hat / (sqrt(v_hat) + eps)`` written as
    ``torch.optim.Adam`` evaluates it (corrections computed in float64).
    """
    t = params.dtype.type
    beta1 = hyper[ADAM_BETA1]
    beta2 = hyper[ADAM_BETA2]
    step_size = t(hyper[LR] / (1.0 - beta1**step))
    inv_corr2 = t(1.0 / np.sqrt(1.0 - beta2**step))
    b1 = t(beta1)
    b2 = t(beta2)
    c1 = t(1.0 - beta1)
    c2 = t(1.0 - beta2)
    eps = t(hyper[ADAM_EPS])
    wd = t(hyper[ADAM_WEIGHT_DECAY])
    scale = t(grad_scale)
    n = params.size
    zero = t(0)
    total = zero
    for i in range(n):
        g = grads[i] * scale + wd * params[i]
        m = b1 * moments[i] + c1 * g
        v = b2 * moments[n + i] + c2 * (g * g)
        moments[i] = m
        moments[n + i] = v
        p = params[i] - step_size * m / (np.sqrt(v) * inv_corr2 + eps)
        params[i] = p
        total += p * zero
    return np.float64(total)


@kernel
def optimizer_update(params, grads, code, hyper, state, step, grad_scale):
    """One optimizer step, chosen by ``code`` (:data:`CODES`), in place.

    Parameters
    ----------
    params, grads : ndarray of shape (p,)
        Updated in place / read.
    code : int
        ``SGD`` or ``ADAM``.
    hyper : float64 ndarray of shape (N_HYPER,)
        The optimizer's hyperparameters (see :func:`sgd_momentum_update`,
        :func:`adam_update`).
    state : ndarray of shape (p,) for SGD, (2 * p,) for Adam, the params' dtype
        Optimizer state, updated in place.
    step : int
        This step's number, ``t >= 1`` (used by Adam).
    grad_scale : float

    Returns
    -------
    float
        0.0 when every new parameter is finite, NaN otherwise.
    """
    if code == ADAM:
        return adam_update(params, grads, hyper, state, step, grad_scale)
    return sgd_momentum_update(params, grads, hyper, state, grad_scale)


@kernel
def sgd_plain_update(params, grads, lr, grad_scale):
    """Plain SGD (no momentum, no weight decay), in place: the epoch loop's fast path.

    Parameters
    ----------
    params : ndarray of shape (p,), float32 or float64
        Updated in place.
    grads : ndarray of shape (p,), same dtype
        Read.
    lr : float
        Learning rate (cast to the buffers' dtype).
    grad_scale : float
        Every gradient is multiplied by it first.

    Returns
    -------
    float
        0.0 when every new parameter is finite, NaN otherwise (the contract of
        :func:`optimizer_update`: non-finite iff a parameter is).

    Notes
    -----
    ``params <- params - lr * (grad_scale * grads)``: bitwise what
    :func:`sgd_momentum_update` stores with ``momentum = weight_decay = 0`` for finite
    parameters (its ``+ 0 * params`` term adds a zero), without reading ``hyper`` or
    a state buffer. The finiteness check sums ``p * 0`` in the buffers' dtype (0 for a
    finite ``p``, NaN otherwise; no ``nnan`` in the fast-math set), which vectorizes
    without a conversion and, unlike a sum of the parameters, cannot overflow.
    """
    t = params.dtype.type
    step = t(lr)
    scale = t(grad_scale)
    zero = t(0)
    acc = zero
    for i in range(params.size):
        p = params[i] - step * (grads[i] * scale)
        params[i] = p
        acc += p * zero
    return np.float64(acc)


def epoch_update(params, grads, hyper, state, step, grad_scale):
    """The epoch kernel's optimizer step, chosen by the TYPE of ``state`` (an
    :class:`~fastnn.kernels.bundles.EpochOpt`), in place.

    Parameters
    ----------
    params, grads : ndarray of shape (p,)
        Updated in place / read.
    hyper : float64 ndarray of shape (N_HYPER,)
    state : None, ndarray of shape (p,) or (2, p)
        None: SGD without momentum (:func:`sgd_plain_update`, or :func:`sgd_decay_update`
        with weight decay or a scale); (p,): :func:`sgd_momentum_update`; (2, p):
        :func:`adam_update`.
    step : int
        This step's number, ``t >= 1`` (used by Adam).
    grad_scale : float

    Returns
    -------
    float
        0.0 when every new parameter is finite, NaN otherwise.

    Notes
    -----
    Inside a kernel an ``overload``: the update is chosen while the caller is typed, so each signature
    compiles only its own update (an integer code compiled them all into every caller:
    ``python -m asv_benchmarks.compile_times``). Plain SGD with an unscaled gradient takes
    :func:`sgd_plain_update`, bitwise the same parameters as :func:`sgd_decay_update`
    (which a scale != 1 keeps, since it could be reassociated into ``lr``).
    """
    if state is None:
        return _plain_or_decay(params, grads, hyper, state, step, grad_scale)
    if state.ndim == 2:
        return _adam(params, grads, hyper, state, step, grad_scale)
    return _momentum(params, grads, hyper, state, step, grad_scale)


def _plain_or_decay(params, grads, hyper, state, step, grad_scale):
    if hyper[SGD_WEIGHT_DECAY] == 0.0 and grad_scale == 1.0:
        return sgd_plain_update(params, grads, hyper[LR], grad_scale)
    return sgd_decay_update(params, grads, hyper[LR], hyper[SGD_WEIGHT_DECAY], grad_scale)


def _adam(params, grads, hyper, state, step, grad_scale):
    return adam_update(params, grads, hyper, state.reshape(state.size), step, grad_scale)


def _momentum(params, grads, hyper, state, step, grad_scale):
    return sgd_momentum_update(params, grads, hyper, state, grad_scale)


@overload(epoch_update, jit_options=HELPER_OPTIONS)
def _epoch_update_impl(params, grads, hyper, state, step, grad_scale):
    if isinstance(state, types.NoneType):
        return _plain_or_decay
    if state.ndim == 2:
        return _adam
    return _momentum


def epoch_opt(opt_buffers):
    """The :class:`~fastnn.kernels.bundles.EpochOpt` of an optimizer's
    :class:`~fastnn.kernels.bundles.OptBuffers` (views of its buffers, no copy)."""
    code, hyper, state = opt_buffers
    if code == ADAM:
        return EpochOpt(hyper, state.reshape(2, -1))
    if hyper[SGD_MOMENTUM] == 0.0:
        return EpochOpt(hyper, None)
    return EpochOpt(hyper, state)
