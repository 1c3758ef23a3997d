"""The epoch engine: everything a fit needs below its policy, built once per fit.

:class:`EpochEngine` holds the data sample-major, the order buffer, the work buffer, the
backups for divergence and Ctrl-C, the thread policy around each kernel call and an
optional L2 penalty; :meth:`EpochEngine.run` trains epochs and reports their metrics or a
structured :class:`Divergence`. ``Network.fit`` (:mod:`fastnn.training`) and both
scikit-learn estimators drive it; they keep only policy (metrics, stopping, schedules,
output).

The engine knows a network and an optimizer only by their kernel interface
(``net.kernel_buffers``, ``net.buffers_changed()``, ``optimizer.kernel_buffers(net)``,
``optimizer.steps``), so it imports neither module.
"""

from typing import NamedTuple

import numpy as np

from . import notices
from . import threads as _threads
from .kernels import optimizers as kopt
from .kernels import training as ktrain
from .kernels.bundles import ACT, LOSS_NOT_FINITE, NO_PENALTY, OK, PARAMS_NOT_FINITE, Data, Penalty
from .kernels.kinds import Kinds
from .kernels.network import work_size
from .kernels.sparse import plan_layout


_CONSTANT_RATE = np.empty(0, dtype=np.float64)
"""The epoch kernel's ``rates`` when every update uses the optimizer's ``lr``."""


class Divergence(NamedTuple):
    """Where a run of epochs stopped on a NaN or infinite value."""

    epoch: int
    """0-based epoch of the run that failed (the epochs before it completed)."""
    batch: int
    """0-based micro-batch of that epoch."""
    what: str
    """"loss" or "parameters after the update"."""


class EpochRun(NamedTuple):
    """What :meth:`EpochEngine.run` trained."""

    loss_sums: np.ndarray
    """float64 (epochs completed,): ``sum over batches of m * J_batch`` per epoch."""
    correct: np.ndarray
    """int64 (epochs completed,): correctly classified samples per epoch."""
    divergence: "Divergence | None"
    """None, or where the run stopped; the network then holds the last finite weights."""


