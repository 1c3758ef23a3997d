"""The bundles of arrays and settings that kernels take, and their one status convention.

Each bundle is a ``typing.NamedTuple``, so a kernel reads its fields by name and two
bundles cannot be swapped without a compile error. The per-step kernels
(:mod:`fastnn.kernels.network`) take the fields they need as loose arguments, in the
field order (a test checks the names), because Numba types a tuple argument in Python on
every call, a few microseconds (the tiny workload of ``python -m asv_benchmarks.compare``
shows it); the API passes them with ``*net.kernel_buffers``. The epoch kernel, called
once per epoch, takes the bundles themselves.
"""

from typing import NamedTuple

import numpy as np


# The columns of a network's ``layout`` (one row per layer).
N_IN = 0
N_OUT = 1
W_OFF = 2
B_OFF = 3
ACT = 4


class NetBuffers(NamedTuple):
    """A network's flat buffers (see :mod:`fastnn.kernels.network` for ``layout``)."""

    params: np.ndarray
    """(p,) float32/float64: every layer's ``W`` (row-major) then ``b``."""
    grads: np.ndarray
    """(p,) same dtype: the accumulated gradients, laid out as ``params``."""
    layout: np.ndarray
    """(L, 5) int64: ``[n_in, n_out, w_offset, b_offset, activation_code]`` per layer."""
    loss: int
    """Loss code (:data:`fastnn.kernels.losses.CODES`)."""


class OptBuffers(NamedTuple):
    """An optimizer's kernel code, hyperparameters and flat state."""

    code: int
    """:data:`fastnn.kernels.optimizers.CODES`."""
    hyper: np.ndarray
    """float64 (N_HYPER,): learning rate first (:mod:`fastnn.kernels.optimizers`)."""
    state: np.ndarray
    """Momentum buffer or Adam moments, the params' dtype, updated in place."""


class EpochOpt(NamedTuple):
    """An optimizer as the epoch kernel takes it: the TYPE of ``state`` selects the update
    (:func:`fastnn.kernels.optimizers.epoch_opt` builds it from :class:`OptBuffers`), so a
    run compiles only its own optimizer's kernel."""

    hyper: np.ndarray
    """float64 (N_HYPER,), as in :class:`OptBuffers`."""
    state: object
    """None: SGD without momentum; (p,): SGD's momentum buffer; (2, p): Adam's ``m`` and
    ``v`` (a view of the flat moments). The params' dtype, updated in place."""


class Data(NamedTuple):
    """Training data held sample-major (one sample per ROW)."""

    Xs: np.ndarray
    """(N, n_0), C-contiguous."""
    Ys: np.ndarray
    """(N, n_L), C-contiguous."""


class EpochPlan(NamedTuple):
    """How an epoch is cut into updates."""

    batch_size: int
    """Samples per micro-batch ``s``; the last one of an epoch has the remainder."""
    micro_batches: int
    """Micro-batches per update ``k`` (the last group of an epoch may have fewer)."""
    stop: int
    """Micro-batches of the LAST epoch of a call to train (a negative value: all)."""


class Penalty(NamedTuple):
    """scikit-learn's per-batch L2 penalty and loss scaling; ``NO_PENALTY`` is plain fastnn."""

    alpha: float
    """A batch of m samples adds ``0.5 alpha sum ||W||^2 / m`` to its loss and ``alpha W / m``
    to ``dW`` (biases get none)."""
    grad_scale: float
    """Factor on the data gradient before the penalty is added."""
    loss_scale: float
    """Factor on the data loss before the penalty is added."""


NO_PENALTY = Penalty(0.0, 1.0, 1.0)

# Status codes, the same for every kernel that reports one.
OK = 0
"""Everything asked for was done."""
BAD_BATCH = 1
"""The batch is not finite or its targets are out of range; nothing was computed."""
LOSS_NOT_FINITE = 2
"""A batch's loss was NaN or infinite; its gradient was not used (parameters as after the
last update)."""
PARAMS_NOT_FINITE = 3
"""An update made a parameter NaN or infinite. Kernels that say so refuse it (parameters
unchanged); the epoch kernel has written it, and its caller restores and replays."""
