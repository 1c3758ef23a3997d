"""Learning-rate schedules: small objects that set an optimizer's ``lr`` between epochs.

They follow scikit-learn's MLP optimizers, which own their schedules: the fit loop tells
a schedule that an epoch ended (:meth:`Schedule.epoch_ends`) and asks it what to do when
training stopped improving (:meth:`Schedule.no_improvement`); it never computes a step
size itself.
"""


class Schedule:
    """A constant learning rate: the base class.

    Parameters
    ----------
    optimizer : Optimizer
        Its ``lr`` is the schedule's to set; its value now is the initial rate.
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.initial_lr = optimizer.lr

    def epoch_ends(self, samples_seen):
        """Called after every epoch with the training samples seen so far."""

    def no_improvement(self):
        """Training stopped improving: return True to stop, False to go on.

        Returns
        -------
        (bool, str)
            Whether to stop, and what was done (for a verbose message).
        """
        return True, "Stopping."


class InvScaling(Schedule):
    """``lr = initial_lr / (samples_seen + 1) ** power_t`` (scikit-learn's "invscaling")."""

    def __init__(self, optimizer, power_t):
        super().__init__(optimizer)
        self.power_t = power_t

    def epoch_ends(self, samples_seen):
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
