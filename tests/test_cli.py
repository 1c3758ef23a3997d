"""The ``fastnn train`` command: defaults, options, end to end in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import cli

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "fastnn", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_help():
    import pydoc

    result = run("train", "--help")
    assert result.returncode == 0
    for option in ("--hidden", "--activation", "--epochs", "--batch-size", "--lr", "--optimizer",
                   "--seed", "--save", "--plot"):
        assert option in result.stdout
    top = run("--help")
    assert top.returncode == 0 and "train" in top.stdout
    # no project jargon in what a user reads
    for text in (result.stdout, top.stdout, pydoc.render_doc(fastnn, renderer=pydoc.plaintext)):
        assert "seed's" not in text and "the seed " not in text


def run_in_terminal(*args, cwd=ROOT, columns=80, rows=30):
    """``python -m fastnn ARGS`` in a pseudo-terminal of that size: (exit code, its screen text)."""
    fcntl = pytest.importorskip("fcntl")
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen([sys.executable, "-m", "fastnn", *args], cwd=cwd, env=env,
                               stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return process.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


def test_end_to_end_small_setting_within_80_columns(tmp_path):
    """In an 80-column terminal: cce by default for the ten digits, and every line fits."""
    model = tmp_path / "digits.npz"
    code, screen = run_in_terminal("train", "--hidden", "16", "--epochs", "3", "--seed", "1",
                                   "--save", "digits.npz", cwd=tmp_path)
    assert code == 0, screen
    assert "test accuracy:" in screen and "saved the network to digits.npz" in screen
    assert "softmax output, loss cce" in screen
    assert "training: SGD (lr 0.1, momentum 0.9), 3 epochs, batches of 32" in screen
    assert "3/3 |" in screen and "val_acc 0." in screen  # the bar keeps its metrics
    too_wide = [line for line in screen.replace("\r", "\n").splitlines() if len(line) > 80]
    assert not too_wide, too_wide
    net = fastnn.load(model)
    assert net.sizes == [64, 16, 10] and net.loss_name == "cce"
    X, y = fastnn.datasets.load_digits()
    accuracy = float(screen.split("test accuracy:")[1].split("%")[0])
    assert 0 < accuracy <= 100
    assert np.isfinite(net.evaluate(X, y)[0])


def test_default_settings_reach_95_percent(capsys):
    assert cli.main(["train", "--quiet"]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("test accuracy:")[1].split("%")[0])
    assert accuracy >= 95.0


def test_options_hidden_activation_dtype_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "curves.png"
    code = cli.main(["train", "--hidden", "12,8", "--activation", "tanh", "--epochs", "2",
                     "--batch-size", "64", "--lr", "0.05", "--dtype", "float64", "--loss", "cce",
                     "--plot", str(plot), "--quiet"])
    assert code == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote the loss curves to {plot}" in capsys.readouterr().out


def test_plot_without_matplotlib_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert cli.main(["train", "--plot", str(tmp_path / "x.png"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "matplotlib" in err and "fastnn[plot]" in err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args, match", [
    (["train", "--hidden", "64,x"], "--hidden"),
    (["train", "--hidden", "0"], "--hidden"),
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--lr", "-1"], "--lr"),
    (["train", "--optimizer", "rmsprop"], "--optimizer"),
    (["train", "--test-size", "1.5"], "--test-size"),
    ([], "COMMAND"),
])
def test_bad_options_exit_with_usage(args, match, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    assert info.value.code == 2
    assert match in capsys.readouterr().err


def test_bad_momentum_and_divergence_are_reported(capsys):
    assert cli.main(["train", "--momentum", "1.5", "--quiet"]) == 2
    assert "--momentum" in capsys.readouterr().err
    assert cli.main(["train", "--loss", "mse", "--activation", "identity", "--lr", "1e6",
                     "--epochs", "2", "--quiet"]) == 1
    assert "diverged at epoch 1" in capsys.readouterr().err


@pytest.mark.parametrize("cached", [True, False])
def test_first_run_says_it_is_compiling(cached, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_kernels_cached", lambda: cached)
    assert cli.main(["train", "--hidden", "8", "--epochs", "1"]) == 0
    said = "compiling fastnn's kernels" in capsys.readouterr().out
    assert said is not cached


def test_kernels_cached_sees_the_cache():
    fastnn.Network([2, 2, 1]).fit(*fastnn.datasets.make_xor(), epochs=1, verbose=0)
    assert cli._kernels_cached()


def test_export_onnx_writes_a_model_that_onnx_runtime_runs(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "digits.onnx"
    assert cli.main(["train", "--hidden", "8", "--epochs", "1", "--seed", "3",
                     "--save", str(tmp_path / "d.npz"), "--export-onnx", str(path), "--quiet"]) == 0
    assert f"exported the network to {path}" in capsys.readouterr().out
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    net = fastnn.load(tmp_path / "d.npz")
    X, _ = fastnn.datasets.load_digits()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": X.T[:50]})[0], net.predict(X[:, :50]).T,
                               rtol=1e-5, atol=1e-6)


def test_export_onnx_checks_its_folder_and_onnx_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fastnn.Network, "fit", lambda *a, **k: pytest.fail("trained before checking"))
    missing = tmp_path / "no" / "such" / "folder" / "m.onnx"
    assert cli.main(["train", "--export-onnx", str(missing), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert cli.main(["train", "--export-onnx", str(tmp_path / "m.onnx"), "--quiet"]) == 2
    assert "fastnn[onnx]" in capsys.readouterr().err


def test_mse_shows_no_accuracy_and_adam_has_fits_default_rate(capsys):
    assert cli.main(["train", "--loss", "mse", "--optimizer", "adam", "--epochs", "2",
                     "--hidden", "8"]) == 0
    captured = capsys.readouterr()
    assert f"Adam (lr {fastnn.Adam().lr})" in captured.out
    assert fastnn.Adam().lr == fastnn.optimizers.get_optimizer("adam").lr == 0.001
    assert "accuracy" not in captured.out and "acc " not in captured.err
    assert captured.out.splitlines()[-1].startswith("Test loss ")
