"""The fit loop: validation, an epoch per kernel call, metrics, early stopping, progress.

Each epoch is ONE call of :func:`fastnn.kernels.training.train_epoch` (gather, forward,
loss, backward and update for every mini-batch), over buffers allocated once per
``fit``; between epochs Python only shuffles the sample order, evaluates the
validation data, calls the callbacks and updates the progress bar. When there is none of
that to do (no validation data, callbacks, early stopping or output) and the data set
is small, runs of epochs go to :func:`fastnn.kernels.training.train_epochs` in one call
(bitwise the same training; see :data:`CHUNK_SAMPLES`).
"""

import math
import numbers

import numpy as np

from . import threads as _threads
from ._validation import as_matrix, check_positive_float, check_positive_int, check_seed, is_ready
from .kernels import network as knet
from .kernels import training as ktrain
from .network import PREDICT_CHUNK
from .optimizers import get_optimizer


class DivergenceError(FloatingPointError):
    """Training produced a NaN or infinite loss or parameter.

    The network keeps the last finite weights: those before the failing update.

    Attributes
    ----------
    epoch : int
        1-based epoch of the failure.
    batch : int
        1-based (micro-)batch of that epoch.
    history : History
        The metrics of the epochs completed before.
    """

    def __init__(self, message, epoch, batch, history):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.history = history


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


def targets(net, Y, m, name="Y", cols_of="X"):
    """Check targets in the seed layout; 1-D class labels are accepted too.

    A 1-D ``Y`` of length m is taken as the single output row when the network has one
    output, and one-hot encoded (integer labels 0..n_L-1) when it has several.
    """
    array = np.asarray(Y) if not isinstance(Y, np.ndarray) else Y
    if array.ndim == 1 and array.dtype.kind in "biuf":
        if net.n_outputs == 1:
            array = array.reshape(1, -1)
        else:
            if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
                raise ValueError(
                    f"{name} is 1-D, so it must hold integer class labels 0..{net.n_outputs - 1} "
                    f"for a network with {net.n_outputs} outputs; got non-integer values"
                )
            # The range is checked before the cast: 1e30 or 2**64 - 1 do not fit in int64.
            if array.size and (array.min() < 0 or array.max() >= net.n_outputs):
                raise ValueError(
                    f"{name} holds class labels in [{array.min()}, {array.max()}] but the network "
                    f"has {net.n_outputs} outputs (labels 0..{net.n_outputs - 1})"
                )
            labels = array.astype(np.int64)
            array = np.zeros((net.n_outputs, labels.size), dtype=net.dtype)
            array[labels, np.arange(labels.size)] = 1
    return net._check_Y(array, m, name, cols_of)


def _sample_major(net, X):
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
            pass  # raised again below, with the message in the seed layout's terms
    if is_ready(X, net.dtype, net.n_inputs):
        # The usual case: check and copy in one pass (any failure: the full check below).
        Xs = np.empty((X.shape[1], X.shape[0]), dtype=net.dtype)
        if ktrain.transpose_finite(X, Xs):
            return Xs
        del Xs
    X = net._check_X(X)
    Xs = np.empty((X.shape[1], X.shape[0]), dtype=net.dtype)
    ktrain.transpose_into(X, Xs)
    return Xs


