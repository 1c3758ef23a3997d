"""Learning-rate schedules in Network.fit: the rate of every epoch against its formula,
and the training they give bitwise equal to setting that rate by hand."""

import math
import warnings

import numpy as np
import pytest

import fastnn


@pytest.fixture(scope="module")
def data():
    X, y = fastnn.datasets.make_moons(60, noise=0.2, seed=0)
    return X, y


def _fit(data, schedule, optimizer, epochs, dtype=np.float32, **kwargs):
    net = fastnn.Network([2, 6, 1], dtype=dtype, seed=0)
    history = net.fit(*data, epochs=epochs, batch_size=16, optimizer=optimizer, schedule=schedule,
                      verbose=0, shuffle=False, **kwargs)
    return net, history


FORMULAS = {
    "step": (lambda: fastnn.StepDecay(step_size=3, gamma=0.5),
             lambda lr0, e: lr0 * 0.5 ** (e // 3)),
    "exponential": (lambda: fastnn.ExponentialDecay(0.8),
                    lambda lr0, e: lr0 * 0.8 ** e),
    "cosine+warmup": (lambda: fastnn.CosineDecay(epochs=8, warmup=3, min_lr=0.01),
                      lambda lr0, e: lr0 * (e + 1) / 3 if e < 3
                      else 0.01 + (lr0 - 0.01) * (1 + math.cos(math.pi * (e - 3) / 5)) / 2),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_rate_of_every_epoch_follows_the_formula(data, name, dtype):
    make, formula = FORMULAS[name]
    optimizer = fastnn.SGD(0.5, momentum=0.9)
    _, history = _fit(data, make(), optimizer, 8, dtype)
    expected = [formula(0.5, e) for e in range(8)]
    np.testing.assert_allclose(history.history["lr"], expected, rtol=1e-12)
    assert len(set(history.history["lr"])) > 1


def test_every_step_of_an_epoch_uses_the_scheduled_rate_bitwise(data):
    """A scheduled fit equals fits of one epoch each with the formula's rate set by hand."""
    _, formula = FORMULAS["cosine+warmup"]
    scheduled, _ = _fit(data, FORMULAS["cosine+warmup"][0](), fastnn.Adam(0.02), 8)
    by_hand = fastnn.Network([2, 6, 1], seed=0)
    optimizer = fastnn.Adam(0.02)
    for epoch in range(8):
        optimizer.lr = formula(0.02, epoch)
        by_hand.fit(*data, epochs=1, batch_size=16, optimizer=optimizer, verbose=0, shuffle=False)
    np.testing.assert_array_equal(scheduled.params, by_hand.params)
    assert optimizer.steps == 8 * 4


def test_a_second_fit_continues_the_schedule(data):
    once, history = _fit(data, fastnn.StepDecay(2, 0.5), fastnn.SGD(0.4), 6)
    net = fastnn.Network([2, 6, 1], seed=0)
    optimizer, schedule = fastnn.SGD(0.4), fastnn.StepDecay(2, 0.5)
    first = net.fit(*data, epochs=3, batch_size=16, optimizer=optimizer, schedule=schedule, verbose=0,
                    shuffle=False)
    second = net.fit(*data, epochs=3, batch_size=16, optimizer=optimizer, schedule=schedule, verbose=0,
                     shuffle=False)
    assert first.history["lr"] + second.history["lr"] == history.history["lr"]
    np.testing.assert_array_equal(net.params, once.params)


def test_reduce_on_plateau_cuts_the_rate_after_patience_epochs():
    optimizer = fastnn.SGD(1.0)
    schedule = fastnn.ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0.0, cooldown=2,
                                        optimizer=optimizer)
    rates = []
    for loss in [1.0, 0.9, 0.95, 0.93, 0.92, 0.94, 0.96, 0.97, 0.8]:
        schedule.epoch_ends(0, {"loss": loss})
        rates.append(optimizer.lr)
    # 2 epochs without beating 0.9 -> 0.5; as in Keras the cooldown counts down from the next
    # epoch on, and an epoch that ends it already counts: 0.92 cools, 0.94 and 0.96 -> 0.25
    assert rates == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]


def test_reduce_on_plateau_in_fit_monitors_val_loss(data):
    X, y = data
    net = fastnn.Network([2, 6, 1], seed=0)
    schedule = fastnn.ReduceLROnPlateau(factor=0.5, patience=1, min_delta=10.0)  # never improves
    history = net.fit(X, y, epochs=4, batch_size=16, optimizer=fastnn.SGD(0.8), schedule=schedule,
                      validation_data=(X, y), verbose=0)
    assert history.history["lr"] == [0.8, 0.8, 0.4, 0.2]
    with pytest.raises(ValueError, match="monitors 'val_loss'.*pass validation_data or monitor='loss'"):
        net.fit(X, y, epochs=1, verbose=0, schedule=fastnn.ReduceLROnPlateau(monitor="val_loss"))


def test_bad_schedules_are_refused(data):
    X, y = data
    net = fastnn.Network([2, 6, 1], seed=0)
    with pytest.raises(TypeError, match="schedule must be a fastnn schedule"):
        net.fit(X, y, epochs=1, verbose=0, schedule=lambda epoch: 0.1)
    with pytest.raises(ValueError, match="bound to another optimizer"):
        net.fit(X, y, epochs=1, verbose=0, optimizer=fastnn.SGD(0.1),
                schedule=fastnn.StepDecay(2, optimizer=fastnn.SGD(0.1)))
    with pytest.raises(ValueError, match=r"warmup must be in \[0, epochs\) = \[0, 5\); got 5"):
        fastnn.CosineDecay(5, warmup=5)
    with pytest.raises(ValueError, match=r"min_lr \(0.5\) must be below the optimizer's learning rate"):
        fastnn.CosineDecay(5, min_lr=0.5, optimizer=fastnn.SGD(0.1))
    with pytest.raises(ValueError, match=r"gamma must be in \(0, 1\]; got 1.5"):
        fastnn.ExponentialDecay(1.5)
    with pytest.raises(TypeError, match="step_size must be a positive integer"):
        fastnn.StepDecay(2.5)
    assert repr(fastnn.StepDecay(3, 0.5)) == "StepDecay(step_size=3, gamma=0.5)"


def test_a_scheduled_fit_resumes_bitwise_from_a_checkpoint(tmp_path, data):
    X, y = data
    net = fastnn.Network([2, 6, 1], seed=0)
    checkpoint = fastnn.ModelCheckpoint(tmp_path / "c-{epoch}.npz", every=3)
    whole = net.fit(X, y, epochs=6, batch_size=16, optimizer=fastnn.Adam(0.02), verbose=0, seed=4,
                    schedule=fastnn.CosineDecay(6, warmup=2), callbacks=[checkpoint])
    resumed = fastnn.load(tmp_path / "c-3.npz")
    optimizer = resumed.optimizer
    optimizer.lr = 0.02  # the schedule's initial rate (the checkpoint holds epoch 3's)
    rest = resumed.fit(X, y, epochs=6, initial_epoch=3, batch_size=16, optimizer=optimizer, verbose=0,
                       seed=4, schedule=fastnn.CosineDecay(6, warmup=2, optimizer=optimizer))
    assert rest.history["lr"] == whole.history["lr"][3:]
    np.testing.assert_array_equal(resumed.params, net.params)


STEP_FORMULAS = {
    "step": (lambda: fastnn.StepDecay(step_size=3, gamma=0.5, per="step"),
             lambda lr0, t: lr0 * 0.5 ** (t // 3)),
    "exponential": (lambda: fastnn.ExponentialDecay(0.9, per="step"),
                    lambda lr0, t: lr0 * 0.9 ** t),
    "cosine+warmup": (lambda: fastnn.CosineDecay(epochs=10, warmup=3, min_lr=0.001, per="step"),
                      lambda lr0, t: lr0 * (t + 1) / 3 if t < 3 else
                      0.001 + (lr0 - 0.001) * (1 + math.cos(math.pi * min(t - 3, 6) / 7)) / 2),
}


@pytest.mark.parametrize("name", sorted(STEP_FORMULAS))
@pytest.mark.parametrize("make_optimizer", [lambda: fastnn.SGD(0.3), lambda: fastnn.Adam(0.02)],
                         ids=["sgd", "adam"])
def test_per_step_schedule_gives_every_update_its_rate_bitwise(data, name, make_optimizer, dtype):
    """Each update of a per-step schedule uses the formula's rate: bitwise the fit of one
    batch at a time with that rate set by hand (60 samples, batches of 16: 4 updates an
    epoch, the last one short)."""
    make, formula = STEP_FORMULAS[name]
    X, y = data
    optimizer = make_optimizer()
    lr0 = optimizer.lr
    scheduled, history = _fit(data, make(), optimizer, 3, dtype)
    by_hand = fastnn.Network([2, 6, 1], dtype=dtype, seed=0)
    hand_optimizer = make_optimizer()
    rates = []
    for t in range(3 * 4):
        rows = slice(16 * (t % 4), 16 * (t % 4) + 16)
        hand_optimizer.lr = formula(lr0, t)
        rates.append(hand_optimizer.lr)
        with warnings.catch_warnings():  # one batch at a time learns little per fit
            warnings.simplefilter("ignore", fastnn.TrainingWarning)
            by_hand.fit(X[:, rows], y[rows], epochs=1, batch_size=16, optimizer=hand_optimizer, verbose=0,
                        shuffle=False)
    np.testing.assert_array_equal(scheduled.params, by_hand.params)
    assert scheduled.params.dtype == dtype
    assert optimizer.steps == 12 and optimizer.lr == rates[-1]
    assert history.history["lr"] == [rates[3], rates[7], rates[11]]  # each epoch's last update
    assert len(set(rates)) > 3


def test_per_step_schedule_with_accumulate_counts_updates(data):
    """With accumulate=2 an epoch of 4 micro-batches makes 2 updates: the rates follow them."""
    X, y = data
    optimizer = fastnn.SGD(0.4)
    net = fastnn.Network([2, 6, 1], seed=0)
    history = net.fit(X, y, epochs=3, batch_size=16, accumulate=2, optimizer=optimizer, verbose=0,
                      shuffle=False, schedule=fastnn.ExponentialDecay(0.5, per="step"))
    assert optimizer.steps == 6
    assert history.history["lr"] == [0.4 * 0.5 ** t for t in (1, 3, 5)]
    with pytest.raises(ValueError, match="per must be 'epoch'.*or 'step'.*got 'batch'"):
        fastnn.StepDecay(2, per="batch")
    assert repr(fastnn.ExponentialDecay(0.5, per="step")) == "ExponentialDecay(gamma=0.5, per='step')"


@pytest.mark.parametrize("make", [lambda: fastnn.CosineDecay(6, warmup=2, per="step"),
                                  lambda: fastnn.StepDecay(2, 0.5),
                                  lambda: fastnn.ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.05)],
                         ids=["cosine-per-step", "step-per-epoch", "plateau"])
def test_a_checkpoint_stores_the_schedule_and_resumes_bitwise(tmp_path, data, make):
    """ModelCheckpoint saves the fit's schedule; load restores it as net.schedule, and the
    resumed fit is bitwise the uninterrupted one, its rates included."""
    X, y = data
    net = fastnn.Network([2, 6, 1], seed=0)
    checkpoint = fastnn.ModelCheckpoint(tmp_path / "c-{epoch}.npz", every=3)
    whole = net.fit(X, y, epochs=6, batch_size=16, optimizer=fastnn.Adam(0.05), verbose=0, seed=4,
                    schedule=make(), callbacks=[checkpoint])
    resumed = fastnn.load(tmp_path / "c-3.npz")
    assert type(resumed.schedule) is type(net.schedule)
    assert resumed.schedule.optimizer is resumed.optimizer
    assert resumed.schedule.epochs_done == 3
    rest = resumed.fit(X, y, epochs=6, initial_epoch=3, batch_size=16, optimizer=resumed.optimizer,
                       schedule=resumed.schedule, verbose=0, seed=4)
    assert rest.history["lr"] == whole.history["lr"][3:]
    np.testing.assert_array_equal(resumed.params, net.params)
    assert resumed.schedule.get_state() == net.schedule.get_state()


def test_saving_a_schedule_checks_it(tmp_path, data):
    net = fastnn.Network([2, 6, 1], seed=0)
    optimizer = fastnn.SGD(0.1)
    with pytest.raises(ValueError, match="pass optimizer=schedule.optimizer too"):
        net.save(tmp_path / "m.npz", schedule=fastnn.StepDecay(2, optimizer=optimizer))
    with pytest.raises(ValueError, match="not been bound to an optimizer yet"):
        net.save(tmp_path / "m.npz", optimizer=optimizer, schedule=fastnn.StepDecay(2))
    with pytest.raises(TypeError, match="only fastnn's schedules"):
        net.save(tmp_path / "m.npz", optimizer=optimizer,
                 schedule=fastnn.schedules.InvScaling(optimizer, 0.5))
    net.save(tmp_path / "m.npz", optimizer=optimizer)
    assert fastnn.load(tmp_path / "m.npz").schedule is None
