"""Checkpoints: save(path, optimizer=...) and load restore the optimizer, so that a fit
resumed from a checkpoint is bitwise the fit that never stopped; ModelCheckpoint;
callbacks that receive the network; validation_split."""

import os
import stat

import numpy as np
import pytest

import fastnn


@pytest.fixture(scope="module")
def data():
    X, y = fastnn.datasets.make_moons(90, noise=0.2, seed=1)
    return X, y


OPTIMIZERS = {"sgd-momentum": lambda: fastnn.SGD(0.3, momentum=0.9, nesterov=True),
              "adam": lambda: fastnn.Adam(0.02, weight_decay=1e-4)}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_fit_resumed_from_a_checkpoint_is_bitwise_the_uninterrupted_fit(tmp_path, data, name, dtype):
    X, y = data
    kwargs = {"batch_size": 16, "seed": 7, "validation_data": (X, y), "verbose": 0}
    whole = fastnn.Network([2, 8, 1], dtype=dtype, seed=3)
    checkpoint = fastnn.ModelCheckpoint(tmp_path / "ckpt-{epoch}.npz", every=3)
    optimizer = OPTIMIZERS[name]()
    history = whole.fit(X, y, epochs=7, optimizer=optimizer, callbacks=[checkpoint], **kwargs)
    assert [os.path.basename(p) for p in checkpoint.saved] == ["ckpt-3.npz", "ckpt-6.npz"]

    resumed = fastnn.load(tmp_path / "ckpt-3.npz")
    assert resumed.epoch == 3 and resumed.params.dtype == dtype
    assert type(resumed.optimizer) is type(optimizer)
    assert resumed.optimizer.get_config() == optimizer.get_config()
    assert resumed.optimizer.steps == 3 * 6  # 90 samples in batches of 16
    rest = resumed.fit(X, y, epochs=7, optimizer=resumed.optimizer, initial_epoch=resumed.epoch, **kwargs)
    np.testing.assert_array_equal(resumed.params, whole.params)
    np.testing.assert_array_equal(resumed.optimizer.state, optimizer.state)
    assert resumed.optimizer.steps == optimizer.steps == 7 * 6
    assert rest.epoch == [4, 5, 6, 7]
    assert rest.history["loss"] == history.history["loss"][3:]


def test_resuming_without_the_optimizer_state_differs(tmp_path, data):
    """The check above can fail: a fresh optimizer (moments at zero) resumes elsewhere."""
    X, y = data
    whole = fastnn.Network([2, 8, 1], seed=3)
    whole.fit(X, y, epochs=4, batch_size=16, optimizer=fastnn.Adam(0.02), verbose=0,
              callbacks=[fastnn.ModelCheckpoint(tmp_path / "a.npz", every=2, save_optimizer=False)])
    resumed = fastnn.load(tmp_path / "a.npz")
    assert resumed.optimizer is None and resumed.epoch is None
    resumed.fit(X, y, epochs=4, initial_epoch=2, batch_size=16, optimizer=fastnn.Adam(0.02), verbose=0)
    assert not np.array_equal(resumed.params, whole.params)


def test_save_with_optimizer_checks_it_and_load_refuses_a_damaged_state(tmp_path, data):
    X, y = data
    net, other = fastnn.Network([2, 4, 1]), fastnn.Network([2, 4, 1])
    optimizer = fastnn.SGD(0.1, momentum=0.5)
    net.fit(X, y, epochs=1, optimizer=optimizer, verbose=0)
    with pytest.raises(ValueError, match="holds the state of another network"):
        other.save(tmp_path / "x.npz", optimizer=optimizer)
    with pytest.raises(TypeError, match="optimizer must be a fastnn.SGD or fastnn.Adam"):
        net.save(tmp_path / "x.npz", optimizer="sgd")
    fresh = fastnn.Adam()
    other.save(tmp_path / "fresh.npz", optimizer=fresh)  # not used yet: zero state, step 0
    loaded = fastnn.load(tmp_path / "fresh.npz")
    assert loaded.optimizer.steps == 0 and not loaded.optimizer.state.any()
    path = tmp_path / "m.npz"
    net.save(path, optimizer=optimizer, epoch=1)
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["optimizer_state"] = arrays["optimizer_state"][:-1]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="not a valid fastnn model file: 'optimizer_state' has"):
        fastnn.load(tmp_path / "bad.npz")
    del arrays["optimizer_state"]
    np.savez(tmp_path / "bad2.npz", **arrays)
    with pytest.raises(ValueError, match="'optimizer' and the array 'optimizer_state' come together"):
        fastnn.load(tmp_path / "bad2.npz")


