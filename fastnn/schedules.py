"""Learning-rate schedules: small objects that set an optimizer's ``lr`` between epochs.

They follow scikit-learn's MLP optimizers, which own their schedules: the fit loop tells
a schedule that an epoch begins (:meth:`Schedule.epoch_begins`) and ends
(:meth:`Schedule.epoch_ends`) and asks it what to do when training stopped improving
(:meth:`Schedule.no_improvement`); it never computes a step size itself. The same objects
serve ``Network.fit(..., schedule=...)`` (:class:`StepDecay`, :class:`ExponentialDecay`,
:class:`CosineDecay`, :class:`ReduceLROnPlateau`, as Keras's and PyTorch's schedules) and
the scikit-learn estimators (:class:`InvScaling`, :class:`Adaptive`).

The rate changes between epochs: every update of an epoch uses the rate the schedule set
when the epoch began (an epoch is one compiled call), as PyTorch's schedulers stepped once
per epoch and Keras's ``LearningRateScheduler`` do.
"""

import math
import numbers

import numpy as np

from ._validation import check_positive_float, check_positive_int, monitored


class Schedule:
    """A constant learning rate: the base class.

    Parameters
    ----------
    optimizer : Optimizer, optional
        Its ``lr`` is the schedule's to set; its value when bound is the initial rate.
        Without it, ``Network.fit`` binds the schedule to the optimizer of the fit.

    Attributes
    ----------
    optimizer : Optimizer or None
    initial_lr : float or None
        The optimizer's ``lr`` when the schedule was bound.
    epochs_done : int
        Epochs ended since the schedule was bound (the schedules of ``fit`` count them).
    """

    def __init__(self, optimizer=None):
        self.optimizer = None
        self.initial_lr = None
        self.epochs_done = 0
        if optimizer is not None:
            self.bind(optimizer)

    def bind(self, optimizer):
        """Take over ``optimizer``'s learning rate; its current ``lr`` is the initial rate."""
        lr = getattr(optimizer, "lr", None)
        if not isinstance(lr, float):
            raise TypeError(f"a schedule sets an optimizer's learning rate: optimizer must be a "
                            f"fastnn.SGD or fastnn.Adam; got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.initial_lr = lr
        self.epochs_done = 0

    def epoch_begins(self):
        """Called before every epoch of ``Network.fit``: set the rate of that epoch."""

    def epoch_ends(self, samples_seen, metrics=None):
        """Called after every epoch with the training samples seen so far (and, from
        ``Network.fit``, the epoch's metrics)."""

    def no_improvement(self):
        """Training stopped improving: return True to stop, False to go on.

        Returns
        -------
        (bool, str)
            Whether to stop, and what was done (for a verbose message).
        """
        return True, "Stopping."

    def __repr__(self):
        settings = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({settings})"

    def get_config(self):
        """The schedule's settings as a dict."""
        return {}


class EpochSchedule(Schedule):
    """A rate that is a function of the epoch: :meth:`lr_at` gives it, ``fit`` applies it.

    Subclasses define ``lr_at(epoch)``, the rate of the 0-based ``epoch``; they count
    the epochs themselves (:attr:`epochs_done`), so that successive ``fit`` calls with
    the same optimizer and schedule continue the schedule.
    """

    def lr_at(self, epoch):
        """The learning rate of the 0-based ``epoch`` (``initial_lr`` is the epoch-0 rate)."""
        raise NotImplementedError

    def epoch_begins(self):
        self.optimizer.lr = self.lr_at(self.epochs_done)

    def epoch_ends(self, samples_seen, metrics=None):
        self.epochs_done += 1


def _check_factor(value, name, upper_inclusive=False):
    """``value`` as a float in (0, 1) (or (0, 1]), else raise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in (0, 1); got {value!r} ({type(value).__name__})")
    value = float(value)
    if not (0.0 < value < 1.0 or (upper_inclusive and value == 1.0)):
        raise ValueError(f"{name} must be in (0, 1{']' if upper_inclusive else ')'}; got {value}; "
                         f"a factor below 1 lowers the learning rate")
    return value


class StepDecay(EpochSchedule):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs (PyTorch's ``StepLR``).

    ``lr(epoch) = initial_lr * gamma ** (epoch // step_size)``

    Parameters
    ----------
    step_size : int >= 1
    gamma : float in (0, 1], default 0.1
    optimizer : Optimizer, optional

    Examples
    --------
    >>> import fastnn
    >>> schedule = fastnn.StepDecay(step_size=2, gamma=0.5, optimizer=fastnn.SGD(0.1))
    >>> [schedule.lr_at(epoch) for epoch in range(5)]
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """

    def __init__(self, step_size, gamma=0.1, optimizer=None):
        self.step_size = check_positive_int(step_size, "step_size")
        self.gamma = _check_factor(gamma, "gamma", upper_inclusive=True)
        super().__init__(optimizer)

    def lr_at(self, epoch):
        return self.initial_lr * self.gamma ** (epoch // self.step_size)

    def get_config(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class ExponentialDecay(EpochSchedule):
    """Multiply the rate by ``gamma`` every epoch (PyTorch's ``ExponentialLR``).

    ``lr(epoch) = initial_lr * gamma ** epoch``

    Parameters
    ----------
    gamma : float in (0, 1]
    optimizer : Optimizer, optional
    """

    def __init__(self, gamma, optimizer=None):
        self.gamma = _check_factor(gamma, "gamma", upper_inclusive=True)
        super().__init__(optimizer)

    def lr_at(self, epoch):
        return self.initial_lr * self.gamma ** epoch

    def get_config(self):
        return {"gamma": self.gamma}


class CosineDecay(EpochSchedule):
    """Linear warm-up, then a half cosine from ``initial_lr`` down to ``min_lr``.

    For ``epoch < warmup``: ``lr = initial_lr * (epoch + 1) / warmup``; then, with
    ``t = (epoch - warmup) / (epochs - warmup)`` (held at its last value after ``epochs``)::

        lr = min_lr + (initial_lr - min_lr) * (1 + cos(pi * t)) / 2

    (Keras's ``CosineDecay`` with ``warmup_steps``; PyTorch's ``LinearLR`` then
    ``CosineAnnealingLR``.)

    Parameters
    ----------
    epochs : int >= 1
        Length of the schedule, warm-up included (usually ``fit``'s ``epochs``).
    warmup : int >= 0, default 0
        Warm-up epochs, fewer than ``epochs``.
    min_lr : float >= 0, default 0.0
        The rate the cosine tends to; below ``initial_lr``.
    optimizer : Optimizer, optional

    Examples
    --------
    >>> import fastnn
    >>> schedule = fastnn.CosineDecay(epochs=6, warmup=2, optimizer=fastnn.SGD(0.1))
    >>> [round(schedule.lr_at(epoch), 4) for epoch in range(6)]
    [0.05, 0.1, 0.1, 0.0854, 0.05, 0.0146]
    """

    def __init__(self, epochs, warmup=0, min_lr=0.0, optimizer=None):
        self.epochs = check_positive_int(epochs, "epochs")
        if isinstance(warmup, (bool, np.bool_)) or not isinstance(warmup, numbers.Integral):
            raise TypeError(f"warmup must be a non-negative integer (epochs); got {warmup!r}")
        if not 0 <= warmup < self.epochs:
            raise ValueError(f"warmup must be in [0, epochs) = [0, {self.epochs}); got {warmup}: the "
                             f"cosine needs at least one epoch after the warm-up")
        self.warmup = int(warmup)
        self.min_lr = check_positive_float(min_lr, "min_lr", allow_zero=True)
        super().__init__(optimizer)

    def bind(self, optimizer):
        super().bind(optimizer)
        if self.min_lr >= self.initial_lr:
            raise ValueError(f"min_lr ({self.min_lr:g}) must be below the optimizer's learning rate "
                             f"({self.initial_lr:g}), which the cosine starts from")

    def lr_at(self, epoch):
        if epoch < self.warmup:
            return self.initial_lr * (epoch + 1) / self.warmup
        decay = self.epochs - self.warmup
        t = min(epoch - self.warmup, decay - 1) / decay
        return self.min_lr + (self.initial_lr - self.min_lr) * (1.0 + math.cos(math.pi * t)) / 2.0

    def get_config(self):
        return {"epochs": self.epochs, "warmup": self.warmup, "min_lr": self.min_lr}


class ReduceLROnPlateau(Schedule):
    """Multiply the rate by ``factor`` when ``monitor`` stopped improving (Keras's
    ``ReduceLROnPlateau``).

    After an epoch, the monitored value improved if it is below the best so far by more
    than ``min_delta``; after ``patience`` epochs without improvement the rate becomes
    ``max(lr * factor, min_lr)``, and the count restarts after ``cooldown`` more epochs.

    Parameters
    ----------
    monitor : {"auto", "loss", "val_loss"}, default "auto"
        "auto": ``val_loss`` when ``fit`` has validation data, else ``loss``.
    factor : float in (0, 1), default 0.1
    patience : int >= 1, default 10
    min_delta : float >= 0, default 1e-4
    cooldown : int >= 0, default 0
    min_lr : float >= 0, default 0.0
        (A rate must stay above zero: with ``min_lr=0`` it keeps shrinking.)
    optimizer : Optimizer, optional
    """

    def __init__(self, monitor="auto", factor=0.1, patience=10, min_delta=1e-4, cooldown=0, min_lr=0.0,
                 optimizer=None):
        if monitor not in ("auto", "loss", "val_loss"):
            raise ValueError(f"monitor must be 'auto', 'loss' or 'val_loss'; got {monitor!r}")
        self.monitor = monitor
        self.factor = _check_factor(factor, "factor")
        self.patience = check_positive_int(patience, "patience")
        self.min_delta = check_positive_float(min_delta, "min_delta", allow_zero=True)
        if isinstance(cooldown, (bool, np.bool_)) or not isinstance(cooldown, numbers.Integral) or cooldown < 0:
            raise ValueError(f"cooldown must be a non-negative integer (epochs); got {cooldown!r}")
        self.cooldown = int(cooldown)
        self.min_lr = check_positive_float(min_lr, "min_lr", allow_zero=True)
        super().__init__(optimizer)

    def bind(self, optimizer):
        super().bind(optimizer)
        self.best = math.inf
        self.waited = 0
        self.cooling = 0

    def epoch_ends(self, samples_seen, metrics=None):
        self.epochs_done += 1
        if metrics is None:
            return
        _, value = monitored(metrics, self.monitor, "ReduceLROnPlateau",
                             "pass validation_data or monitor='loss'")
        if self.cooling > 0:
            self.cooling -= 1
            self.waited = 0
        if value < self.best - self.min_delta:
            self.best, self.waited = value, 0
            return
        if self.cooling > 0:
            return
        self.waited += 1
        if self.waited >= self.patience:
            lr = max(self.optimizer.lr * self.factor, self.min_lr)
            if lr > 0.0:
                self.optimizer.lr = lr
            self.waited = 0
            self.cooling = self.cooldown

    def get_config(self):
        return {"monitor": self.monitor, "factor": self.factor, "patience": self.patience,
                "min_delta": self.min_delta, "cooldown": self.cooldown, "min_lr": self.min_lr}


SCHEDULES = (StepDecay, ExponentialDecay, CosineDecay, ReduceLROnPlateau)
"""The schedules ``Network.fit`` documents (any :class:`Schedule` works)."""


class InvScaling(Schedule):
    """``lr = initial_lr / (samples_seen + 1) ** power_t`` (scikit-learn's "invscaling")."""

    def __init__(self, optimizer, power_t):
        super().__init__(optimizer)
        self.power_t = power_t

    def epoch_ends(self, samples_seen, metrics=None):
        self.optimizer.lr = self.initial_lr / (samples_seen + 1) ** self.power_t


class Adaptive(Schedule):
    """Divide ``lr`` by ``factor`` each time training stops improving, and stop only once
    ``lr`` is at most ``min_lr`` (scikit-learn's "adaptive": 5 and 1e-6)."""

    def __init__(self, optimizer, factor=5.0, min_lr=1e-6):
        super().__init__(optimizer)
        self.factor = factor
        self.min_lr = min_lr

    def no_improvement(self):
        if self.optimizer.lr > self.min_lr:
            self.optimizer.lr = self.optimizer.lr / self.factor
            return False, f"Setting learning rate to {self.optimizer.lr:f}"
        return True, "Stopping."
