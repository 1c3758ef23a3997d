"""fastnn.kernels.distributed against the float64 reference: one micro-batch's loss, correct
count and gradient over gathered rows; the ordered fold; the update. (That folding them
gives bitwise the epoch kernel's training is tested through fastnn.dask.fit in
tests/test_dask.py.)"""

import numpy as np
import pytest
import reference as ref
from helpers import tolerances
from kernel_cases import LOSS, PAIRINGS, rng_for, targets
from test_network_kernels import flat_network, unflatten

import fastnn
from fastnn.kernels import distributed, network, optimizers


@pytest.mark.parametrize("loss, output", PAIRINGS[:3])
@pytest.mark.parametrize("rows", [[3], [7, 2, 9, 0, 5]], ids=["one row", "five rows"])
def test_micro_batch_gradient_matches_reference(loss, output, rows, dtype):
    rng = rng_for("micro batch", loss, len(rows))
    spec = [(4, 6, "tanh"), (6, 3, output)]
    params, layout, layers = flat_network(spec, dtype, rng)
    N, batch_size = 11, 8  # the work space is carved for the fit's batch size, larger than m
    Xs = rng.standard_normal((N, 4)).astype(dtype)
    Ys = np.ascontiguousarray(targets(rng, loss, 3, N, dtype).T)
    rows = np.array(rows, dtype=np.int64)
    grads = np.full_like(params, np.nan)
    work = np.full(network.work_size(layout, batch_size, True), np.nan, dtype=dtype)
    value, correct = distributed.micro_batch_gradient(params, grads, layout, LOSS[loss], Xs, Ys, rows,
                                                      batch_size, work, np.zeros(2), 0, 0)
    X, Y = Xs[rows].T, Ys[rows].T
    np.testing.assert_allclose(value, ref.network_loss(layers, X, Y, loss), **tolerances(dtype))
    want = ref.network_backward(layers, X, Y, loss)
    for (dW, db), (want_dW, want_db) in zip(unflatten(grads, layers), want):
        np.testing.assert_allclose(dW, want_dW, **tolerances(dtype))
        np.testing.assert_allclose(db, want_db, **tolerances(dtype))
    A = ref.network_forward(layers, X)[1][-1]
    assert correct == int(np.sum(np.argmax(A, axis=0) == np.argmax(Y, axis=0)))


def test_micro_batch_gradient_stops_at_a_non_finite_loss():
    rng = rng_for("micro batch nan")
    params, layout, _ = flat_network([(2, 2, "sigmoid")], np.float64, rng)
    Xs = np.array([[np.nan, 1.0], [0.0, 1.0]])
    Ys = np.array([[1.0, 0.0], [0.0, 1.0]])
    work = np.empty(network.work_size(layout, 2, True))
    value, correct = distributed.micro_batch_gradient(params, np.zeros_like(params), layout, LOSS["bce"], Xs,
                                                      Ys, np.arange(2), 2, work, np.zeros(1), 0, 0)
    assert np.isnan(value) and correct == 0


def test_fold_rescales_by_the_ratio_of_sizes(dtype):
    rng = rng_for("fold")
    acc, grad = rng.standard_normal(7).astype(dtype), rng.standard_normal(7).astype(dtype)
    want = ref.f64(acc) * (8 / 3) + ref.f64(grad)
    same = acc + grad
    distributed.fold_gradient(acc, grad, 8, 3)
    np.testing.assert_allclose(acc, want, **tolerances(dtype))
    assert acc.dtype == dtype
    acc2 = same - grad
    distributed.fold_gradient(acc2, grad, 5, 5)  # equal sizes: a plain add, bitwise
    np.testing.assert_array_equal(acc2, (same - grad) + grad)


def test_fold_of_micro_batches_is_the_mean_gradient_of_their_union(dtype):
    """Folding the mean gradients of micro-batches of 4, 4 and 3 rows and scaling by
    m_last / M gives the gradient of the 11 rows as one batch."""
    rng = rng_for("fold union")
    spec = [(3, 4, "sigmoid"), (4, 2, "sigmoid")]
    params, layout, layers = flat_network(spec, dtype, rng)
    Xs = rng.standard_normal((11, 3)).astype(dtype)
    Ys = np.ascontiguousarray(targets(rng, "bce", 2, 11, dtype).T)
    work = np.empty(network.work_size(layout, 4, True), dtype=dtype)
    acc, previous = None, 0
    for rows in (np.arange(0, 4), np.arange(4, 8), np.arange(8, 11)):
        grad = np.empty_like(params)
        distributed.micro_batch_gradient(params, grad, layout, LOSS["bce"], Xs, Ys, rows, 4, work,
                                         np.zeros(2), 0, 0)
        if acc is None:
            acc = grad
        else:
            distributed.fold_gradient(acc, grad, previous, rows.size)
        previous = rows.size
    want = ref.network_backward(layers, Xs.T, Ys.T, "bce")
    for (dW, db), (want_dW, want_db) in zip(unflatten(ref.f64(acc) * 3 / 11, layers), want):
        np.testing.assert_allclose(dW, want_dW, **tolerances(dtype))
        np.testing.assert_allclose(db, want_db, **tolerances(dtype))


def test_apply_update_is_sgd_on_the_weighted_mean(dtype):
    rng = rng_for("update")
    net = fastnn.Network([3, 2], dtype=dtype)
    params = net.params
    start = params.copy()
    grads = rng.standard_normal(params.size).astype(dtype)
    sgd = optimizers.epoch_opt(fastnn.SGD(0.5).kernel_buffers(net))
    assert distributed.apply_update(params, grads, *sgd, 1, 3, 11) == 0.0
    want = ref.sgd_update(start, ref.f64(grads) * 3 / 11, 0.5)
    np.testing.assert_allclose(params, want, **tolerances(dtype))
    grads[0] = np.inf
    assert np.isnan(distributed.apply_update(params, grads, *sgd, 2, 4, 4))
