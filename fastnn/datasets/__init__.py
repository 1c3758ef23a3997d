"""Datasets that ship with fastnn or are generated on the spot; no network access.

Everything is feature-major (one sample per column): ``X`` of shape
(n_features, n_samples), and labels ``y`` as an int64 array of shape (n_samples,). A network
with one sigmoid output trains on ``y`` directly (or ``y.reshape(1, -1)``); for several
outputs, ``one_hot(y)`` gives targets of shape (n_classes, n_samples) (``fit`` and
``evaluate`` also accept the 1-D labels and one-hot encode them).

Examples
--------
>>> from fastnn import datasets
>>> X, y = datasets.load_digits()
>>> X.shape, y.shape, X.dtype
((64, 1797), (1797,), dtype('float32'))
>>> X_train, X_test, y_train, y_test = datasets.train_test_split(X, y, test_size=0.25, seed=0)
>>> X_train.shape, datasets.one_hot(y_test).shape
((64, 1347), (10, 450))
"""

import numbers
from pathlib import Path

import numpy as np

from .._validation import check_dtype, check_positive_float, check_positive_int

_HERE = Path(__file__).resolve().parent

__all__ = ["load_digits", "make_moons", "make_spirals", "make_xor", "one_hot", "train_test_split"]


def __dir__():
    # The datasets only: not the modules and helpers this one imports (np, Path, ...).
    return list(__all__)


def load_digits(dtype=np.float32, scale=True):
    """The 8x8 handwritten digits: 1,797 images of 0-9, shipped with fastnn.

    Parameters
    ----------
    dtype : float32 or float64, default float32
    scale : bool, default True
        Divide the pixel counts (0..16) by 16, into [0, 1].

    Returns
    -------
    X : ndarray of shape (64, 1797)
        One image per column, pixels in row-major order.
    y : int64 ndarray of shape (1797,)
        The digits.

    Notes
    -----
    The test set of the UCI "Optical Recognition of Handwritten Digits" data
    (Alpaydin and Kaynak, 1998, CC BY 4.0), as bundled with scikit-learn; see
    ``fastnn/datasets/README.md`` for the source and conversion.
    """
    dtype = check_dtype(dtype)
    with np.load(_HERE / "digits.npz", allow_pickle=False) as data:
        images = data["images"]
        target = data["target"]
    X = np.ascontiguousarray(images.T, dtype=dtype)
    if scale:
        X /= dtype.type(16)
    return X, target.astype(np.int64)


def _rng(seed):
    return np.random.default_rng(seed)


