"""fastnn: fast multi-layer perceptrons on the CPU, trained by Numba kernels.

Data follows the seed's layout: one sample per COLUMN, ``X`` of shape
(n_features, n_samples).
"""

from .gradcheck import gradcheck
from .layers import Dense
from .network import Network
from .threads import get_num_threads, num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "Dense", "Network", "gradcheck", "get_num_threads", "num_threads", "set_num_threads", "__version__",
]
