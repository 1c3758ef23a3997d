"""fit, evaluate, predict_classes: learning, equivalences, early stopping, divergence."""

import re

import numpy as np
import pytest

import fastnn
from fastnn import datasets

DTYPES = [np.float32, np.float64]


def xor(dtype=np.float32):
    X, y = datasets.make_xor(dtype=dtype)
    return X, y.reshape(1, -1).astype(dtype)


# ----------------------------------------------------------------- learning


@pytest.mark.parametrize("dtype", DTYPES)
def test_xor_is_learned(dtype):
    X, Y = xor(dtype)
    net = fastnn.Network([2, 8, 1], dtype=dtype, seed=0)
    history = net.fit(X, Y, epochs=1500, batch_size=4, optimizer=fastnn.SGD(2.0), verbose=0)
    assert history.history["loss"][-1] < 0.05
    assert net.evaluate(X, Y)[1] == 1.0
    np.testing.assert_array_equal(net.predict_classes(X), [0, 1, 1, 0])
    assert net.params.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_moons_are_learned(dtype):
    X, y = datasets.make_moons(600, noise=0.1, seed=0, dtype=dtype)
    X_train, X_test, y_train, y_test = datasets.train_test_split(X, y, test_size=0.25, seed=0)
    net = fastnn.Network([2, 16, 1], dtype=dtype, seed=0, activation="tanh")
    net.fit(X_train, y_train, epochs=100, batch_size=16, optimizer=fastnn.Adam(0.01), verbose=0)
    assert net.evaluate(X_test, y_test)[1] >= 0.97


def test_spirals_are_learned():
    X, y = datasets.make_spirals(600, classes=3, seed=0)
    net = fastnn.Network([2, 64, 3], loss="cce", seed=0, activation="relu")
    net.fit(X, y, epochs=300, batch_size=32, optimizer=fastnn.Adam(0.01), verbose=0)
    assert net.evaluate(X, y)[1] >= 0.95


@pytest.mark.parametrize("dtype", DTYPES)
def test_digits_are_learned(dtype):
    X, y = datasets.load_digits(dtype=dtype)
    X_train, X_test, y_train, y_test = datasets.train_test_split(X, y, test_size=0.2, seed=0)
    net = fastnn.Network([64, 64, 10], dtype=dtype, seed=0)
    history = net.fit(X_train, datasets.one_hot(y_train, dtype=dtype), epochs=50, batch_size=32,
                      optimizer=fastnn.SGD(0.1, momentum=0.9), validation_data=(X_test, y_test),
                      verbose=0)
    loss, accuracy = net.evaluate(X_test, y_test)
    assert accuracy >= 0.95
    assert history.history["val_accuracy"][-1] == accuracy
    assert history.history["val_loss"][-1] == pytest.approx(loss)
    assert history.history["loss"][-1] < history.history["loss"][0]


# ----------------------------------------------------------------- equivalences


def manual_epoch(net, X, Y, batch_size, optimizer, order):
    """The reference loop through the public API; returns the mean of the batch losses."""
    total = 0.0
    for start in range(0, X.shape[1], batch_size):
        cols = order[start : start + batch_size]
        total += net.loss(X[:, cols], Y[:, cols]) * len(cols)
        net.zero_grad()
        net.forward(X[:, cols])
        net.backward(Y[:, cols])
        optimizer.step(net)
    return total / X.shape[1]