def make_xor(n=4, noise=0.0, seed=0, dtype=np.float32):
    """The XOR problem: label 1 when exactly one of the two inputs is 1.

    Parameters
    ----------
    n : int, default 4
        Samples; the four corners (0,0), (0,1), (1,0), (1,1) repeated in turn, so
        ``n=4`` is the truth table.
    noise : float, default 0.0
        Standard deviation of Gaussian noise added to the inputs.
    seed : int or None, default 0
    dtype : float32 or float64

    Returns
    -------
    X : ndarray of shape (2, n)
    y : int64 ndarray of shape (n,)
    """
    n = check_positive_int(n, "n")
    noise = check_positive_float(noise, "noise", allow_zero=True)
    dtype = check_dtype(dtype)
    corners = np.array([[0, 0, 1, 1], [0, 1, 0, 1]], dtype=np.float64)
    X = np.tile(corners, (1, -(-n // 4)))[:, :n]
    y = (X[0] != X[1]).astype(np.int64)
    if noise:
        X = X + _rng(seed).normal(0.0, noise, size=X.shape)
    return np.ascontiguousarray(X, dtype=dtype), y


def make_moons(n=200, noise=0.1, seed=0, dtype=np.float32):
    """Two interleaving half circles (as ``sklearn.datasets.make_moons``).

    Parameters
    ----------
    n : int, default 200
        Samples; ``n // 2`` on the upper moon (label 0), the rest on the lower (label 1).
    noise : float, default 0.1
        Standard deviation of Gaussian noise added to the points.
    seed : int or None, default 0
    dtype : float32 or float64

    Returns
    -------
    X : ndarray of shape (2, n)
        Samples in a random order.
    y : int64 ndarray of shape (n,)

    Notes
    -----
    Upper moon: ``(cos t, sin t)``; lower moon: ``(1 - cos t, 0.5 - sin t)``, with t
    evenly spaced in [0, pi].
    """
    n = check_positive_int(n, "n")
    noise = check_positive_float(noise, "noise", allow_zero=True)
    dtype = check_dtype(dtype)
    rng = _rng(seed)
    n_upper = n // 2
    n_lower = n - n_upper
    t_upper = np.linspace(0, np.pi, n_upper)
    t_lower = np.linspace(0, np.pi, n_lower)
    X = np.concatenate([
        np.stack([np.cos(t_upper), np.sin(t_upper)]),
        np.stack([1 - np.cos(t_lower), 0.5 - np.sin(t_lower)]),
    ], axis=1)
    y = np.concatenate([np.zeros(n_upper, np.int64), np.ones(n_lower, np.int64)])
    order = rng.permutation(n)
    X, y = X[:, order], y[order]
    if noise:
        X = X + rng.normal(0.0, noise, size=X.shape)
    return np.ascontiguousarray(X, dtype=dtype), y


def make_spirals(n=300, classes=3, seed=0, noise=0.2, dtype=np.float32):
    """Interleaved spiral arms, one per class (the CS231n toy problem).

    Parameters
    ----------
    n : int, default 300
        Samples in all, shared as evenly as possible between the classes.
    classes : int, default 3
        Number of arms (classes), >= 2.
    seed : int or None, default 0
    noise : float, default 0.2
        Standard deviation of the Gaussian noise on each point's angle.
    dtype : float32 or float64

    Returns
    -------
    X : ndarray of shape (2, n)
        Samples in a random order, within the unit disc.
    y : int64 ndarray of shape (n,)

    Notes
    -----
    Arm k: radius r evenly spaced in [0, 1], angle ``4 k + 4 r + noise``, point
    ``(r sin angle, r cos angle)``.
    """
    n = check_positive_int(n, "n")
    classes = check_positive_int(classes, "classes")
    if classes < 2:
        raise ValueError(f"classes must be at least 2; got {classes}")
    noise = check_positive_float(noise, "noise", allow_zero=True)
    dtype = check_dtype(dtype)
    rng = _rng(seed)
    counts = [n // classes + (1 if k < n % classes else 0) for k in range(classes)]
    points, labels = [], []
    for k, count in enumerate(counts):
        r = np.linspace(0.0, 1.0, count)
        angle = 4.0 * k + 4.0 * r + rng.normal(0.0, noise, size=count)
        points.append(np.stack([r * np.sin(angle), r * np.cos(angle)]))
        labels.append(np.full(count, k, dtype=np.int64))
    X = np.concatenate(points, axis=1)
    y = np.concatenate(labels)
    order = rng.permutation(n)
    return np.ascontiguousarray(X[:, order], dtype=dtype), y[order]


def one_hot(y, n_classes=None, dtype=np.float32):
    """One-hot targets, feature-major (one sample per column): shape (n_classes, m).

    Parameters
    ----------
    y : array_like of int, shape (m,)
        Class labels in ``0 .. n_classes - 1``.
    n_classes : int, optional
        Defaults to ``max(y) + 1``.
    dtype : float32 or float64

    Returns
    -------
    ndarray of shape (n_classes, m)
        ``Y[y[j], j] = 1``, zeros elsewhere.
    """
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError(f"y must be a 1-D array of class labels; got shape {labels.shape}")
    if labels.size == 0:
        raise ValueError("y is empty; it needs at least one label")
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise TypeError(f"y must hold integer class labels; got dtype {labels.dtype}")
    if labels.min() < 0:
        raise ValueError(f"y must hold labels >= 0; got {labels.min()}")
    if n_classes is None:
        n_classes = int(labels.max()) + 1
    n_classes = check_positive_int(n_classes, "n_classes")
    if labels.max() >= n_classes:
        raise ValueError(f"y holds the label {labels.max()} but n_classes is {n_classes}")
    Y = np.zeros((n_classes, labels.size), dtype=check_dtype(dtype))
    Y[labels, np.arange(labels.size)] = 1
    return Y


def train_test_split(*arrays, test_size=0.25, seed=0, shuffle=True):
    """Split arrays along their LAST axis (samples) into train and test parts.

    Parameters
    ----------
    *arrays : array_like
        Each of shape (..., m): ``X`` (n_features, m), 1-D labels (m,) or targets
        (n_L, m), all with the same m.
    test_size : float or int, default 0.25
        A fraction in (0, 1) of the samples, or a number of samples.
    seed : int or None, default 0
        Seeds the shuffling.
    shuffle : bool, default True

    Returns
    -------
    list of ndarray
        ``[a_train, a_test, b_train, b_test, ...]``, as ``sklearn.model_selection``.
    """
    if not arrays:
        raise TypeError("train_test_split needs at least one array")
    arrays = [np.asarray(a) for a in arrays]
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"arrays[{i}] is a scalar; expected samples along the last axis")
    m = arrays[0].shape[-1]
    for i, a in enumerate(arrays[1:], start=1):
        if a.shape[-1] != m:
            raise ValueError(
                f"arrays[{i}] has {a.shape[-1]} samples (last axis) but arrays[0] has {m}"
            )
    if isinstance(test_size, (bool, np.bool_)) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a fraction or a number of samples; got {test_size!r}")
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
    elif 0 < test_size < 1:
        n_test = int(np.ceil(test_size * m))
    else:
        raise ValueError(f"test_size must be a fraction in (0, 1) or an integer; got {test_size}")
    if not 1 <= n_test < m:
        raise ValueError(
            f"test_size={test_size} leaves {n_test} test and {m - n_test} training samples "
            f"out of {m}; both need at least one"
        )
    order = _rng(seed).permutation(m) if shuffle else np.arange(m)
    train, test = order[n_test:], order[:n_test]
    out = []
    for a in arrays:
        out.append(np.ascontiguousarray(a[..., train]))
        out.append(np.ascontiguousarray(a[..., test]))
    return out
