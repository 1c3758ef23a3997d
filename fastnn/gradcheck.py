"""Gradient checking by central finite differences."""

import numpy as np

from ._validation import check_positive_float, check_positive_int, check_seed


def gradcheck(net, X, Y, eps=1e-6, n_directions=3, seed=0, training=False, mask_seed=0, step=0):
    """Largest relative error between ``backward`` and central finite differences.

    The total differential, ``dJ = sum_theta dJ/dtheta dtheta``, checked two ways:

    * per element: ``(J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)`` against the
      analytic ``dJ/dtheta_i`` for every parameter of every layer;
    * along random unit directions d: ``(J(theta + eps d) - J(theta - eps d)) / (2 eps)``
      against ``sum_i dJ/dtheta_i d_i``.

    The relative error of analytic ``a`` and numeric ``n`` is
    ``|a - n| / max(|a|, |n|, floor)`` with
    ``floor = max(1e-3 * max_i |a_i|, 1e7 * u * |J| / eps)``, ``u`` the float64 machine
    epsilon and ``J`` the loss. Both terms keep gradients that a difference at this
    ``eps`` cannot resolve from dominating: the first those that are zero up to
    rounding, the second those below the rounding error of the central difference
    itself, about ``u |J| / eps`` (1e-10 for J ~ 1 at eps = 1e-6), which the floor
    scales to show as at most about 1e-7. Meant for float64 networks, where a correct
    backward gives errors around 1e-8 to 3e-7; in float32 rounding dominates any eps.

    Parameters
    ----------
    net : Network
        Its parameters and accumulated gradients are restored on return.
    X : array_like of shape (n_0, m)
    Y : array_like of shape (n_L, m)
    eps : float, default 1e-6
    n_directions : int, default 3
    seed : int, default 0
        Seeds the random directions.
    training : bool, default False
        Check the gradient with the network's dropout applied, with the fixed masks of
        ``(mask_seed, step)`` (:meth:`Network.forward`).
    mask_seed, step : int, default 0

    Returns
    -------
    float
        The largest relative error over all elements and directions.
    """
    eps = check_positive_float(eps, "eps")
    n_directions = check_positive_int(n_directions, "n_directions")
    X = net.check_inputs(X)
    Y = net.check_targets(Y, X.shape[1])
    params, grads = net.params, net.grads
    saved_params, saved_grads = params.copy(), grads.copy()
    try:
        net.zero_grad()
        net.forward(X, training=training, seed=mask_seed, step=step)
        net.backward(Y)
        analytic = grads.astype(np.float64)
        loss = abs(net.loss(X, Y, training, mask_seed, step))
        rounding = np.finfo(np.float64).eps * loss / eps
        floor = max(1e-3 * np.abs(analytic).max(), 1e7 * rounding, np.finfo(np.float64).tiny)

        def slope(direction):
            params[...] = saved_params + eps * direction
            plus = net.loss(X, Y, training, mask_seed, step)
            params[...] = saved_params - eps * direction
            minus = net.loss(X, Y, training, mask_seed, step)
            params[...] = saved_params
            return (plus - minus) / (2 * eps)

        worst = 0.0
        unit = np.zeros(params.size)
        for i in range(params.size):
            unit[i] = 1.0
            numeric = slope(unit)
            unit[i] = 0.0
            a = analytic[i]
            worst = max(worst, abs(a - numeric) / max(abs(a), abs(numeric), floor))
        rng = check_seed(seed)
        for _ in range(n_directions):
            d = rng.standard_normal(params.size)
            d /= np.linalg.norm(d)
            numeric = slope(d)
            a = float(analytic @ d)
            worst = max(worst, abs(a - numeric) / max(abs(a), abs(numeric), floor))
        return worst
    finally:
        params[...] = saved_params
        grads[...] = saved_grads
        net.buffers_changed()
