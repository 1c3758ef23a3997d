"""The public API: Dense and Network construction, initialization, dtypes, and every
computation against the float64 reference (tests/reference.py)."""

import numpy as np
import pytest
import reference as ref
from helpers import tolerances

import fastnn

PAIRINGS = [("bce", "sigmoid"), ("cce", "softmax"), ("mse", "identity"), ("mse", "sigmoid"),
            ("mse", "tanh"), ("mse", "relu"), ("mse", "softmax")]


def layers_of(net):
    return [(layer.W, layer.b, layer.activation) for layer in net.layers]


def targets(rng, loss, n, m):
    if loss == "bce":
        return rng.uniform(0, 1, (n, m))
    if loss == "cce":
        return np.eye(n)[:, rng.integers(0, n, m)]
    return rng.standard_normal((n, m))


def frozen(array):
    """A read-only copy: any attempt to write into it raises."""
    array = np.array(array)
    array.setflags(write=False)
    return array


# ----------------------------------------------------------------------- construction


def test_construction_from_sizes():
    net = fastnn.Network([5, 4, 3, 2], loss="cce", activation="tanh")
    assert net.sizes == [5, 4, 3, 2]
    assert net.n_inputs == 5 and net.n_outputs == 2
    assert all(isinstance(layer, fastnn.Dense) for layer in net.layers)
    assert [(layer.n_in, layer.n_out) for layer in net.layers] == [(5, 4), (4, 3), (3, 2)]
    assert [layer.activation for layer in net.layers] == ["tanh", "tanh", "softmax"]
    for layer in net.layers:
        assert layer.W.shape == layer.dW.shape == (layer.n_out, layer.n_in)
        assert layer.b.shape == layer.db.shape == (layer.n_out, 1)
        np.testing.assert_array_equal(layer.b, 0)
    assert net.n_params == 5 * 4 + 4 + 4 * 3 + 3 + 3 * 2 + 2
    assert net.dtype == np.float32 and net.loss_name == "cce"


@pytest.mark.parametrize("loss,output", [("bce", "sigmoid"), ("cce", "softmax"), ("mse", "identity")])
def test_default_output_activation_follows_the_loss(loss, output):
    assert fastnn.Network([2, 3, 2], loss=loss).layers[-1].activation == output


def test_output_activation_and_aliases():
    net = fastnn.Network([2, 3, 3, 1], loss="mean_squared_error", activation="logistic",
                         output_activation="linear")
    assert [layer.activation for layer in net.layers] == ["sigmoid", "sigmoid", "identity"]
    assert net.loss_name == "mse"
    assert fastnn.Network([2, 1], loss="binary_crossentropy").loss_name == "bce"
    assert fastnn.Network([2, 2], loss="categorical_crossentropy").loss_name == "cce"


def test_construction_from_dense_layers_keeps_their_values():
    first = fastnn.Dense(3, 4, activation="relu", dtype=np.float64, seed=1)
    second = fastnn.Dense(4, 2, activation="sigmoid", dtype=np.float64, seed=2)
    first.b[...] = 0.25
    W1, b1, W2 = first.W.copy(), first.b.copy(), second.W.copy()
    original_W1 = first.W
    net = fastnn.Network([first, second])
    assert net.layers == [first, second]
    assert net.dtype == np.float64 and net.sizes == [3, 4, 2]
    np.testing.assert_array_equal(first.W, W1)
    np.testing.assert_array_equal(first.b, b1)
    np.testing.assert_array_equal(second.W, W2)
    # The layers now hold views into the network's buffers: a step moves them...
    X, Y = np.random.default_rng(3).standard_normal((3, 5)), np.ones((2, 5))
    net.forward(X)
    net.backward(Y)
    net.step(0.1)
    np.testing.assert_allclose(first.W, W1 - 0.1 * first.dW, rtol=1e-12)
    assert not np.array_equal(first.W, W1)
    # ...and the array the caller held before is left alone.
    np.testing.assert_array_equal(original_W1, W1)


def test_construction_from_dense_layers_with_a_dtype_converts_them():
    layers = [fastnn.Dense(2, 3, dtype=np.float64, seed=0), fastnn.Dense(3, 1, dtype=np.float64, seed=1)]
    W = layers[0].W.copy()
    net = fastnn.Network(layers, dtype=np.float32)
    assert net.dtype == np.float32
    assert all(layer.W.dtype == layer.dW.dtype == np.float32 for layer in net.layers)
    np.testing.assert_array_equal(net.layers[0].W, W.astype(np.float32))


