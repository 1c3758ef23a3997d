"""In-place optimizer updates over flat parameter and gradient buffers."""

from ._jit import kernel


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
