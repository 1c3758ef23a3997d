"""The shipped digits and the generated datasets, split and one-hot helpers."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import datasets

DIGITS_SHA256 = "e3d1f5c6b086507a9fdeb197464080be06e2aae2d183e22a89630f2e6377c8df"


def test_digits_file_is_the_documented_one():
    path = Path(datasets.__file__).with_name("digits.npz")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == DIGITS_SHA256
    readme = path.with_name("README.md").read_text()
    assert DIGITS_SHA256 in readme and "CC BY 4.0" in readme


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_load_digits(dtype):
    X, y = datasets.load_digits(dtype=dtype)
    assert X.shape == (64, 1797) and X.dtype == dtype and X.flags.c_contiguous
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 1
    assert np.all(np.bincount(y) >= 174) and set(np.unique(y)) == set(range(10))
    raw, _ = datasets.load_digits(dtype=dtype, scale=False)
    np.testing.assert_array_equal(raw / 16, X)
    assert set(np.unique(raw)) <= set(range(17))


def test_load_digits_matches_scikit_learn():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    ref = sklearn_datasets.load_digits()
    X, y = datasets.load_digits(dtype=np.float64, scale=False)
    np.testing.assert_array_equal(X, ref.data.T)
    np.testing.assert_array_equal(y, ref.target)


def test_make_xor_truth_table_and_noisy():
    X, y = datasets.make_xor()
    np.testing.assert_array_equal(X, [[0, 0, 1, 1], [0, 1, 0, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    X, y = datasets.make_xor(10, noise=0.1, seed=1, dtype=np.float64)
    assert X.shape == (2, 10) and X.dtype == np.float64 and y.shape == (10,)
    np.testing.assert_array_equal(y, np.tile([0, 1, 1, 0], 3)[:10])
    assert np.abs(X - np.round(X)).max() < 0.5


def test_make_moons():
    X, y = datasets.make_moons(201, noise=0.0, seed=0)
    assert X.shape == (2, 201) and X.dtype == np.float32 and y.shape == (201,)
    assert np.sum(y == 0) == 100 and np.sum(y == 1) == 101
    upper, lower = X[:, y == 0], X[:, y == 1]
    np.testing.assert_allclose(np.hypot(*upper), 1, rtol=1e-6)
    np.testing.assert_allclose(np.hypot(lower[0] - 1, lower[1] - 0.5), 1, rtol=1e-6)
    a = datasets.make_moons(50, noise=0.2, seed=3)
    b = datasets.make_moons(50, noise=0.2, seed=3)
    c = datasets.make_moons(50, noise=0.2, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_make_spirals():
    X, y = datasets.make_spirals(301, classes=4, seed=0)
    assert X.shape == (2, 301) and y.shape == (301,)
    np.testing.assert_array_equal(np.bincount(y), [76, 75, 75, 75])
    assert np.all(np.hypot(*X) <= 1 + 1e-6)
    np.testing.assert_array_equal(datasets.make_spirals(30, seed=2)[0], datasets.make_spirals(30, seed=2)[0])


def test_one_hot():
    Y = datasets.one_hot([2, 0, 1, 2])
    np.testing.assert_array_equal(Y, [[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]])
    assert Y.dtype == np.float32
    assert datasets.one_hot(np.array([0, 1]), 5, dtype=np.float64).shape == (5, 2)
    np.testing.assert_array_equal(np.argmax(datasets.one_hot(np.array([3.0, 1.0])), axis=0), [3, 1])
    with pytest.raises(ValueError, match="n_classes is 2"):
        datasets.one_hot([0, 2], 2)
    with pytest.raises(ValueError, match=">= 0"):
        datasets.one_hot([-1, 0])
    with pytest.raises(ValueError, match="1-D"):
        datasets.one_hot(np.zeros((2, 2), int))
    with pytest.raises(TypeError, match="integer"):
        datasets.one_hot([0.5, 1])


def test_train_test_split_partitions_the_columns():
    X = np.arange(30).reshape(3, 10)
    y = np.arange(10) * 10
    Y = np.arange(20).reshape(2, 10)
    X_train, X_test, y_train, y_test, Y_train, Y_test = datasets.train_test_split(X, y, Y, test_size=0.3, seed=1)
    assert X_test.shape == (3, 3) and X_train.shape == (3, 7)
    assert sorted(np.concatenate([X_train[0], X_test[0]])) == list(range(10))
    np.testing.assert_array_equal(y_train, X_train[0] * 10)
    np.testing.assert_array_equal(Y_test[0], X_test[0])
    assert datasets.train_test_split(X, test_size=4)[1].shape == (3, 4)
    a = datasets.train_test_split(X, seed=5)
    b = datasets.train_test_split(X, seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(datasets.train_test_split(X, test_size=2, shuffle=False)[1], X[:, :2])


@pytest.mark.parametrize("call, error, match", [
    (lambda: datasets.train_test_split(np.zeros((2, 5)), np.zeros(4)), ValueError, "arrays.1. has 4"),
    (lambda: datasets.train_test_split(np.zeros((2, 5)), test_size=1.5), ValueError, "test_size"),
    (lambda: datasets.train_test_split(np.zeros((2, 5)), test_size=5), ValueError, "test_size"),
    (lambda: datasets.train_test_split(np.zeros((2, 5)), test_size="a"), TypeError, "test_size"),
    (lambda: datasets.train_test_split(), TypeError, "at least one"),
    (lambda: datasets.make_moons(0), ValueError, "n"),
    (lambda: datasets.make_moons(10, noise=-1), ValueError, "noise"),
    (lambda: datasets.make_spirals(10, classes=1), ValueError, "classes"),
    (lambda: datasets.load_digits(dtype=np.int32), TypeError, "dtype"),
])
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_datasets_feed_networks_directly():
    X, y = datasets.make_xor()
    net = fastnn.Network([2, 4, 1], seed=0)
    assert net.evaluate(X, y)[0] == pytest.approx(net.loss(X, y.reshape(1, -1)))
