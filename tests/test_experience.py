"""The Keras and PyTorch habits: summary(), net(X), predict_proba, train_step's loss,
get_weights/set_weights and state_dict/load_state_dict."""

import doctest

import numpy as np
import pytest
import reference as ref

import fastnn
from fastnn import network as network_module


def _data(n_in, m, seed=0):
    return np.random.default_rng(seed).standard_normal((n_in, m))


def test_summary_lists_layers_shapes_activations_params_and_dtype(dtype):
    net = fastnn.Network([64, 32, 16, 10], loss="cce", activation="relu", dtype=dtype)
    printed = []
    text = net.summary(print_fn=printed.append)
    assert printed == [text]
    lines = text.splitlines()
    assert np.dtype(dtype).name in lines[0] and "'cce'" in lines[0]
    rows = [line.split() for line in lines if line.startswith("dense_")]
    assert rows == [["dense_1", "(32,", "64)", "(32,", "m)", "relu", "2,080"],
                    ["dense_2", "(16,", "32)", "(16,", "m)", "relu", "528"],
                    ["dense_3", "(10,", "16)", "(10,", "m)", "softmax", "170"]]
    assert lines[-1] == f"Total params: {net.n_params:,} ({net.n_params * np.dtype(dtype).itemsize / 1024:.1f} KB)"
    assert net.n_params == 2080 + 528 + 170
    assert max(len(line) for line in lines) <= 80


def test_summary_prints_by_default_and_checks_print_fn(capsys):
    net = fastnn.Network([2, 3, 1])
    assert net.summary() == capsys.readouterr().out.rstrip("\n")
    with pytest.raises(TypeError, match="print_fn must be callable"):
        net.summary(print_fn="stdout")


def test_summary_docstring_example_runs():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(network_module.Network.summary, "summary", globs={"fastnn": fastnn}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


def test_call_is_predict_and_predict_proba_gives_probabilities(dtype):
    X = _data(5, 7)
    softmax = fastnn.Network([5, 6, 4], loss="cce", dtype=dtype, seed=1)
    out = softmax(X)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, softmax.predict(X))
    proba = softmax.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=0), 1.0, rtol=1e-6)
    expected = ref.network_forward([(layer.W, layer.b, layer.activation) for layer in softmax.layers], X)[1][-1]
    np.testing.assert_allclose(proba, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
    sigmoid = fastnn.Network([5, 6, 1], loss="bce", dtype=dtype)
    p = sigmoid.predict_proba(X)
    assert p.shape == (1, 7) and np.all((p > 0) & (p < 1))


def test_predict_proba_refuses_outputs_that_are_not_probabilities():
    net = fastnn.Network([5, 6, 2], loss="mse")
    with pytest.raises(ValueError, match="needs probability outputs.*'identity'.*use predict"):
        net.predict_proba(_data(5, 3))


def test_train_step_returns_the_batch_loss_before_the_update(dtype):
    rng = np.random.default_rng(3)
    X, labels = rng.standard_normal((4, 9)), rng.integers(0, 3, 9)
    net = fastnn.Network([4, 5, 3], loss="cce", dtype=dtype)
    losses = []
    for _ in range(30):
        before = net.loss(X, fastnn.datasets.one_hot(labels, 3))
        losses.append(net.train_step(X, labels, 0.5))
        assert losses[-1] == before
    assert losses[-1] < losses[0]


def test_get_set_weights_round_trip_and_keep_dtype(dtype):
    a = fastnn.Network([3, 4, 2], loss="cce", dtype=dtype, seed=0)
    b = fastnn.Network([3, 4, 2], loss="cce", dtype=dtype, seed=1)
    weights = a.get_weights()
    assert [w.shape for w in weights] == [(4, 3), (4, 1), (2, 4), (2, 1)]
    assert all(w.dtype == dtype for w in weights)
    weights[0][0, 0] += 1.0  # copies: the network is not changed
    assert a.layers[0].W[0, 0] != weights[0][0, 0]
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(b.params, a.params)
    X = _data(3, 5)
    np.testing.assert_array_equal(b(X), a(X))
    # float64 lists into a float32 network (and 1-D biases) are converted
    b.set_weights([np.asarray(w, dtype=np.float64).reshape(-1) if w.shape[1] == 1 else w
                   for w in a.get_weights()])
    assert b.params.dtype == dtype
    np.testing.assert_array_equal(b.params, a.params)


def test_set_weights_refuses_bad_lists_and_changes_nothing():
    net = fastnn.Network([3, 4, 2], loss="cce")
    before = net.params.copy()
    good = net.get_weights()
    with pytest.raises(ValueError, match=r"must hold 4 arrays .* got 3"):
        net.set_weights(good[:3])
    with pytest.raises(ValueError, match=r"weights\[2\] \(W_2\) must have shape \(2, 4\).*got \(4, 2\).*\.T"):
        net.set_weights([good[0], good[1], good[2].T, good[3]])
    bad = [w.copy() for w in good]
    bad[3][1, 0] = np.nan
    with pytest.raises(ValueError, match=r"weights\[3\] \(b_2\) contains NaN"):
        net.set_weights(bad)
    with pytest.raises(TypeError, match="weights must be a list"):
        net.set_weights(net.state_dict())
    np.testing.assert_array_equal(net.params, before)


def test_state_dict_round_trip_and_key_checks(dtype):
    a = fastnn.Network([3, 4, 2], loss="bce", dtype=dtype, seed=0)
    b = fastnn.Network([3, 4, 2], loss="bce", dtype=dtype, seed=5)
    state = a.state_dict()
    assert list(state) == ["layers.0.W", "layers.0.b", "layers.1.W", "layers.1.b"]
    b.load_state_dict(state)
    np.testing.assert_array_equal(b.params, a.params)
    del state["layers.1.b"]
    state["layers.2.W"] = np.zeros((1, 1))
    with pytest.raises(ValueError, match=r"missing keys \['layers.1.b'\], unexpected keys \['layers.2.W'\]"):
        b.load_state_dict(state)
    with pytest.raises(TypeError, match="state_dict must be a dict"):
        b.load_state_dict(a.get_weights())