@pytest.mark.parametrize("make_optimizer", [
    lambda: fastnn.SGD(0.3),
    lambda: fastnn.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda: fastnn.Adam(0.01, weight_decay=0.001),
])
@pytest.mark.parametrize("shuffle", [False, True])
def test_fit_equals_the_manual_loop(make_optimizer, shuffle):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3, 23))
    Y = (rng.random((2, 23)) > 0.5).astype(np.float64)
    net = fastnn.Network([3, 6, 5, 2], dtype=np.float64, seed=2)
    ref = fastnn.Network([3, 6, 5, 2], dtype=np.float64, seed=2)
    ref_opt = make_optimizer()
    history = net.fit(X, Y, epochs=3, batch_size=5, optimizer=make_optimizer(), shuffle=shuffle,
                      seed=7, verbose=0)
    perm_rng = np.random.default_rng(7)
    order = np.arange(23)
    losses = []
    for _ in range(3):
        if shuffle:
            perm_rng.shuffle(order)
        losses.append(manual_epoch(ref, X, Y, 5, ref_opt, order))
    np.testing.assert_allclose(net.params, ref.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, s, k", [(12, 3, 4), (10, 3, 2), (7, 2, 3), (9, 4, 5)])
def test_accumulate_equals_one_big_batch(dtype, n, s, k):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, n)).astype(dtype)
    Y = (rng.random((3, n)) > 0.5).astype(dtype)
    for make in (lambda: fastnn.SGD(0.5, momentum=0.5), lambda: fastnn.Adam(0.01)):
        a = fastnn.Network([4, 5, 3], dtype=dtype, seed=0)
        b = fastnn.Network([4, 5, 3], dtype=dtype, seed=0)
        opt_a, opt_b = make(), make()
        a.fit(X, Y, epochs=2, batch_size=s, accumulate=k, optimizer=opt_a, shuffle=False, verbose=0)
        b.fit(X, Y, epochs=2, batch_size=s * k, optimizer=opt_b, shuffle=False, verbose=0)
        assert opt_a.steps == opt_b.steps == 2 * -(-n // (s * k))
        tol = 2e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(a.params, b.params, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_full_batch_epoch_equals_train_step(dtype):
    X, Y = xor(dtype)
    a = fastnn.Network([2, 8, 1], dtype=dtype, seed=0)
    b = fastnn.Network([2, 8, 1], dtype=dtype, seed=0)
    a.fit(X, Y, epochs=5, batch_size=4, optimizer=fastnn.SGD(1.0), shuffle=False, verbose=0)
    for _ in range(5):
        b.train_step(X, Y, 1.0)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(a.params, b.params, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_is_reproducible_bitwise(dtype):
    X, y = datasets.make_moons(101, seed=3, dtype=dtype)
    runs = []
    for seed in (5, 5, 6):
        net = fastnn.Network([2, 7, 1], dtype=dtype, seed=0)
        history = net.fit(X, y, epochs=4, batch_size=8, optimizer=fastnn.Adam(0.01), seed=seed, verbose=0)
        runs.append((net.params.copy(), history.history["loss"]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    assert not np.array_equal(runs[0][0], runs[2][0])


def test_history_keys_epochs_and_loss_definition():
    X, Y = xor()
    net = fastnn.Network([2, 3, 1], seed=0)
    before = net.loss(X, Y)
    history = net.fit(X, Y, epochs=3, batch_size=4, verbose=0)
    assert isinstance(history, fastnn.History)
    assert set(history.history) == {"loss", "accuracy"}
    assert history.epoch == [1, 2, 3]
    assert history.history["loss"][0] == pytest.approx(before, rel=1e-6)  # measured before the update
    history = net.fit(X, Y, epochs=2, validation_data=(X, Y), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert "epochs=2" in repr(history)


def test_optimizer_state_carries_over_between_fits():
    X, Y = xor()
    opt = fastnn.Adam(0.01)
    net = fastnn.Network([2, 3, 1], seed=0)
    net.fit(X, Y, epochs=3, batch_size=2, optimizer=opt, verbose=0)
    net.fit(X, Y, epochs=2, batch_size=2, optimizer=opt, verbose=0)
    assert opt.steps == 10


def test_labels_and_one_hot_targets_agree():
    X, y = datasets.make_spirals(90, classes=3, seed=1)
    a = fastnn.Network([2, 8, 3], loss="cce", seed=0)
    b = fastnn.Network([2, 8, 3], loss="cce", seed=0)
    a.fit(X, y, epochs=2, verbose=0)
    b.fit(X, datasets.one_hot(y), epochs=2, verbose=0)
    np.testing.assert_array_equal(a.params, b.params)
    assert a.evaluate(X, y) == b.evaluate(X, datasets.one_hot(y))


def test_evaluate_and_predict_classes_definitions():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 50)).astype(np.float32)
    net = fastnn.Network([3, 4, 5], loss="cce", seed=0)
    Y = datasets.one_hot(rng.integers(0, 5, 50), 5)
    loss, accuracy = net.evaluate(X, Y)
    A = net.predict(X)
    assert accuracy == np.mean(np.argmax(A, axis=0) == np.argmax(Y, axis=0))
    assert loss == pytest.approx(net.loss(X, Y))
    np.testing.assert_array_equal(net.predict_classes(X), np.argmax(A, axis=0))
    single = fastnn.Network([3, 4, 1], seed=0)
    y = (rng.random(50) > 0.5).astype(np.float32)
    assert single.evaluate(X, y)[1] == np.mean((single.predict(X)[0] > 0.5) == (y > 0.5))
    assert single.predict_classes(X).dtype == np.int64


# ----------------------------------------------------------------- callbacks and early stopping


def test_callbacks_get_epoch_and_metrics_and_can_stop():
    X, Y = xor()
    seen = []

    def record(epoch, metrics):
        seen.append((epoch, metrics))

    net = fastnn.Network([2, 3, 1], seed=0)
    history = net.fit(X, Y, epochs=4, callbacks=record, validation_data=(X, Y), verbose=0)
    assert [e for e, _ in seen] == [1, 2, 3, 4]
    assert seen[-1][1] == {key: values[-1] for key, values in history.history.items()}
    history = net.fit(X, Y, epochs=10, callbacks=[lambda e, m: e == 3], verbose=0)
    assert history.epoch == [1, 2, 3]


def test_early_stopping_restores_the_best_weights():
    X, Y = xor()
    # Validation targets are the opposite labels: the better the fit, the worse val_loss.
    net = fastnn.Network([2, 8, 1], seed=0)
    snapshots = {}
    history = net.fit(X, Y, epochs=200, batch_size=4, optimizer=fastnn.SGD(2.0),
                      validation_data=(X, 1 - Y), patience=5, verbose=0,
                      callbacks=lambda e, m: snapshots.__setitem__(e, net.params.copy()))
    val = history.history["val_loss"]
    best = int(np.argmin(val)) + 1
    assert history.best_epoch == best
    assert history.stopped_epoch == len(val) < 200
    assert history.stopped_epoch == best + 5
    np.testing.assert_array_equal(net.params, snapshots[best])
    assert net.evaluate(X, 1 - Y)[0] == pytest.approx(min(val))


def test_early_stopping_without_restore_keeps_the_last_weights():
    X, Y = xor()
    net = fastnn.Network([2, 8, 1], seed=0)
    history = net.fit(X, Y, epochs=100, batch_size=4, optimizer=fastnn.SGD(2.0),
                      validation_data=(X, 1 - Y), patience=3, restore_best_weights=False, verbose=0)
    assert net.evaluate(X, 1 - Y)[0] == pytest.approx(history.history["val_loss"][-1])


def test_early_stopping_monitors_loss_without_validation():
    X, Y = xor()
    net = fastnn.Network([2, 8, 1], seed=0)
    history = net.fit(X, Y, epochs=30, batch_size=4, optimizer=fastnn.SGD(1.0), patience=2, verbose=0)
    assert history.stopped_epoch is None and history.best_epoch == 30


# ----------------------------------------------------------------- divergence


@pytest.mark.parametrize("dtype", DTYPES)
def test_divergence_names_epoch_and_batch_and_keeps_finite_weights(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 64)).astype(dtype)
    Y = rng.standard_normal((1, 64)).astype(dtype)
    net = fastnn.Network([2, 8, 1], loss="mse", dtype=dtype, seed=0)
    with pytest.raises(fastnn.DivergenceError, match=r"epoch \d+, batch \d+") as info:
        net.fit(X, Y, epochs=50, batch_size=8, optimizer=fastnn.SGD(50.0), verbose=0)
    assert info.value.epoch >= 1 and 1 <= info.value.batch <= 8
    assert len(info.value.history.epoch) == info.value.epoch - 1
    assert np.all(np.isfinite(net.params))
    assert isinstance(info.value, FloatingPointError)


def test_divergence_inside_an_update_restores_the_weights_before_it():
    # float32, mse, identity: the first update is finite (about -2e30 w), the second overflows
    # although its loss (about 1e61, computed in float64) is finite.
    X = np.ones((1, 3), dtype=np.float32)
    Y = np.zeros((1, 3), dtype=np.float32)
    net = fastnn.Network([1, 1], loss="mse", seed=0)
    with pytest.raises(fastnn.DivergenceError, match="epoch 1, batch 2: the parameters") as info:
        net.fit(X, Y, epochs=1, batch_size=1, optimizer=fastnn.SGD(1e30), shuffle=False, verbose=0)
    ref = fastnn.Network([1, 1], loss="mse", seed=0)
    ref.fit(X[:, :1], Y[:, :1], epochs=1, batch_size=1, optimizer=fastnn.SGD(1e30), verbose=0)
    assert np.all(np.isfinite(net.params)) and abs(net.params[0]) > 1e29
    np.testing.assert_array_equal(net.params, ref.params)
    assert info.value.batch == 2


# ----------------------------------------------------------------- progress output


def test_verbose_levels(capsys):
    X, Y = xor()
    net = fastnn.Network([2, 3, 1], seed=0)
    net.fit(X, Y, epochs=3, verbose=0)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    net.fit(X, Y, epochs=3, validation_data=(X, Y), verbose=1)
    err = capsys.readouterr().err
    assert "3/3" in err and "val_acc 0." in err and "loss" in err  # short names: 80 columns
    net.fit(X, Y, epochs=2, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2") and "accuracy" in lines[1]
    regression = fastnn.Network([2, 3, 1], loss="mse", seed=0)
    regression.fit(X, Y, epochs=2, validation_data=(X, Y), verbose=1)
    err = capsys.readouterr().err
    assert "val_loss" in err and "acc" not in err  # no accuracy for a regression loss


# ----------------------------------------------------------------- argument checks


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": -1}, ValueError, "epochs"),
    ({"epochs": 2.0}, TypeError, "epochs"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"accumulate": 0}, ValueError, "accumulate"),
    ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
    ({"optimizer": 0.1}, TypeError, "optimizer"),
    ({"shuffle": "yes"}, TypeError, "shuffle"),
    ({"verbose": 3}, ValueError, "verbose"),
    ({"callbacks": [1]}, TypeError, r"callbacks\[0\]"),
    ({"patience": 0}, ValueError, "patience"),
    ({"min_delta": -1.0}, ValueError, "min_delta"),
    ({"validation_data": np.zeros((2, 4))}, TypeError, "validation_data"),
    ({"validation_data": (np.zeros((3, 4)), np.zeros((1, 4)))}, ValueError, r"validation_data\[0\]"),
    ({"validation_data": (np.zeros((2, 4)), np.zeros((1, 5)))}, ValueError, r"validation_data\[1\]"),
])
def test_bad_fit_arguments_are_named(kwargs, error, match):
    X, Y = xor()
    net = fastnn.Network([2, 3, 1], seed=0)
    with pytest.raises(error, match=match):
        net.fit(X, Y, **{"verbose": 0, **kwargs})


def test_bad_data_and_labels_are_named():
    X, Y = xor()
    net = fastnn.Network([2, 3, 4], loss="cce", seed=0)
    with pytest.raises(ValueError, match="X has 3 rows"):
        net.fit(np.zeros((3, 4)), Y, verbose=0)
    with pytest.raises(ValueError, match=r"labels in \[0, 4\]"):
        net.fit(X, np.array([0, 1, 2, 4]), verbose=0)
    with pytest.raises(ValueError, match="integer class labels"):
        net.fit(X, np.array([0, 0.5, 1, 2]), verbose=0)
    with pytest.raises(ValueError, match=re.escape("Y has 3 labels (shape (3,)) but X has 4 samples")):
        net.evaluate(X, np.array([0, 1, 2]))


def test_batch_size_larger_than_the_data_and_zero_epochs():
    X, Y = xor()
    net = fastnn.Network([2, 3, 1], seed=0)
    start = net.params.copy()
    history = net.fit(X, Y, epochs=0, verbose=0)
    assert history.epoch == [] and np.array_equal(net.params, start)
    opt = fastnn.SGD(0.1)
    net.fit(X, Y, epochs=2, batch_size=1000, optimizer=opt, verbose=0)
    assert opt.steps == 2


def test_docstring_examples_run():
    import doctest

    from fastnn import io, network, optimizers, training

    for module in (datasets, io, network, optimizers, training):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(fastnn.Network.fit, "Network.fit", globs={}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_and_evaluate_work_in_chunks_with_the_same_result(dtype, monkeypatch):
    """Big inputs are evaluated chunk by chunk (bounded memory); the result is the same."""
    import fastnn.network

    rng = np.random.default_rng(3)
    X = rng.standard_normal((5, 1000))
    y = rng.integers(0, 3, 1000)
    net = fastnn.Network([5, 7, 3], loss="cce", dtype=dtype, seed=3)
    whole = net.evaluate(X, y), net.loss(X, fastnn.datasets.one_hot(y, 3))
    monkeypatch.setattr(fastnn.network, "PREDICT_CHUNK", 64)
    chunks = []
    real = fastnn.network.knet.network_loss

    def record(params, layout, loss, X, Y, acts, z_out):
        chunks.append(X.shape[1])
        return real(params, layout, loss, X, Y, acts, z_out)

    monkeypatch.setattr(fastnn.network.knet, "network_loss", record)
    fresh = fastnn.Network([5, 7, 3], loss="cce", dtype=dtype, seed=3)
    chunked = fresh.evaluate(X, y), fresh.loss(X, fastnn.datasets.one_hot(y, 3))
    assert chunks == 2 * ([64] * 15 + [40])  # evaluate, then loss: 1000 samples in chunks of 64
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(chunked[0][0], whole[0][0], rtol=rtol)
    assert chunked[0][1] == whole[0][1]
    np.testing.assert_allclose(chunked[1], whole[1], rtol=rtol)
