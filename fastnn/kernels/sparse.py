"""Sparse inputs: the first layer's product with CSR rows, never a dense copy of ``X``.

A sparse data set is held as the CSR arrays of its samples (one sample per ROW, as
``scipy.sparse.csr_array``): ``(indptr, indices, data)``. A batch is that triple plus
``rows``, the int64 indices of its m samples: ``(indptr, indices, data, rows)``. The
network kernels take such a batch wherever they take a dense ``X`` (n_0, m); the helpers
below dispatch on the type at compile time (a dense ``X`` compiles to the code it always
had), so only the first layer differs:

- forward: ``Z[i, j] = sum_k W[i, indices[k]] data[k]`` over sample ``rows[j]``'s non-zeros,
  then bias and activation (:func:`~fastnn.kernels.activations.bias_activation`);
- backward: ``dW[i, indices[k]] += dZ[i, j] data[k]`` over the same non-zeros, and
  ``db`` as the dense layer's. Both loops run along one row of ``W`` / ``dW`` at a time
  (one row of 50,000 weights stays in cache while every non-zero of the batch visits it).

The work space carved for a sparse network has no room for a dense gathered batch:
:func:`plan_layout` gives the layout to plan it with (the first layer as one input wide).
"""

import numpy as np
from numba import types
from numba.extending import overload

from ._jit import HELPER_OPTIONS, kernel
from .activations import bias_activation
from .bundles import N_IN
from .dense import dense_backward, dense_forward
from .views import borrow2d


def _is_batch(X):
    """True for the Numba type of a sparse batch (a 4-tuple), False for an array."""
    return isinstance(X, types.BaseTuple)


def batch_columns(X):
    """Samples in the input ``X``: ``X.shape[1]`` (dense) or ``rows.size`` (sparse batch, a tuple)."""
    return X[3].size if isinstance(X, tuple) else X.shape[1]


def first_forward(W, b, X, Z, A, act, kinds):
    """The first layer's forward: :func:`~fastnn.kernels.dense.dense_forward`, or
    :func:`sparse_forward` for a sparse batch. Compiled inside kernels only."""
    raise TypeError("first_forward is compiled inside kernels only")


def first_backward(W, X, dZ, dW, db, scratch, add_to_grads):
    """The first layer's backward (no input gradient): the dense layer's, or
    :func:`sparse_backward` for a sparse batch. Compiled inside kernels only."""
    raise TypeError("first_backward is compiled inside kernels only")


def plan_layout(layout, Xs):
    """The layout to carve the work space with: ``layout`` itself for dense data, a copy
    with the first layer one input wide for sparse data ``Xs`` (a tuple): no room for a
    dense batch, and a scratch sized by the other layers."""
    if not isinstance(Xs, tuple):
        return layout
    plan = layout.copy()
    plan[0, N_IN] = 1
    return plan


def gather_inputs(Xs, perm, start, m, xbuf):
    """The inputs of the batch ``perm[start:start + m]``: gathered into ``xbuf`` and returned
    as an (n_0, m) view for dense ``Xs`` (N, n_0); the sparse batch tuple for CSR ``Xs``.
    Compiled inside kernels only."""
    raise TypeError("gather_inputs is compiled inside kernels only")


def chunk_inputs(Xs, rows, start, stop):
    """The inputs of samples ``start:stop`` in order: ``Xs[start:stop].T`` (a free view) for
    dense ``Xs``, the sparse batch with ``rows[start:stop]`` (``rows = arange(N)``) for CSR
    ``Xs``. Compiled inside kernels only."""
    raise TypeError("chunk_inputs is compiled inside kernels only")


@overload(chunk_inputs, jit_options=HELPER_OPTIONS)
def _chunk_inputs(Xs, rows, start, stop):
    if _is_batch(Xs):
        return lambda Xs, rows, start, stop: (Xs[0], Xs[1], Xs[2], rows[start:stop])
    return lambda Xs, rows, start, stop: Xs[start:stop].T


@overload(batch_columns, jit_options=HELPER_OPTIONS)
def _batch_columns(X):
    if _is_batch(X):
        return lambda X: X[3].size
    return lambda X: X.shape[1]


