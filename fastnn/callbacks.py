"""Callbacks of ``Network.fit`` that see the network: the :class:`Callback` base class and
:class:`ModelCheckpoint`.

A plain callable passed to ``fit(callbacks=...)`` is called as ``callback(epoch, metrics)``.
A :class:`Callback` also gets the network and the optimizer of the fit before the first
epoch (``self.network``, ``self.optimizer``, as Keras's ``self.model``) and hooks at the
start and end of training. This module knows the network only by its interface
(``save``); it does not import :mod:`fastnn.network`.
"""

import math
import numbers
import os

import numpy as np

from . import io
from ._validation import check_path, check_positive_int, monitored


class Callback:
    """Base class of callbacks that receive the network, as Keras's ``Callback``.

    Attributes
    ----------
    network : Network or None
        The network being trained (set by ``fit`` before :meth:`on_train_begin`).
    optimizer : Optimizer or None
        The optimizer of that fit; its state matches the network's weights between epochs.

    Examples
    --------
    >>> import fastnn
    >>> class PrintNorm(fastnn.Callback):
    ...     def on_epoch_end(self, epoch, metrics):
    ...         print(epoch, round(float(abs(self.network.params).sum()), 2) > 0)
    >>> X, y = fastnn.datasets.make_xor()
    >>> _ = fastnn.Network([2, 4, 1]).fit(X, y, epochs=2, verbose=0, callbacks=[PrintNorm()])
    1 True
    2 True
    """

    network = None
    optimizer = None

    def set_network(self, network, optimizer):
        """Called by ``fit`` before training."""
        self.network = network
        self.optimizer = optimizer

    def on_train_begin(self):
        """Called once before the first epoch."""

    def on_epoch_end(self, epoch, metrics):
        """Called after every epoch with its 1-based number and metrics; return True to stop."""

    def on_train_end(self):
        """Called once after the last epoch (not when training raised)."""

    def __call__(self, epoch, metrics):
        return self.on_epoch_end(epoch, metrics)


class ModelCheckpoint(Callback):
    """Save the network (and its optimizer) during ``fit``: every N epochs or the best.

    Each save is :meth:`Network.save`'s: atomic (a temporary file renamed over the
    target, so a crash never leaves a corrupt model), permissions from the umask, and the
    leftovers of a killed save removed by the next one. The folder is checked before the
    first epoch, so a bad path fails before training, not after it.

    Parameters
    ----------
    filepath : str or path-like
        Where to save; may hold ``str.format`` fields ``{epoch}`` and the metrics'
        names, e.g. ``"ckpt-{epoch:03d}.npz"`` or ``"best-{val_loss:.4f}.npz"``.
    monitor : {"auto", "loss", "val_loss", "accuracy", "val_accuracy"}, default "auto"
        With ``save_best_only``: the value compared ("auto": ``val_loss`` with validation
        data, else ``loss``). Losses improve downwards, accuracies upwards.
    save_best_only : bool, default False
        Save only after an epoch that improved ``monitor`` on every earlier one.
    every : int >= 1, default 1
        Without ``save_best_only``: save after epochs ``every``, ``2 * every``, ...
    save_optimizer : bool, default True
        Also save the optimizer's state and step count, the epoch and the fit's schedule:
        a fit resumed from the file (``fastnn.load``, then ``fit(..., optimizer=net.optimizer,
        schedule=net.schedule, initial_epoch=net.epoch)``) is bitwise the fit that never
        stopped.

    Attributes
    ----------
    saved : list of str
        The paths written, in order.
    best : float
        The best monitored value so far (with ``save_best_only``).

    Examples
    --------
    >>> import os, tempfile
    >>> import fastnn
    >>> X, y = fastnn.datasets.make_xor()
    >>> path = os.path.join(tempfile.mkdtemp(), "xor-{epoch}.npz")
    >>> checkpoint = fastnn.ModelCheckpoint(path, every=5)
    >>> _ = fastnn.Network([2, 4, 1]).fit(X, y, epochs=10, verbose=0, callbacks=[checkpoint])
    >>> [os.path.basename(p) for p in checkpoint.saved]
    ['xor-5.npz', 'xor-10.npz']
    """

    def __init__(self, filepath, monitor="auto", save_best_only=False, every=1, save_optimizer=True):
        self.filepath = check_path(filepath, "filepath")
        monitors = ("auto", "loss", "val_loss", "accuracy", "val_accuracy")
        if monitor not in monitors:
            raise ValueError(f"monitor must be one of {list(monitors)}; got {monitor!r}")
        self.monitor = monitor
        for name, value in (("save_best_only", save_best_only), ("save_optimizer", save_optimizer)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False; got {value!r}")
        self.save_best_only = bool(save_best_only)
        self.save_optimizer = bool(save_optimizer)
        if isinstance(every, (bool, np.bool_)) or not isinstance(every, numbers.Integral):
            raise TypeError(f"every must be a positive integer (epochs); got {every!r}")
        self.every = check_positive_int(every, "every")
        self.saved = []
        self.best = math.inf

    def on_train_begin(self):
        # The folder of the target, checked now (as save would check it, with the same errors).
        probe = os.path.join(os.path.dirname(os.path.abspath(self.filepath)), "checkpoint.npz")
        io.check_destination(probe, "filepath")
        self.best = math.inf

    def on_epoch_end(self, epoch, metrics):
        if self.save_best_only:
            key, value = monitored(metrics, self.monitor, "ModelCheckpoint",
                                   "pass validation_data or another monitor")
            value = value if "loss" in key else -value
            if not value < self.best:
                return
            self.best = value
        elif epoch % self.every != 0:
            return
        try:
            path = self.filepath.format(epoch=epoch, **metrics)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"filepath {self.filepath!r} has a field this fit cannot fill ({err!r}); "
                             f"use {{epoch}} or one of {sorted(metrics)}") from None
        schedule = getattr(self.network, "schedule", None) if self.save_optimizer else None
        self.network.save(path, optimizer=self.optimizer if self.save_optimizer else None,
                          epoch=epoch if self.save_optimizer else None, schedule=schedule)
        self.saved.append(path)
        return
