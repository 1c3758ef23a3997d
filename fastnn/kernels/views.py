"""Free 2-D views of a flat buffer: ``view2d(flat, offset, rows, cols)``.

Every kernel carves its matrices out of flat buffers (see :mod:`fastnn.kernels.network`).
``flat[o:o + r*c].reshape((r, c))`` does that, but Numba lowers ``reshape`` to a call
of its C helper ``numba_attempt_nocopy_reshape``, which works out the strides of any
layout at run time. A tiny network's training step carves out about twenty views, and
those calls were a measurable share of its 2 us. ``view2d`` builds the same C-contiguous
view inline: a pointer, two shapes and two strides, sharing the buffer's memory (the
view keeps it alive like any Numba view). Its bounds are checked in the kernel, so a
wrong offset raises instead of reading past the buffer.
"""

from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, register_jitable
from numba.np.arrayobj import make_array, populate_array

from ._jit import HELPER_OPTIONS


@intrinsic
def _view2d_unchecked(typingctx, flat, offset, rows, cols):
    if not (isinstance(flat, types.Array) and flat.ndim == 1 and flat.layout == "C"):
        return None
    result = types.Array(flat.dtype, 2, "C")
    sig = result(flat, types.intp, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        flat_value, offset_value, rows_value, cols_value = args
        source = make_array(signature.args[0])(context, builder, flat_value)
        view = make_array(result)(context, builder)
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(
            context.get_data_type(flat.dtype)))
        populate_array(
            view,
            data=builder.gep(source.data, [offset_value]),
            shape=cgutils.pack_array(builder, [rows_value, cols_value]),
            strides=cgutils.pack_array(builder, [builder.mul(cols_value, itemsize), itemsize]),
            itemsize=itemsize,
            meminfo=source.meminfo,
            parent=source.parent,
        )
        return impl_ret_borrowed(context, builder, result, view._getvalue())

    return sig, codegen


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
    if offset < 0 or rows < 0 or cols < 0 or offset + rows * cols > flat.size:
        raise IndexError("view2d: the view does not fit in the buffer")
    return _view2d_unchecked(flat, offset, rows, cols)