class EpochEngine:
    """Mini-batch epochs of ``net`` with ``optimizer`` over sample-major data.

    Parameters
    ----------
    net : Network
        Trained in place.
    optimizer : Optimizer
        Bound to ``net`` here (its state carries over between engines of one network).
    Xs : ndarray of shape (N, n_0), C-contiguous, the network's dtype, or SparseRows
        Inputs, one sample per ROW (checked by the caller); sparse inputs as the CSR arrays
        of the samples (:class:`fastnn.sparse.SparseRows`).
    Ys : ndarray of shape (N, n_L), C-contiguous, the network's dtype
        Targets, one sample per row.
    batch_size : int
        Samples per micro-batch (at most N).
    micro_batches : int, default 1
        Micro-batches per update: their gradients add up in the backward kernel and one
        update follows (the gradient of one batch of ``micro_batches * batch_size``).
    penalty : Penalty, optional
        scikit-learn's per-batch L2 penalty and loss scaling (needs ``micro_batches=1``).
    max_epochs_per_call : int, default 1
        The most epochs one kernel call may train (the size of the order buffer).
    dropout_seed : int, default 0
        Keys the dropout masks of a network with dropout (``net.dropout_rates``), with
        the update count: the same seed and step give the same masks.
    sample_weight : float64 ndarray of shape (N,), optional
        Weight of each sample in the loss and its gradient (:mod:`fastnn.kernels.weights`).
    weight_by_sum : bool, default False
        True: scikit-learn's convention (a batch's loss is its weighted average, the
        penalty divides by the batch's weight sum); False: Keras' (``sum w l / m``).
    rollback : bool, default True
        Keep backups for the divergence and Ctrl-C rules below. False (the scikit-learn
        estimators, whose divergence is an error or a return to the best weights, as
        scikit-learn's): no backups, a copy of the parameters and the optimizer state
        less in memory and per call; a failing update is then left in the parameters.

    Notes
    -----
    Divergence: before each call the parameters and the optimizer state are copied;
    when an update makes a parameter NaN or infinite, they are restored and the call is
    replayed up to the group of micro-batches before the failing update (the loop is
    deterministic, so bitwise). On Ctrl-C (which Python raises only after the kernel
    returns), network and optimizer roll back to the start of the call: whole epochs.
    """

    def __init__(self, net, optimizer, Xs, Ys, batch_size, micro_batches=1, penalty=None,
                 max_epochs_per_call=1, dropout_seed=0, sample_weight=None, weight_by_sum=False,
                 rollback=True):
        self.net = net
        self.optimizer = optimizer
        if isinstance(Xs, tuple):
            Xs = tuple(Xs)  # the kernels take the CSR arrays as a plain tuple
        self.data = Data(Xs, Ys)
        self.n_samples = N = Ys.shape[0]
        self.batch_size = batch_size
        self.micro_batches = micro_batches
        self.penalty = NO_PENALTY if penalty is None else Penalty(*(float(value) for value in penalty))
        buffers = net.kernel_buffers
        self.work = np.empty(work_size(plan_layout(buffers.layout, Xs), batch_size, True),
                             dtype=buffers.params.dtype)
        self.order = np.arange(N, dtype=np.int64)
        # One epoch per call: a view of the order, no second array of N indices.
        self._one_per_call = max_epochs_per_call == 1
        self.perms = (self.order[np.newaxis] if self._one_per_call
                      else np.empty((max_epochs_per_call, N), dtype=np.int64))
        self.sums = np.empty(max_epochs_per_call, dtype=np.float64)
        self.counts = np.empty(max_epochs_per_call, dtype=np.int64)
        opt_buffers = optimizer.kernel_buffers(net)
        notices.announce_compilation(ktrain.train_epochs)
        self.rollback = bool(rollback)
        if self.rollback:
            self._params_backup = np.empty_like(buffers.params)
            self._state_backup = np.empty_like(opt_buffers.state)
        # The kernel arguments that stay the same for the whole fit (lr is read from the
        # hyperparameter array at each call), built once: rebuilding them cost more than
        # the call itself on tiny networks.
        self._state = opt_buffers.state
        # The optimizer as the kernel takes it (the state's type selects the update), and
        # no penalty as Nones: a run compiles only the update and steps it uses.
        self._fixed = (*buffers, *kopt.epoch_opt(opt_buffers), *self.data, batch_size, micro_batches)
        self._penalty = (None, None, None) if self.penalty == NO_PENALTY else tuple(self.penalty)
        self._drop = (net.dropout_rates, int(dropout_seed))
        self._weights = (None,)  # the kernel's optional weights bundle
        if sample_weight is not None:
            weights = np.ascontiguousarray(sample_weight, dtype=np.float64)
            self._weights = ((weights, np.empty(batch_size, dtype=np.float64), bool(weight_by_sum)),)
        # The network's activations and loss as a type: the kernel compiles only those.
        self._kinds = Kinds(buffers.layout[:, ACT], buffers.loss)
        self.blas_work = net.product_size(batch_size)  # the largest product, for the thread policy
        self.batches_per_epoch = -(-N // batch_size)
        self.updates_per_epoch = -(-self.batches_per_epoch // micro_batches)
        self.rates = _CONSTANT_RATE

    def set_rates(self, rates):
        """The learning rate of each update of the next runs, in order (a per-step schedule;
        at least as many as they make), or None: the optimizer's ``lr`` for every update."""
        self.rates = _CONSTANT_RATE if rates is None else np.ascontiguousarray(rates, dtype=np.float64)

    def warm_up(self):
        """Compile (or load from the cache) the epoch kernel: a call that trains nothing
        (so that a progress bar started after it measures training only)."""
        ktrain.train_epochs(*self._args(self.perms[:0], -1))

    def skip_epochs(self, epochs, rng):
        """Shuffle the order as ``epochs`` runs would, training nothing: a fit resumed after
        ``epochs`` epochs then visits the samples in the order the uninterrupted fit did."""
        for _ in range(epochs):
            rng.shuffle(self.order)

    def run(self, epochs=1, rng=None):
        """Train ``epochs`` epochs (at most ``max_epochs_per_call``) in one kernel call.

        Parameters
        ----------
        epochs : int
        rng : numpy Generator, optional
            Shuffles the order of the samples before each epoch; None keeps the order.

        Returns
        -------
        EpochRun
        """
        perms = self.perms[:epochs]
        for i in range(epochs):
            if rng is not None:
                rng.shuffle(self.order)
            if not self._one_per_call:
                perms[i] = self.order
        if not self.rollback:
            status, trained, batch, _ = self._call(perms, -1)
            return self._result(status, trained, batch)
        net, optimizer = self.net, self.optimizer
        params, state = net.kernel_buffers.params, self._state
        steps_before = optimizer.steps
        backed_up = False
        try:
            np.copyto(self._params_backup, params)
            np.copyto(self._state_backup, state)
            backed_up = True
            status, trained, batch, _ = self._call(perms, -1)
            if status == PARAMS_NOT_FINITE:
                np.copyto(params, self._params_backup)
                np.copyto(state, self._state_backup)
                optimizer.steps = steps_before
                group_start = (batch // self.micro_batches) * self.micro_batches
                self._call(perms[: trained + 1], group_start, kind="replay")
        except KeyboardInterrupt:
            if backed_up:
                np.copyto(params, self._params_backup)
                np.copyto(state, self._state_backup)
                optimizer.steps = steps_before
            net.buffers_changed()
            raise
        return self._result(status, trained, batch)

    def _result(self, status, trained, batch):
        """The :class:`EpochRun` of a call's status, epochs trained and failing batch."""
        divergence = None
        if status != OK:
            what = "loss" if status == LOSS_NOT_FINITE else "parameters after the update"
            divergence = Divergence(trained, batch, what)
        return EpochRun(self.sums[:trained], self.counts[:trained], divergence)

    def _call(self, perms, stop, kind="train"):
        """One call of the epoch kernel over ``perms`` (the last epoch up to ``stop``),
        under the thread policy; the optimizer's step count follows it."""
        args = self._args(perms, stop)
        try:
            if self.blas_work < _threads.THREADED_WORK:  # BLAS runs one thread anyway
                status, trained, batch, steps = ktrain.train_epochs(*args)
            else:
                with _threads.training_threads(self.blas_work, perms.shape[0] * self.batches_per_epoch,
                                               kind):
                    status, trained, batch, steps = ktrain.train_epochs(*args)
        finally:
            self.net.buffers_changed()
        self.optimizer.steps = steps
        return status, trained, batch, steps

    def _args(self, perms, stop):
        """The epoch kernel's arguments: the bundles' fields in order (NetBuffers,
        EpochOpt, Data, EpochPlan, Penalty), then the call's own; the fixed ones built once."""
        return (*self._fixed, stop, *self._penalty, perms, self.optimizer.steps, self.work, self.sums,
                self.counts, *self._drop, self.rates, *self._weights, self._kinds)
