"""fastnn: fast multi-layer perceptrons on the CPU, trained by Numba kernels.

Data is feature-major (one sample per column): ``X`` has shape (n_features, n_samples).
"""

from . import datasets
from .callbacks import Callback, ModelCheckpoint
from ._version import __version__
from .errors import CompileWarning, DivergenceError, FastnnWarning, TrainingWarning
from .gradcheck import gradcheck
from .layers import Dense
from .network import Network, load
from .optimizers import SGD, Adam
from .schedules import CosineDecay, ExponentialDecay, ReduceLROnPlateau, StepDecay
from .threads import get_num_threads, num_threads, set_num_threads
from .training import History

__all__ = [
    "Adam", "Callback", "CompileWarning", "CosineDecay", "Dense", "DivergenceError", "ExponentialDecay",
    "FastMLPClassifier", "FastMLPRegressor", "FastnnWarning", "History", "ModelCheckpoint", "Network",
    "ReduceLROnPlateau", "SGD", "StepDecay", "TrainingWarning", "datasets", "gradcheck",
    "get_num_threads", "load", "num_threads", "set_num_threads", "__version__",
]


_LAZY = ("FastMLPClassifier", "FastMLPRegressor")


def __dir__():
    # The lazily loaded estimators too, so that tab completion shows them.
    return sorted(set(globals()) | set(_LAZY))


def __getattr__(name):
    # The scikit-learn estimators load on first use: scikit-learn stays optional.
    if name in _LAZY:
        try:
            from . import sklearn
        except ModuleNotFoundError as err:
            if err.name is None or not err.name.startswith("sklearn"):
                raise
            raise ImportError(
                f"fastnn.{name} needs scikit-learn, which is not installed; install it with "
                f'pip install "fastnn[sklearn]" (or pip install scikit-learn)'
            ) from err
        return getattr(sklearn, name)
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")