def test_dense_standalone():
    layer = fastnn.Dense(3, 2, activation="tanh", dtype=np.float64, seed=0)
    assert layer.W.shape == (2, 3) and layer.b.shape == (2, 1)
    assert layer.W.dtype == layer.b.dtype == layer.dW.dtype == layer.db.dtype == np.float64
    np.testing.assert_array_equal(layer.dW, 0)
    np.testing.assert_array_equal(layer.db, 0)
    assert layer.n_params == 8
    assert fastnn.Dense(3, 2).W.dtype == np.float32
    assert "tanh" in repr(layer) and "float64" in repr(layer)


# ----------------------------------------------------------------------- initialization


def test_seeded_initialization_is_bitwise_reproducible():
    a = fastnn.Network([7, 5, 3], seed=123)
    b = fastnn.Network([7, 5, 3], seed=123)
    c = fastnn.Network([7, 5, 3], seed=124)
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.W, lb.W)
        np.testing.assert_array_equal(la.b, lb.b)
    assert not np.array_equal(a.layers[0].W, c.layers[0].W)
    # The layers of one network are not copies of each other.
    assert not np.array_equal(a.layers[0].W[:3, :3], a.layers[1].W[:3, :3])
    np.testing.assert_array_equal(fastnn.Dense(4, 3, seed=9).W, fastnn.Dense(4, 3, seed=9).W)
    assert not np.array_equal(fastnn.Dense(4, 3, seed=None).W, fastnn.Dense(4, 3, seed=None).W)


def test_float32_and_float64_initializations_agree_up_to_rounding():
    w32 = fastnn.Network([6, 4, 2], dtype=np.float32, seed=5).layers[0].W
    w64 = fastnn.Network([6, 4, 2], dtype=np.float64, seed=5).layers[0].W
    np.testing.assert_array_equal(w32, w64.astype(np.float32))


@pytest.mark.parametrize("activation,bound", [
    ("sigmoid", np.sqrt(6 / (400 + 300))),  # Glorot/Xavier
    ("tanh", np.sqrt(6 / (400 + 300))),
    ("relu", np.sqrt(6 / 400)),  # He
])
def test_initialization_bounds(activation, bound):
    net = fastnn.Network([400, 300, 10], activation=activation, dtype=np.float64, seed=0)
    W = net.layers[0].W
    assert np.abs(W).max() <= bound
    assert np.abs(W).max() > 0.999 * bound  # the bound is reached, not a smaller one
    assert abs(W.mean()) < 0.01 * bound
    assert W.std() == pytest.approx(bound / np.sqrt(3), rel=0.01)  # uniform on [-bound, bound]
    output = net.layers[1].W  # sigmoid output: Glorot
    assert np.abs(output).max() <= np.sqrt(6 / 310) < 1.01 * np.abs(output).max()


# ----------------------------------------------------------------------- computations


@pytest.mark.parametrize("loss,output", PAIRINGS)
def test_forward_predict_loss_match_reference(loss, output, dtype):
    rng = np.random.default_rng(10)
    net = fastnn.Network([4, 6, 5, 3], loss=loss, activation="tanh", output_activation=output,
                         dtype=dtype, seed=10)
    for layer in net.layers:
        layer.b[...] = rng.uniform(-0.5, 0.5, layer.b.shape)
    X = rng.standard_normal((4, 11))
    Y = targets(rng, loss, 3, 11)
    tol = tolerances(dtype)
    # The reference sees what the network sees: parameters and inputs in its dtype.
    expected = ref.network_forward(layers_of(net), X.astype(dtype))[1][-1]
    out = net.forward(X)
    assert out.dtype == dtype and out.shape == (3, 11)
    np.testing.assert_allclose(out, expected, **tol)
    predicted = net.predict(X)
    assert predicted.dtype == dtype
    np.testing.assert_allclose(predicted, expected, **tol)
    J = net.loss(X, Y)
    assert type(J) is float
    J_ref = ref.network_loss(layers_of(net), X.astype(dtype), Y.astype(dtype), loss)
    assert J == pytest.approx(J_ref, rel=10 * tol["rtol"])


def test_bce_loss_is_scikit_learn_log_loss():
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(11)
    net = fastnn.Network([3, 4, 1], dtype=np.float64, seed=11)
    X = rng.standard_normal((3, 20))
    Y = rng.integers(0, 2, (1, 20))
    p = net.predict(X).ravel()
    assert net.loss(X, Y) == pytest.approx(log_loss(Y.ravel(), p, labels=[0, 1]), rel=1e-12)


