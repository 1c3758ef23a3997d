"""fastnn.kernels.sparse: the first layer's forward and backward on CSR rows against the float64
reference on the dense rows."""

import numpy as np
import pytest
import reference as ref
from kernel_cases import ACT

from fastnn.kernels import sparse
from fastnn.sparse import sparse_rows

scipy_sparse = pytest.importorskip("scipy.sparse")


def test_sparse_kernels_match_the_dense_reference(dtype):
    """Forward ``g(W X_b^T + b)`` and backward ``dW (+)= dZ X_b``, ``db (+)= sum dZ`` on a batch
    of CSR rows in any order, against NumPy float64 on the dense rows; dtype kept."""
    rng = np.random.default_rng(0)
    X = scipy_sparse.random(60, 40, density=0.1, format="csr", random_state=0, dtype=dtype)
    rows = np.array([5, 0, 17, 59, 3, 3], dtype=np.int64)
    indptr, indices, data = sparse_rows(X, dtype, 40)
    W = rng.normal(size=(7, 40)).astype(dtype)
    b = rng.normal(size=(7, 1)).astype(dtype)
    Z = np.empty((7, rows.size), dtype)
    A = np.empty((7, rows.size), dtype)
    sparse.sparse_forward(W, b, indptr, indices, data, rows, Z, A, ACT["tanh"])
    dense = X.toarray()[rows].T
    Z_ref, A_ref = ref.dense_forward(W, b, dense, "tanh")
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(Z, Z_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(A, A_ref, rtol=tol, atol=tol)
    assert A.dtype == dtype
    dZ = rng.normal(size=(7, rows.size)).astype(dtype)
    dW = np.full((7, 40), 3.0, dtype)
    db = np.full((7, 1), 3.0, dtype)
    sparse.sparse_backward(indptr, indices, data, rows, dZ, dW, db, False)
    dW_ref, db_ref, _ = ref.dense_backward(W, dense, dZ)
    np.testing.assert_allclose(dW, dW_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(db, db_ref, rtol=tol, atol=tol)
    sparse.sparse_backward(indptr, indices, data, rows, dZ, dW, db, True)
    np.testing.assert_allclose(dW, 2 * dW_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(db, 2 * db_ref, rtol=tol, atol=tol)
