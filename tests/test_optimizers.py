"""SGD (momentum, Nesterov, weight decay) and Adam against plain NumPy references."""

import numpy as np
import pytest

import fastnn
from fastnn.kernels import optimizers as kopt

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 2e-5, np.float64: 1e-12}


def sgd_reference(theta, grads, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """torch.optim.SGD (dampening 0) in float64, one row of ``grads`` per step."""
    theta = theta.astype(np.float64).copy()
    buf = None
    for g in grads:
        g = g.astype(np.float64) + weight_decay * theta
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + g
            g = g + momentum * buf if nesterov else buf
        theta = theta - lr * g
    return theta


def adam_reference(theta, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """Adam as in Kingma and Ba (bias-corrected), float64, one row of ``grads`` per step."""
    theta = theta.astype(np.float64).copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64) + weight_decay * theta
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat = m / (1 - betas[0] ** t)
        v_hat = v / (1 - betas[1] ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


def run_steps(optimizer, dtype, n_steps=7, seed=0):
    """Apply ``optimizer.step`` to a network with random gradients; return (start, grads, end)."""
    net = fastnn.Network([3, 5, 2], dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed)
    start = net.params.copy()
    grads = rng.standard_normal((n_steps, net.n_params)).astype(dtype)
    for g in grads:
        net.grads[...] = g
        optimizer.step(net)
    return start, grads, net.params.copy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum, nesterov, weight_decay", [
    (0.0, False, 0.0), (0.9, False, 0.0), (0.9, True, 0.0), (0.5, False, 0.01), (0.8, True, 0.1),
    (0.0, False, 0.05),
])
def test_sgd_matches_reference(dtype, momentum, nesterov, weight_decay):
    opt = fastnn.SGD(0.05, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    start, grads, end = run_steps(opt, dtype)
    expected = sgd_reference(start, grads, 0.05, momentum, nesterov, weight_decay)
    np.testing.assert_allclose(end, expected, rtol=RTOL[dtype], atol=RTOL[dtype])
    assert end.dtype == dtype
    assert opt.steps == len(grads)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("betas, eps, weight_decay", [
    ((0.9, 0.999), 1e-8, 0.0), ((0.5, 0.9), 1e-3, 0.0), ((0.9, 0.999), 1e-8, 0.01), ((0.0, 0.0), 1e-6, 0.0),
])
def test_adam_matches_reference(dtype, betas, eps, weight_decay):
    opt = fastnn.Adam(0.01, betas=betas, eps=eps, weight_decay=weight_decay)
    start, grads, end = run_steps(opt, dtype)
    expected = adam_reference(start, grads, 0.01, betas, eps, weight_decay)
    np.testing.assert_allclose(end, expected, rtol=RTOL[dtype] * 10, atol=RTOL[dtype] * 10)


def test_plain_sgd_optimizer_equals_network_step():
    net_a = fastnn.Network([2, 4, 1], dtype=np.float64, seed=3)
    net_b = fastnn.Network([2, 4, 1], dtype=np.float64, seed=3)
    X = np.array([[0, 0, 1, 1], [0, 1, 0, 1]], dtype=np.float64)
    Y = np.array([[0, 1, 1, 0]], dtype=np.float64)
    opt = fastnn.SGD(0.5)
    for _ in range(5):
        for net in (net_a, net_b):
            net.zero_grad()
            net.forward(X)
            net.backward(Y)
        net_a.step(0.5)
        opt.step(net_b)
    np.testing.assert_allclose(net_b.params, net_a.params, rtol=1e-14, atol=1e-14)


def test_state_is_per_network_and_reset():
    opt = fastnn.SGD(0.1, momentum=0.9)
    net1 = fastnn.Network([2, 3, 1], seed=0)
    net2 = fastnn.Network([2, 4, 1], seed=0)
    net1.grads[...] = 1
    net2.grads[...] = 1
    opt.step(net1)
    assert opt.steps == 1
    opt.step(net2)  # another network: fresh state sized for it
    assert opt.steps == 1 and opt.state.size == net2.n_params
    opt.reset()
    assert opt.steps == 0


def test_lr_can_be_changed_between_steps():
    opt = fastnn.SGD(0.1)
    opt.lr = 0.01
    assert opt.lr == 0.01
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1


@pytest.mark.parametrize("make, match", [
    (lambda: fastnn.SGD(0), "lr"),
    (lambda: fastnn.SGD(-0.1), "lr"),
    (lambda: fastnn.SGD(float("nan")), "lr"),
    (lambda: fastnn.SGD(0.1, momentum=1.0), "momentum"),
    (lambda: fastnn.SGD(0.1, momentum=-0.1), "momentum"),
    (lambda: fastnn.SGD(0.1, nesterov=True), "nesterov"),
    (lambda: fastnn.SGD(0.1, weight_decay=-1), "weight_decay"),
    (lambda: fastnn.Adam(betas=(0.9, 1.0)), r"betas\[1\]"),
    (lambda: fastnn.Adam(betas=(-0.1, 0.9)), r"betas\[0\]"),
    (lambda: fastnn.Adam(eps=0), "eps"),
    (lambda: fastnn.Adam(weight_decay=float("inf")), "weight_decay"),
])
def test_bad_hyperparameters_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("make, match", [
    (lambda: fastnn.SGD("0.1"), "lr"),
    (lambda: fastnn.SGD(0.1, nesterov=1), "nesterov"),
    (lambda: fastnn.Adam(betas=0.9), "betas"),
    (lambda: fastnn.SGD(0.1).step("net"), "net"),
])
def test_bad_types_are_named(make, match):
    with pytest.raises(TypeError, match=match):
        make()


def test_repr_and_config():
    assert repr(fastnn.SGD(0.1, momentum=0.9)) == "SGD(lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0)"
    assert fastnn.Adam().get_config()["betas"] == (0.9, 0.999)


def test_update_kernel_reports_non_finite_parameters():
    params = np.ones(4, dtype=np.float32)
    grads = np.array([0, 0, np.inf, 0], dtype=np.float32)
    hyper = np.zeros(kopt.N_HYPER)
    hyper[kopt.LR] = 0.1
    state = np.zeros(4, dtype=np.float32)
    assert not np.isfinite(kopt.optimizer_update(params, grads, kopt.SGD, hyper, state, 1, 1.0))
    params[...] = 1
    grads[...] = 1
    assert kopt.optimizer_update(params, grads, kopt.SGD, hyper, state, 1, 1.0) == 0.0
    np.testing.assert_allclose(params, 0.9)


@pytest.mark.parametrize("code, momentum", [(kopt.SGD, 0.0), (kopt.SGD, 0.9), (kopt.ADAM, 0.0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_update_check_does_not_overflow_on_huge_finite_weights(code, momentum, dtype):
    """Weights near the dtype's largest value are finite: the check must not add them up
    (a sum of 8 such float64 weights is inf, which read as divergence)."""
    big = np.finfo(dtype).max / 2
    params = np.full(8, big, dtype=dtype)
    grads = np.full(8, 1.0, dtype=dtype)
    hyper = np.zeros(kopt.N_HYPER)
    hyper[kopt.LR] = 0.001
    if code == kopt.SGD:
        hyper[kopt.SGD_MOMENTUM] = momentum
    else:
        hyper[kopt.ADAM_BETA1], hyper[kopt.ADAM_BETA2], hyper[kopt.ADAM_EPS] = 0.9, 0.999, 1e-8
    state = np.zeros(16 if code == kopt.ADAM else 8, dtype=dtype)
    assert kopt.optimizer_update(params, grads, code, hyper, state, 1, 1.0) == 0.0
    assert np.isfinite(params).all()


@pytest.mark.parametrize("make", [lambda: fastnn.SGD(0.01, momentum=0.5), lambda: fastnn.Adam(0.01)])
def test_optimizer_step_that_overflows_is_undone(make):
    """opt.step(net) whose update overflows float32 restores weights and state, and says so."""
    rng = np.random.default_rng(0)
    net = fastnn.Network([3, 4, 1], loss="mse", seed=0)
    X, Y = rng.standard_normal((3, 8)), rng.standard_normal((1, 8)) * 1e3
    opt = make()
    net.forward(X)
    net.backward(Y)
    opt.step(net)                                # a first, finite step (builds the state)
    net.params[...] = np.clip(net.params, -1, 1)
    before, state, steps = net.params.copy(), opt.state.copy(), opt.steps
    opt.lr = 1e39                                # lr * gradient overflows float32
    net.zero_grad()
    net.forward(X)
    net.backward(Y)
    with pytest.raises(fastnn.DivergenceError, match="NaN or infinite"):
        opt.step(net)
    np.testing.assert_array_equal(net.params, before)
    np.testing.assert_array_equal(opt.state, state)
    assert opt.steps == steps


def test_restore_best_weights_must_be_a_bool():
    X, y = fastnn.datasets.make_xor()
    with pytest.raises(TypeError, match="restore_best_weights must be True or False"):
        fastnn.Network([2, 3, 1]).fit(X, y, epochs=1, patience=2, restore_best_weights="yes", verbose=0)


@pytest.mark.parametrize("make", [lambda: fastnn.SGD(0.1, momentum=0.9), lambda: fastnn.Adam(0.01)])
def test_optimizer_pickles_with_its_network_and_goes_on_bitwise(make):
    """Pickled together (as inside an estimator), the network and its optimizer come back
    bound to each other: training goes on with the saved momentum/moments and step count."""
    import pickle

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 40))
    Y = (rng.random((1, 40)) < 0.5).astype(np.float64)
    net = fastnn.Network([3, 5, 1], dtype=np.float64, seed=0)
    opt = make()
    net.fit(X, Y, epochs=2, batch_size=8, optimizer=opt, verbose=0)
    net2, opt2 = pickle.loads(pickle.dumps((net, opt)))
    assert opt2.steps == opt.steps == 10 and opt2.state is not opt.state
    np.testing.assert_array_equal(opt2.state, opt.state)
    for n, o in ((net, opt), (net2, opt2)):
        n.fit(X, Y, epochs=1, batch_size=8, optimizer=o, verbose=0)
    assert opt2.steps == opt.steps == 15
    np.testing.assert_array_equal(net2.params, net.params)
    np.testing.assert_array_equal(opt2.state, opt.state)
    alone = pickle.loads(pickle.dumps(opt))  # without its network: fresh state on next use
    net3 = fastnn.Network([3, 5, 1], dtype=np.float64, seed=0)
    alone.bind(net3)
    assert alone.steps == 0 and not alone.state.any()