def test_model_checkpoint_best_only_is_atomic_and_checks_its_folder_first(tmp_path, data):
    X, y = data
    net = fastnn.Network([2, 8, 1], seed=0)
    best = fastnn.ModelCheckpoint(tmp_path / "best.npz", save_best_only=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        net.fit(X, y, epochs=2, verbose=0,
                callbacks=[fastnn.ModelCheckpoint(tmp_path / "nowhere" / "m.npz")])
    assert net.epoch is None  # refused before the first epoch
    history = net.fit(X, y, epochs=8, optimizer=fastnn.SGD(5.0), validation_split=0.25, verbose=0,
                      callbacks=[best])
    val = history.history["val_loss"]
    improved = [i + 1 for i, v in enumerate(val) if v < min(val[:i], default=np.inf)]
    assert len(best.saved) == len(improved) and best.best == min(val)
    saved = fastnn.load(tmp_path / "best.npz")
    assert saved.epoch == improved[-1]
    assert sorted(os.listdir(tmp_path)) == ["best.npz"]  # no temporary file left
    mode = stat.S_IMODE(os.stat(tmp_path / "best.npz").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    watching = fastnn.ModelCheckpoint(tmp_path / "v.npz", save_best_only=True, monitor="val_accuracy")
    with pytest.raises(ValueError, match="ModelCheckpoint monitors 'val_accuracy'.*pass validation_data"):
        net.fit(X, y, epochs=1, verbose=0, callbacks=[watching])


def test_callbacks_receive_the_network_and_optimizer(data):
    X, y = data
    seen = []

    class Watch(fastnn.Callback):
        def on_train_begin(self):
            seen.append(("begin", self.network, self.optimizer))

        def on_epoch_end(self, epoch, metrics):
            seen.append((epoch, self.optimizer.steps, self.network.params.copy()))
            return epoch == 2

        def on_train_end(self):
            seen.append("end")

    net, optimizer = fastnn.Network([2, 4, 1]), fastnn.SGD(0.1)
    history = net.fit(X, y, epochs=5, batch_size=30, optimizer=optimizer, verbose=0, callbacks=Watch())
    assert seen[0] == ("begin", net, optimizer)
    assert [entry[:2] for entry in seen[1:3]] == [(1, 3), (2, 6)] and seen[3] == "end"
    np.testing.assert_array_equal(seen[2][2], net.params)
    assert history.epoch == [1, 2] and net.optimizer is optimizer and net.epoch == 2


def test_validation_split_holds_out_the_last_samples(data):
    X, y = data
    a, b = fastnn.Network([2, 4, 1]), fastnn.Network([2, 4, 1])
    split = a.fit(X, y, epochs=3, validation_split=0.2, verbose=0)
    given = b.fit(X[:, :72], y[:72], epochs=3, validation_data=(X[:, 72:], y[72:]), verbose=0)
    assert split.history == given.history
    np.testing.assert_array_equal(a.params, b.params)
    with pytest.raises(ValueError, match="validation_data or validation_split, not both"):
        a.fit(X, y, validation_split=0.2, validation_data=(X, y), verbose=0)
    with pytest.raises(ValueError, match=r"validation_split must be a fraction in \(0, 1\)"):
        a.fit(X, y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="leaves 0 for training and 2 for validation"):
        a.fit(X[:, :2], y[:2], validation_split=0.9, verbose=0)
    with pytest.raises(ValueError, match=r"initial_epoch \(5\) must not exceed epochs \(3\)"):
        a.fit(X, y, epochs=3, initial_epoch=5, verbose=0)
