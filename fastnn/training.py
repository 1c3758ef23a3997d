"""The fit loop's policy: option checks, metrics, callbacks, progress and early stopping.

The training itself is :class:`fastnn.engine.EpochEngine`: one compiled call per epoch
(gather, forward, loss, backward and update for every mini-batch) over buffers allocated
once per ``fit``. Between epochs Python only evaluates the validation data and runs the
callbacks of one list (as Keras does): the user's, the progress bar or per-epoch lines,
and early stopping. When there is none of that (no validation data, callbacks, early
stopping or output) and the data set is small, runs of epochs go to the engine in one
call (bitwise the same training; see :data:`CHUNK_SAMPLES`).

This module knows the network only by its interface; it does not import
:mod:`fastnn.network` (which imports this one).
"""

import math
import numbers
import warnings

import numpy as np

from . import threads as _threads
from ._validation import as_matrix, check_positive_float, check_positive_int, check_seed, is_ready
from .callbacks import Callback
from .engine import EpochEngine
from .errors import DivergenceError, TrainingWarning, training_diverged
from .kernels import training as ktrain
from .losses import CLASSIFICATION
from .notices import caller_stacklevel
from .optimizers import get_optimizer
from .schedules import EpochSchedule, Schedule
from .sparse import feature_major_rows, is_sparse

__all__ = ["CHUNK_SAMPLES", "DivergenceError", "History", "fit"]


class History:
    """Per-epoch metrics of a :func:`fit`, as Keras' ``History``.

    Attributes
    ----------
    history : dict of str to list of float
        ``"loss"`` and ``"accuracy"`` (training, the mean over the epoch's batches,
        each measured before its update), and ``"val_loss"`` and ``"val_accuracy"``
        (after the epoch) when validation data is given.
    epoch : list of int
        The 1-based epoch numbers completed.
    best_epoch : int or None
        With early stopping: the epoch whose weights the network holds at the end.
    stopped_epoch : int or None
        With early stopping: the epoch after which training stopped early, else None.
    """

    def __init__(self, keys):
        self.history = {key: [] for key in keys}
        self.epoch = []
        self.best_epoch = None
        self.stopped_epoch = None

    def _append(self, epoch, metrics):
        self.epoch.append(epoch)
        for key, value in metrics.items():
            self.history[key].append(value)

    def __repr__(self):
        last = {key: round(values[-1], 6) for key, values in self.history.items() if values}
        return f"History(epochs={len(self.epoch)}, last={last})"


def sample_major(net, X):
    """Check ``X`` (n_0, N) and return it sample-major, (N, n_0) C-contiguous.

    Row-layout data passed as ``rows.T`` (F-contiguous, in the network's dtype) already
    is that array transposed: it is used as is, so the data is not held twice. Anything
    else is checked as usual and copied once by a blocked transpose.
    """
    if (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == net.dtype
            and X.flags.f_contiguous and X.shape[0] == net.n_inputs):
        try:
            return as_matrix(X.T, "X", net.dtype)
        except ValueError:
            pass  # raised again below, with the message in feature-major terms
    if is_ready(X, net.dtype, net.n_inputs):
        # The usual case: check and copy in one pass (any failure: the full check below).
        Xs = np.empty((X.shape[1], X.shape[0]), dtype=net.dtype)
        if ktrain.transpose_finite(X, Xs):
            return Xs
        del Xs
    X = net.check_inputs(X)
    Xs = np.empty((X.shape[1], X.shape[0]), dtype=net.dtype)
    ktrain.transpose_into(X, Xs)
    return Xs


def _check_nonnegative_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer; got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value}")
    return int(value)


