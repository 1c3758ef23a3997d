"""Plain NumPy float64 references for every fastnn kernel.

Slow and readable on purpose: each function writes its formula (stated in its docstring)
with whole-array NumPy operations, computed in float64 whatever the input dtype. The
tests compare the kernels (and the Network API) with these. The formulas are those of
the README's "Math and notation" section, with the other activations and losses added:

- forward: ``Z[l] = W[l] A[l-1] + b[l]`` (b broadcast over the m columns),
  ``A[l] = g(Z[l])``, ``A[0] = X``;
- loss: ``J = (1/m) sum_samples L(y, a[L])``; binary cross-entropy summed over the
  outputs, ``L = -sum_k [y_k log a_k + (1 - y_k) log(1 - a_k)]``;
- output gradient, sigmoid + binary cross-entropy: ``dZ[L] = (A[L] - Y) / m``;
- any layer: ``dZ[l] = dA[l] * g'(Z[l])`` (sigmoid: ``g'(Z) = A (1 - A)``);
  ``dW[l] = dZ[l] A[l-1]^T``, ``db[l] = sum_columns dZ[l]``, ``dA[l-1] = W[l]^T dZ[l]``;
- gradient descent: ``W[l] <- W[l] - lr dW[l]``, ``b[l] <- b[l] - lr db[l]``;
- gradient check: for a small step ``dt``, ``J(t + dt) - J(t - dt) ~ 2 sum dJ/dt dt``
  (:func:`numeric_gradients` uses a fourth-order stencil of the same idea).

Layout as in fastnn, feature-major (one sample per column): ``A`` of shape (n_l, m),
``W`` of shape (n_l, n_{l-1}), ``b`` of shape (n_l, 1).
"""

import numpy as np

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "softmax")
LOSSES = ("bce", "cce", "mse")


def f64(a):
    return np.asarray(a, dtype=np.float64)


# ----------------------------------------------------------------------- activations


def sigmoid(z):
    z = f64(z)
    # 1 / (1 + exp(-z)) written through exp(-|z|) so that no exponent overflows.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(z):
    """Softmax of each column of ``z`` (shape (n, m))."""
    z = f64(z)
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def activation(name, z):
    """``g(z)`` for an activation name."""
    z = f64(z)
    if name == "identity":
        return z.copy()
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "softmax":
        return softmax(z)
    if name == "exp":
        return np.exp(z)
    raise ValueError(name)


def activation_backward(name, z, dA):
    """``dZ = dJ/dZ`` from ``dA = dJ/dA`` for ``A = g(Z)``, written from ``Z``.

    Elementwise activations multiply by ``g'(z)``; softmax applies the transposed
    Jacobian of each column, ``J_kj = a_k (delta_kj - a_j)``.
    """
    z, dA = f64(z), f64(dA)
    if name == "identity":
        return dA.copy()
    if name == "sigmoid":
        s = sigmoid(z)
        return dA * s * (1.0 - s)
    if name == "tanh":
        return dA * (1.0 - np.tanh(z) ** 2)
    if name == "relu":
        return dA * (z > 0)
    if name == "exp":
        return dA * np.exp(z)
    if name == "softmax":
        a = softmax(z)
        dZ = np.empty_like(dA)
        for j in range(a.shape[1]):
            col = a[:, j]
            jacobian = np.diag(col) - np.outer(col, col)
            dZ[:, j] = jacobian.T @ dA[:, j]
        return dZ
    raise ValueError(name)


# ----------------------------------------------------------------------- dense layer


def dense_forward(W, b, A_prev, name):
    """``Z = W A_prev + b``, ``A = g(Z)``; returns ``(Z, A)``."""
    Z = f64(W) @ f64(A_prev) + f64(b)
    return Z, activation(name, Z)


def dense_backward(W, A_prev, dZ):
    """``dW = dZ A_prev^T``, ``db = sum over columns of dZ``, ``dA_prev = W^T dZ``."""
    W, A_prev, dZ = f64(W), f64(A_prev), f64(dZ)
    return dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True), W.T @ dZ


# ----------------------------------------------------------------------- losses


def loss_value(loss, Z, Y, name):
    """Mean loss over the m columns, from the output pre-activation ``Z``.

    bce: ``-(1/m) sum [y log a + (1-y) log(1-a)]`` with ``a = sigmoid(z)``, through
    ``log sigmoid(z) = -log(1 + e^-z)`` so it is finite for any finite z.
    cce: ``-(1/m) sum y log softmax(z)``. mse: ``mean (a - y)^2`` over every entry.
    """
    Z, Y = f64(Z), f64(Y)
    m = Z.shape[1]
    if loss == "bce":
        log_a = -np.logaddexp(0.0, -Z)
        log_1ma = -np.logaddexp(0.0, Z)
        return float(-(Y * log_a + (1.0 - Y) * log_1ma).sum() / m)
    if loss == "cce":
        log_a = Z - Z.max(axis=0) - np.log(np.exp(Z - Z.max(axis=0)).sum(axis=0))
        return float(-(Y * log_a).sum() / m)
    if loss == "mse":
        return float(((activation(name, Z) - Y) ** 2).mean())
    if loss == "poisson":  # exp output: half the Poisson deviance, summed over the outputs
        A = np.exp(Z)
        ylogy = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1.0)), 0.0)
        return float((ylogy - Y * Z - Y + A).sum() / m)
    raise ValueError(loss)


