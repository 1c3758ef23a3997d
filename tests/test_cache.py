"""The kernel cache: fastnn imports and trains when the package folder or the cache
folder cannot be written, and recompiles instead of failing on a corrupt or stale cache.

Each case runs a fresh interpreter on a private copy of the package. Tests run as root
here, and root ignores permission bits, so "not writable" is simulated the way it fails
for Numba: the cache folder's path is taken by a regular file.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastnn

SETUP = (
    "import numpy as np, fastnn\n"
    "net = fastnn.Network([2, 3, 1], seed=0)\n"
    "X = np.array([[0., 1.], [1., 0.]]); Y = np.array([[1., 0.]])\n"
)
TRAIN = SETUP + "net.train_step(X, Y, lr=0.5)\nprint(repr(net.loss(X, Y)))\n"
# The cache's mechanics are the same for every kernel: the cases that compile twice use the
# forward kernel only, which compiles in a third of the time of the training step's kernels.
PREDICT = SETUP + "print(repr(float(net.predict(X).sum())))\n"


@pytest.fixture
def package_copy(tmp_path):
    """A private copy of the fastnn package (without cache files) and a runner for it."""
    root = tmp_path / "site"
    shutil.copytree(Path(fastnn.__file__).parent, root / "fastnn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    tmp = tmp_path / "tmp"
    tmp.mkdir()

    def run(prelude="", code=PREDICT):
        env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp), "HOME": str(tmp_path)}
        done = subprocess.run([sys.executable, "-c", prelude + code], cwd=root, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return float(done.stdout.strip())

    return root / "fastnn" / "kernels", tmp, run


def cache_files(folder):
    return sorted(p for p in folder.rglob("*") if p.suffix in (".nbi", ".nbc"))


def test_unwritable_package_folder_falls_back_to_a_temporary_cache(package_copy):
    kernels, tmp, run = package_copy
    (kernels / "__pycache__").write_text("not a folder")
    first = run()
    assert cache_files(tmp), "the kernels should be cached in the temporary folder"
    assert run() == first


def test_nothing_writable_still_trains_without_cache(package_copy):
    kernels, tmp, run = package_copy
    (kernels / "__pycache__").write_text("not a folder")
    blocker = tmp / "blocker"
    blocker.write_text("a file, so nothing can be created below it")
    prelude = f"import tempfile; tempfile.tempdir = {str(blocker / 'tmp')!r}\n"
    run(prelude, TRAIN)
    assert not cache_files(tmp)


def test_corrupt_cache_is_rebuilt(package_copy):
    kernels, tmp, run = package_copy
    first = run()
    files = cache_files(kernels / "__pycache__")
    assert files and not cache_files(tmp), "the cache belongs beside the package"
    for i, path in enumerate(files):
        data = path.read_bytes()
        path.write_bytes(b"garbage" if i % 2 else data[: len(data) // 2])
    assert run() == first
    rebuilt = cache_files(kernels / "__pycache__")
    assert rebuilt and all(len(p.read_bytes()) > len(b"garbage") for p in rebuilt)


def test_changed_helper_module_invalidates_every_kernel(package_copy):
    kernels, _, run = package_copy
    first = run()
    stamp = (kernels / "__pycache__" / "fastnn-kernels.stamp").read_text()
    with open(kernels / "losses.py", "a") as f:
        f.write("\n# a change to a helper module\n")
    assert run() == first
    assert (kernels / "__pycache__" / "fastnn-kernels.stamp").read_text() != stamp

