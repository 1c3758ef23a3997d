"""Every backward path against finite differences in float64.

Two independent checks per case: ``fastnn.gradcheck`` (central differences of the
network's own loss), and here, central differences of the NumPy reference loss
(tests/reference.py) compared with what ``Network.backward`` accumulated. Also the
analytic reference backward, accumulation, and hypothesis properties.
"""

import numpy as np
import pytest
import reference as ref
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastnn

PAIRINGS = [("bce", "sigmoid"), ("cce", "softmax"), ("mse", "identity"), ("mse", "sigmoid"),
            ("mse", "tanh"), ("mse", "relu"), ("mse", "softmax")]
TOL = 1e-6
FD_STEP = 1e-4  # fourth-order stencil: truncation ~1e-16, rounding ~1e-12
KINK_MARGIN = 1e-2  # relu inputs at least this far from 0, far beyond 2 * FD_STEP * |x|


def layers_of(net):
    return [(layer.W, layer.b, layer.activation) for layer in net.layers]


def grads_of(net):
    return [(layer.dW.copy(), layer.db.copy()) for layer in net.layers]


def make_targets(rng, loss, n, m):
    if loss == "bce":
        return rng.uniform(0, 1, (n, m))
    if loss == "cce":
        return np.eye(n)[:, rng.integers(0, n, m)]
    return rng.standard_normal((n, m))


def relu_margin(net, X):
    """Smallest |Z| over the relu layers (inf when there are none)."""
    Zs, _ = ref.network_forward(layers_of(net), X)
    margins = [np.abs(Z).min() for Z, layer in zip(Zs, net.layers) if layer.activation == "relu"]
    return min(margins, default=np.inf)


def make_problem(sizes, hidden, loss, output, m, seed):
    """A well-scaled float64 problem: random nonzero biases, a few samples, relu inputs
    kept away from the kink (the first seed from ``seed`` on that satisfies it)."""
    for attempt in range(seed, seed + 100):
        rng = np.random.default_rng(attempt)
        net = fastnn.Network(sizes, loss=loss, activation=hidden, output_activation=output,
                             dtype=np.float64, seed=attempt)
        for layer in net.layers:
            layer.b[...] = rng.uniform(-0.5, 0.5, layer.b.shape)
        X = rng.standard_normal((sizes[0], m))
        Y = make_targets(rng, loss, sizes[-1], m)
        if relu_margin(net, X) > KINK_MARGIN:
            return net, X, Y
    raise AssertionError("no seed gave relu inputs away from 0")  # pragma: no cover


