"""fastnn's own exception and warnings, and the one message for an update that would diverge.

The bottom of the package: it imports nothing of fastnn, so every module may raise it.
"""

import numpy as np


class DivergenceError(FloatingPointError):
    """Training produced a NaN or infinite loss or parameter.

    The network keeps the last finite weights: those before the failing update.

    Attributes
    ----------
    epoch : int or None
        1-based epoch of the failure (None outside ``fit``).
    batch : int or None
        1-based (micro-)batch of that epoch.
    history : History or None
        The metrics of the epochs completed before.
    """

    def __init__(self, message, epoch=None, batch=None, history=None):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.history = history


class FastnnWarning(UserWarning):
    """Base class of fastnn's warnings: ``warnings.filterwarnings("ignore",
    category=fastnn.FastnnWarning)`` silences them all."""


class CompileWarning(FastnnWarning):
    """Once per process: fastnn's kernels are being compiled (10-30 s), not loaded from
    Numba's on-disk cache."""


class TrainingWarning(FastnnWarning):
    """A fit ended without having learnt: at chance accuracy, or with the loss far above
    where it started."""


def update_refused(dtype, lr, X=None, what="the network keeps its weights"):
    """The DivergenceError for one update that was refused or undone.

    Parameters
    ----------
    dtype : numpy dtype
        The network's dtype (named as the one that overflowed).
    lr : float
        The learning rate, named in the fix.
    X : ndarray, optional
        The batch: its largest magnitude is named in the fix.
    what : str
        What was kept, e.g. "the network and the optimizer keep their state".
    """
    cause = f"lower lr (got {lr:g})"
    if X is not None:
        cause += f" or scale X (the largest |X| is {float(np.abs(X).max()):.3g})"
    return DivergenceError(
        f"the update made weights NaN or infinite ({np.dtype(dtype).name} overflow); {what} "
        f"from before the update. To fix it, {cause}")


def training_diverged(epoch, batch, what, lr, history):
    """The DivergenceError of a fit that stopped at ``epoch``, ``batch`` (1-based)."""
    return DivergenceError(
        f"training diverged at epoch {epoch}, batch {batch}: the {what} became "
        f"NaN or infinite; the network keeps the last finite weights. Lower the "
        f"learning rate (optimizer lr={lr:g}) or scale the inputs.",
        epoch, batch, history)
