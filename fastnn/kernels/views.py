"""Free 2-D views of a flat buffer: ``borrow2d`` and ``view2d(flat, offset, rows, cols)``.

Every kernel carves its matrices out of flat buffers (see :mod:`fastnn.kernels.network`).
``flat[o:o + r*c].reshape((r, c))`` does that, but Numba lowers ``reshape`` to a call
of its C helper ``numba_attempt_nocopy_reshape``, which works out the strides of any
layout at run time; a tiny network's training step carves out about twenty views, so
those calls show in its time. ``view2d`` builds the same C-contiguous view inline: a
pointer, two shapes and two strides, sharing the buffer's memory (the view keeps it
alive like any Numba view). Its bounds are checked in the kernel, so a wrong offset
raises instead of reading past the buffer.

``borrow2d`` is the same view WITHOUT a reference to the buffer's memory: no atomic
reference count is taken when it is made, passed to a helper or dropped, which a tiny
step does about a hundred times. It is only valid while the buffer is: use it for
views that live inside one kernel call, whose buffers are that call's arguments, and
NEVER return one to Python (an unowned array would outlive its memory). ``view2d`` is
for a view that is returned.

Measure both with ``python -m asv_benchmarks.compare -w tiny`` (the figures are in
docs/performance-notes.md).
"""

from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed, impl_ret_untracked
from numba.extending import intrinsic, register_jitable
from numba.np.arrayobj import make_array, populate_array

from ._jit import HELPER_OPTIONS


def _codegen(owned, result):
    """Build the view's array struct; with ``owned``, it shares (and increfs) the
    buffer's meminfo, else it has none (see the module notes)."""

    def codegen(context, builder, signature, args):
        flat_value, offset_value, rows_value, cols_value = args
        source = make_array(signature.args[0])(context, builder, flat_value)
        view = make_array(result)(context, builder)
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(
            context.get_data_type(result.dtype)))
        populate_array(
            view,
            data=builder.gep(source.data, [offset_value]),
            shape=cgutils.pack_array(builder, [rows_value, cols_value]),
            strides=cgutils.pack_array(builder, [builder.mul(cols_value, itemsize), itemsize]),
            itemsize=itemsize,
            meminfo=source.meminfo if owned else None,
            parent=source.parent if owned else None,
        )
        if owned:
            return impl_ret_borrowed(context, builder, result, view._getvalue())
        return impl_ret_untracked(context, builder, result, view._getvalue())

    return codegen


def _typing(flat):
    if not (isinstance(flat, types.Array) and flat.ndim == 1 and flat.layout == "C"):
        return None
    result = types.Array(flat.dtype, 2, "C")
    return result, result(flat, types.intp, types.intp, types.intp)


@intrinsic
def _view2d_unchecked(typingctx, flat, offset, rows, cols):
    result, sig = _typing(flat) or (None, None)
    return None if sig is None else (sig, _codegen(True, result))


@intrinsic
def _borrow2d_unchecked(typingctx, flat, offset, rows, cols):
    result, sig = _typing(flat) or (None, None)
    return None if sig is None else (sig, _codegen(False, result))


@register_jitable(**HELPER_OPTIONS)
def _fits(flat, offset, rows, cols):
    return offset >= 0 and rows >= 0 and cols >= 0 and offset + rows * cols <= flat.size


@register_jitable(**HELPER_OPTIONS)
def view2d(flat, offset, rows, cols):
    """``flat[offset:offset + rows*cols].reshape((rows, cols))`` without the reshape call.

    Parameters
    ----------
    flat : 1-D C-contiguous ndarray
    offset, rows, cols : int >= 0

    Returns
    -------
    ndarray of shape (rows, cols), C-contiguous
        A view sharing ``flat``'s memory.

    Raises
    ------
    IndexError
        When the view would not lie inside ``flat``.
    """
    if not _fits(flat, offset, rows, cols):
        raise IndexError("view2d: the view does not fit in the buffer")
    return _view2d_unchecked(flat, offset, rows, cols)


@register_jitable(**HELPER_OPTIONS)
def borrow2d(flat, offset, rows, cols):
    """:func:`view2d` without a reference to ``flat``'s memory: for views used inside
    one kernel call only, never returned (see the module notes).

    Raises
    ------
    IndexError
        When the view would not lie inside ``flat``.
    """
    if not _fits(flat, offset, rows, cols):
        raise IndexError("borrow2d: the view does not fit in the buffer")
    return _borrow2d_unchecked(flat, offset, rows, cols)
