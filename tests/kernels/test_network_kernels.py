"""fastnn.kernels.network: whole-network forward, backward, loss, the work plan and the step
kernels over flat buffers, against the float64 reference.
"""

import numpy as np
import pytest
import reference as ref
from helpers import tolerances
from kernel_cases import ACT, LOSS, rng_for

from fastnn.kernels import bundles, network, optimizers


def flat_network(spec, dtype, rng):
    """Flat ``params`` and ``layout`` for ``spec`` = [(n_in, n_out, activation), ...],
    and the same layers as reference triples ``(W, b, activation)``."""
    rows, layers, offset = [], [], 0
    pieces = []
    for n_in, n_out, name in spec:
        W = rng.uniform(-1, 1, (n_out, n_in)).astype(dtype)
        b = rng.uniform(-0.5, 0.5, (n_out, 1)).astype(dtype)
        rows.append([n_in, n_out, offset, offset + W.size, ACT[name]])
        offset += W.size + b.size
        pieces += [W.ravel(), b.ravel()]
        layers.append((W, b, name))
    return np.concatenate(pieces), np.array(rows, dtype=np.int64), layers


def buffers(spec, m, dtype):
    sizes = [n_out for _, n_out, _ in spec]
    acts = np.full(m * sum(sizes), np.nan, dtype=dtype)
    z_out = np.full(m * sizes[-1], np.nan, dtype=dtype)
    delta = np.full(2 * m * max(sizes), np.nan, dtype=dtype)
    scratch = np.full(max(i * o for i, o, _ in spec), np.nan, dtype=dtype)
    return acts, z_out, delta, scratch


def unflatten(flat, layers):
    out, o = [], 0
    for W, b, _ in layers:
        out.append((flat[o : o + W.size].reshape(W.shape), flat[o + W.size : o + W.size + b.size].reshape(b.shape)))
        o += W.size + b.size
    return out


NETWORK_SPECS = {
    "one layer": [(3, 2, "sigmoid")],
    "1x1": [(1, 1, "sigmoid")],
    "deep": [(4, 5, "tanh"), (5, 1, "relu"), (1, 6, "sigmoid"), (6, 3, "sigmoid")],
}


@pytest.mark.parametrize("m", [1, 9])
@pytest.mark.parametrize("which", NETWORK_SPECS)
def test_network_kernels_match_reference(which, m, dtype):
    spec = NETWORK_SPECS[which]
    rng = rng_for("network", which, m)
    params, layout, layers = flat_network(spec, dtype, rng)
    X = rng.standard_normal((spec[0][0], m)).astype(dtype)
    Y = rng.uniform(0, 1, (spec[-1][1], m)).astype(dtype)
    acts, z_out, delta, scratch = buffers(spec, m, dtype)
    tol = tolerances(dtype)

    network.network_forward(params, layout, X, acts, z_out)
    Zs, As = ref.network_forward(layers, X)
    n_L = spec[-1][1]
    out = acts[m * sum(o for _, o, _ in spec[:-1]) :][: m * n_L].reshape(n_L, m)
    np.testing.assert_allclose(out, As[-1], **tol)
    np.testing.assert_allclose(z_out.reshape(n_L, m), Zs[-1], **tol)

    grads = np.full(params.size, np.nan, dtype=dtype)  # overwritten when not accumulating
    network.network_backward(params, grads, layout, LOSS["bce"], X, Y, acts, delta, scratch, False)
    expected = ref.network_backward(layers, X, Y, "bce")
    for (dW, db), (dW_ref, db_ref) in zip(unflatten(grads, layers), expected):
        np.testing.assert_allclose(dW, dW_ref, **tol)
        np.testing.assert_allclose(db, db_ref, **tol)

    once = grads.copy()
    network.network_backward(params, grads, layout, LOSS["bce"], X, Y, acts, delta, scratch, True)
    np.testing.assert_array_equal(grads, 2 * once)

    J = network.network_loss(params, layout, LOSS["bce"], X, Y, acts, z_out)
    assert J == pytest.approx(ref.network_loss(layers, X, Y, "bce"), rel=tol["rtol"] * 10)


@pytest.mark.parametrize("which", NETWORK_SPECS)
@pytest.mark.parametrize("m", [1, 9])
def test_work_plan_carves_the_documented_buffers_back_to_back(which, m):
    spec = NETWORK_SPECS[which]
    _, layout, _ = flat_network(spec, np.float64, rng_for("plan", which))
    sizes = [n_out for _, n_out, _ in spec]
    expected = [m * sum(sizes), m * sizes[-1], 2 * m * max(sizes), m * spec[0][0], m * sizes[-1],
                max(i * o for i, o, _ in spec)]
    work = np.arange(network.work_size(layout, m, True), dtype=np.float64)
    views = network.work_views(work, layout, m, True)
    assert [v.size for v in views] == expected and work.size == sum(expected)
    assert np.array_equal(np.concatenate(views), work)  # back to back, in order, sharing memory
    assert all(np.shares_memory(v, work) for v in views if v.size)
    forward = network.work_views(np.empty(network.work_size(layout, m, False)), layout, m, False)
    assert [v.size for v in forward] == expected[:2] + [0, 0, 0, 0]


