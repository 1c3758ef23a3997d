"""Shared cases of the kernel tests: codes, the loss/activation pairings, seeded draws."""

import zlib

import numpy as np

from fastnn.kernels import activations, losses

ACT = activations.CODES
LOSS = losses.CODES
# Every (loss, output activation) pairing the API allows.
PAIRINGS = [("bce", "sigmoid"), ("cce", "softmax"), ("mse", "identity"), ("mse", "sigmoid"),
            ("mse", "tanh"), ("mse", "relu"), ("mse", "softmax")]


def rng_for(*key):
    """A Generator seeded from a test's parameters, so each case draws its own data
    (crc32 of their text: stable across runs, unlike ``hash``)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def targets(rng, loss, n, m, dtype):
    if loss == "bce":
        return rng.uniform(0, 1, (n, m)).astype(dtype)
    if loss == "cce":
        return np.eye(n, dtype=dtype)[:, rng.integers(0, n, m)]
    return rng.standard_normal((n, m)).astype(dtype)
