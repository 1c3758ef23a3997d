"""The silent traps of issue 15: impossible pairings refused, fix hints that point the right
way, model files a later save can always clean up after, and warnings for fits that failed."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import cli, io

ROOT = Path(__file__).resolve().parents[1]
DTYPES = [np.float32, np.float64]


def raises(kind, *parts):
    return pytest.raises(kind, match=".*".join(re.escape(part) for part in parts))


# ----------------------------------------------------------------------- pairings


@pytest.mark.parametrize("loss", ["cce", "cross_entropy", "categorical_crossentropy"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_over_one_output_is_refused_naming_bce(loss, dtype):
    with raises(ValueError, "output layer applies softmax to a single unit", "loss='bce'"):
        fastnn.Network([5, 16, 1], loss=loss, dtype=dtype)
    with raises(ValueError, "single unit"):
        fastnn.Network([fastnn.Dense(5, 1, "softmax", dtype)], loss="cce")
    with raises(ValueError, "single unit"):
        fastnn.Network([5, 1], loss="mse", output_activation="softmax", dtype=dtype)


def test_softmax_hidden_layer_of_one_unit_is_refused():
    with raises(ValueError, "hidden layer 1 applies softmax to a single unit", "2 or more units"):
        fastnn.Network([5, 1, 3], loss="mse", activation="softmax")


def test_valid_pairings_still_build():
    assert fastnn.Network([5, 16, 2], loss="cce").layers[-1].activation == "softmax"
    assert fastnn.Network([5, 16, 1], loss="bce").layers[-1].activation == "sigmoid"
    assert fastnn.Network([5, 2], loss="mse", output_activation="softmax").n_outputs == 2


# ----------------------------------------------------------------------- fix hints


@pytest.mark.parametrize("dtype", DTYPES)
def test_train_step_takes_1d_targets_as_fit_does(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 50)).astype(dtype)
    y = (X[0] > 0).astype(np.int64)
    one, two = fastnn.Network([3, 4, 1], dtype=dtype), fastnn.Network([3, 4, 1], dtype=dtype)
    one.train_step(X, y, 0.5)
    two.train_step(X, y.reshape(1, -1).astype(dtype), 0.5)
    np.testing.assert_array_equal(one.params, two.params)
    three, four = fastnn.Network([3, 4, 3], dtype=dtype), fastnn.Network([3, 4, 3], dtype=dtype)
    labels = rng.integers(0, 3, 50)
    three.train_step(X, labels, 0.5)
    four.train_step(X, fastnn.datasets.one_hot(labels, 3, dtype), 0.5)
    np.testing.assert_array_equal(three.params, four.params)


def test_one_dimensional_targets_of_one_output_hint_reshape_1_minus_1():
    net = fastnn.Network([3, 4, 1])
    with raises(ValueError, "shape (500,)", "For 500 samples of one output use Y.reshape(1, -1)"):
        net.loss(np.zeros((3, 500)), np.zeros(500))


def test_one_dimensional_input_of_one_sample_hints_reshape_minus_1_1():
    with raises(ValueError, "For one sample use X.reshape(-1, 1)"):
        fastnn.Network([3, 4, 1]).predict(np.zeros(3))
    with raises(ValueError, "For 7 samples of one feature use X.reshape(1, -1)"):
        fastnn.Network([1, 4, 1]).predict(np.zeros(7))


def test_one_dimensional_labels_outside_fit_hint_one_hot():
    with raises(ValueError, "fastnn.datasets.one_hot(Y, 10)"):
        fastnn.Network([3, 4, 10], loss="cce").loss(np.zeros((3, 5)), np.zeros(5, dtype=np.int64))


@pytest.mark.parametrize("labels", [np.array(["yes", "no"] * 5), np.array(["yes", "no"] * 5, dtype=object)])
def test_string_labels_point_to_label_encoding(labels):
    net = fastnn.Network([3, 4, 1])
    for call in (lambda: net.fit(np.zeros((3, 10)), labels, verbose=0),
                 lambda: net.train_step(np.zeros((3, 10)), labels, 0.1)):
        with raises(TypeError, "Y must hold real numbers", "np.unique(Y, return_inverse=True)",
                    "fastnn.FastMLPClassifier"):
            call()


def test_string_features_are_not_told_to_astype():
    with pytest.raises(TypeError, match="Encode them as numbers") as info:
        fastnn.Network([2, 4, 1]).predict(np.array([["a", "b"], ["c", "d"]]))
    assert "astype" not in str(info.value)


@pytest.mark.parametrize("dtype", DTYPES)
def test_wrong_label_count_reports_the_shape_passed(dtype):
    net = fastnn.Network([3, 4, 10], loss="cce", dtype=dtype)
    X = np.zeros((3, 500), dtype=dtype)
    for call in (lambda: net.fit(X, np.zeros(400, dtype=np.int64), verbose=0),
                 lambda: net.evaluate(X, np.zeros(400, dtype=np.int64)),
                 lambda: net.train_step(X, np.zeros(400, dtype=np.int64), 0.1)):
        expected = re.escape("Y has 400 labels (shape (400,)) but X has 500 samples")
        with pytest.raises(ValueError, match=expected) as info:
            call()
        assert "(10, 400)" not in str(info.value)


# ----------------------------------------------------------------------- saving


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_file_permissions_follow_the_umask_as_np_savez(tmp_path, umask):
    previous = os.umask(umask)
    try:
        fastnn.Network([3, 2], seed=0).save(tmp_path / "model.npz")
        np.savez(tmp_path / "reference.npz", a=np.zeros(1))
    finally:
        os.umask(previous)
    mode = os.stat(tmp_path / "model.npz").st_mode & 0o777
    assert mode == 0o666 & ~umask
    assert mode == os.stat(tmp_path / "reference.npz").st_mode & 0o777


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temporary_of_a_dead_writer_goes_at_once_and_a_live_one_stays(tmp_path):
    path = tmp_path / "model.npz"
    dead = tmp_path / f".model.npz.{dead_pid()}-0a1b2c3d.tmp"
    live = tmp_path / f".model.npz.{os.getppid()}-0a1b2c3d.tmp"  # a running process
    for leftover in (dead, live):
        leftover.write_bytes(b"partial")
    fastnn.Network([3, 2], seed=0).save(path)
    assert sorted(os.listdir(tmp_path)) == sorted([path.name, live.name])


@pytest.mark.skipif(io.fcntl is None, reason="needs flock")
def test_a_locked_temporary_is_never_removed(tmp_path):
    """A writer whose pid is not known here (another machine on a shared folder) holds the
    lock on its temporary file: it stays, whatever its name says."""
    import fcntl

    path = tmp_path / "model.npz"
    locked = tmp_path / f".model.npz.{dead_pid()}-0a1b2c3d.tmp"
    locked.write_bytes(b"partial")
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import fcntl, sys, time\n"
                                f"f = open({str(locked)!r}, 'rb'); fcntl.flock(f, fcntl.LOCK_EX)\n"
                                "print('locked', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        fastnn.Network([3, 2], seed=0).save(path)
        assert locked.exists()
    finally:
        holder.kill()
        holder.wait()
    assert fcntl is not None


SAVER = (
    "import sys, numpy as np, fastnn\n"
    "net = fastnn.Network([256, 1024, 256], seed=0)\n"
    "print('ready', flush=True)\n"
    "while True:\n"
    "    net.save(sys.argv[1])\n"
)


def test_killed_saves_leave_nothing_after_the_next_save(tmp_path):
    """A crash-looping trainer: each SIGKILL may leave a temporary file; the next save
    (from any process) removes them all at once, without waiting an hour."""
    path = tmp_path / "model.npz"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    rng = np.random.default_rng(0)
    for _ in range(8):
        saver = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], env=env,
                                 stdout=subprocess.PIPE, text=True)
        assert saver.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.05, 0.3)))
        saver.send_signal(signal.SIGKILL)
        saver.wait()
        saver.stdout.close()
    fastnn.Network([3, 2], seed=0).save(path)
    assert os.listdir(tmp_path) == ["model.npz"]


def test_save_into_a_missing_folder_fails_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fastnn.Network, "fit", lambda *a, **k: pytest.fail("trained before checking"))
    target = tmp_path / "nonexistent" / "m.npz"
    assert cli.main(["train", "--epochs", "50", "--save", str(target)]) == 2
    captured = capsys.readouterr()
    assert "does not exist" in captured.err and "--save" in captured.err
    with raises(FileNotFoundError, "does not exist"):
        fastnn.Network([3, 2]).save(target)


# ----------------------------------------------------------------------- compile notice

SNIPPET = (
    "import warnings, numpy as np, fastnn\n"
    "X = np.array([[0, 0, 1, 1], [0, 1, 0, 1]], dtype=np.float32)\n"
    "Y = np.array([[0, 1, 1, 0]], dtype=np.float32)\n"
    "net = fastnn.Network([2, 8, 1], seed=0)\n"
    "for _ in range(3):\n"
    "    net.train_step(X, Y, 0.5)\n"
    "    net.forward(X)\n"
    "print(net.predict(X).shape)\n"
)


def test_kernels_compiling_for_a_library_user_is_said_once_and_can_be_silenced(tmp_path):
    """A fresh copy of the package has no compiled kernels: the first process says so once
    (a CompileWarning pointing at the user's line), a second one (cached) says nothing, and
    the warning filter silences it."""
    import shutil

    root = tmp_path / "site"
    shutil.copytree(Path(fastnn.__file__).parent, root / "fastnn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}

    def run(prelude=""):
        done = subprocess.run([sys.executable, "-c", prelude + SNIPPET], cwd=root, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        return done.stderr

    first = run()
    assert first.count("compiling fastnn") == 1, first
    assert "compiling fastnn's kernels" in first and "<string>:6" in first  # the train_step line
    assert run() == ""
    shutil.rmtree(root / "fastnn" / "kernels" / "__pycache__")
    silenced = ("import warnings, numpy as np, fastnn\n"
                "warnings.filterwarnings('ignore', category=fastnn.CompileWarning)\n"
                "print(fastnn.Network([2, 8, 1]).predict(np.zeros((2, 1), np.float32)).shape)\n")
    done = subprocess.run([sys.executable, "-c", silenced], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300, check=False)  # compiles the forward kernel only
    assert done.returncode == 0 and done.stderr == "", done.stderr


# ----------------------------------------------------------------------- fits that learnt nothing


@pytest.fixture(scope="module")
def digits():
    X, y = fastnn.datasets.load_digits(dtype=np.float64)
    return X[:, :600], y[:600]


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_huge_learning_rate_warns_with_the_loss_rise(digits, dtype):
    X, y = digits
    net = fastnn.Network([64, 16, 10], dtype=dtype, seed=0)
    share = np.bincount(y, minlength=10) / y.size
    constant = float(-(share * np.log(share) + (1 - share) * np.log(1 - share)).sum())  # bce
    with pytest.warns(fastnn.TrainingWarning, match="times that of always predicting the class") as record:
        history = net.fit(X.astype(dtype), y, epochs=3, optimizer=fastnn.SGD(1e6), verbose=0)
    message = str(record[0].message)
    assert f"({constant:.4g})" in message and "lr=1e+06" in message and "too large" in message
    assert history.history["loss"][-1] > 10 * constant
    assert record[0].filename == __file__  # points at the user's call


def test_a_diverging_regression_warns_against_predicting_zero():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 200))
    Y = X[:1] * 0.5
    with pytest.warns(fastnn.TrainingWarning, match="times that of always predicting zero") as record:
        fastnn.Network([3, 8, 1], loss="mse", activation="sigmoid", seed=0).fit(
            X, Y, epochs=5, optimizer=fastnn.SGD(1.0), verbose=0)
    assert f"({float(np.mean(Y ** 2)):.4g})" in str(record[0].message)


def test_chance_accuracy_without_progress_warns(digits):
    X, y = digits
    net = fastnn.Network([64, 64, 10], activation="relu", seed=0)
    with pytest.warns(fastnn.TrainingWarning, match="chance level") as record:
        net.fit(X, y, epochs=5, optimizer=fastnn.SGD(50, momentum=0.9), verbose=0)
    share = np.bincount(y).max() / y.size
    assert f"scores {share:.4f}" in str(record[0].message)


@pytest.mark.parametrize("verbose", [0, 2])
def test_a_good_fit_and_a_regression_do_not_warn(digits, verbose, recwarn, capsys):
    X, y = digits
    fastnn.Network([64, 16, 10], seed=0).fit(X, y, epochs=5, optimizer=fastnn.SGD(0.1, momentum=0.9),
                                            verbose=verbose)
    rng = np.random.default_rng(0)
    Xr = rng.standard_normal((3, 200))
    fastnn.Network([3, 8, 1], loss="mse", seed=0).fit(Xr, Xr[:1] * 0.5, epochs=5, verbose=verbose)
    assert not [w for w in recwarn if issubclass(w.category, fastnn.FastnnWarning)]


def test_the_training_warning_can_be_filtered(digits):
    import warnings

    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=fastnn.TrainingWarning)
        fastnn.Network([64, 16, 10], seed=0).fit(X, y, epochs=2, optimizer=fastnn.SGD(1e6), verbose=0)


def test_cli_says_when_a_learning_rate_left_accuracy_at_chance(capsys):
    assert cli.main(["train", "--quiet", "--activation", "relu", "--lr", "50", "--epochs", "5"]) == 0
    err = capsys.readouterr().err
    assert "fastnn train: warning: the fit learnt nothing" in err and "lr=50" in err
