"""Learning-rate schedules: small objects that set an optimizer's ``lr`` during a fit.

They follow scikit-learn's MLP optimizers, which own their schedules: the fit loop tells
a schedule that an epoch begins (:meth:`Schedule.epoch_begins`) and ends
(:meth:`Schedule.epoch_ends`) and asks it what to do when training stopped improving
(:meth:`Schedule.no_improvement`); it never computes a step size itself. The same objects
serve ``Network.fit(..., schedule=...)`` (:class:`StepDecay`, :class:`ExponentialDecay`,
:class:`CosineDecay`, :class:`ReduceLROnPlateau`, as Keras's and PyTorch's schedules) and
the scikit-learn estimators (:class:`InvScaling`, :class:`Adaptive`).

A rate that is a function of time (:class:`StepDecay`, :class:`ExponentialDecay`,
:class:`CosineDecay`) counts it in epochs (``per="epoch"``, the default: every update of
an epoch uses the rate set when the epoch began, as PyTorch's schedulers stepped once per
epoch) or in updates (``per="step"``: each update has its own rate, as Keras's
``LearningRateSchedule``; the compiled epoch receives the rates of its updates).
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

    def step_rates(self, updates):
        """Called after :meth:`epoch_begins`: the rates of the epoch's ``updates`` updates
        (float64 array), or None: the optimizer's ``lr`` then holds for the whole epoch."""
        return None

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
        """The schedule's settings as a dict (the keyword arguments that rebuild it)."""
        return {}

    def get_state(self):
        """What the schedule has counted since it was bound, as a JSON-ready dict (a
        checkpoint stores it with :meth:`get_config`; :func:`from_state` restores both)."""
        return {"initial_lr": self.initial_lr, "epochs_done": self.epochs_done}

    def _set_state(self, state):
        self.initial_lr = _state_value(state, "initial_lr", float)
        self.epochs_done = _state_value(state, "epochs_done", int)


