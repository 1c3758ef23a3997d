"""fastnn.kernels.views: 2-D views carved out of flat buffers."""

import numba
import numpy as np
import pytest

from fastnn.kernels import views


@numba.njit
def _carve(flat, offset, rows, cols):
    view = views.view2d(flat, offset, rows, cols)
    if view.size:
        view[0, 0] = -1
    return view


@numba.njit
def _carve_borrowed(flat, offset, rows, cols):
    """A borrowed view must not leave the kernel: return a copy (and the view's
    C-contiguity, which a copy would not show)."""
    view = views.borrow2d(flat, offset, rows, cols)
    if view.size:
        view[0, 0] = -1
    return view.copy(), view.strides[0], view.strides[1]


VIEWS = [(0, 3, 4), (5, 2, 7), (19, 1, 1), (0, 20, 1), (20, 0, 3)]
OUTSIDE = [(18, 1, 3), (0, 21, 1), (-1, 1, 1), (0, -1, 2), (5, 4, 4)]


def _expected_view(flat, offset, rows, cols):
    expected = flat[offset : offset + rows * cols].copy().reshape((rows, cols))
    if expected.size:
        expected[0, 0] = -1
    return expected


@pytest.mark.parametrize("offset, rows, cols", VIEWS)
def test_view2d_is_the_reshaped_slice_sharing_memory(offset, rows, cols, dtype):
    flat = np.arange(20, dtype=dtype)
    expected = _expected_view(flat, offset, rows, cols)
    view = _carve(flat, offset, rows, cols)
    np.testing.assert_array_equal(view, expected)
    assert view.dtype == dtype and view.flags.c_contiguous and view.shape == (rows, cols)
    if view.size:
        assert flat[offset] == -1 and np.shares_memory(view, flat)
    del flat  # the returned view keeps the buffer alive
    np.testing.assert_array_equal(view, expected)


@pytest.mark.parametrize("offset, rows, cols", VIEWS)
def test_borrow2d_is_the_reshaped_slice_sharing_memory(offset, rows, cols, dtype):
    flat = np.arange(20, dtype=dtype)
    expected = _expected_view(flat, offset, rows, cols)
    copy, row_stride, col_stride = _carve_borrowed(flat, offset, rows, cols)
    np.testing.assert_array_equal(copy, expected)
    assert copy.dtype == dtype and copy.shape == (rows, cols)
    assert (row_stride, col_stride) == (cols * flat.itemsize, flat.itemsize)
    if copy.size:
        assert flat[offset] == -1  # written through the view


@pytest.mark.parametrize("carve", [_carve, _carve_borrowed])
@pytest.mark.parametrize("offset, rows, cols", OUTSIDE)
def test_views_outside_the_buffer_raise(carve, offset, rows, cols):
    with pytest.raises(IndexError, match="does not fit"):
        carve(np.zeros(20), offset, rows, cols)
