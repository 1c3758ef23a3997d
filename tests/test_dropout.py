"""Dropout: inverted dropout inside the fused kernels, masks keyed by (seed, step, layer,
element); exact gradients with a fixed mask, the expected fraction of zeros, predict
unaffected, bitwise reproducible training (also across a checkpoint)."""

import numpy as np
import pytest
import reference as ref

import fastnn
from fastnn.kernels.dropout import dropout_mask


@pytest.fixture(scope="module")
def moons():
    return fastnn.datasets.make_moons(120, noise=0.2, seed=2)


def _reference_forward(net, X, seed, step):
    """The float64 forward pass with each hidden output multiplied by its mask."""
    A = ref.f64(X)
    for l, layer in enumerate(net.layers):
        _, A = ref.dense_forward(layer.W, layer.b, A, layer.activation)
        if layer.dropout:
            A = A * dropout_mask(layer.n_out, X.shape[1], layer.dropout, seed, step, l)
    return A


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "identity"])
def test_gradients_with_a_fixed_mask_match_finite_differences(activation):
    rng = np.random.default_rng(4)
    net = fastnn.Network([5, 7, 6, 3], loss="cce", activation=activation, dtype=np.float64, seed=1,
                         dropout=[0.3, 0.5])
    X, labels = rng.standard_normal((5, 11)), rng.integers(0, 3, 11)
    Y = fastnn.datasets.one_hot(labels, 3, np.float64)
    assert fastnn.gradcheck(net, X, Y, training=True, mask_seed=9, step=4) < 1e-6
    # ... and the masks matter: the gradient without them is another one
    net.zero_grad()
    net.forward(X, training=True, seed=9, step=4)
    net.backward(Y)
    dropped = net.grads.copy()
    net.zero_grad()
    net.forward(X)
    net.backward(Y)
    assert not np.allclose(dropped, net.grads)


def test_training_forward_matches_the_reference_with_the_same_masks(dtype):
    rng = np.random.default_rng(5)
    net = fastnn.Network([6, 9, 8, 2], loss="bce", activation="tanh", dtype=dtype, dropout=0.4)
    X = rng.standard_normal((6, 13))
    out = net.forward(X, training=True, seed=3, step=7)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, _reference_forward(net, X, 3, 7),
                               rtol=2e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
    np.testing.assert_array_equal(net.forward(X, training=True, seed=3, step=7), out)  # same key
    assert not np.array_equal(net.forward(X, training=True, seed=3, step=8), out)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_masks_zero_the_expected_fraction_and_scale_the_rest(rate):
    n, m = 64, 500
    masks = np.stack([dropout_mask(n, m, rate, seed, step, layer)
                      for seed, step, layer in [(0, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 0)]])
    zeros = np.mean(masks == 0, axis=(1, 2))
    sigma = np.sqrt(rate * (1 - rate) / (n * m))
    assert np.all(np.abs(zeros - rate) < 5 * sigma), zeros
    assert set(np.unique(masks)) == {0.0, 1.0 / (1.0 - rate)}
    # the keys give different masks, and inverted dropout keeps the mean
    assert len({mask.tobytes() for mask in masks}) == 4
    assert abs(masks.mean() - 1.0) < 10 * sigma / (1 - rate)


def test_predict_evaluate_and_loss_are_unaffected(moons, dtype):
    X, y = moons
    net = fastnn.Network([2, 16, 16, 1], activation="relu", dtype=dtype, dropout=0.5, seed=0)
    net.fit(X, y, epochs=5, verbose=0)
    plain = fastnn.Network.from_params(net.sizes, [layer.activation for layer in net.layers], net.params,
                                       loss="bce")
    np.testing.assert_array_equal(net.predict(X), plain.predict(X))
    np.testing.assert_array_equal(net.forward(X), plain.predict(X))
    assert net.evaluate(X, y) == plain.evaluate(X, y)
    assert net.loss(X, y.reshape(1, -1)) == plain.loss(X, y.reshape(1, -1))
    assert net.loss(X, y.reshape(1, -1), training=True) != plain.loss(X, y.reshape(1, -1))


def test_training_is_bitwise_reproducible_and_keyed_by_the_seed(moons):
    X, y = moons

    def train(seed):
        net = fastnn.Network([2, 12, 1], activation="tanh", dropout=0.3, seed=0)
        history = net.fit(X, y, epochs=4, batch_size=16, optimizer=fastnn.Adam(0.01), seed=seed, verbose=0,
                          accumulate=2)
        return net.params.copy(), history.history["loss"]

    a, b, c = train(1), train(1), train(2)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    assert not np.array_equal(a[0], c[0])