@pytest.mark.parametrize("m", [4096, 4097, 2 * 4096 + 3])
def test_predict_in_chunks_equals_one_shot(m, dtype):
    rng = np.random.default_rng(m)
    net = fastnn.Network([5, 7, 3], loss="cce", activation="relu", dtype=dtype, seed=12)
    X = rng.standard_normal((5, m)).astype(dtype)
    one_shot = net.forward(X)
    chunked = net.predict(X)
    assert chunked.shape == (3, m) and chunked.dtype == dtype
    np.testing.assert_allclose(chunked, one_shot, rtol=4 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_allclose(chunked, ref.network_forward(layers_of(net), X)[1][-1], **tolerances(dtype))


def test_forward_returns_a_new_array():
    net = fastnn.Network([2, 3, 1], seed=0)
    X = np.ones((2, 4))
    out = net.forward(X)
    out[...] = 7
    np.testing.assert_array_equal(net.forward(X), net.predict(X))
    assert not np.array_equal(net.forward(X), out)


def test_batch_size_can_change_between_calls():
    rng = np.random.default_rng(13)
    net = fastnn.Network([3, 5, 2], activation="sigmoid", dtype=np.float64, seed=13)
    for m in (10, 3, 1, 17, 4):  # smaller batches reuse the cached work space
        X, Y = rng.standard_normal((3, m)), rng.uniform(0, 1, (2, m))
        net.zero_grad()
        out = net.forward(X)
        net.backward(Y)
        np.testing.assert_allclose(out, ref.network_forward(layers_of(net), X)[1][-1], rtol=1e-12)
        for layer, (dW, db) in zip(net.layers, ref.network_backward(layers_of(net), X, Y, "bce")):
            np.testing.assert_allclose(layer.dW, dW, rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(layer.db, db, rtol=1e-10, atol=1e-14)


def test_loss_and_predict_do_not_disturb_a_pending_backward():
    rng = np.random.default_rng(14)
    X, Y = rng.standard_normal((3, 6)), rng.uniform(0, 1, (2, 6))
    X2, Y2 = rng.standard_normal((3, 9)), rng.uniform(0, 1, (2, 9))
    plain = fastnn.Network([3, 4, 2], dtype=np.float64, seed=14)
    busy = fastnn.Network([3, 4, 2], dtype=np.float64, seed=14)
    plain.forward(X)
    plain.backward(Y)
    busy.forward(X)
    busy.loss(X2, Y2)
    busy.predict(X2)
    busy.backward(Y)
    for a, b in zip(plain.layers, busy.layers):
        np.testing.assert_array_equal(a.dW, b.dW)
        np.testing.assert_array_equal(a.db, b.db)


@pytest.mark.parametrize("loss", ["bce", "cce", "mse"])
def test_train_step_equals_zero_grad_forward_backward_step(loss, dtype):
    rng = np.random.default_rng(15)
    manual = fastnn.Network([4, 6, 3], loss=loss, activation="relu", dtype=dtype, seed=15)
    fused = fastnn.Network([4, 6, 3], loss=loss, activation="relu", dtype=dtype, seed=15)
    # A stale accumulated gradient that train_step must not add to.
    X0, Y0 = rng.standard_normal((4, 2)), targets(rng, loss, 3, 2)
    fused.forward(X0)
    fused.backward(Y0)
    for m in (5, 5, 1, 8):
        X, Y = rng.standard_normal((4, m)), targets(rng, loss, 3, m)
        manual.zero_grad()
        manual.forward(X)
        expected_loss = manual.loss(X, Y)  # the batch loss before the update
        manual.backward(Y)
        manual.step(0.3)
        batch_loss = fused.train_step(X, Y, 0.3)
        assert type(batch_loss) is float and batch_loss == expected_loss
        for a, b in zip(manual.layers, fused.layers):
            np.testing.assert_array_equal(a.W, b.W)
            np.testing.assert_array_equal(a.b, b.b)
            np.testing.assert_array_equal(a.dW, b.dW)
            np.testing.assert_array_equal(a.db, b.db)


def test_step_is_gradient_descent():
    rng = np.random.default_rng(16)
    net = fastnn.Network([3, 4, 2], dtype=np.float64, seed=16)
    X, Y = rng.standard_normal((3, 5)), rng.uniform(0, 1, (2, 5))
    net.forward(X)
    net.backward(Y)
    before = [(layer.W.copy(), layer.b.copy(), layer.dW.copy(), layer.db.copy()) for layer in net.layers]
    net.step(0.7)
    # Bitwise: the JIT policy has no 'contract' flag, so W - lr*dW rounds as NumPy does.
    for layer, (W, b, dW, db) in zip(net.layers, before):
        np.testing.assert_array_equal(layer.W, ref.sgd_update(W, dW, 0.7))
        np.testing.assert_array_equal(layer.b, ref.sgd_update(b, db, 0.7))


@pytest.mark.parametrize("method", ["train_step", "step"])
def test_an_overflowing_update_is_refused_and_the_weights_kept(method):
    net = fastnn.Network([2, 3, 1], loss="mse", dtype=np.float32, seed=4)
    X = np.full((2, 5), 1e18, dtype=np.float32)
    Y = np.full((1, 5), -1e18, dtype=np.float32)
    before = net.params.copy()
    with pytest.raises(fastnn.DivergenceError, match="keeps its weights from before the update"):
        if method == "train_step":
            net.train_step(X, Y, 1e30)
        else:
            net.forward(X)
            net.backward(Y)
            net.step(1e30)
    np.testing.assert_array_equal(net.params, before)
    for layer in net.layers:  # the layers still view the flat buffer
        assert np.shares_memory(layer.W, net.params)


@pytest.mark.parametrize("scale", [1000.0, 1e4])
@pytest.mark.parametrize("loss,output", PAIRINGS)
def test_saturated_network_stays_finite_without_warnings(loss, output, scale, dtype):
    """Pre-activations of +-1000 and +-1e4 (pytest turns RuntimeWarning into errors)."""
    net = fastnn.Network([2, 3, 3], loss=loss, activation="sigmoid", output_activation=output,
                         dtype=dtype, seed=19)
    for layer in net.layers:
        layer.W[...] = np.sign(layer.W)
    X = np.array([[scale, -scale, 0.5], [-scale, scale, 0.5]])
    Y = np.eye(3)[:, [0, 2, 1]]
    net.layers[-1].W[...] = scale * np.array([[1, -1, 0], [-1, 1, 0], [0, 0, 1]])
    Zs, As = ref.network_forward(layers_of(net), X)
    assert np.abs(Zs[-1]).max() >= scale / 2  # the output really is saturated
    out = net.forward(X)
    net.backward(Y)
    J = net.loss(X, Y)
    assert np.isfinite(out).all() and np.isfinite(J)
    for layer in net.layers:
        assert np.isfinite(layer.dW).all() and np.isfinite(layer.db).all()
    J_ref = ref.network_loss(layers_of(net), X.astype(dtype), Y, loss)
    assert J == pytest.approx(J_ref, rel=1e-5)
    np.testing.assert_allclose(out, ref.network_forward(layers_of(net), X.astype(dtype))[1][-1],
                               rtol=1e-5, atol=1e-30)


# ----------------------------------------------------------------------- inputs


def test_callers_arrays_are_never_modified(dtype):
    rng = np.random.default_rng(17)
    X = frozen(rng.standard_normal((3, 6)).astype(dtype))  # already the network's dtype: no copy
    Y = frozen(rng.uniform(0, 1, (2, 6)).astype(dtype))
    X_copy, Y_copy = X.copy(), Y.copy()
    net = fastnn.Network([3, 4, 2], dtype=dtype, seed=17)
    net.forward(X)
    net.backward(Y)
    net.step(0.1)
    net.loss(X, Y)
    net.predict(X)
    net.train_step(X, Y, 0.1)
    if dtype == np.float64:
        fastnn.gradcheck(net, X, Y)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(Y, Y_copy)


def layouts(X):
    """The same data in other layouts and dtypes, each with the values it represents."""
    wide = np.zeros((X.shape[0], 2 * X.shape[1]))
    wide[:, ::2] = X
    return {
        "fortran": np.asfortranarray(X),
        "strided": wide[:, ::2],
        "reversed": X[:, ::-1].copy()[:, ::-1],
        "transposed view": np.ascontiguousarray(X.T).T,
        "float16": X.astype(np.float16),
        "int": np.rint(X * 3).astype(np.int64),
        "uint8": np.abs(np.rint(X * 3)).astype(np.uint8),
        "bool": X > 0,
        "list": X.tolist(),
    }


@pytest.mark.parametrize("kind", list(layouts(np.zeros((1, 1)))))
def test_any_layout_or_real_dtype_is_converted_not_rejected(kind, dtype):
    rng = np.random.default_rng(18)
    X = rng.standard_normal((3, 7))
    given = layouts(X)[kind]
    values = np.asarray(given, dtype=np.float64)  # what the array stands for
    Y_given = layouts(rng.uniform(0, 1, (2, 7)))[kind]
    if kind in ("int", "uint8"):
        Y_given = (np.asarray(Y_given) > 0).astype(np.int64)  # bce targets in [0, 1]
    Y_values = np.asarray(Y_given, dtype=np.float64)
    net = fastnn.Network([3, 4, 2], dtype=dtype, seed=18)
    twin = fastnn.Network([3, 4, 2], dtype=dtype, seed=18)
    expected = twin.forward(values.astype(dtype))
    np.testing.assert_array_equal(net.forward(given), expected)
    np.testing.assert_array_equal(net.predict(given), expected)
    assert net.loss(given, Y_given) == twin.loss(values.astype(dtype), Y_values.astype(dtype))
    net.backward(Y_given)
    twin.backward(Y_values.astype(dtype))
    net.train_step(given, Y_given, 0.1)
    twin.train_step(values.astype(dtype), Y_values.astype(dtype), 0.1)
    for a, b in zip(net.layers, twin.layers):
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.dW, b.dW)


# ----------------------------------------------------------------------- learning


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_xor_learned_by_step(dtype):
    X = np.array([[0, 0, 1, 1], [0, 1, 0, 1]], dtype=dtype)
    Y = np.array([[0, 1, 1, 0]], dtype=dtype)
    net = fastnn.Network([2, 8, 1], activation="sigmoid", dtype=dtype, seed=0)
    start = net.loss(X, Y)
    for _ in range(3000):
        net.forward(X)
        net.zero_grad()
        net.backward(Y)
        net.step(2.0)
    assert start > 0.5
    assert net.loss(X, Y) < 0.05
    np.testing.assert_array_equal(net.predict(X) > 0.5, Y > 0.5)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copied_network_keeps_layers_bound_to_its_buffers(how):
    import copy
    import pickle

    rng = np.random.default_rng(5)
    net = fastnn.Network([3, 4, 2], dtype=np.float64, seed=5)
    X, Y = rng.standard_normal((3, 6)), rng.uniform(0, 1, (2, 6))
    net.train_step(X, Y, 0.1)
    twin = copy.deepcopy(net) if how == "deepcopy" else pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(twin.predict(X), net.predict(X))
    net.train_step(X, Y, 0.1)
    twin.train_step(X, Y, 0.1)
    for a, b in zip(net.layers, twin.layers):
        np.testing.assert_array_equal(a.W, b.W)   # the layer views follow the update
        np.testing.assert_array_equal(a.dW, b.dW)
        assert not np.shares_memory(a.W, b.W)
    twin.layers[0].W[0, 0] += 1.0                  # writing a layer changes the twin only
    assert not np.array_equal(twin.predict(X), net.predict(X))


def test_changing_X_between_forward_and_backward_does_not_change_the_gradient():
    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((3, 5)), rng.uniform(0, 1, (2, 5))
    nets = [fastnn.Network([3, 4, 2], dtype=np.float64, seed=8) for _ in range(2)]
    mine = X.copy()
    nets[0].forward(mine)
    mine[...] = 0.0                              # the caller reuses their buffer
    nets[0].backward(Y)
    nets[1].forward(X)
    nets[1].backward(Y)
    for a, b in zip(*(net.layers for net in nets)):
        np.testing.assert_array_equal(a.dW, b.dW)


def test_from_params_is_the_network_with_those_parameters(dtype):
    net = fastnn.Network([4, 6, 3], loss="cce", dtype=dtype, seed=1, activation="tanh")
    X = np.random.default_rng(0).standard_normal((4, 9)).astype(dtype)
    config = net.config()
    built = fastnn.Network.from_params(config["sizes"], config["activations"], net.params,
                                       loss=config["loss"])
    assert built.config() == config and built.params is not net.params
    np.testing.assert_array_equal(built.params, net.params)
    np.testing.assert_array_equal(built.predict(X), net.predict(X))
    assert all(np.shares_memory(layer.W, built.params) for layer in built.layers)
    with pytest.raises(ValueError, match="params must have shape"):
        fastnn.Network.from_params([4, 6, 3], ["tanh", "softmax"], net.params[:-1], loss="cce")
    with pytest.raises(ValueError, match="one name per layer"):
        fastnn.Network.from_params([4, 6, 3], ["tanh"], net.params, loss="cce")


def test_construction_holds_the_weights_twice_at_most():
    """A new Network's peak memory is its flat parameters and gradients: the layers' own
    first copies of W (and their unused zero dW) are freed as they are copied in."""
    import tracemalloc

    tracemalloc.start()
    try:
        net = fastnn.Network([20_000, 50, 3], loss="cce", dtype=np.float64, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2.2 * net.params.nbytes
    assert all(layer.W.base is not None and layer.dW.base is not None for layer in net.layers)
