"""The epoch kernel (fastnn.kernels.training): one call trains whole epochs, bitwise as the
per-batch kernel loop, with or without scikit-learn's L2 penalty; and the transposes."""

import numpy as np
import pytest

import fastnn
from fastnn.kernels import network as knet
from fastnn.kernels import optimizers as kopt
from fastnn.kernels import regularization as kreg
from fastnn.kernels import training as ktrain
from fastnn.kernels.bundles import LOSS_NOT_FINITE, OK, Data, EpochPlan, Penalty

DTYPES = [np.float32, np.float64]


def epochs(net, opt, Xs, Ys, perms, bs, micro_batches=1, penalty=(None, None, None), stop=-1, work=None):
    """``train_epochs`` over the rows of ``perms`` (no penalty: three Nones, as fit passes it);
    the optimizer's step count follows it. Returns ``(sums, counts, status, epochs, batch)``."""
    perms = np.ascontiguousarray(np.atleast_2d(perms), dtype=np.int64)
    buffers = net.kernel_buffers
    if work is None:
        work = np.empty(knet.work_size(buffers.layout, bs, True), dtype=net.dtype)
    sums, counts = np.empty(len(perms)), np.empty(len(perms), dtype=np.int64)
    status, trained, batch, steps = ktrain.train_epochs(
        *buffers, *kopt.epoch_opt(opt.kernel_buffers(net)), *Data(Xs, Ys),
        *EpochPlan(bs, micro_batches, stop), *penalty, perms, opt.steps, work, sums, counts,
        net.dropout_rates, 0, np.empty(0))
    opt.steps = steps
    return sums, counts, status, trained, batch