def loss_gradient(loss, Z, Y, name):
    """``dJ/dZ`` at the output for the mean loss, shape (n_L, m).

    bce + sigmoid: ``(a - y) / m``; cce + softmax: ``(a sum_k y_k - y) / m`` per column;
    mse: ``2 (a - y) / (m n_L)`` through the activation's derivative.
    """
    Z, Y = f64(Z), f64(Y)
    n, m = Z.shape
    if loss == "bce":
        assert name == "sigmoid"
        return (sigmoid(Z) - Y) / m
    if loss == "cce":
        assert name == "softmax"
        return (softmax(Z) * Y.sum(axis=0, keepdims=True) - Y) / m
    if loss == "mse":
        dA = 2.0 * (activation(name, Z) - Y) / (m * n)
        return activation_backward(name, Z, dA)
    if loss == "poisson":
        assert name == "exp"
        return (np.exp(Z) - Y) / m
    raise ValueError(loss)


# ----------------------------------------------------------------------- whole network


def network_forward(layers, X):
    """Forward through ``layers``, a list of ``(W, b, activation)``.

    Returns ``(Zs, As)``: the pre-activations ``Z[1..L]`` and ``As = [X, A[1], ..., A[L]]``.
    """
    As, Zs = [f64(X)], []
    for W, b, name in layers:
        Z, A = dense_forward(W, b, As[-1], name)
        Zs.append(Z)
        As.append(A)
    return Zs, As


def network_loss(layers, X, Y, loss):
    Zs, _ = network_forward(layers, X)
    return loss_value(loss, Zs[-1], Y, layers[-1][2])


def weighted_network_loss(layers, X, Y, loss, w):
    """``(1/m) sum_j w_j l_j``: sample j's loss ``l_j`` (its column's :func:`loss_value`)
    weighted by ``w_j``."""
    Zs, _ = network_forward(layers, X)
    Y = f64(Y)
    name = layers[-1][2]
    per_sample = [loss_value(loss, Zs[-1][:, j : j + 1], Y[:, j : j + 1], name) for j in range(Y.shape[1])]
    return float(np.dot(f64(w), per_sample) / Y.shape[1])


def network_backward(layers, X, Y, loss):
    """Gradients ``[(dW[1], db[1]), ..., (dW[L], db[L])]`` of the mean loss."""
    Zs, As = network_forward(layers, X)
    dZ = loss_gradient(loss, Zs[-1], Y, layers[-1][2])
    grads = [None] * len(layers)
    for l in range(len(layers) - 1, -1, -1):
        W = f64(layers[l][0])
        dW, db, dA_prev = dense_backward(W, As[l], dZ)
        grads[l] = (dW, db)
        if l > 0:
            dZ = activation_backward(layers[l - 1][2], Zs[l - 1], dA_prev)
    return grads


def sgd_update(params, grads, lr):
    """``params - lr * grads`` (a new float64 array)."""
    return f64(params) - lr * f64(grads)


# ----------------------------------------------------------------------- finite differences


def numeric_gradients(layers, X, Y, loss, h=1e-3, weights=None):
    """``dJ/dW``, ``dJ/db`` of every layer by finite differences of :func:`network_loss`
    (of :func:`weighted_network_loss` with ``weights``).

    Uses the fourth-order central stencil
    ``(J(t-2h) - 8 J(t-h) + 8 J(t+h) - J(t+2h)) / (12 h)``: its truncation error is
    O(h^4) and its rounding error about ``u |J| / h``, both near 1e-13 at h = 1e-3, so a
    comparison at 1e-6 relative is meaningful even for small gradient elements. The
    function must be smooth within 2h of the point (keep relu inputs away from 0).
    """
    params = [[f64(W).copy(), f64(b).copy()] for W, b, _ in layers]
    names = [name for _, _, name in layers]

    def J():
        current = [(W, b, name) for (W, b), name in zip(params, names)]
        if weights is None:
            return network_loss(current, X, Y, loss)
        return weighted_network_loss(current, X, Y, loss, weights)

    grads = []
    for pair in params:
        out = []
        for array in pair:
            g = np.zeros_like(array)
            for index in np.ndindex(array.shape):
                saved = array[index]
                values = []
                for step in (-2, -1, 1, 2):
                    array[index] = saved + step * h
                    values.append(J())
                array[index] = saved
                # Differences first: exactly 0 when J does not depend on this entry.
                g[index] = (8 * (values[2] - values[1]) - (values[3] - values[0])) / (12 * h)
            out.append(g)
        grads.append(tuple(out))
    return grads


def relative_error(analytic, numeric, atol=0.0):
    """Largest ``|a - n| / max(|a|, |n|, 1e-3 max |a|, atol)`` over all elements of two lists
    (``atol``: the size below which an element is compared absolutely, e.g. where the
    finite differences' rounding alone would reach the tolerance)."""
    a = np.concatenate([f64(x).ravel() for x in analytic])
    n = np.concatenate([f64(x).ravel() for x in numeric])
    floor = max(1e-3 * np.abs(a).max(), atol, np.finfo(np.float64).tiny)
    return float((np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)).max())
