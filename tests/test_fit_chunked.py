"""fit without validation, callbacks, early stopping or output runs several epochs per
kernel call (train_epochs): it must be bitwise the training of one call per epoch (the
path a callback forces), with the same history, divergence handling and step counts."""

import numpy as np
import pytest

import fastnn
from fastnn import training
from fastnn.kernels import training as ktrain

DTYPES = [np.float32, np.float64]
OPTIMIZERS = {
    "sgd": lambda: fastnn.SGD(0.5),
    "momentum": lambda: fastnn.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda: fastnn.Adam(0.01),
}


def noop(epoch, metrics):
    return None


def data(dtype, n=37, n_in=5, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_in, n)).astype(dtype)
    Y = (rng.random((n_out, n)) < 0.5).astype(dtype)
    return X, Y


def state(net, opt):
    return net.params.copy(), opt.state.copy(), opt.steps


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("accumulate, shuffle", [(1, True), (3, True), (2, False)])
def test_chunked_fit_is_bitwise_the_per_epoch_fit(dtype, opt, accumulate, shuffle):
    X, Y = data(dtype)
    runs = []
    for callbacks in (None, noop):
        net = fastnn.Network([5, 7, 3], dtype=dtype, seed=1)
        optimizer = OPTIMIZERS[opt]()
        history = net.fit(X, Y, epochs=7, batch_size=4, optimizer=optimizer, accumulate=accumulate,
                          shuffle=shuffle, seed=3, verbose=0, callbacks=callbacks)
        history2 = net.fit(X, Y, epochs=2, batch_size=4, optimizer=optimizer, seed=4, verbose=0,
                           callbacks=callbacks)  # the optimizer state carries over
        runs.append((state(net, optimizer), history.history, history.epoch, history2.history))
    (p0, s0, t0), h0, e0, g0 = runs[0]
    (p1, s1, t1), h1, e1, g1 = runs[1]
    np.testing.assert_array_equal(p0, p1)
    np.testing.assert_array_equal(s0, s1)
    assert t0 == t1 and e0 == e1 == list(range(1, 8))
    assert h0 == h1 and g0 == g1
    assert all(type(v) is float for values in h0.values() for v in values)


@pytest.fixture
def epochs_per_call(monkeypatch):
    """The number of epochs in each train_epochs call, recorded as fit makes them."""
    import inspect

    calls = []
    real = ktrain.train_epochs
    perms = list(inspect.signature(real.py_func).parameters).index("perms")

    def record(*args):
        calls.append(args[perms].shape[0])
        return real(*args)

    monkeypatch.setattr(ktrain, "train_epochs", record)
    return calls


def test_chunks_split_long_fits(monkeypatch, epochs_per_call):
    """Runs of at most CHUNK_SAMPLES // N epochs, the last one shorter."""
    calls = epochs_per_call
    monkeypatch.setattr(training, "CHUNK_SAMPLES", 37 * 3)
    X, Y = data(np.float64)
    ref = fastnn.Network([5, 7, 3], dtype=np.float64, seed=1)
    ref.fit(X, Y, epochs=8, batch_size=4, verbose=0, callbacks=noop)
    assert calls == [1] * 8  # with a callback: one epoch per call
    calls.clear()
    net = fastnn.Network([5, 7, 3], dtype=np.float64, seed=1)
    history = net.fit(X, Y, epochs=8, batch_size=4, verbose=0)
    assert calls == [3, 3, 2] and history.epoch == list(range(1, 9))
    np.testing.assert_array_equal(net.params, ref.params)


def test_large_data_keeps_one_call_per_epoch(epochs_per_call):
    calls = epochs_per_call
    X, Y = data(np.float32, n=training.CHUNK_SAMPLES // 2 + 1)
    fastnn.Network([5, 4, 3], seed=0).fit(X, Y, epochs=2, batch_size=256, verbose=0)
    assert calls == [1, 1]


@pytest.mark.parametrize("lr, accumulate", [(1e3, 1), (1e4, 2), (1e6, 1), (1e10, 2)])
def test_chunked_divergence_inside_an_update_matches_per_epoch(lr, accumulate):
    """The parameters overflow in a later epoch of a run: the same epoch, batch, weights,
    optimizer steps and history as one call per epoch."""
    X = np.ones((1, 3), dtype=np.float32)
    Y = np.zeros((1, 3), dtype=np.float32)
    results = []
    for callbacks in (None, noop):
        net = fastnn.Network([1, 1], loss="mse", seed=0)
        opt = fastnn.SGD(lr)
        with pytest.raises(fastnn.DivergenceError, match="the parameters after the update") as info:
            net.fit(X, Y, epochs=100, batch_size=1, optimizer=opt, accumulate=accumulate,
                    verbose=0, callbacks=callbacks)
        err = info.value
        results.append((net.params.copy(), opt.steps, err.epoch, err.batch, err.history.history,
                        err.history.epoch))
    a, b = results
    assert a[2] >= 2  # a later epoch of the run
    np.testing.assert_array_equal(a[0], b[0])
    assert np.all(np.isfinite(a[0]))
    assert a[1:] == b[1:]


@pytest.mark.parametrize("dtype", DTYPES)
def test_chunked_divergence_of_the_loss_matches_per_epoch(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 64)).astype(dtype)
    Y = rng.standard_normal((1, 64)).astype(dtype)
    results = []
    for callbacks in (None, noop):
        net = fastnn.Network([2, 8, 1], loss="mse", dtype=dtype, seed=0)
        opt = fastnn.SGD(50.0)
        with pytest.raises(fastnn.DivergenceError) as info:
            net.fit(X, Y, epochs=50, batch_size=8, optimizer=opt, verbose=0, callbacks=callbacks)
        err = info.value
        results.append((net.params.copy(), opt.steps, err.epoch, err.batch, str(err),
                        err.history.history))
    a, b = results
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1:] == b[1:]


def test_fit_still_names_a_non_finite_input():
    X, Y = data(np.float32)
    X[2, 5] = np.nan
    with pytest.raises(ValueError, match="X"):
        fastnn.Network([5, 7, 3], seed=1).fit(X, Y, epochs=1, verbose=0)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_ctrl_c_during_a_run_of_epochs_leaves_whole_epochs(optimizer):
    """As tests/test_reliability_interrupt.py, on the chunked path (small data, no
    callbacks): the state is that of a whole number of epochs, bitwise."""
    import signal

    X, y = fastnn.datasets.make_moons(256, noise=0.2, seed=1)
    batches = 256 // 16
    for delay in (0.05, 0.17):
        net = fastnn.Network([2, 16, 1], dtype=np.float64, seed=3)
        opt = OPTIMIZERS[optimizer]()
        old = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            signal.signal(signal.SIGALRM, lambda *a: signal.raise_signal(signal.SIGINT))
            signal.setitimer(signal.ITIMER_REAL, delay)
            with pytest.raises(KeyboardInterrupt):
                net.fit(X, y, epochs=10_000_000, batch_size=16, optimizer=opt, seed=9, verbose=0)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGINT, old)
        assert opt.steps % batches == 0, (opt.steps, batches)
        k = opt.steps // batches
        ref_net = fastnn.Network([2, 16, 1], dtype=np.float64, seed=3)
        ref_opt = OPTIMIZERS[optimizer]()
        if k:
            ref_net.fit(X, y, epochs=k, batch_size=16, optimizer=ref_opt, seed=9, verbose=0,
                        callbacks=noop)
        assert np.array_equal(net.params, ref_net.params)
        assert np.array_equal(opt.state, ref_opt.state) if k else True