class EpochSchedule(Schedule):
    """A rate that is a function of time: :meth:`lr_at` gives it, ``fit`` applies it.

    Subclasses define ``lr_at(t)``, the rate at the 0-based time ``t``: the epoch
    (``per="epoch"``) or the update (``per="step"``). They count the epochs and updates
    themselves (:attr:`epochs_done`, :attr:`steps_done`), so that successive ``fit`` calls
    with the same optimizer and schedule continue the schedule.

    Attributes
    ----------
    per : {"epoch", "step"}
    steps_done : int
        Updates whose rates were given since the schedule was bound (``per="step"``).
    """

    def __init__(self, optimizer=None, per="epoch"):
        if per not in ("epoch", "step"):
            raise ValueError(f"per must be 'epoch' (one rate per epoch) or 'step' (one rate per update); "
                             f"got {per!r}")
        self.per = per
        self.steps_done = 0
        super().__init__(optimizer)

    def bind(self, optimizer):
        super().bind(optimizer)
        self.steps_done = 0

    def lr_at(self, t):
        """The learning rate at the 0-based epoch or update ``t`` (``initial_lr`` at 0)."""
        raise NotImplementedError

    def epoch_begins(self):
        if self.per == "epoch":
            self.optimizer.lr = self.lr_at(self.epochs_done)

    def step_rates(self, updates):
        # per="step": the rates of the next updates, counted as given
        if self.per == "epoch":
            return None
        start = self.steps_done
        self.steps_done += updates
        return np.array([self.lr_at(start + t) for t in range(updates)], dtype=np.float64)

    def epoch_ends(self, samples_seen, metrics=None):
        self.epochs_done += 1

    def get_config(self):
        return {"per": self.per} if self.per != "epoch" else {}

    def get_state(self):
        return {**super().get_state(), "steps_done": self.steps_done}

    def _set_state(self, state):
        super()._set_state(state)
        self.steps_done = _state_value(state, "steps_done", int)


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
    """Multiply the rate by ``gamma`` every ``step_size`` epochs (PyTorch's ``StepLR``), or
    updates with ``per="step"``.

    ``lr(t) = initial_lr * gamma ** (t // step_size)``

    Parameters
    ----------
    step_size : int >= 1
    gamma : float in (0, 1], default 0.1
    optimizer : Optimizer, optional
    per : {"epoch", "step"}, default "epoch"
        What ``t`` and ``step_size`` count: epochs, or updates (Keras's ``staircase``
        ``ExponentialDecay``).

    Examples
    --------
    >>> import fastnn
    >>> schedule = fastnn.StepDecay(step_size=2, gamma=0.5, optimizer=fastnn.SGD(0.1))
    >>> [schedule.lr_at(epoch) for epoch in range(5)]
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """

    def __init__(self, step_size, gamma=0.1, optimizer=None, per="epoch"):
        self.step_size = check_positive_int(step_size, "step_size")
        self.gamma = _check_factor(gamma, "gamma", upper_inclusive=True)
        super().__init__(optimizer, per)

    def lr_at(self, t):
        return self.initial_lr * self.gamma ** (t // self.step_size)

    def get_config(self):
        return {"step_size": self.step_size, "gamma": self.gamma, **super().get_config()}


class ExponentialDecay(EpochSchedule):
    """Multiply the rate by ``gamma`` every epoch (PyTorch's ``ExponentialLR``), or every
    update with ``per="step"`` (Keras's ``ExponentialDecay`` with ``decay_steps=1``).

    ``lr(t) = initial_lr * gamma ** t``

    Parameters
    ----------
    gamma : float in (0, 1]
    optimizer : Optimizer, optional
    per : {"epoch", "step"}, default "epoch"
    """

    def __init__(self, gamma, optimizer=None, per="epoch"):
        self.gamma = _check_factor(gamma, "gamma", upper_inclusive=True)
        super().__init__(optimizer, per)

    def lr_at(self, t):
        return self.initial_lr * self.gamma ** t

    def get_config(self):
        return {"gamma": self.gamma, **super().get_config()}


class CosineDecay(EpochSchedule):
    """Linear warm-up, then a half cosine from ``initial_lr`` down to ``min_lr``.

    At the 0-based epoch (or, with ``per="step"``, update) ``e``: for ``e < warmup``,
    ``lr = initial_lr * (e + 1) / warmup``; then, with ``t = (e - warmup) / (epochs -
    warmup)`` (held at its last value after ``epochs``)::

        lr = min_lr + (initial_lr - min_lr) * (1 + cos(pi * t)) / 2

    (Keras's ``CosineDecay`` with ``warmup_steps``; PyTorch's ``LinearLR`` then
    ``CosineAnnealingLR``.)

    Parameters
    ----------
    epochs : int >= 1
        Length of the schedule, warm-up included (usually ``fit``'s ``epochs``; with
        ``per="step"``, in updates: ``epochs * ceil(ceil(N / batch_size) / accumulate)``).
    warmup : int >= 0, default 0
        Warm-up epochs (updates with ``per="step"``), fewer than ``epochs``.
    min_lr : float >= 0, default 0.0
        The rate the cosine tends to; below ``initial_lr``.
    optimizer : Optimizer, optional
    per : {"epoch", "step"}, default "epoch"

    Examples
    --------
    >>> import fastnn
    >>> schedule = fastnn.CosineDecay(epochs=6, warmup=2, optimizer=fastnn.SGD(0.1))
    >>> [round(schedule.lr_at(epoch), 4) for epoch in range(6)]
    [0.05, 0.1, 0.1, 0.0854, 0.05, 0.0146]
    """

    def __init__(self, epochs, warmup=0, min_lr=0.0, optimizer=None, per="epoch"):
        self.epochs = check_positive_int(epochs, "epochs")
        if isinstance(warmup, (bool, np.bool_)) or not isinstance(warmup, numbers.Integral):
            raise TypeError(f"warmup must be a non-negative integer (epochs); got {warmup!r}")
        if not 0 <= warmup < self.epochs:
            raise ValueError(f"warmup must be in [0, epochs) = [0, {self.epochs}); got {warmup}: the "
                             f"cosine needs at least one epoch after the warm-up")
        self.warmup = int(warmup)
        self.min_lr = check_positive_float(min_lr, "min_lr", allow_zero=True)
        super().__init__(optimizer, per)

    def bind(self, optimizer):
        super().bind(optimizer)
        if self.min_lr >= self.initial_lr:
            raise ValueError(f"min_lr ({self.min_lr:g}) must be below the optimizer's learning rate "
                             f"({self.initial_lr:g}), which the cosine starts from")

    def lr_at(self, t):
        if t < self.warmup:
            return self.initial_lr * (t + 1) / self.warmup
        decay = self.epochs - self.warmup
        fraction = min(t - self.warmup, decay - 1) / decay
        return self.min_lr + (self.initial_lr - self.min_lr) * (1.0 + math.cos(math.pi * fraction)) / 2.0

    def get_config(self):
        return {"epochs": self.epochs, "warmup": self.warmup, "min_lr": self.min_lr, **super().get_config()}


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

    def get_state(self):
        best = None if math.isinf(self.best) else self.best  # (JSON has no infinity)
        return {**super().get_state(), "best": best, "waited": self.waited, "cooling": self.cooling}

    def _set_state(self, state):
        super()._set_state(state)
        best = state.get("best")
        self.best = math.inf if best is None else _state_value(state, "best", float)
        self.waited = _state_value(state, "waited", int)
        self.cooling = _state_value(state, "cooling", int)


SCHEDULES = (StepDecay, ExponentialDecay, CosineDecay, ReduceLROnPlateau)
"""The schedules ``Network.fit`` documents (any :class:`Schedule` works)."""


def _state_value(state, key, kind):
    """``state[key]`` as a finite non-negative ``kind`` (int or float), else ValueError."""
    value = state.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or (
            not math.isfinite(value) or value < 0):
        raise ValueError(f"the schedule's {key!r} must be a non-negative {kind.__name__}; got {value!r}")
    return kind(value)


def to_state(schedule):
    """``schedule`` as a JSON-ready dict: its class, settings and counts (a checkpoint's)."""
    if type(schedule) not in SCHEDULES:
        raise TypeError(f"only fastnn's schedules ({', '.join(cls.__name__ for cls in SCHEDULES)}) can be "
                        f"saved; got {type(schedule).__name__}")
    if schedule.optimizer is None:
        raise ValueError("the schedule has not been bound to an optimizer yet (a fit binds it): there "
                         "is nothing to resume; save without schedule=")
    return {"name": type(schedule).__name__, "config": schedule.get_config(), "state": schedule.get_state()}


def from_state(data, optimizer):
    """The schedule :func:`to_state` described, bound to ``optimizer`` with its counts.

    Raises
    ------
    ValueError
        On an unknown schedule or invalid settings or counts.
    """
    by_name = {cls.__name__: cls for cls in SCHEDULES}
    if not isinstance(data, dict) or data.get("name") not in by_name:
        raise ValueError(f"unknown schedule {data!r}; expected one of {sorted(by_name)}")
    config, state = data.get("config"), data.get("state")
    if not isinstance(config, dict) or not isinstance(state, dict):
        raise ValueError("a schedule needs a 'config' and a 'state' object")
    try:
        schedule = by_name[data["name"]](**config)
    except TypeError as err:
        raise ValueError(f"invalid schedule settings ({err})") from None
    schedule.optimizer = optimizer
    schedule._set_state(state)
    return schedule


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