def test_train_step_kernel_is_forward_backward_update(dtype):
    spec = NETWORK_SPECS["deep"]
    rng = rng_for("train_step kernel")
    params, layout, _ = flat_network(spec, dtype, rng)
    X = rng.standard_normal((4, 6)).astype(dtype)
    Y = rng.uniform(0, 1, (3, 6)).astype(dtype)
    acts, z_out, delta, scratch = buffers(spec, 6, dtype)

    p1, g1 = params.copy(), np.zeros_like(params)
    network.network_forward(p1, layout, X, acts, z_out)
    network.network_backward(p1, g1, layout, LOSS["bce"], X, Y, acts, delta, scratch, False)
    optimizers.sgd_update(p1, g1, 0.25)

    p2, g2 = params.copy(), np.full_like(params, 5.0)  # stale gradient: overwritten
    network.train_step(p2, g2, layout, LOSS["bce"], X, Y, acts, z_out, delta, scratch, 0.25)
    np.testing.assert_array_equal(p2, p1)
    np.testing.assert_array_equal(g2, g1)


@pytest.mark.parametrize("case", ["ok", "nan X", "inf X", "Y above", "Y below", "nan Y", "overflow"])
def test_checked_train_step_checks_the_batch_then_steps(case, dtype):
    spec = NETWORK_SPECS["deep"]
    rng = rng_for("checked train_step", case)
    params, layout, _ = flat_network(spec, dtype, rng)
    X = rng.standard_normal((4, 6)).astype(dtype)
    Y = rng.uniform(0, 1, (3, 6)).astype(dtype)
    acts, z_out, delta, scratch = buffers(spec, 6, dtype)
    lr = 0.25
    expected = bundles.OK
    if case in ("nan X", "inf X"):
        X[2, 3] = np.nan if case == "nan X" else np.inf
        expected = bundles.BAD_BATCH
    elif case in ("Y above", "Y below", "nan Y"):
        Y[1, 4] = {"Y above": 1.5, "Y below": -0.5, "nan Y": np.nan}[case]
        expected = bundles.BAD_BATCH
    elif case == "overflow":
        lr = float("inf")  # every new weight infinite (or NaN): the update is refused
        expected = bundles.PARAMS_NOT_FINITE
    p1, g1 = params.copy(), np.zeros_like(params)
    if expected == bundles.OK:
        network.train_step(p1, g1, layout, LOSS["bce"], X, Y, acts, z_out, delta, scratch, lr)
    p2, g2 = params.copy(), np.zeros_like(params)
    loss_out = np.full(1, -1.0)
    status = network.checked_train_step(p2, g2, layout, LOSS["bce"], X, Y, acts, z_out, delta, scratch,
                                        lr, 0.0, 1.0, loss_out)
    assert status == expected
    np.testing.assert_array_equal(p2, p1)  # unchanged unless applied
    if expected == bundles.BAD_BATCH:
        np.testing.assert_array_equal(g2, 0)  # nothing computed
        assert loss_out[0] == -1.0
    else:  # the loss of the batch before the update
        before = network.network_loss(params.copy(), layout, LOSS["bce"], X, Y, acts, z_out)
        assert loss_out[0] == before


def test_step_kernels_take_the_network_bundle_in_its_field_order():
    """The API passes ``*net.kernel_buffers`` to these kernels: their first arguments must be
    the bundle's fields, in order (a swap would compile silently)."""
    import inspect

    fields = list(bundles.NetBuffers._fields)
    for kernel in (network.network_backward, network.train_step, network.checked_train_step):
        assert list(inspect.signature(kernel.py_func).parameters)[:4] == fields, kernel
    for kernel in (network.network_forward, network.network_loss):
        names = list(inspect.signature(kernel.py_func).parameters)
        assert names[:2] == ["params", "layout"], kernel
    assert list(inspect.signature(network.network_loss.py_func).parameters)[2] == "loss"


def test_epoch_kernel_takes_the_bundles_fields_in_order():
    import inspect

    from fastnn.kernels import training

    names = list(inspect.signature(training.train_epochs.py_func).parameters)
    bundled = [field for bundle in (bundles.NetBuffers, bundles.EpochOpt, bundles.Data,
                                    bundles.EpochPlan, bundles.Penalty) for field in bundle._fields]
    assert names[: len(bundled)] == bundled
