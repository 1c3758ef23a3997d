"""Interrupting fit: a KeyboardInterrupt (from a callback, or Ctrl-C arriving while an
epoch runs) leaves the network usable and consistent, with the weights and optimizer
state of the last completed epoch, bitwise those of a run of exactly that many epochs."""

import signal

import numpy as np
import pytest

import fastnn


def data():
    X, y = fastnn.datasets.make_moons(400, noise=0.2, seed=1)
    return X, y


def fresh(optimizer):
    net = fastnn.Network([2, 16, 1], activation="tanh", dtype=np.float64, seed=3)
    return net, optimizer()


OPTIMIZERS = [lambda: fastnn.SGD(0.2, momentum=0.9), lambda: fastnn.Adam(0.01)]


def reference(optimizer, epochs):
    X, y = data()
    net, opt = fresh(optimizer)
    if epochs:
        net.fit(X, y, epochs=epochs, batch_size=32, optimizer=opt, seed=9, verbose=0)
    else:
        opt.bind(net)
    return net, opt


def same_state(a, b):
    (net_a, opt_a), (net_b, opt_b) = a, b
    return (np.array_equal(net_a.params, net_b.params) and opt_a.steps == opt_b.steps
            and np.array_equal(opt_a.state, opt_b.state))


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=["sgd", "adam"])
@pytest.mark.parametrize("verbose", [0, 1])
def test_keyboard_interrupt_from_a_callback(optimizer, verbose):
    X, y = data()
    net, opt = fresh(optimizer)
    seen = []

    def interrupt(epoch, metrics):
        seen.append(epoch)
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=10, batch_size=32, optimizer=opt, seed=9, callbacks=interrupt, verbose=verbose)
    assert seen == [1, 2, 3]
    assert same_state((net, opt), reference(optimizer, 3))
    # Usable: predicts, evaluates, trains on, and continues exactly as the reference does.
    assert np.isfinite(net.predict(X)).all()
    ref_net, ref_opt = reference(optimizer, 3)
    for n, o in ((net, opt), (ref_net, ref_opt)):
        n.fit(X, y, epochs=2, batch_size=32, optimizer=o, seed=4, verbose=0)
    assert same_state((net, opt), (ref_net, ref_opt))
    net.train_step(X, y.reshape(1, -1), 0.1)
    net.forward(X)
    net.backward(y.reshape(1, -1))


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=["sgd", "adam"])
def test_ctrl_c_while_an_epoch_runs(optimizer):
    """SIGINT at a few moments during a long fit. Python raises KeyboardInterrupt only
    between bytecodes, so an epoch inside the kernel always completes; the state must
    then be that of a whole number of epochs, with the optimizer's step count to match."""
    X, y = fastnn.datasets.make_moons(20000, noise=0.2, seed=1)
    completed = []
    for delay in (0.05, 0.13, 0.31):
        net = fastnn.Network([2, 64, 64, 1], activation="tanh", dtype=np.float64, seed=3)
        opt = optimizer()
        epochs = []
        old = signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            signal.signal(signal.SIGALRM, lambda *a: signal.raise_signal(signal.SIGINT))
            signal.setitimer(signal.ITIMER_REAL, delay)
            with pytest.raises(KeyboardInterrupt):
                net.fit(X, y, epochs=10_000, batch_size=64, optimizer=opt, seed=9, verbose=0,
                        callbacks=lambda epoch, metrics: epochs.append(epoch))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGINT, old)
        batches = -(-X.shape[1] // 64)
        # The weights are those of a whole number of epochs k, and the optimizer agrees.
        assert opt.steps % batches == 0, (opt.steps, batches)
        k = opt.steps // batches
        assert k in (len(epochs), len(epochs) + 1)  # the last epoch may finish before its callback
        ref_net = fastnn.Network([2, 64, 64, 1], activation="tanh", dtype=np.float64, seed=3)
        ref_opt = optimizer()
        if k:
            ref_net.fit(X, y, epochs=k, batch_size=64, optimizer=ref_opt, seed=9, verbose=0)
        assert np.array_equal(net.params, ref_net.params)
        assert np.isfinite(net.predict(X[:, :10])).all()
        completed.append(k)
    print("epochs completed at each interrupt:", completed)
