"""The losses a network can train with: accepted names, implied outputs, target ranges."""

import numpy as np

from ._validation import check_choice

LOSSES = {
    "bce": "bce", "binary_crossentropy": "bce", "log_loss": "bce",
    "cce": "cce", "categorical_crossentropy": "cce", "ce": "cce", "cross_entropy": "cce",
    "mse": "mse", "mean_squared_error": "mse",
    "poisson": "poisson",
}
"""Accepted loss names -> canonical name."""

OUTPUT_ACTIVATION = {"bce": "sigmoid", "cce": "softmax", "mse": "identity", "poisson": "exp"}
"""The output activation each loss implies (bce, cce and poisson require it)."""

TARGET_RANGE = {"bce": (0.0, 1.0), "cce": (0.0, 1.0), "mse": (-np.inf, np.inf), "poisson": (0.0, np.inf)}
"""The values each loss accepts as targets (finite in every case)."""

CLASSIFICATION = ("bce", "cce")
"""The losses of classifiers (accuracy, class weights); "mse" and "poisson" are regression."""


def check_loss(loss, name="loss"):
    """The canonical name of ``loss`` (aliases accepted), else ValueError/TypeError."""
    return check_choice(loss, name, LOSSES)