def check_validation_data(net, validation_data):
    """``(Xv, Yv)`` checked (feature-major or sparse rows, targets one-hot for labels), or None."""
    if validation_data is None:
        return None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise TypeError("validation_data must be a pair (Xv, Yv)")
    if is_sparse(validation_data[0]):
        Xv = feature_major_rows(validation_data[0], net, "validation_data[0]")
        n_val = Xv.n_samples
    else:
        Xv = net.check_inputs(validation_data[0], "validation_data[0]")
        n_val = Xv.shape[1]
    Yv = net.check_targets(validation_data[1], n_val, "validation_data[1]", "validation_data[0]",
                           labels=True)
    return Xv, Yv


def draw_dropout_seed(net, seed, rng):
    """The key of a fit's dropout masks: the seed itself (modulo 2**63), a draw from the
    fit's generator ``rng`` for a seed that is not an integer, 0 without dropout."""
    if not net.dropout_rates.any():
        return 0
    return int(seed) % 2**63 if isinstance(seed, numbers.Integral) else int(rng.integers(2**63))


def add_validation(net, val, metrics):
    """Add ``val_loss`` and ``val_accuracy`` on the checked ``val`` (or nothing for None)
    to an epoch's ``metrics``."""
    if val is not None:
        metrics["val_loss"], metrics["val_accuracy"] = net.evaluate_checked(
            *val, names=("validation_data[0]", "validation_data[1]"))


def notify(listeners, epoch, metrics):
    """Call every listener (in order) with a copy of the epoch's metrics; True if any
    returned True (stop training)."""
    stop = False
    for listener in listeners:
        if listener(epoch, dict(metrics)) is True:
            stop = True
    return stop


def check_epochs(epochs, initial_epoch):
    """``(epochs, initial_epoch)`` of :func:`fit`, checked: ints, 0 <= initial_epoch <= epochs."""
    epochs = _check_nonnegative_int(epochs, "epochs")
    initial_epoch = _check_nonnegative_int(initial_epoch, "initial_epoch")
    if initial_epoch > epochs:
        raise ValueError(f"initial_epoch ({initial_epoch}) must not exceed epochs ({epochs}): epochs is "
                         f"the epoch to train up to, as in Keras (fit(epochs={initial_epoch + epochs}, "
                         f"initial_epoch={initial_epoch}) trains {epochs} more)")
    return epochs, initial_epoch


def check_early_stopping(patience, min_delta, restore_best_weights):
    """``(patience, min_delta)`` of :func:`fit`, checked (and ``restore_best_weights``)."""
    if not isinstance(restore_best_weights, (bool, np.bool_)):
        raise TypeError(f"restore_best_weights must be True or False; got {restore_best_weights!r}")
    if patience is not None:
        patience = check_positive_int(patience, "patience")
    return patience, check_positive_float(min_delta, "min_delta", allow_zero=True)


def early_stopping(net, history, val, patience, min_delta):
    """The listener that stops :func:`fit` after ``patience`` epochs without improvement of
    ``val_loss`` (with validation data) or ``loss``; None without ``patience``."""
    if patience is None:
        return None
    return _EarlyStopping(net, history, "val_loss" if val is not None else "loss", patience, min_delta)


def resume_schedule(schedule, initial_epoch, updates_per_epoch):
    """A fit resumed at ``initial_epoch`` with a rate-by-time schedule that has not run yet:
    the schedule resumes there too."""
    if isinstance(schedule, EpochSchedule) and schedule.epochs_done == 0 and initial_epoch:
        schedule.epochs_done = initial_epoch
        schedule.steps_done = initial_epoch * updates_per_epoch


def check_loop_options(accumulate, optimizer, shuffle, verbose, callbacks):
    """The options every fit loop shares, checked: ``(accumulate, optimizer, callbacks)``
    (an optimizer object for a name, callbacks as a list)."""
    accumulate = check_positive_int(accumulate, "accumulate")
    optimizer = get_optimizer(optimizer)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False; got {shuffle!r}")
    check_verbose(verbose)
    return accumulate, optimizer, check_callbacks(callbacks)


