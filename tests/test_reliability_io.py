"""Saved models survive interruption and hostile files.

- A process saving a large model in a loop over one path is killed with SIGKILL at
  several random moments: the path always holds the old model or the new one, loadable,
  never a broken file.
- Loading a file that would run code if unpickled never runs it (a marker file would
  appear), whatever the container: a raw pickle, an .npy/.npz holding object arrays, a
  pickle hidden under the right names. Future format versions, tampering and truncation
  get a ValueError that says what is wrong.
"""

import gc
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import io

ROOT = Path(fastnn.__file__).resolve().parent.parent

SAVER = """
import sys, numpy as np, fastnn
path = sys.argv[1]
nets = [fastnn.Network([300, 400, 300, 10], loss="cce", dtype=np.float64, seed=s) for s in (1, 2)]
nets[0].save(path)
print("ready", flush=True)
i = 0
while True:
    nets[i % 2].save(path)
    i += 1
"""

KILLS = 8


def test_save_killed_at_random_moments_leaves_the_old_or_the_new_model(tmp_path):
    path = tmp_path / "model.npz"
    expected = {seed: fastnn.Network([300, 400, 300, 10], loss="cce", dtype=np.float64, seed=seed).params
                for seed in (1, 2)}
    rng = np.random.default_rng(0)
    outcomes = []
    for kill in range(KILLS):
        saver = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                                 env=dict(os.environ, PYTHONPATH=str(ROOT)), text=True)
        try:
            assert saver.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.4))  # a save of this 2 MB model takes about 10-30 ms
        finally:
            saver.send_signal(signal.SIGKILL)
            saver.wait(timeout=60)
            saver.stdout.close()
        loaded = fastnn.load(path)  # never raises: the file is whole
        match = [seed for seed, params in expected.items() if np.array_equal(loaded.params, params)]
        assert len(match) == 1
        outcomes.append(match[0])
        # A killed save can leave its temporary file behind (SIGKILL skips the cleanup);
        # it is hidden ('.model.npz.*.tmp') and never mistaken for the model.
        for leftover in tmp_path.glob(".model.npz.*.tmp"):
            leftover.unlink()
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    print("kills landed on model", outcomes)


def test_next_save_removes_old_temporaries_of_killed_saves(tmp_path):
    """What a killed save leaves ('.model.npz.XXXX.tmp') goes at the next save once it is
    older than STALE_TMP_SECONDS; a recent one (a save running elsewhere) and every other
    file stay."""
    from fastnn import io

    path = tmp_path / "model.npz"
    old = tmp_path / ".model.npz.abc123.tmp"
    recent = tmp_path / ".model.npz.def456.tmp"
    other_model = tmp_path / ".other.npz.abc123.tmp"
    lookalike = tmp_path / "model.npz.abc123.tmp"
    for leftover in (old, recent, other_model, lookalike):
        leftover.write_bytes(b"partial")
    stale = time.time() - io.STALE_TMP_SECONDS - 60
    for leftover in (old, other_model, lookalike):
        os.utime(leftover, (stale, stale))
    fastnn.Network([3, 2], seed=0).save(path)
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in (path, recent, other_model, lookalike))
    np.testing.assert_array_equal(fastnn.load(path).params, fastnn.Network([3, 2], seed=0).params)


class Marker:
    """Unpickling this creates the marker file: the proof that code ran."""

    path = None

    def __reduce__(self):
        return (Path.touch, (Marker.path,))


def hostile_files(tmp_path, net):
    header = np.frombuffer(json.dumps(io.header(net)).encode(), dtype=np.uint8)
    evil = np.array([Marker()], dtype=object)
    files = {}

    def write(name, writer):
        files[name] = tmp_path / name
        with open(files[name], "wb") as handle:
            writer(handle)

    write("raw.pkl", lambda h: pickle.dump(Marker(), h))
    write("npy_object.npz", lambda h: np.save(h, evil, allow_pickle=True))
    write("npz_object_params.npz", lambda h: np.savez(h, header=header, params=evil))
    write("npz_object_header.npz", lambda h: np.savez(h, header=evil, params=net.params))
    write("npz_extra_object.npz", lambda h: np.savez(h, header=header, params=net.params, x=evil))
    # The right names, but the array file inside the zip is a pickle.
    import zipfile
    with zipfile.ZipFile(tmp_path / "zip_pickle.npz", "w") as archive:
        archive.writestr("header.npy", pickle.dumps(Marker()))
        archive.writestr("params.npy", pickle.dumps(Marker()))
    files["zip_pickle.npz"] = tmp_path / "zip_pickle.npz"
    return files


def test_no_file_ever_runs_code(tmp_path):
    Marker.path = tmp_path / "code-ran"
    net = fastnn.Network([3, 4, 2], seed=0)
    for name, path in hostile_files(tmp_path, net).items():
        with pytest.raises(ValueError, match="not a valid fastnn model file"):
            fastnn.load(path)
        assert not Marker.path.exists(), f"loading {name} ran code"
    # The marker does work: unpickling one creates the file.
    pickle.loads(pickle.dumps(Marker()))
    assert Marker.path.exists()


@pytest.mark.parametrize("version", [2, 99, "1", 1.0, None, -1])
def test_other_format_versions_are_refused(tmp_path, version):
    net = fastnn.Network([3, 4, 2], seed=0)
    header = io.header(net)
    header["version"] = version
    path = tmp_path / "future.npz"
    with open(path, "wb") as handle:
        np.savez(handle, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                 params=net.params)
    if version == 1.0:  # JSON 1.0 == 1: the same version, read
        assert fastnn.load(path).sizes == [3, 4, 2]
        return
    with pytest.raises(ValueError, match="format version .* is not supported"):
        fastnn.load(path)


def test_every_truncation_and_every_single_byte_change_is_caught(tmp_path):
    """Cut the file at every 7th length, and flip each byte of a small model in turn:
    load either raises ValueError or returns a network that predicts exactly as the saved
    one (a flipped byte in zip padding or metadata that nothing reads)."""
    net = fastnn.Network([2, 3, 1], seed=0)
    good = tmp_path / "good.npz"
    net.save(good)
    data = good.read_bytes()
    X = np.random.default_rng(0).standard_normal((2, 5))
    bad = tmp_path / "bad.npz"
    outcomes = {"error": 0, "same": 0}
    fds = open_files()
    for cut in range(0, len(data), 7):
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError):
            fastnn.load(bad)
        outcomes["error"] += 1
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0xFF
        bad.write_bytes(bytes(flipped))
        try:
            loaded = fastnn.load(bad)
        except ValueError:
            outcomes["error"] += 1
            continue
        np.testing.assert_array_equal(loaded.params, net.params)
        assert np.array_equal(loaded.predict(X), net.predict(X))
        outcomes["same"] += 1
    gc.collect()
    assert open_files() == fds, "load leaked file handles"
    print(len(data), "bytes:", outcomes)


def open_files():
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0