@overload(first_forward, jit_options=HELPER_OPTIONS)
def _first_forward(W, b, X, Z, A, act, kinds):
    if _is_batch(X):
        return lambda W, b, X, Z, A, act, kinds: sparse_forward(W, b, X[0], X[1], X[2], X[3], Z, A, act,
                                                                kinds)
    return lambda W, b, X, Z, A, act, kinds: dense_forward(W, b, X, Z, A, act, kinds)


@overload(first_backward, jit_options=HELPER_OPTIONS)
def _first_backward(W, X, dZ, dW, db, scratch, add_to_grads):
    if _is_batch(X):
        return lambda W, X, dZ, dW, db, scratch, add_to_grads: sparse_backward(
            X[0], X[1], X[2], X[3], dZ, dW, db, add_to_grads)
    return lambda W, X, dZ, dW, db, scratch, add_to_grads: dense_backward(
        W, X, dZ, dW, db, dZ, scratch, add_to_grads, False)


@overload(plan_layout, jit_options=HELPER_OPTIONS)
def _plan_layout(layout, Xs):
    if _is_batch(Xs):
        def narrow(layout, Xs):
            plan = layout.copy()
            plan[0, N_IN] = 1
            return plan
        return narrow
    return lambda layout, Xs: layout


@overload(gather_inputs, jit_options=HELPER_OPTIONS)
def _gather_inputs(Xs, perm, start, m, xbuf):
    if _is_batch(Xs):
        return lambda Xs, perm, start, m, xbuf: (Xs[0], Xs[1], Xs[2], perm[start:start + m])

    def gather(Xs, perm, start, m, xbuf):
        n_0 = Xs.shape[1]
        xb = borrow2d(xbuf, 0, m, n_0)
        for j in range(m):
            r = perm[start + j]
            for c in range(n_0):
                xb[j, c] = Xs[r, c]
        return xb.T
    return gather


@kernel
def sparse_forward(W, b, indptr, indices, data, rows, Z, A, act, kinds=None):
    """Fused first-layer forward for CSR rows: ``Z = W @ X_batch.T + b``, ``A = g(Z)``.

    Parameters
    ----------
    W : ndarray of shape (n_1, n_0), C-contiguous
        Read.
    b : ndarray of shape (n_1, 1)
        Read.
    indptr, indices : int ndarrays
        Read: the CSR structure of the whole data set (one sample per row).
    data : ndarray of the network's dtype
        Read: the non-zero values.
    rows : int64 ndarray of shape (m,)
        Read: the batch's samples.
    Z, A : ndarray of shape (n_1, m), C-contiguous
        Overwritten as by :func:`~fastnn.kernels.dense.dense_forward`.
    act : int
        Activation code.
    kinds : Kinds, optional
        The activation codes that can occur (:mod:`fastnn.kernels.kinds`); None: all.
    """
    n = W.shape[0]
    m = rows.size
    zero = Z.dtype.type(0)
    for i in range(n):
        for j in range(m):
            r = rows[j]
            total = zero
            for k in range(indptr[r], indptr[r + 1]):
                total += W[i, indices[k]] * data[k]
            Z[i, j] = total
    bias_activation(Z, b, A, act, kinds)


@kernel
def sparse_backward(indptr, indices, data, rows, dZ, dW, db, add_to_grads):
    """First-layer backward for CSR rows: ``dW (+)= dZ @ X_batch``, ``db (+)= sum_j dZ[:, j]``.

    Parameters
    ----------
    indptr, indices, data, rows
        As in :func:`sparse_forward`.
    dZ : ndarray of shape (n_1, m)
        Read.
    dW : ndarray of shape (n_1, n_0), C-contiguous
        ACCUMULATED (zeroed first when ``add_to_grads`` is False): only the columns of the
        batch's features change after that.
    db : ndarray of shape (n_1, 1)
        ACCUMULATED likewise.
    add_to_grads : bool
    """
    n, m = dZ.shape
    zero = dW.dtype.type(0)
    if not add_to_grads:
        dW[...] = zero
    for i in range(n):
        total = zero
        for j in range(m):
            r = rows[j]
            g = dZ[i, j]
            total += g
            for k in range(indptr[r], indptr[r + 1]):
                dW[i, indices[k]] += g * data[k]
        if add_to_grads:
            db[i, 0] += total
        else:
            db[i, 0] = total