def check_verbose(verbose):
    """``verbose`` if it is 0, 1 or 2, else ValueError."""
    if verbose not in (0, 1, 2) or isinstance(verbose, float):
        raise ValueError(f"verbose must be 0, 1 or 2; got {verbose!r}")
    return verbose


def check_callbacks(callbacks):
    if callbacks is None:
        return []
    if callable(callbacks):
        return [callbacks]
    try:
        callbacks = list(callbacks)
    except TypeError:
        raise TypeError(f"callbacks must be a callable or a list of callables; "
                        f"got {type(callbacks).__name__}") from None
    for i, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(f"callbacks[{i}] must be callable as callback(epoch, metrics); "
                            f"got {type(callback).__name__}")
    return callbacks


LOSS_RISE = 10.0
"""A fit whose final training loss exceeds ``LOSS_RISE`` times the loss of a constant
prediction (:func:`_constant_loss`) warns (:class:`~fastnn.errors.TrainingWarning`): a
learning rate far too large. An untrained network scores within a few times that loss."""

CHANCE_MARGIN = 0.01
"""A classification fit whose final training accuracy is within this of the majority
class's share, and whose loss is no lower than a constant prediction's, warns."""


def _constant_loss(loss_name, Y):
    """The loss of the best constant prediction of targets ``Y`` (n_L, N): each output's mean
    for "bce" and "cce" (the class frequencies), zero for "mse" (what an untrained network
    about predicts). No forward pass: one read of ``Y``."""
    p = Y.mean(axis=1, dtype=np.float64)
    if loss_name == "mse":
        return float(np.mean(np.square(Y, dtype=np.float64)))
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = np.where(p > 0, -p * np.log(p), 0.0)
        if loss_name == "bce":
            q = 1.0 - p
            entropy = entropy + np.where(q > 0, -q * np.log(q), 0.0)
    return float(entropy.sum())


def _majority_share(Y):
    """The share of the most frequent class in targets ``Y`` (n_L, N): the accuracy of
    always predicting it."""
    if Y.shape[0] == 1:
        positive = float(np.count_nonzero(Y[0] > 0.5)) / Y.shape[1]
        return max(positive, 1.0 - positive)
    return float(np.bincount(np.argmax(Y, axis=0), minlength=Y.shape[0]).max()) / Y.shape[1]


def _warn_if_nothing_learnt(net, history, Y, optimizer, weighted=False):
    """A :class:`TrainingWarning` when the fit ended with its loss far above a constant
    prediction's or, for a classifier, at chance accuracy and no better than that loss
    (not for a ``weighted`` fit, whose loss is on another scale, nor for "poisson")."""
    if not history.epoch or weighted or net.loss_name == "poisson":
        return
    last = history.epoch.index(history.best_epoch) if history.best_epoch is not None else -1
    loss, accuracy = history.history["loss"][last], history.history["accuracy"][last]
    reference = _constant_loss(net.loss_name, Y)
    what = "zero" if net.loss_name == "mse" else "the class frequencies"
    problems = []
    rose = loss > LOSS_RISE * reference and loss - reference > 1e-12
    if rose:
        problems.append(f"the training loss ended at {loss:.4g}, {loss / max(reference, 1e-300):.3g} "
                        f"times that of always predicting {what} ({reference:.4g})")
    if net.loss_name != "mse":
        chance = _majority_share(Y)
        if chance < 1.0 and accuracy <= chance + CHANCE_MARGIN and loss >= reference:
            problems.append(f"the training accuracy ended at {accuracy:.4f}, chance level (always "
                            f"predicting the most frequent class scores {chance:.4f})")
    if not problems:
        return
    if rose:
        fix = (f"The learning rate (lr={optimizer.lr:g}) is probably too large: lower it, e.g. "
               f"tenfold; scaling the inputs also helps")
    else:
        fix = (f"The learning rate (lr={optimizer.lr:g}) may be too large or too small, or the "
               f"epochs ({len(history.epoch)}) too few; scaling the inputs also helps")
    warnings.warn(f"the fit learnt nothing: {' and '.join(problems)}. {fix}", TrainingWarning,
                  stacklevel=caller_stacklevel())