def test_epoch_kernel_allocates_nothing_per_step():
    """NRT allocations of an epoch call do not grow with the number of steps.

    (Each array argument is wrapped once per call, on entry; the loop itself allocates
    nothing.)
    """
    from numba.core.runtime import _nrt_python, rtsys

    dtype = np.float32
    rng = np.random.default_rng(0)
    net = fastnn.Network([2, 8, 1], seed=0)
    opt = fastnn.Adam(0.01)
    bs = 4
    work = np.empty(knet.work_size(net.kernel_buffers.layout, bs, True), dtype=dtype)
    was_enabled = _nrt_python.memsys_stats_enabled()
    _nrt_python.memsys_enable_stats()
    try:
        counts = []
        for N in (7, 103, 1003):
            Xs = rng.standard_normal((N, 2)).astype(dtype)
            Ys = (rng.random((N, 1)) > 0.5).astype(dtype)
            perm = rng.permutation(N).astype(np.int64)
            for accumulate in (1, 3):
                opt.steps = 0
                epochs(net, opt, Xs, Ys, perm, bs, accumulate, work=work)
                opt.steps = 0
                before = rtsys.get_allocation_stats()
                result = epochs(net, opt, Xs, Ys, perm, bs, accumulate, work=work)
                after = rtsys.get_allocation_stats()
                counts.append(after.alloc - before.alloc)
                assert result[2] == OK and result[4] == -(-N // bs)
                assert opt.steps == -(-N // (bs * accumulate))
    finally:
        if not was_enabled:
            _nrt_python.memsys_disable_stats()
    assert len(set(counts)) == 1 and counts[0] <= 13  # one per array argument at most (13 arrays)


def test_train_epochs_is_one_epoch_per_row():
    """Several epochs in one call are bitwise one call per epoch (fit's runs of epochs)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 37))
    Y = (rng.random((3, 37)) < 0.5).astype(np.float64)
    net = fastnn.Network([5, 7, 3], dtype=np.float64, seed=1)
    ref = fastnn.Network([5, 7, 3], dtype=np.float64, seed=1)
    Xs, Ys = np.ascontiguousarray(X.T), np.ascontiguousarray(Y.T)
    perms = np.array([rng.permutation(37) for _ in range(4)], dtype=np.int64)
    opts = [fastnn.Adam(0.01), fastnn.Adam(0.01)]
    sums, counts, status, trained, _ = epochs(net, opts[0], Xs, Ys, perms, 5, 2)
    assert status == OK and trained == 4
    for e in range(4):
        one_sum, one_count, status, _, _ = epochs(ref, opts[1], Xs, Ys, perms[e], 5, 2)
        assert status == OK and sums[e] == one_sum[0] and counts[e] == one_count[0]
    assert opts[0].steps == opts[1].steps
    np.testing.assert_array_equal(net.params, ref.params)
    np.testing.assert_array_equal(opts[0].state, opts[1].state)


def test_stop_trains_only_the_first_micro_batches_of_the_last_epoch():
    rng = np.random.default_rng(1)
    Xs = rng.standard_normal((20, 3))
    Ys = (rng.random((20, 1)) < 0.5).astype(np.float64)
    perms = np.array([rng.permutation(20) for _ in range(2)], dtype=np.int64)
    nets = [fastnn.Network([3, 4, 1], dtype=np.float64, seed=2) for _ in range(2)]
    opts = [fastnn.SGD(0.1, momentum=0.9), fastnn.SGD(0.1, momentum=0.9)]
    _, _, status, trained, batch = epochs(nets[0], opts[0], Xs, Ys, perms, 4, stop=3)
    assert (status, trained, batch, opts[0].steps) == (OK, 2, 3, 5 + 3)
    epochs(nets[1], opts[1], Xs, Ys, perms[0], 4)
    epochs(nets[1], opts[1], Xs, Ys, perms[1], 4, stop=3)
    np.testing.assert_array_equal(nets[0].params, nets[1].params)


# ----------------------------------------------------------------- the L2 penalty


def l2_kernel_loop(net, opt, Xs, Ys, perm, bs, alpha, grad_scale, loss_scale):
    """The per-batch loop the penalty replaces, one kernel call at a time (the loop the
    scikit-learn estimators ran before); returns the sum of m * J_batch."""
    params, grads, layout, loss = net.kernel_buffers
    code, hyper, state = opt.kernel_buffers(net)
    work = np.empty(knet.work_size(layout, bs, True), dtype=net.dtype)
    acts, z_out, delta, _, _, scratch = knet.work_views(work, layout, bs, True)
    total = 0.0
    for start in range(0, perm.size, bs):
        rows = perm[start : start + bs]
        m = rows.size
        X, Y = np.ascontiguousarray(Xs[rows]).T, np.ascontiguousarray(Ys[rows]).T
        J = knet.network_loss(params, layout, loss, X, Y, acts, z_out)
        knet.network_backward(params, grads, layout, loss, X, Y, acts, delta, scratch, False)
        squares = kreg.scale_add_l2(params, grads, layout, grad_scale, alpha / m)
        total += (J * loss_scale + 0.5 * alpha * squares / m) * m
        opt.steps += 1
        kopt.optimizer_update(params, grads, code, hyper, state, opt.steps, 1.0)
    return total


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make_optimizer", [
    lambda: fastnn.SGD(0.1, momentum=0.9, nesterov=True),
    lambda: fastnn.Adam(0.01),
])
@pytest.mark.parametrize("loss, alpha, grad_scale, loss_scale", [
    ("bce", 0.7, 1.0, 1.0), ("cce", 0.0, 1.0, 1.0), ("mse", 0.3, 1.5, 0.5),
])
def test_penalized_epoch_equals_the_kernel_loop(dtype, make_optimizer, loss, alpha, grad_scale,
                                                loss_scale):
    """Bitwise the same weights as the per-batch loop (a short last batch included); the
    loss sum to rounding (the kernel may fuse its float64 sum into FMAs)."""
    rng = np.random.default_rng(4)
    N, bs = 23, 5
    Xs = rng.standard_normal((N, 3)).astype(dtype)
    Ys = (rng.random((N, 3)) > 0.5).astype(dtype)
    if loss == "cce":
        Ys = np.eye(3, dtype=dtype)[rng.integers(0, 3, N)]
    perm = rng.permutation(N).astype(np.int64)
    nets = [fastnn.Network([3, 6, 3], loss=loss, dtype=dtype, seed=2, activation="tanh")
            for _ in range(2)]
    opts = [make_optimizer(), make_optimizer()]
    for _ in range(3):
        sums, _, status, _, batches = epochs(nets[0], opts[0], Xs, Ys, perm, bs,
                                             penalty=Penalty(alpha, grad_scale, loss_scale))
        expected = l2_kernel_loop(nets[1], opts[1], Xs, Ys, perm, bs, alpha, grad_scale, loss_scale)
        assert status == OK and batches == 5 and opts[0].steps == opts[1].steps
        assert sums[0] == pytest.approx(expected, rel=1e-14)
    np.testing.assert_array_equal(nets[0].params, nets[1].params)
    np.testing.assert_array_equal(opts[0].state, opts[1].state)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_zero_penalty_is_the_plain_epoch(dtype):
    """alpha = 0 with unit scales takes the plain path: bitwise no penalty at all, though the
    values are passed as another bundle of floats (scikit-learn's classifier with alpha=0)."""
    rng = np.random.default_rng(5)
    Xs = rng.standard_normal((31, 4)).astype(dtype)
    Ys = (rng.random((31, 2)) > 0.5).astype(dtype)
    perm = rng.permutation(31).astype(np.int64)
    nets = [fastnn.Network([4, 7, 2], dtype=dtype, seed=1) for _ in range(2)]
    opts = [fastnn.Adam(0.01), fastnn.Adam(0.01)]
    plain = epochs(nets[0], opts[0], Xs, Ys, perm, 8)
    zero = epochs(nets[1], opts[1], Xs, Ys, perm, 8, penalty=Penalty(-0.0, 1.0, 1.0))
    assert plain[2:] == zero[2:] and plain[0][0] == zero[0][0] and plain[1][0] == zero[1][0]
    np.testing.assert_array_equal(nets[0].params, nets[1].params)


def test_penalized_epoch_reports_a_non_finite_loss_at_its_batch():
    net = fastnn.Network([2, 3, 1], loss="mse", dtype=np.float64, seed=0)
    opt = fastnn.SGD(0.1)
    Xs = np.ones((10, 2))
    Ys = np.zeros((10, 1))
    Ys[6] = np.inf  # in the second batch of 4
    before = net.params.copy()
    _, _, status, _, batch = epochs(net, opt, Xs, Ys, np.arange(10, dtype=np.int64), 4,
                                    penalty=Penalty(0.1, 1.0, 0.5))
    assert (status, batch, opt.steps) == (LOSS_NOT_FINITE, 1, 1)
    assert np.isfinite(net.params).all() and not np.array_equal(net.params, before)


# ----------------------------------------------------------------- transposes


@pytest.mark.parametrize("shape", [(1, 1), (3, 23), (17, 9), (64, 130)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_into(shape, dtype):
    src = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    dst = np.empty(shape[::-1], dtype=dtype)
    ktrain.transpose_into(src, dst)
    np.testing.assert_array_equal(dst, src.T)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 5), (8, 8), (9, 17), (20, 33)])
def test_transpose_finite(dtype, shape):
    src = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    dst = np.empty(shape[::-1], dtype=dtype)
    assert ktrain.transpose_finite(src, dst)
    np.testing.assert_array_equal(dst, src.T)
    for bad in (np.nan, np.inf, -np.inf):
        src2 = src.copy()
        src2[shape[0] - 1, shape[1] // 2] = bad
        assert not ktrain.transpose_finite(src2, dst)
