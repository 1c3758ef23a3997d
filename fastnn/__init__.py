"""fastnn: fast multi-layer perceptrons on the CPU, trained by Numba kernels.

Data follows the seed's layout: one sample per COLUMN, ``X`` of shape
(n_features, n_samples).
"""

from .gradcheck import gradcheck
from .layers import Dense
from .network import Network

__version__ = "0.1.0"

__all__ = ["Dense", "Network", "gradcheck", "__version__"]


def __getattr__(name):
    # The scikit-learn estimators load on first use: scikit-learn stays optional.
    if name in ("FastMLPClassifier", "FastMLPRegressor"):
        from . import sklearn

        return getattr(sklearn, name)
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")