CHUNK_SAMPLES = 4096
"""With nothing to run in Python between epochs, :func:`fit` trains up to
``CHUNK_SAMPLES // N`` epochs of N samples in one kernel call (when that is at least 2):
the Python work around an epoch call is then paid once per run of epochs, which matters
when an epoch takes only a few microseconds."""


SHORT_NAMES = {"accuracy": "acc", "val_accuracy": "val_acc"}
"""The progress bar's names for the metrics (it fits 80 columns with all four)."""


def format_metrics(metrics, loss_name):
    """``"loss 0.1234 acc 0.9650 ..."``: the metrics as the progress bar shows them; no
    accuracy for "mse" and "poisson" (regression), the learning rate in 3 significant digits."""
    parts = []
    for key, value in metrics.items():
        if loss_name not in CLASSIFICATION and key.endswith("accuracy"):
            continue
        parts.append(f"{SHORT_NAMES.get(key, key)} {value:.3g}" if key == "lr"
                     else f"{SHORT_NAMES.get(key, key)} {value:.4f}")
    return " ".join(parts)


class _ProgressBar:
    """verbose=1: a tqdm bar over the epochs, showing the metrics, within 80 columns."""

    def __init__(self, epochs, loss_name):
        from tqdm.auto import tqdm

        self.loss_name = loss_name
        self.bar = tqdm(total=epochs, unit="epoch", leave=True,
                        bar_format="{n_fmt}/{total_fmt} |{bar}| {elapsed}<{remaining}{postfix}")

    def __call__(self, epoch, metrics):
        self.bar.set_postfix_str(format_metrics(metrics, self.loss_name), refresh=False)
        self.bar.update(1)

    def close(self):
        self.bar.close()


class _EpochLines:
    """verbose=2: one line per epoch."""

    def __init__(self, epochs):
        self.epochs = epochs

    def __call__(self, epoch, metrics):
        text = "  ".join(f"{key} {value:.4f}" for key, value in metrics.items())
        print(f"epoch {epoch}/{self.epochs}  {text}", flush=True)


class _EarlyStopping:
    """Stop after ``patience`` epochs without an improvement of ``monitor`` by more than
    ``min_delta``; keep a copy of the best weights."""

    def __init__(self, net, history, monitor, patience, min_delta):
        self.net, self.history = net, history
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.best, self.best_epoch, self.waited = math.inf, None, 0
        self.best_params = np.empty_like(net.params)

    def __call__(self, epoch, metrics):
        value = metrics[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.waited = value, epoch, 0
            np.copyto(self.best_params, self.net.params)
            return False
        self.waited += 1
        if self.waited >= self.patience:
            self.history.stopped_epoch = epoch
            return True
        return False

    def finish(self, restore_best_weights):
        if self.best_epoch is None:
            return
        if restore_best_weights and self.best_epoch != self.history.epoch[-1]:
            np.copyto(self.net.params, self.best_params)
            self.net.buffers_changed()
        self.history.best_epoch = self.best_epoch if restore_best_weights else self.history.epoch[-1]


def check_schedule(schedule, optimizer):
    """``schedule`` bound to ``optimizer`` (binding it on its first fit), or None."""
    if schedule is None:
        return None
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a fastnn schedule such as fastnn.StepDecay(10, 0.5) or "
                        f"fastnn.CosineDecay(epochs, warmup=5); got {type(schedule).__name__}")
    if schedule.optimizer is None:
        schedule.bind(optimizer)
    elif schedule.optimizer is not optimizer:
        raise ValueError("schedule is bound to another optimizer than this fit's; pass that optimizer "
                         "(optimizer=schedule.optimizer), or a new schedule without one")
    return schedule


