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
from numba.extending import intrinsic, register_jitable

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


@intrinsic
def _gemm(typingctx, transa, transb, m, n, k, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc):
    """``C = op(A) @ op(B) + beta * C`` on column-major tiles, through ``numba_xxgemm``.

    ``a``, ``b``, ``c`` are arrays of one dtype (any layout, read as raw memory from
    element ``*_off``); ``transa``/``transb`` are True for a transposed operand; ``beta``
    is 0 or 1. The sizes are those of BLAS's ``?gemm``."""
    sig = types.void(transa, transb, m, n, k, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc)
    dtype = a.dtype

    def codegen(context, builder, signature, args):
        (ta, tb, m_, n_, k_, a_, ao, lda_, b_, bo, ldb_, beta_, c_, co, ldc_) = args
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

        lltype = context.get_value_type(dtype)
        alpha = cgutils.alloca_once_value(builder, context.get_constant(dtype, 1.0))
        beta_slot = cgutils.alloca_once(builder, lltype)
        builder.store(context.cast(builder, beta_, argtys[11], dtype), beta_slot)
        kind = ir.Constant(_CHAR, ord("s" if dtype == types.float32 else "d"))
        builder.call(fn, (kind, trans(ta), trans(tb), cast(m_, argtys[2]), cast(n_, argtys[3]),
                          cast(k_, argtys[4]), builder.bitcast(alpha, _VOIDP),
                          pointer(a_, argtys[5], ao, argtys[6]), cast(lda_, argtys[7]),
                          pointer(b_, argtys[8], bo, argtys[9]), cast(ldb_, argtys[10]),
                          builder.bitcast(beta_slot, _VOIDP),
                          pointer(c_, argtys[12], co, argtys[13]), cast(ldc_, argtys[14])))
        return context.get_dummy_value()

    return sig, codegen


@register_jitable(**HELPER_OPTIONS)
def _tiles(size, tile):
    return (size + tile - 1) // tile


@register_jitable(**HELPER_OPTIONS)
def _forward_tile(W, A, Z, t, s_tiles):
    """Tile ``t`` of ``Z = W @ A``: samples ``s`` tile ``t % s_tiles``, outputs ``t // s_tiles``."""
    n_out, n_in = W.shape
    m = A.shape[1]
    s = (t % s_tiles) * SAMPLE_TILE
    o = (t // s_tiles) * OUTPUT_TILE
    rows = min(OUTPUT_TILE, n_out - o)
    ms = min(SAMPLE_TILE, m - s)
    zero = Z.dtype.type(0)
    if ms == SAMPLE_TILE:
        # Z^T (m x n_out, ld m) tile = A^T tile @ W^T tile; A is C- or F-contiguous.
        if A.flags.c_contiguous:
            _gemm(False, False, SAMPLE_TILE, rows, n_in, A, s, m, W, o * n_in, n_in, zero, Z, o * m + s, m)
        else:
            _gemm(True, False, SAMPLE_TILE, rows, n_in, A, s * n_in, n_in, W, o * n_in, n_in, zero,
                  Z, o * m + s, m)
        return
    # The last, short tile: through a zero-padded full tile, so its shape is the same.
    padded = np.zeros(SAMPLE_TILE * n_in, Z.dtype)
    for p in range(n_in):
        for j in range(ms):
            padded[p * SAMPLE_TILE + j] = A[p, s + j]
    out = np.empty(SAMPLE_TILE * rows, Z.dtype)
    _gemm(False, False, SAMPLE_TILE, rows, n_in, padded, 0, SAMPLE_TILE, W, o * n_in, n_in, zero,
          out, 0, SAMPLE_TILE)
    for q in range(rows):
        for j in range(ms):
            Z[o + q, s + j] = out[q * SAMPLE_TILE + j]


@parallel_kernel
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
    Tiles of :data:`SAMPLE_TILE` samples (the last zero-padded) by :data:`OUTPUT_TILE`
    outputs, one single-threaded gemm each, spread over ``prange``.
    """
    s_tiles = _tiles(A.shape[1], SAMPLE_TILE)
    count = s_tiles * _tiles(W.shape[0], OUTPUT_TILE)
    if count == 1 or W.shape[0] * W.shape[1] * A.shape[1] < PARALLEL_WORK:
        for t in range(count):
            _forward_tile(W, A, Z, t, s_tiles)
        return
    for t in prange(count):
        _forward_tile(W, A, Z, t, s_tiles)


@register_jitable(**HELPER_OPTIONS)
def _weight_tile(dZ, A, out, t, i_tiles, beta):
    """Tile ``t`` of ``out = dZ @ A.T (+ out)``: inputs tile ``t % i_tiles``, outputs ``t // i_tiles``."""
    n_out, m = dZ.shape
    n_in = A.shape[0]
    i = (t % i_tiles) * OUTPUT_TILE
    o = (t // i_tiles) * OUTPUT_TILE
    cols = min(OUTPUT_TILE, n_in - i)
    rows = min(OUTPUT_TILE, n_out - o)
    # dW^T (n_in x n_out, ld n_in) tile = A tile (n_in x m) @ dZ^T tile (m x n_out).
    if A.flags.c_contiguous:
        _gemm(True, False, cols, rows, m, A, i * m, m, dZ, o * m, m, beta, out, o * n_in + i, n_in)
    else:
        _gemm(False, False, cols, rows, m, A, i, n_in, dZ, o * m, m, beta, out, o * n_in + i, n_in)


@parallel_kernel
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
    i_tiles = _tiles(A.shape[0], OUTPUT_TILE)
    count = i_tiles * _tiles(dZ.shape[0], OUTPUT_TILE)
    zero = out.dtype.type(0)
    if count == 1 or dZ.shape[0] * dZ.shape[1] * A.shape[0] < PARALLEL_WORK:
        for t in range(count):
            _weight_tile(dZ, A, out, t, i_tiles, zero)
        return
    for t in prange(count):
        _weight_tile(dZ, A, out, t, i_tiles, zero)


@register_jitable(**HELPER_OPTIONS)
def _input_tile(W, dZ, out, t, s_tiles):
    """Tile ``t`` of ``out = W.T @ dZ``: samples tile ``t % s_tiles``, inputs ``t // s_tiles``."""
    n_out, n_in = W.shape
    m = dZ.shape[1]
    s = (t % s_tiles) * SAMPLE_TILE
    i = (t // s_tiles) * OUTPUT_TILE
    ms = min(SAMPLE_TILE, m - s)
    cols = min(OUTPUT_TILE, n_in - i)
    # dA^T (m x n_in, ld m) tile = dZ^T tile (m x n_out) @ W tile (n_out x n_in).
    _gemm(False, True, ms, cols, n_out, dZ, s, m, W, i, n_in, out.dtype.type(0), out, i * m + s, m)


@parallel_kernel
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
    s_tiles = _tiles(dZ.shape[1], SAMPLE_TILE)
    count = s_tiles * _tiles(W.shape[1], OUTPUT_TILE)
    if count == 1 or W.shape[0] * W.shape[1] * dZ.shape[1] < PARALLEL_WORK:
        for t in range(count):
            _input_tile(W, dZ, out, t, s_tiles)
        return
    for t in prange(count):
        _input_tile(W, dZ, out, t, s_tiles)
