"""The dense layer's matrix products, cut into fixed tiles and spread over threads.

Every product is a set of tiles fixed by the shapes alone (never by the thread count),
each computed by ONE single-threaded BLAS gemm call; ``prange`` hands the tiles to
Numba's threads. A tile's bits are therefore the same whichever thread computes it and
however many there are: results do not depend on the thread count. (BLAS itself must
run on one thread meanwhile; :mod:`fastnn.threads` sees to it.)

The forward product is also batch-invariant: samples are cut into tiles of exactly
:data:`SAMPLE_TILE`, the last one zero-padded to a full tile, so every sample goes
through a gemm of one and the same shape whatever batch it is in, at whatever position
(OpenBLAS sums an element in another order depending on the product's shape and on the
element's place in it; a sample alone and the same sample in a batch of 300 differed).
Gradients are sums over the batch and depend on it by nature; their tiles split the
OUTPUT of each product (rows and columns of ``dW``, of ``dA_prev``), never the sum over
samples, so each element is still one gemm's sum whatever the thread count.

The gemm is SciPy's (``numba_xxgemm``, the function Numba's ``np.dot`` calls, referred
to by name so the kernels stay cacheable), called with leading dimensions so that a
tile of a feature-major ``(n, m)`` array is read and written in place, without a copy.

Arrays are in BLAS's column-major terms: a C-contiguous ``(r, c)`` array is a
column-major ``c x r`` matrix with leading dimension ``c``.
"""

import numpy as np
from llvmlite import ir
from numba import prange
from numba.core import cgutils, types
from numba.extending import intrinsic, overload, register_jitable

from ._jit import HELPER_OPTIONS, parallel_kernel

SAMPLE_TILE = 64
"""Samples per forward tile (padded when short): fixed, so predictions are batch-invariant."""

OUTPUT_TILE = 256
"""Rows of an output (features of a layer) per tile, the last one shorter."""

PARALLEL_WORK = 1 << 20
"""Products of fewer multiply-adds run their tiles in a plain loop: a parallel region costs
more than it gains there (the tiles, and so the bits, are the same either way)."""

_CHAR = ir.IntType(8)
_VOIDP = ir.IntType(8).as_pointer()


def _flat_source(X):
    """A C- or F-contiguous 2-D array's memory as a 1-D view (in njit code)."""
    raise NotImplementedError("only callable from compiled code")