def _split(net, X, Y, validation_split):
    """``(X, Y, (Xv, Yv))``: the last ``validation_split`` of the samples held out (as Keras:
    the columns in the order given, before any shuffling)."""
    if isinstance(validation_split, (bool, np.bool_)) or not isinstance(validation_split, numbers.Real):
        raise TypeError(f"validation_split must be a fraction in (0, 1); got {validation_split!r}")
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"validation_split must be a fraction in (0, 1), e.g. 0.2; got {validation_split}")
    X = net.check_inputs(X)
    N = X.shape[1]
    Y = net.check_targets(Y, N, labels=True)
    cut = int(math.floor(N * (1.0 - validation_split)))
    if cut < 1 or cut >= N:
        raise ValueError(f"validation_split={validation_split} of {N} samples leaves {cut} for training "
                         f"and {N - cut} for validation; both need at least one: pass more samples or "
                         f"another fraction")
    return X[:, :cut], Y[:, :cut], (np.ascontiguousarray(X[:, cut:]), np.ascontiguousarray(Y[:, cut:]))


def fit(net, X, Y, epochs=10, batch_size=32, optimizer="sgd", shuffle=True, seed=0,
        validation_data=None, accumulate=1, callbacks=None, verbose=1, patience=None,
        min_delta=0.0, restore_best_weights=True, threads=None, schedule=None, initial_epoch=0,
        validation_split=None, sample_weight=None, class_weight=None):
    """Train ``net`` by mini-batch gradient descent; one compiled call per epoch.

    Parameters
    ----------
    net : Network
        Trained in place.
    X : array_like of shape (n_0, N), or a scipy.sparse matrix or array of that shape
        Inputs, one sample per column. Sparse inputs are never densified: the first layer
        multiplies the non-zeros of each batch (``scipy.sparse.csc_array`` is read as it is;
        other formats are converted once, a copy of the non-zeros).
    Y : array_like of shape (n_L, N), or 1-D labels of shape (N,)
        Targets. 1-D integer labels are one-hot encoded for a network with several
        outputs; for one output a 1-D ``Y`` is the output row.
    epochs : int, default 10
        The epoch to train up to (with ``initial_epoch``: ``epochs - initial_epoch`` are
        trained, as in Keras).
    batch_size : int, default 32
        Samples per (micro-)batch; the last batch of an epoch holds the remainder.
        Clipped to N.
    optimizer : SGD, Adam or {"sgd", "adam"}, default "sgd"
        An optimizer object (its state carries over between ``fit`` calls), or a name
        for one with default settings (``SGD(lr=0.1)``, ``Adam(lr=0.001)``).
    shuffle : bool, default True
        Visit the samples in a new random order each epoch.
    seed : int or None, default 0
        Seeds the shuffling (``np.random.default_rng(seed)``): the same seed, data and
        starting weights give bitwise the same training. With dropout it also keys the
        masks: the masks of update t are those of ``net.forward(X, training=True,
        seed=seed, step=(t - 1) * accumulate + i)`` for its i-th micro-batch, a
        function of the seed and the step only (any thread count, and the same after
        resuming from a checkpoint).
    validation_data : (Xv, Yv), optional
        Evaluated after every epoch: ``val_loss`` and ``val_accuracy``.
    validation_split : float in (0, 1), optional
        Hold out the LAST fraction of the samples (columns, in the order given, before
        shuffling; as Keras) as ``validation_data``. Not with ``validation_data``.
    accumulate : int, default 1
        Micro-batches per update: the gradients of ``accumulate`` consecutive batches
        of ``batch_size`` are accumulated by the backward kernel and the update uses
        their sample-weighted mean, the gradient of one batch of
        ``accumulate * batch_size`` samples.
    callbacks : callable or list of callables, optional
        Each is called after every epoch as ``callback(epoch, metrics)`` with the
        1-based epoch number and a dict of that epoch's metrics; a callback returning
        True stops training. A :class:`~fastnn.callbacks.Callback` (such as
        :class:`~fastnn.callbacks.ModelCheckpoint`) also receives the network and the
        optimizer (``self.network``, ``self.optimizer``) before the first epoch.
    verbose : {0, 1, 2}, default 1
        0: silent; 1: a tqdm progress bar over the epochs showing the metrics;
        2: one line per epoch.
    patience : int, optional
        Early stopping: stop after ``patience`` epochs without an improvement of the
        monitored value (``val_loss`` with validation data, else ``loss``) by more than
        ``min_delta``. None (default): no early stopping.
    min_delta : float, default 0.0
    restore_best_weights : bool, default True
        With early stopping: end with the weights of the best epoch.
    threads : int >= 1, optional
        BLAS threads for this fit only. None (default): fastnn's setting
        (:func:`fastnn.set_num_threads`, 1 by default: measured fastest by the mean on a
        shared 2-core machine; a quiet machine with idle cores gains from 2 on big
        layers). Results can differ in the last bits between thread counts.
    schedule : Schedule, optional
        Sets the optimizer's learning rate before each epoch
        (:class:`~fastnn.schedules.StepDecay`, :class:`~fastnn.schedules.ExponentialDecay`,
        :class:`~fastnn.schedules.CosineDecay`; with ``per="step"`` before each update)
        or after an epoch without improvement (:class:`~fastnn.schedules.ReduceLROnPlateau`).
        A schedule made without an optimizer binds to this fit's (its ``lr`` now is the
        initial rate); used again with the same optimizer, it continues where it stopped.
        It is kept as ``net.schedule``. History then also records ``lr`` per epoch (the
        rate of the epoch's last update). A checkpoint stores it
        (``net.save(path, optimizer=net.optimizer, schedule=net.schedule)``); with
        ``initial_epoch``, a rate-by-time schedule that has not run yet starts at that epoch.
    initial_epoch : int >= 0, default 0
        Epochs already trained (as Keras): training resumes at epoch ``initial_epoch + 1``
        and the shuffling skips the orders of the epochs before. With the network, the
        optimizer (its state and step count) and the ``seed`` of a checkpoint saved after
        epoch ``initial_epoch`` (:class:`~fastnn.callbacks.ModelCheckpoint`, or
        ``net.save(path, optimizer=opt, epoch=e)``), the resumed fit is bitwise the fit
        that never stopped.
    sample_weight : array_like of shape (N,), optional
        Weight of each sample (finite, >= 0), as Keras: a batch's loss is
        ``sum_j w_j l_j / m`` (the "sum over batch size" reduction) and its gradient follows;
        the reported ``loss`` is the weighted one, ``accuracy`` and the validation metrics
        are not weighted. With ``validation_split`` the weights are split with the samples.
    class_weight : dict, optional
        ``{class: weight}`` for a classifier ("bce" or "cce"), as Keras: sample j gets the
        weight of its class (the index of its largest target; for one output, 1 if its
        target is above 0.5, else 0); classes not in the dict weigh 1. Not with
        ``sample_weight``.

    Returns
    -------
    History
        Also sets ``net.optimizer`` (the optimizer of this fit) and ``net.epoch`` (the
        last epoch trained), which ``net.save(path, optimizer=net.optimizer,
        epoch=net.epoch)`` writes into a checkpoint.

    Raises
    ------
    DivergenceError
        A NaN or infinite loss or parameter; the message names the epoch and batch, and
        the network keeps the last finite weights.

    Warns
    -----
    TrainingWarning
        The fit learnt nothing: its final training loss is more than :data:`LOSS_RISE`
        times the loss of a constant prediction (the class frequencies; zero for "mse"),
        or a classifier ended at chance accuracy with a loss no lower than that.

    Notes
    -----
    BLAS runs with ``threads`` (or the threads of :func:`fastnn.set_num_threads`) during
    each epoch call. The reported ``loss`` of an epoch is the sample-weighted mean of the batch losses,
    each measured on its batch just before that batch's update (as Keras does).
    """
    with _threads.for_call(threads):
        return _fit(net, X, Y, epochs, batch_size, optimizer, shuffle, seed, validation_data,
                    accumulate, callbacks, verbose, patience, min_delta, restore_best_weights,
                    schedule, initial_epoch, validation_split, sample_weight, class_weight)