def _evaluate_checked(net, X, Y, names=("X", "Y")):
    """(mean loss, accuracy) of checked ``X``, ``Y`` in one forward pass."""
    m = X.shape[1]
    parts, correct = [], 0
    chunk = min(m, PREDICT_CHUNK)
    with _threads.training_threads(chunk * net._max_weights, -(-m // chunk), "forward"):
        for xs, ys, ws in net._eval_chunks(X, Y):
            part = xs.shape[1]
            parts.append((knet.network_loss(net._params, net._layout, xs, ys, ws.acts, ws.z_out,
                                            net._loss_code), part))
            correct += ktrain.count_correct(ktrain.output_view(ws.acts, net._layout, part), ys)
    loss = parts[0][0] if len(parts) == 1 else sum(value * part for value, part in parts) / m
    if not np.isfinite(loss):
        raise net._overflow("loss", X, Y, names)
    return float(loss), correct / m


def evaluate(net, X, Y):
    """Mean loss and accuracy of ``net`` on ``X``, ``Y``.

    Parameters
    ----------
    net : Network
    X : array_like of shape (n_0, m)
    Y : array_like of shape (n_L, m), or 1-D labels of shape (m,)

    Returns
    -------
    (float, float)
        The loss (as :meth:`Network.loss`) and the accuracy: the fraction of samples
        whose ``argmax`` output matches the ``argmax`` target (several outputs), or
        whose output and target fall on the same side of 0.5 (one output).
    """
    X = net._check_X(X)
    Y = targets(net, Y, X.shape[1])
    return _evaluate_checked(net, X, Y)


def predict_classes(net, X):
    """Predicted class of each sample: ``argmax`` over the outputs, or ``output > 0.5``.

    Returns
    -------
    int64 ndarray of shape (m,)
    """
    A = net.predict(X)
    if A.shape[0] == 1:
        return (A[0] > 0.5).astype(np.int64)
    return np.argmax(A, axis=0).astype(np.int64)


def _check_nonnegative_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer; got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value}")
    return int(value)


def _format(metrics):
    return "  ".join(f"{key} {value:.4f}" for key, value in metrics.items())


def _diverged(epoch, batch, what, optimizer, history):
    return DivergenceError(
        f"training diverged at epoch {epoch}, batch {batch}: the {what} became "
        f"NaN or infinite; the network keeps the last finite weights. Lower the "
        f"learning rate (optimizer lr={optimizer.lr:g}) or scale the inputs.",
        epoch, batch, history)


CHUNK_SAMPLES = 4096
"""With nothing to run in Python between epochs, :func:`fit` trains up to
``CHUNK_SAMPLES // N`` epochs of N samples in one kernel call (when that is at least 2):
the Python work around an epoch call (about 3 us) is then paid once per run of epochs,
which matters when an epoch takes only a few microseconds."""


def _train_run(net, optimizer, Xs, Ys, perms, batch_size, accumulate, work, blas_work,
               backups, sums, counts, first_epoch, history):
    """Train one epoch per row of ``perms`` in one kernel call
    (:func:`~fastnn.kernels.training.train_epochs`); ``sums``/``counts`` receive each
    epoch's loss sum and correct count.

    On divergence, the completed epochs go into ``history``, the weights become the last
    finite ones (the run is replayed from its start up to the group of batches before
    the failing update: the loop is deterministic, so bitwise) and DivergenceError names
    the epoch and batch. On Ctrl-C (which Python raises only after the kernel returns),
    network and optimizer roll back to the start of the run: whole epochs, bitwise.
    """
    params_backup, state_backup = backups
    N = Xs.shape[0]
    backed_up = False
    try:
        np.copyto(params_backup, net._params)
        np.copyto(state_backup, optimizer._state)
        steps_before = optimizer.steps
        backed_up = True
        args = (net._params, net._grads, net._layout, Xs, Ys)
        opt = (net._loss_code, optimizer.code, optimizer._hyper, optimizer._state)
        n_batches = -(-N // batch_size)
        with _threads.training_threads(blas_work, perms.shape[0] * n_batches):
            status, trained, batch, steps = ktrain.train_epochs(
                *args, perms, batch_size, accumulate, *opt, steps_before, work, sums, counts)
        net._grads_zero = False
        net._X = None
        if status != ktrain.OK:
            for i in range(trained):
                history._append(first_epoch + i, {"loss": float(sums[i]) / N,
                                                  "accuracy": int(counts[i]) / N})
            what = "loss"
            if status == ktrain.PARAMS_NOT_FINITE:
                what = "parameters after the update"
                np.copyto(net._params, params_backup)
                np.copyto(optimizer._state, state_backup)
                group_start = (batch // accumulate) * accumulate
                with _threads.training_threads(blas_work, kind="replay"):
                    _, _, _, steps = ktrain.train_epochs(
                        *args, perms[:trained], batch_size, accumulate, *opt, steps_before, work,
                        sums, counts)
                    _, _, _, _, steps = ktrain.train_epoch(
                        *args, perms[trained], batch_size, accumulate, *opt, steps, work, group_start)
            optimizer._steps[0] = steps
            raise _diverged(first_epoch + trained, batch + 1, what, optimizer, history)
        optimizer._steps[0] = steps
    except KeyboardInterrupt:
        if backed_up:
            np.copyto(net._params, params_backup)
            np.copyto(optimizer._state, state_backup)
            optimizer._steps[0] = steps_before
        net._X = None
        raise


def fit(net, X, Y, epochs=10, batch_size=32, optimizer="sgd", shuffle=True, seed=0,
        validation_data=None, accumulate=1, callbacks=None, verbose=1, patience=None,
        min_delta=0.0, restore_best_weights=True, threads=None):
    """Train ``net`` by mini-batch gradient descent; one compiled call per epoch.

    Parameters
    ----------
    net : Network
        Trained in place.
    X : array_like of shape (n_0, N)
        Inputs, one sample per column.
    Y : array_like of shape (n_L, N), or 1-D labels of shape (N,)
        Targets. 1-D integer labels are one-hot encoded for a network with several
        outputs; for one output a 1-D ``Y`` is the output row.
    epochs : int, default 10
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
        starting weights give bitwise the same training.
    validation_data : (Xv, Yv), optional
        Evaluated after every epoch: ``val_loss`` and ``val_accuracy``.
    accumulate : int, default 1
        Micro-batches per update: the gradients of ``accumulate`` consecutive batches
        of ``batch_size`` are accumulated by the backward kernel and the update uses
        their sample-weighted mean, the gradient of one batch of
        ``accumulate * batch_size`` samples.
    callbacks : callable or list of callables, optional
        Each is called after every epoch as ``callback(epoch, metrics)`` with the
        1-based epoch number and a dict of that epoch's metrics; a callback returning
        True stops training.
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

    Returns
    -------
    History

    Raises
    ------
    DivergenceError
        A NaN or infinite loss or parameter; the message names the epoch and batch, and
        the network keeps the last finite weights.

    Notes
    -----
    BLAS runs with ``threads`` (or the threads of :func:`fastnn.set_num_threads`) during
    each epoch call. The reported ``loss`` of an epoch is the sample-weighted mean of the batch losses,
    each measured on its batch just before that batch's update (as Keras does).
    """
    with _threads.for_call(threads):
        return _fit(net, X, Y, epochs, batch_size, optimizer, shuffle, seed, validation_data,
                    accumulate, callbacks, verbose, patience, min_delta, restore_best_weights)


def _fit(net, X, Y, epochs, batch_size, optimizer, shuffle, seed, validation_data, accumulate,
         callbacks, verbose, patience, min_delta, restore_best_weights):
    """:func:`fit` under the thread setting it chose."""
    Xs = _sample_major(net, X)
    N = Xs.shape[0]
    Y = targets(net, Y, N)
    epochs = _check_nonnegative_int(epochs, "epochs")
    batch_size = min(check_positive_int(batch_size, "batch_size"), N)
    accumulate = check_positive_int(accumulate, "accumulate")
    optimizer = get_optimizer(optimizer)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False; got {shuffle!r}")
    if verbose not in (0, 1, 2) or isinstance(verbose, float):
        raise ValueError(f"verbose must be 0, 1 or 2; got {verbose!r}")
    if callbacks is None:
        callbacks = []
    elif callable(callbacks):
        callbacks = [callbacks]
    else:
        try:
            callbacks = list(callbacks)
        except TypeError:
            raise TypeError(f"callbacks must be a callable or a list of callables; "
                            f"got {type(callbacks).__name__}") from None
        for i, callback in enumerate(callbacks):
            if not callable(callback):
                raise TypeError(f"callbacks[{i}] must be callable as callback(epoch, metrics); "
                                f"got {type(callback).__name__}")
    if not isinstance(restore_best_weights, (bool, np.bool_)):
        raise TypeError(f"restore_best_weights must be True or False; got {restore_best_weights!r}")
    if patience is not None:
        patience = check_positive_int(patience, "patience")
    min_delta = check_positive_float(min_delta, "min_delta", allow_zero=True)
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a pair (Xv, Yv)")
        Xv = net._check_X(validation_data[0], "validation_data[0]")
        Yv = targets(net, validation_data[1], Xv.shape[1], "validation_data[1]", "validation_data[0]")
        val = (Xv, Yv)
    rng = check_seed(seed)

    # Sample-major targets (rows gather 8-16x faster), buffers allocated once per fit.
    Ys = np.empty((N, Y.shape[0]), dtype=net.dtype)
    ktrain.transpose_into(Y, Ys)
    perm = np.arange(N, dtype=np.int64)
    work = np.empty(ktrain.epoch_work_size(net._layout, batch_size), dtype=net.dtype)
    blas_work = batch_size * net._max_weights  # the largest product, for the thread policy
    optimizer._bind(net)
    params_backup = np.empty_like(net._params)
    state_backup = np.empty_like(optimizer._state)
    best_params = np.empty_like(net._params) if patience is not None else None

    keys = ["loss", "accuracy"] + (["val_loss", "val_accuracy"] if val is not None else [])
    history = History(keys)
    monitor = "val_loss" if val is not None else "loss"
    best, best_epoch, waited = math.inf, None, 0

    chunk = CHUNK_SAMPLES // N if (val is None and not callbacks and patience is None
                                   and verbose == 0) else 0
    run = max(1, min(chunk, epochs))  # epochs per kernel call
    # One epoch per call: a view of perm, no second order array of N indices.
    perms = perm[np.newaxis] if run == 1 else np.empty((run, N), dtype=np.int64)
    sums = np.empty(run, dtype=np.float64)
    counts = np.empty(run, dtype=np.int64)
    backups = (params_backup, state_backup)
    if chunk >= 2:
        done = 0
        while done < epochs:
            count = min(run, epochs - done)
            for i in range(count):
                if shuffle:
                    rng.shuffle(perm)
                perms[i] = perm
            _train_run(net, optimizer, Xs, Ys, perms[:count], batch_size, accumulate, work,
                       blas_work, backups, sums, counts, done + 1, history)
            for i in range(count):
                history._append(done + i + 1, {"loss": float(sums[i]) / N,
                                               "accuracy": int(counts[i]) / N})
            done += count
        return history

    bar = None
    if verbose == 1:
        # Compile (or load from the cache) before the bar starts, so that its rate and
        # time estimate measure training: a run of zero epochs trains nothing.
        ktrain.train_epochs(net._params, net._grads, net._layout, Xs, Ys, perms[:0], batch_size,
                            accumulate, net._loss_code, optimizer.code, optimizer._hyper,
                            optimizer._state, optimizer.steps, work, sums, counts)
        if val is not None:
            _evaluate_checked(net, np.ascontiguousarray(val[0][:, :1]), np.ascontiguousarray(val[1][:, :1]))
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc="fit", unit="epoch", leave=True)
    try:
        for epoch in range(1, epochs + 1):
            if shuffle:
                rng.shuffle(perm)  # perms[0] is a view of perm
            _train_run(net, optimizer, Xs, Ys, perms[:1], batch_size, accumulate, work, blas_work,
                       backups, sums, counts, epoch, history)
            loss_sum, correct = float(sums[0]), int(counts[0])
            metrics = {"loss": loss_sum / N, "accuracy": correct / N}
            if val is not None:
                metrics["val_loss"], metrics["val_accuracy"] = _evaluate_checked(
                    net, *val, names=("validation_data[0]", "validation_data[1]"))
            history._append(epoch, metrics)
            if bar is not None:
                bar.set_postfix({key: f"{value:.4f}" for key, value in metrics.items()}, refresh=False)
                bar.update(1)
            elif verbose == 2:
                print(f"epoch {epoch}/{epochs}  {_format(metrics)}", flush=True)
            stop = False
            for callback in callbacks:
                if callback(epoch, dict(metrics)) is True:
                    stop = True
            if patience is not None:
                value = metrics[monitor]
                if value < best - min_delta:
                    best, best_epoch, waited = value, epoch, 0
                    np.copyto(best_params, net._params)
                else:
                    waited += 1
                    if waited >= patience:
                        history.stopped_epoch = epoch
                        stop = True
            if stop:
                break
    finally:
        if bar is not None:
            bar.close()
    if patience is not None and best_epoch is not None:
        if restore_best_weights and best_epoch != history.epoch[-1]:
            np.copyto(net._params, best_params)
            net._X = None
        history.best_epoch = best_epoch if restore_best_weights else history.epoch[-1]
    return history
