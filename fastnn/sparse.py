"""Sparse inputs (``scipy.sparse`` matrices and arrays) for ``Network`` and the estimators.

The samples of a sparse data set are held as the CSR arrays of its rows,
:class:`SparseRows`; the kernels take them where they take a dense sample-major ``Xs``
and multiply the first layer by the non-zeros only (:mod:`fastnn.kernels.sparse`). No
dense copy of ``X`` is ever made: training gathers nothing (a batch is its row indices),
and predictions run in chunks of rows.

``scipy.sparse`` is only looked at when the caller already imported it, so ``import
fastnn`` stays light.
"""

import sys
from typing import NamedTuple

import numpy as np

INDEX_DTYPE = np.int32
"""The index dtype of the CSR arrays given to the kernels whenever the indices fit (one
compiled variant in practice); larger data sets keep int64."""


class SparseRows(NamedTuple):
    """The CSR arrays of a data set's samples (one sample per ROW)."""

    indptr: np.ndarray
    """(N + 1,) int32/int64: sample i's non-zeros are ``indptr[i]:indptr[i + 1]``."""
    indices: np.ndarray
    """(nnz,) same dtype: the feature of each non-zero."""
    data: np.ndarray
    """(nnz,) the network's dtype: the values."""

    @property
    def n_samples(self):
        return self.indptr.size - 1

    def batch(self, start, stop):
        """The kernels' sparse batch of samples ``start:stop``."""
        return (self.indptr, self.indices, self.data, np.arange(start, stop, dtype=np.int64))


def is_sparse(X):
    """True for a SciPy sparse matrix or array (without importing SciPy)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(X)


def sparse_rows(X, dtype, n_features, name="X"):
    """:class:`SparseRows` of a sparse ``X`` of shape (N, n_features), one sample per row.

    Parameters
    ----------
    X : scipy.sparse matrix or array
        Any format (CSR is used as it is; others are converted, a copy of the non-zeros).
    dtype : numpy dtype
        Of the values (copied only when they differ).
    n_features : int
        Expected columns.
    name : str
        How errors call the argument.

    Raises
    ------
    ValueError
        Wrong width, or NaN or infinite values.
    """
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features per sample; got a sparse matrix of "
                         f"shape {X.shape}")
    if X.format != "csr":
        X = X.tocsr()
    data = np.ascontiguousarray(X.data, dtype=dtype)
    if not np.isfinite(data).all():
        raise ValueError(f"{name} holds NaN or infinite values; replace them (e.g. with "
                         f"sklearn.impute.SimpleImputer) before training")
    index = INDEX_DTYPE if X.nnz < np.iinfo(INDEX_DTYPE).max else np.int64
    indptr = np.ascontiguousarray(X.indptr, dtype=index)
    indices = np.ascontiguousarray(X.indices, dtype=index)
    return SparseRows(indptr, indices, data)


def feature_major_rows(X, net, name="X"):
    """:class:`SparseRows` of a feature-major sparse ``X`` of shape (n_0, N) (``Network``'s
    layout: one sample per COLUMN; a CSC matrix is read as it is)."""
    return sparse_rows(X.T, net.dtype, net.n_inputs, name)