def _check_weights(net, Y, sample_weight, class_weight):
    """The per-sample weights of :func:`fit` (float64 (N,)) for targets ``Y`` (n_L, N), or None."""
    N = Y.shape[1]
    if class_weight is not None:
        if sample_weight is not None:
            raise ValueError("pass sample_weight or class_weight, not both (as Keras)")
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight must be a dict {{class: weight}}; got "
                            f"{type(class_weight).__name__}")
        if net.loss_name not in CLASSIFICATION:
            raise ValueError(f"class_weight needs a classification loss ('bce' or 'cce'); this network's "
                             f"loss is {net.loss_name!r}: pass sample_weight instead")
        n_classes = max(Y.shape[0], 2)
        table = np.ones(n_classes)
        for key, value in class_weight.items():
            integer = isinstance(key, numbers.Integral) and not isinstance(key, (bool, np.bool_))
            if not integer or not 0 <= key < n_classes:
                raise ValueError(f"class_weight keys must be class indices 0..{n_classes - 1}; got {key!r}")
            table[int(key)] = value
        labels = (Y[0] > 0.5).astype(np.intp) if Y.shape[0] == 1 else np.argmax(Y, axis=0)
        sample_weight, name = table[labels], "class_weight"
    elif sample_weight is None:
        return None
    else:
        name = "sample_weight"
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.shape != (N,):
            raise ValueError(f"sample_weight must have shape ({N},), one weight per sample; got shape "
                             f"{sample_weight.shape}")
    if not (np.isfinite(sample_weight).all() and (sample_weight >= 0).all()):
        raise ValueError(f"{name} must hold finite weights >= 0; got {sample_weight.min()!r} .. "
                         f"{sample_weight.max()!r}")
    return np.ascontiguousarray(sample_weight)