def test_fit_uses_the_masks_of_forward_training_per_step(moons):
    """One epoch of one full batch: the update is SGD on the gradient of the masks of
    (seed, step 0), as forward(training=True) + backward + step give it."""
    X, y = moons
    fitted = fastnn.Network([2, 8, 1], dropout=0.5, seed=3, dtype=np.float64)
    fitted.fit(X, y, epochs=1, batch_size=X.shape[1], optimizer=fastnn.SGD(0.5), seed=11, shuffle=False,
               verbose=0)
    for seed, same in ((11, True), (12, False)):
        manual = fastnn.Network([2, 8, 1], dropout=0.5, seed=3, dtype=np.float64)
        manual.forward(X, training=True, seed=seed, step=0)
        manual.backward(y.reshape(1, -1))
        manual.step(0.5)
        # (fit hands BLAS the batch transposed: the last bits may differ, a mask would not)
        assert np.allclose(fitted.params, manual.params, rtol=1e-12, atol=1e-15) is same


def test_train_step_applies_dropout_with_its_own_step_count(moons):
    X, y = moons
    Y = y.reshape(1, -1)
    a = fastnn.Network([2, 8, 1], dropout=0.5, seed=3)
    b = fastnn.Network([2, 8, 1], dropout=0.5, seed=3)
    for step in range(3):
        loss = a.train_step(X, Y, 0.5)
        b.zero_grad()
        assert loss == b.loss(X, Y, training=True, step=step)
        b.forward(X, training=True, step=step)
        b.backward(Y)
        b.step(0.5)
    np.testing.assert_array_equal(a.params, b.params)


def test_resuming_a_dropout_fit_from_a_checkpoint_is_bitwise(tmp_path, moons):
    X, y = moons
    whole = fastnn.Network([2, 10, 1], dropout=0.25, seed=0)
    checkpoint = fastnn.ModelCheckpoint(tmp_path / "d-{epoch}.npz", every=2)
    whole.fit(X, y, epochs=4, batch_size=32, optimizer=fastnn.SGD(0.3, momentum=0.9), seed=5, verbose=0,
              callbacks=[checkpoint])
    resumed = fastnn.load(tmp_path / "d-2.npz")
    np.testing.assert_array_equal(resumed.dropout_rates, whole.dropout_rates)
    resumed.fit(X, y, epochs=4, initial_epoch=2, batch_size=32, optimizer=resumed.optimizer, seed=5,
                verbose=0)
    np.testing.assert_array_equal(resumed.params, whole.params)


def test_dense_dropout_summary_and_refusals():
    net = fastnn.Network([fastnn.Dense(4, 8, "relu", dropout=0.2), fastnn.Dense(8, 1)])
    assert net.dropout_rates.tolist() == [0.2, 0.0]
    assert "relu, dropout 0.2" in net.summary(print_fn=None)
    assert "dropout=0.2" in repr(net.layers[0])
    with pytest.raises(ValueError, match="the output layer has dropout=0.5; dropout applies to hidden"):
        fastnn.Network([fastnn.Dense(4, 8), fastnn.Dense(8, 1, dropout=0.5)])
    with pytest.raises(ValueError, match="softmax layer with dropout"):
        fastnn.Network([fastnn.Dense(4, 8, "softmax", dropout=0.5), fastnn.Dense(8, 1)])
    with pytest.raises(ValueError, match=r"dropout must be a rate in \[0, 1\).*got 1.0"):
        fastnn.Network([4, 8, 1], dropout=1.0)
    with pytest.raises(ValueError, match=r"one rate per hidden layer \(2 for layers \[4, 8, 8, 1\]\); got 1"):
        fastnn.Network([4, 8, 8, 1], dropout=[0.1])
    with pytest.raises(ValueError, match="has none"):
        fastnn.Network([4, 1], dropout=0.5)
    with pytest.raises(TypeError, match=r"Dense\(n_in, n_out, dropout=0.2\)"):
        fastnn.Network([fastnn.Dense(4, 8), fastnn.Dense(8, 1)], dropout=0.2)
    with pytest.raises(ValueError, match=r"step must be an integer in \[0, 2\*\*63\)"):
        net.forward(np.zeros((4, 2)), training=True, step=-1)


def test_save_and_load_keep_the_rates(tmp_path):
    net = fastnn.Network([3, 5, 4, 2], loss="cce", dropout=[0.1, 0.3])
    net.save(tmp_path / "m.npz")
    again = fastnn.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(again.dropout_rates, [0.1, 0.3, 0.0])
    import pickle

    np.testing.assert_array_equal(pickle.loads(pickle.dumps(net)).dropout_rates, net.dropout_rates)