@intrinsic
def _gemm(typingctx, transa, transb, m, n, k, a, a_off, lda, b, b_off, ldb, c, c_off, ldc):
    """``C = op(A) @ op(B)`` on column-major matrices, through ``numba_xxgemm``.

    ``a``, ``b``, ``c`` are arrays of one dtype (any layout, read as raw memory from
    element ``*_off``); ``transa``/``transb`` are True for a transposed operand. The
    sizes are those of BLAS's ``?gemm``."""
    sig = types.void(transa, transb, m, n, k, a, a_off, lda, b, b_off, ldb, c, c_off, ldc)
    dtype = a.dtype

    def codegen(context, builder, signature, args):
        (ta, tb, m_, n_, k_, a_, ao, lda_, b_, bo, ldb_, c_, co, ldc_) = args
        intp = context.get_value_type(types.intp)
        fnty = ir.FunctionType(ir.IntType(32), [_CHAR, _CHAR, _CHAR, intp, intp, intp, _VOIDP, _VOIDP,
                                                intp, _VOIDP, intp, _VOIDP, _VOIDP, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        argtys = signature.args

        def cast(value, ty):
            return context.cast(builder, value, ty, types.intp)

        def pointer(ary, aty, off, offty):
            data = context.make_array(aty)(context, builder, ary).data
            return builder.bitcast(builder.gep(data, [cast(off, offty)]), _VOIDP)

        def trans(flag):
            return builder.select(flag, ir.Constant(_CHAR, ord("t")), ir.Constant(_CHAR, ord("n")))

        alpha = cgutils.alloca_once_value(builder, context.get_constant(dtype, 1.0))
        beta = cgutils.alloca_once_value(builder, context.get_constant(dtype, 0.0))
        kind = ir.Constant(_CHAR, ord("s" if dtype == types.float32 else "d"))
        builder.call(fn, (kind, trans(ta), trans(tb), cast(m_, argtys[2]), cast(n_, argtys[3]),
                          cast(k_, argtys[4]), builder.bitcast(alpha, _VOIDP),
                          pointer(a_, argtys[5], ao, argtys[6]), cast(lda_, argtys[7]),
                          pointer(b_, argtys[8], bo, argtys[9]), cast(ldb_, argtys[10]),
                          builder.bitcast(beta, _VOIDP),
                          pointer(c_, argtys[11], co, argtys[12]), cast(ldc_, argtys[13])))
        return context.get_dummy_value()

    return sig, codegen


@register_jitable(**HELPER_OPTIONS)
def _tiles(size, tile):
    return (size + tile - 1) // tile


@register_jitable(**HELPER_OPTIONS)
def _tile(ta, tb, M, N, K, a, lda, b, ldb, c, ldc, tm, tn, pad, t):
    """Tile ``t`` of :func:`gemm_tiles`: rows ``r`` tile ``t % M-tiles``, columns ``q`` the rest."""
    m_tiles = _tiles(M, tm)
    r = (t % m_tiles) * tm
    q = (t // m_tiles) * tn
    rows = min(tm, M - r)
    cols = min(tn, N - q)
    a_off = r * lda if ta else r
    b_off = q if tb else q * ldb
    if rows == tm or not pad:
        _gemm(ta, tb, rows, cols, K, a, a_off, lda, b, b_off, ldb, c, r + q * ldc, ldc)
        return
    # A short last row tile, through a zero-padded full one, so its gemm has the same shape.
    padded = np.zeros(tm * K, c.dtype)
    for p in range(K):
        for j in range(rows):
            padded[p * tm + j] = a[p + (r + j) * lda] if ta else a[r + j + p * lda]
    out = np.empty(tm * cols, c.dtype)
    _gemm(False, tb, tm, cols, K, padded, 0, tm, b, b_off, ldb, out, 0, tm)
    for k in range(cols):
        for j in range(rows):
            c[r + j + (q + k) * ldc] = out[k * tm + j]


@parallel_kernel
def gemm_tiles(ta, tb, M, N, K, a, lda, b, ldb, c, ldc, tm, tn, pad):
    """``C = op(A) @ op(B)`` (column-major, BLAS's ``?gemm`` arguments) in tiles
    of ``tm`` rows by ``tn`` columns of ``C``, one single-threaded gemm each.

    Parameters
    ----------
    ta, tb : bool
        ``op(A) = A.T`` / ``op(B) = B.T``.
    M, N, K : int
        ``op(A)`` is M x K, ``op(B)`` K x N, ``C`` M x N.
    a, b, c : 1-D ndarrays of one dtype
        The matrices' memory, leading dimensions ``lda``, ``ldb``, ``ldc``. ``a`` and
        ``b`` are read, ``c`` is overwritten.
    tm, tn : int
        Tile sizes. The tiles depend on the shapes only, so the bits do not depend on
        the thread count.
    pad : bool
        Compute a short last row tile through a zero-padded full one: then every row
        of ``C`` is computed by a gemm of the same shape whatever M is (the forward
        pass: samples are the rows).

    Notes
    -----
    Below :data:`PARALLEL_WORK` multiply-adds, the tiles run in a plain loop.
    """
    count = _tiles(M, tm) * _tiles(N, tn)
    if count == 1 or M * N * K < PARALLEL_WORK:
        for t in range(count):
            _tile(ta, tb, M, N, K, a, lda, b, ldb, c, ldc, tm, tn, pad, t)
        return
    for t in prange(count):
        _tile(ta, tb, M, N, K, a, lda, b, ldb, c, ldc, tm, tn, pad, t)


_NO = np.bool_(False)
_YES = np.bool_(True)
_size = np.int64
"""Flags and tile sizes passed to :func:`gemm_tiles` as plain (non-literal) values, so that
one compiled version serves every product of a dtype (compile time)."""


@overload(_flat_source)
def _flat_overload(X):
    if isinstance(X, types.Array) and X.layout == "F":
        return lambda X: X.T.reshape(-1)
    return lambda X: X.reshape(-1)


@register_jitable(**HELPER_OPTIONS)
def forward_product(W, A, Z):
    """``Z = W @ A`` in fixed, padded sample tiles: batch- and thread-count-invariant.

    Parameters
    ----------
    W : ndarray of shape (n_l, n_{l-1}), C-contiguous
        Read.
    A : ndarray of shape (n_{l-1}, m), C- or F-contiguous
        Read.
    Z : ndarray of shape (n_l, m), C-contiguous
        Overwritten.

    Notes
    -----
    ``Z^T = A^T W^T`` (m x n_l, column-major): tiles of :data:`SAMPLE_TILE` samples (the
    last zero-padded) by :data:`OUTPUT_TILE` outputs.
    """
    n_out, n_in = W.shape
    m = A.shape[1]
    f = A.flags.f_contiguous and not A.flags.c_contiguous
    gemm_tiles(f, _NO, m, n_out, n_in, _flat_source(A), n_in if f else m, W.reshape(-1), n_in,
               Z.reshape(-1), m, _size(SAMPLE_TILE), _size(OUTPUT_TILE), _YES)


@register_jitable(**HELPER_OPTIONS)
def weight_product(dZ, A, out):
    """``out = dZ @ A.T``, tiled over the rows and columns of ``out`` (each element is
    one gemm's sum over all m samples, whatever the thread count).

    Parameters
    ----------
    dZ : ndarray of shape (n_l, m), C-contiguous
        Read.
    A : ndarray of shape (n_{l-1}, m), C- or F-contiguous
        Read.
    out : ndarray of shape (n_l, n_{l-1}), C-contiguous
        Overwritten.
    """
    n_out, m = dZ.shape
    n_in = A.shape[0]
    f = A.flags.f_contiguous and not A.flags.c_contiguous
    gemm_tiles(not f, _NO, n_in, n_out, m, _flat_source(A), n_in if f else m, dZ.reshape(-1), m,
               out.reshape(-1), n_in, _size(OUTPUT_TILE), _size(OUTPUT_TILE), _NO)


@register_jitable(**HELPER_OPTIONS)
def input_product(W, dZ, out):
    """``out = W.T @ dZ``, tiled over samples and inputs (a sum over the n_l outputs each).

    Parameters
    ----------
    W : ndarray of shape (n_l, n_{l-1}), C-contiguous
        Read.
    dZ : ndarray of shape (n_l, m), C-contiguous
        Read.
    out : ndarray of shape (n_{l-1}, m), C-contiguous
        Overwritten.
    """
    n_out, n_in = W.shape
    m = dZ.shape[1]
    gemm_tiles(_NO, _YES, m, n_in, n_out, dZ.reshape(-1), m, W.reshape(-1), n_in,
               out.reshape(-1), m, _size(SAMPLE_TILE), _size(OUTPUT_TILE), _NO)