def _fit(net, X, Y, epochs, batch_size, optimizer, shuffle, seed, validation_data, accumulate,
         callbacks, verbose, patience, min_delta, restore_best_weights, schedule, initial_epoch,
         validation_split, sample_weight, class_weight):
    """:func:`fit` under the thread setting it chose."""
    sparse = is_sparse(X)
    if validation_split is not None:
        if validation_data is not None:
            raise ValueError("pass validation_data or validation_split, not both")
        if sparse:
            raise TypeError("validation_split does not take a sparse X; pass validation_data=(Xv, Yv) "
                            "with the held-out columns")
        X, Y, validation_data = _split(net, X, Y, validation_split)
        if sample_weight is not None:
            total = X.shape[1] + validation_data[0].shape[1]
            sample_weight = np.asarray(sample_weight)
            if sample_weight.shape != (total,):
                raise ValueError(f"sample_weight must have shape ({total},), one weight per sample; got "
                                 f"shape {sample_weight.shape}")
            sample_weight = sample_weight[: X.shape[1]]
    Xs = feature_major_rows(X, net) if sparse else sample_major(net, X)
    N = Xs.n_samples if sparse else Xs.shape[0]
    Y = net.check_targets(Y, N, labels=True)
    weights = _check_weights(net, Y, sample_weight, class_weight)
    epochs, initial_epoch = check_epochs(epochs, initial_epoch)
    batch_size = min(check_positive_int(batch_size, "batch_size"), N)
    accumulate, optimizer, callbacks = check_loop_options(accumulate, optimizer, shuffle, verbose, callbacks)
    patience, min_delta = check_early_stopping(patience, min_delta, restore_best_weights)
    schedule = check_schedule(schedule, optimizer)
    val = check_validation_data(net, validation_data)
    rng = check_seed(seed)

    # Sample-major targets (rows gather much faster than columns).
    Ys = np.empty((N, Y.shape[0]), dtype=net.dtype)
    ktrain.transpose_into(Y, Ys)
    keys = ["loss", "accuracy"] + (["val_loss", "val_accuracy"] if val is not None else [])
    keys += ["lr"] if schedule is not None else []
    history = History(keys)
    quiet = val is None and not callbacks and patience is None and verbose == 0 and schedule is None
    run = max(1, min(CHUNK_SAMPLES // N, epochs - initial_epoch)) if quiet else 1  # epochs per kernel call
    dropout_seed = draw_dropout_seed(net, seed, rng)
    engine = EpochEngine(net, optimizer, Xs, Ys, batch_size, accumulate, max_epochs_per_call=run,
                         dropout_seed=dropout_seed, sample_weight=weights)
    if shuffle and initial_epoch:
        engine.skip_epochs(initial_epoch, rng)
    resume_schedule(schedule, initial_epoch, engine.updates_per_epoch)
    net.optimizer = optimizer
    net.schedule = schedule

    def train(first_epoch, count):
        """Metrics of ``count`` epochs from ``first_epoch`` (1-based); on divergence, those
        completed go into history and DivergenceError is raised."""
        result = engine.run(count, rng if shuffle else None)
        metrics = [{"loss": float(loss_sum) / N, "accuracy": int(correct) / N}
                   for loss_sum, correct in zip(result.loss_sums, result.correct)]
        if result.divergence is not None:
            for i, epoch_metrics in enumerate(metrics):
                history._append(first_epoch + i, epoch_metrics)
            failed = result.divergence
            raise training_diverged(first_epoch + failed.epoch, failed.batch + 1, failed.what,
                                    optimizer.lr, history)
        return metrics

    if run > 1:
        done = initial_epoch
        while done < epochs:
            count = min(run, epochs - done)
            for i, metrics in enumerate(train(done + 1, count)):
                history._append(done + 1 + i, metrics)
            done += count
            net.epoch = done
        _warn_if_nothing_learnt(net, history, Y, optimizer, weights is not None)
        return history

    listeners = []  # called in this order after every epoch; any returning True stops
    progress = None
    if verbose == 1:
        # Compile (or load from the cache) before the bar starts, so that its rate and
        # time estimate measure training.
        engine.warm_up()
        if val is not None and isinstance(val[0], np.ndarray):
            net.evaluate_checked(np.ascontiguousarray(val[0][:, :1]), np.ascontiguousarray(val[1][:, :1]))
        progress = _ProgressBar(epochs - initial_epoch, net.loss_name)
        listeners.append(progress)
    elif verbose == 2:
        listeners.append(_EpochLines(epochs))
    listeners.extend(callbacks)
    hooked = [callback for callback in callbacks if isinstance(callback, Callback)]
    for callback in hooked:
        callback.set_network(net, optimizer)
        callback.on_train_begin()
    stopping = early_stopping(net, history, val, patience, min_delta)
    listeners += [stopping] if stopping is not None else []
    try:
        for epoch in range(initial_epoch + 1, epochs + 1):
            if schedule is not None:
                schedule.epoch_begins()
                engine.set_rates(schedule.step_rates(engine.updates_per_epoch))
            metrics = train(epoch, 1)[0]
            net.epoch = epoch
            add_validation(net, val, metrics)
            if schedule is not None:
                metrics["lr"] = optimizer.lr  # the rate of this epoch's (last) update
                schedule.epoch_ends(epoch * N, dict(metrics))
            history._append(epoch, metrics)
            if notify(listeners, epoch, metrics):
                break
    finally:
        if progress is not None:
            progress.close()
    if stopping is not None:
        stopping.finish(restore_best_weights)
    for callback in hooked:
        callback.on_train_end()
    _warn_if_nothing_learnt(net, history, Y, optimizer, weights is not None)
    return history