def check_backward(net, X, Y, loss):
    """Backward against the reference backward (analytic) and the reference's central
    differences (numeric); returns the numeric relative error."""
    net.zero_grad()
    net.forward(X)
    net.backward(Y)
    got = grads_of(net)
    layers = layers_of(net)
    analytic = ref.network_backward(layers, X, Y, loss)
    for (dW, db), (dW_ref, db_ref) in zip(got, analytic):
        np.testing.assert_allclose(dW, dW_ref, rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose(db, db_ref, rtol=1e-9, atol=1e-13)
    numeric = ref.numeric_gradients(layers, X, Y, loss, h=FD_STEP)
    flat = lambda pairs: [x for pair in pairs for x in pair]  # noqa: E731
    # The stencil's rounding is about eps |J| / h (3e-12 for J ~ 1): an element that small
    # cannot be checked relatively (when every gradient is tiny, 1e-3 of the largest is below
    # it), so elements under 10x rounding / TOL are compared absolutely. The analytic
    # reference above still checks them at 1e-13.
    rounding = np.finfo(np.float64).eps * max(abs(ref.network_loss(layers, X, Y, loss)), 1.0) / FD_STEP
    return ref.relative_error(flat(got), flat(numeric), atol=10 * rounding / TOL)


# ----------------------------------------------------------------------- every path


@pytest.mark.parametrize("loss,output", PAIRINGS)
@pytest.mark.parametrize("hidden", ref.ACTIVATIONS)
def test_every_hidden_activation_and_output_pairing(hidden, loss, output):
    net, X, Y = make_problem([3, 4, 3, 2], hidden, loss, output, m=5, seed=10)
    assert fastnn.gradcheck(net, X, Y) < TOL
    assert check_backward(net, X, Y, loss) < TOL


@pytest.mark.parametrize("loss,output", PAIRINGS)
def test_single_layer_network(loss, output):
    net, X, Y = make_problem([4, 3], "sigmoid", loss, output, m=3, seed=20)
    assert fastnn.gradcheck(net, X, Y) < TOL
    assert check_backward(net, X, Y, loss) < TOL


@pytest.mark.parametrize("sizes,m", [([1, 1], 1), ([1, 1, 1], 1), ([2, 1, 2], 1), ([5, 7, 1, 6, 3], 7)])
def test_awkward_shapes(sizes, m):
    net, X, Y = make_problem(sizes, "tanh", "bce", "sigmoid", m=m, seed=30)
    assert fastnn.gradcheck(net, X, Y) < TOL
    assert check_backward(net, X, Y, "bce") < TOL


def test_cce_with_soft_targets():
    net, X, _ = make_problem([3, 5, 4], "sigmoid", "cce", "softmax", m=6, seed=40)
    Y = np.random.default_rng(41).uniform(0, 1, (4, 6))  # columns do not sum to 1
    assert fastnn.gradcheck(net, X, Y) < TOL
    assert check_backward(net, X, Y, "cce") < TOL


# ----------------------------------------------------------------------- gradcheck itself


class BiasOffByOnePercent(fastnn.Network):
    """A deliberately wrong backward: the first layer's bias gradient is 1% too big."""

    def backward(self, Y):
        super().backward(Y)
        self.layers[0].db *= 1.01


class MissingDerivative(fastnn.Network):
    """A deliberately wrong backward: the last layer's weights miss a factor 1/2."""

    def backward(self, Y):
        super().backward(Y)
        self.layers[-1].dW *= 0.5


@pytest.mark.parametrize("cls", [BiasOffByOnePercent, MissingDerivative])
def test_gradcheck_detects_a_wrong_backward(cls):
    rng = np.random.default_rng(50)
    net = cls([3, 4, 2], loss="bce", activation="tanh", dtype=np.float64, seed=50)
    X, Y = rng.standard_normal((3, 5)), rng.uniform(0, 1, (2, 5))
    assert fastnn.gradcheck(net, X, Y) > 1e-3


def test_gradcheck_restores_parameters_and_gradients():
    net, X, Y = make_problem([3, 4, 2], "tanh", "bce", "sigmoid", m=4, seed=60)
    net.zero_grad()
    net.forward(X)
    net.backward(Y)
    net.backward(Y)  # pending accumulated gradient, 2x
    params = [(layer.W.copy(), layer.b.copy()) for layer in net.layers]
    grads = grads_of(net)
    assert fastnn.gradcheck(net, X, Y) < TOL
    for layer, (W, b), (dW, db) in zip(net.layers, params, grads):
        np.testing.assert_array_equal(layer.W, W)
        np.testing.assert_array_equal(layer.b, b)
        np.testing.assert_array_equal(layer.dW, dW)
        np.testing.assert_array_equal(layer.db, db)
    # Accumulation continues from the restored gradient.
    net.forward(X)
    net.backward(Y)
    for layer, (dW, _) in zip(net.layers, grads):
        np.testing.assert_allclose(layer.dW, 1.5 * dW, rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------- accumulation


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_twice_is_exactly_twice(dtype):
    rng = np.random.default_rng(70)
    net = fastnn.Network([4, 6, 5, 3], loss="cce", activation="relu", dtype=dtype, seed=70)
    X = rng.standard_normal((4, 9))
    Y = np.eye(3)[:, rng.integers(0, 3, 9)]
    net.zero_grad()
    net.forward(X)
    net.backward(Y)
    once = grads_of(net)
    net.backward(Y)
    for layer, (dW, db) in zip(net.layers, once):
        np.testing.assert_array_equal(layer.dW, 2 * dW)
        np.testing.assert_array_equal(layer.db, 2 * db)
    net.zero_grad()
    net.forward(X)
    net.backward(Y)
    for layer, (dW, db) in zip(net.layers, once):
        np.testing.assert_array_equal(layer.dW, dW)
        np.testing.assert_array_equal(layer.db, db)


def test_micro_batches_add_up_to_the_full_batch_gradient():
    net, X, Y = make_problem([3, 5, 2], "sigmoid", "bce", "sigmoid", m=8, seed=80)
    net.zero_grad()
    net.forward(X)
    net.backward(Y)
    full = grads_of(net)
    net.zero_grad()
    for part in (slice(0, 4), slice(4, 8)):  # two equal halves: mean of means = mean
        net.forward(X[:, part])
        net.backward(Y[:, part])
    for layer, (dW, db) in zip(net.layers, full):
        np.testing.assert_allclose(layer.dW, 2 * dW, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer.db, 2 * db, rtol=1e-12, atol=1e-15)


def test_step_keeps_gradients_until_zero_grad():
    net, X, Y = make_problem([3, 4, 2], "tanh", "mse", "identity", m=5, seed=90)
    net.zero_grad()
    net.forward(X)
    net.backward(Y)
    first = grads_of(net)
    net.step(0.1)
    for layer, (dW, db) in zip(net.layers, first):
        np.testing.assert_array_equal(layer.dW, dW)
        np.testing.assert_array_equal(layer.db, db)
    net.forward(X)
    net.backward(Y)
    second = ref.network_backward(layers_of(net), X, Y, "mse")
    for layer, (dW, db), (dW2, db2) in zip(net.layers, first, second):
        np.testing.assert_allclose(layer.dW, dW + dW2, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer.db, db + db2, rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------- properties

# deadline=None: the first example may compile kernels.
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw, dtype=np.float64):
    """A network (1-3 layers of 1-5 units), its inputs and targets, all drawn."""
    sizes = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
    m = draw(st.integers(1, 6))
    hidden = draw(st.sampled_from(ref.ACTIVATIONS))
    loss, output = draw(st.sampled_from(PAIRINGS))
    # softmax over one unit is refused (it always outputs 1)
    if output == "softmax":
        sizes[-1] = max(2, sizes[-1])
    if hidden == "softmax":
        sizes[1:-1] = [max(2, size) for size in sizes[1:-1]]
    seed = draw(st.integers(0, 2**16))
    values = st.floats(-3, 3, allow_nan=False, allow_subnormal=False, width=64)
    X = draw(hnp.arrays(np.float64, (sizes[0], m), elements=values))
    rng = np.random.default_rng(seed)
    Y = make_targets(rng, loss, sizes[-1], m)
    net = fastnn.Network(sizes, loss=loss, activation=hidden, output_activation=output,
                         dtype=dtype, seed=seed)
    for layer in net.layers:
        layer.b[...] = rng.uniform(-0.5, 0.5, layer.b.shape)
    return net, X, Y, loss


@PROPERTY
@given(problems())
def test_property_backward_matches_reference_float64(problem):
    net, X, Y, loss = problem
    if relu_margin(net, X) > KINK_MARGIN:
        assert check_backward(net, X, Y, loss) < TOL
    else:  # finite differences straddle a relu kink; the analytic check still runs
        net.zero_grad()
        net.forward(X)
        net.backward(Y)
        for layer, (dW, db) in zip(net.layers, ref.network_backward(layers_of(net), X, Y, loss)):
            np.testing.assert_allclose(layer.dW, dW, rtol=1e-9, atol=1e-13)
            np.testing.assert_allclose(layer.db, db, rtol=1e-9, atol=1e-13)


@PROPERTY
@given(problems(dtype=np.float32))
def test_property_backward_float32_close_to_float64_reference(problem):
    net, X, Y, loss = problem
    net.zero_grad()
    out = net.forward(X)
    net.backward(Y)
    assert out.dtype == np.float32
    # The reference runs in float64 on the float32 parameters and inputs.
    X32 = X.astype(np.float32)
    expected = ref.network_backward(layers_of(net), X32, Y.astype(np.float32), loss)
    for layer, (dW, db) in zip(net.layers, expected):
        assert layer.dW.dtype == layer.db.dtype == np.float32
        np.testing.assert_allclose(layer.dW, dW, rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(layer.db, db, rtol=1e-3, atol=1e-5)


@PROPERTY
@given(problems(), st.integers(2, 4))
def test_property_accumulation_is_linear(problem, times):
    net, X, Y, _ = problem
    net.zero_grad()
    net.forward(X)
    net.backward(Y)
    once = grads_of(net)
    for _ in range(times - 1):
        net.backward(Y)
    for layer, (dW, db) in zip(net.layers, once):
        np.testing.assert_allclose(layer.dW, times * dW, rtol=1e-14, atol=0)
        np.testing.assert_allclose(layer.db, times * db, rtol=1e-14, atol=0)
