"""Data-parallel training on a Dask cluster: the same bits as one machine.

:func:`fit` trains a :class:`~fastnn.Network` synchronously over Dask workers: each update's
group of ``accumulate`` micro-batches of ``batch_size`` is split among the workers, each
computes the gradients of its micro-batches with fastnn's kernels, the gradients are folded
in MICRO-BATCH ORDER (never in the order the workers finish) and the client applies one
optimizer update with the kernels ``Network.fit`` uses, then sends the new weights.

How the work is laid out
------------------------
One Dask actor per worker (``client.submit(..., actor=True, workers=[address])``) holds that
worker's data and work buffers for the whole fit; each update costs one call per worker
(the weights in, the losses out) and a chain of fold calls (below): each run's worker
fetches the fold of the run before from that run's worker directly (an async actor method,
answered on that worker's event loop), not through the client. No home-made RPC.

- NumPy ``X``/``Y``: checked once on the client and sent once to every worker (never per
  step). The micro-batches are drawn exactly as ``net.fit`` draws them (the same generator
  calls, so ``net.fit(X, Y, accumulate=k, ...)`` with the same options and seed gives
  bitwise the same weights, losses and accuracies); worker w computes the w-th contiguous
  run of each group's micro-batches.
- dask arrays ``X`` (n_0, N) and ``Y`` (n_L, N) or (N,), chunked along the samples only:
  each chunk stays on the worker that holds it (it is persisted first, so nothing is
  gathered to the client; a target chunk follows its input chunk when they are apart).
  Micro-batches never straddle chunks: each epoch, each chunk's samples are visited in a
  new order (``rng.shuffle`` of the chunk's order, chunk by chunk), cut into micro-batches
  of ``batch_size`` (a chunk's last one holds its remainder), and the epoch's list of all
  micro-batches is shuffled (``rng.permutation``); consecutive runs of ``accumulate`` of
  them make the updates. This depends on the seed and the chunks only, so 1, 2 or 3
  workers give bitwise the same training.

The fold is exact: the gradient of each micro-batch is computed into its own buffer and
added left to right (:mod:`fastnn.kernels.distributed`), the operations the epoch kernel
performs. A worker holding a run of consecutive micro-batches folds them onto the sum of
those before it, which it fetches from the worker of the run before; a group whose
micro-batches alternate between workers takes one such call per run.

Faults: an update is applied on the client only once every gradient of its group has come
back, in one kernel call, so the network always holds the weights of a whole number of
updates. A worker lost mid-fit (its process killed):

- NumPy data (every worker holds a copy): the update is computed again on the remaining
  workers, which take over the lost one's micro-batches; the fold order is unchanged, so
  the fit finishes with the same bits (a :class:`~fastnn.errors.TrainingWarning` says so).
- dask arrays: its chunks are gone with it, so :class:`WorkerLostError` is raised naming
  the worker, the chunks and the updates done; ``net`` and the optimizer keep the weights
  and state after the last whole update.

``KeyboardInterrupt`` gives the same guarantee (the update is one kernel call on the client).
"""

try:
    import dask.array as da
    import distributed
except ImportError as error:  # pragma: no cover - the test simulates it with a blocked import
    raise ImportError('fastnn.dask needs Dask: pip install "fastnn[dask]" (dask[array], distributed); '
                      f"the import failed with: {error}") from error

import time
import warnings

import numpy as np

from . import threads as _threads
from ._validation import check_positive_int, check_seed
from .callbacks import Callback
from .errors import TrainingWarning, training_diverged
from .kernels import distributed as kdist
from .kernels import optimizers as kopt
from .kernels import training as ktrain
from .kernels.network import work_size
from .notices import caller_stacklevel
from .training import (History, _EpochLines, _ProgressBar, _split, _warn_if_nothing_learnt, add_validation,
                       check_early_stopping, check_epochs, check_loop_options, check_schedule,
                       check_validation_data, draw_dropout_seed, early_stopping, notify, resume_schedule,
                       sample_major)

__all__ = ["WorkerLostError", "fit"]


class WorkerLostError(RuntimeError):
    """A worker (and the data it held) was lost during :func:`fit`; the network holds the
    weights after the last whole update (``.updates`` of them in this fit). ``.worker`` is
    its address."""

    def __init__(self, message, worker, shard, updates):
        super().__init__(message)
        self.worker = worker
        self.shard = shard
        self.updates = updates


class _Shard:
    """The actor of one worker: its blocks of samples (sample-major), a copy of the network
    and the work buffers; computes and folds micro-batch gradients."""

    def __init__(self, net, batch_size, blocks, names):
        self.net = net
        self.batch_size = batch_size
        self.blocks = [_sample_major_block(net, X, Y, name) for (X, Y), name in zip(blocks, names)]
        self.work = np.empty(work_size(net.kernel_buffers.layout, batch_size, True), dtype=net.dtype)
        self.grads = {}
        self.spare = []
        self.sent = None

    def warm_up(self):
        """Load the kernels from Numba's cache (or compile them): one micro-batch of one sample
        and a fold, into buffers thrown away. Returns the seconds it took."""
        start = time.perf_counter()
        params, _, layout, loss = self.net.kernel_buffers
        Xs, Ys = self.blocks[0]
        grad = np.empty_like(params)
        rows = np.zeros(1, dtype=np.int64)
        kdist.micro_batch_gradient(params, grad, layout, loss, Xs, Ys, rows, self.batch_size, self.work,
                                   self.net.dropout_rates, 0, 0)
        kdist.fold_gradient(grad[:0], grad[:0], 1, 1)
        return time.perf_counter() - start

    def compute(self, params, items, drop_seed, first_run=None, keep=False):
        """The gradients of ``items`` (``(index, block, rows, drop_step)`` each) at ``params``,
        kept here for :meth:`fold`. Returns ``(index, loss, correct)`` per item and, when this
        worker holds the group's first run of micro-batches (``first_run``, as for
        :meth:`fold`), their fold (saves a round trip; with ``keep``, it stays here for the
        next run's worker to :meth:`take` instead), else None."""
        net_params, _, layout, loss = self.net.kernel_buffers
        np.copyto(net_params, params)
        self.grads.clear()
        if self.sent is not None:  # the fold returned last time has reached the client: it sent
            self.spare.append(self.sent)  # these weights after receiving every fold of that update
            self.sent = None
        out = []
        with _threads.training_threads(self.net.product_size(self.batch_size), len(items)):
            for index, block, rows, drop_step in items:
                grad = self.spare.pop() if self.spare else np.empty_like(net_params)
                Xs, Ys = self.blocks[block]
                batch_loss, correct = kdist.micro_batch_gradient(
                    net_params, grad, layout, loss, Xs, Ys, rows, self.batch_size, self.work,
                    self.net.dropout_rates, drop_seed, drop_step)
                self.grads[index] = grad
                out.append((index, float(batch_loss), int(correct)))
        if first_run is None:
            return out, None
        self.sent = self.fold(None, first_run)
        return out, None if keep else self.sent

    async def take(self):
        """The fold kept by the last call (on the worker's event loop: no wait for a call)."""
        return self.sent

    def fold_from(self, shard, peer, run, keep):
        """:meth:`fold` of ``run`` onto the fold kept by actor ``peer`` (number ``shard``),
        fetched from its worker directly (not through the client). With ``keep`` the result
        stays here for the next run's worker and None is returned, else the result."""
        try:
            acc = peer.take().result()
        except Exception as error:  # its worker died since it computed: name it, not this one
            raise _PeerLost(shard, f"{type(error).__name__}: {error}") from None
        acc = self.fold(acc, run)
        if not keep:
            return acc
        if self.sent is not None:  # an earlier run's fold of this group, taken already
            self.spare.append(self.sent)
        self.sent = acc
        return None

    def fold(self, acc, run):
        """Fold the kept gradients of ``run`` (``(index, previous_m, m)`` each, in micro-batch
        order) onto ``acc`` (None: the run starts the group). Returns the fold."""
        if acc is not None and not acc.flags.writeable:  # received read-only from the client
            acc = acc.copy()
        for index, previous_m, m in run:
            grad = self.grads.pop(index)
            if acc is None:
                acc = grad
                continue
            kdist.fold_gradient(acc, grad, previous_m, m)
            self.spare.append(grad)
        return acc


class _PeerLost(RuntimeError):
    """Raised on a worker that could not fetch a fold from the worker of actor ``shard``."""

    def __init__(self, shard, message):
        super().__init__(shard, message)
        self.shard = shard


def _sample_major_block(net, X, Y, name):
    """A block's ``(Xs, Ys)``, checked (inputs finite, targets of the right shape), or the
    NumPy data already checked by the client (``Y`` given sample-major, ``X`` too)."""
    if name is None:
        return X, Y
    try:
        Xs = sample_major(net, X)
        Y = net.check_targets(Y, Xs.shape[0], labels=True)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{name}: {error}") from None
    Ys = np.empty((Xs.shape[0], Y.shape[0]), dtype=net.dtype)
    ktrain.transpose_into(Y, Ys)
    return Xs, Ys


class _Layout:
    """Where the samples are and how each epoch's micro-batches are drawn from them; owns
    the actors (one per worker holding data) and the futures to release at the end."""

    def __init__(self, client):
        self.client = client
        self.futures = []      # ours alone (actors, scattered data): cancelled at the end
        self.data = None       # the persisted chunks of dask arrays
        self.shards = []       # actors
        self.addresses = []    # the worker of each actor
        self.names = []        # the names of its blocks (None: a copy of all the data)
        self.Y = None          # the targets (n_L, N) on the client, NumPy input only

    def _start(self, net, batch_size, blocks_by_address, names_by_address):
        """One actor per worker with its blocks (futures or arrays); raises the first error of
        a block (bad data) before any update."""
        pending = []
        for address, blocks in blocks_by_address.items():
            copy = self.client.scatter(net, workers=[address], hash=False)  # not in the graph: it is big
            future = self.client.submit(_Shard, copy, batch_size, blocks, names_by_address[address],
                                        workers=[address], actor=True, pure=False)
            self.futures.append(copy)
            self.futures.append(future)
            pending.append((address, future))
        for address, future in pending:
            self.shards.append(future.result())
            self.addresses.append(address)
            self.names.append(names_by_address[address])

    def release(self):
        self.shards.clear()
        self.client.cancel(self.futures)
        self.futures.clear()
        self.data = None


class _Replicated(_Layout):
    """NumPy data, checked once and sent once to every worker; micro-batches drawn as
    ``Network.fit`` draws them, each group's split in contiguous runs over the workers."""

    def __init__(self, client, net, X, Y, batch_size, addresses):
        super().__init__(client)
        Xs = sample_major(net, X)
        self.n_samples = N = Xs.shape[0]
        self.Y = Y = net.check_targets(Y, N, labels=True)
        Ys = np.empty((N, Y.shape[0]), dtype=net.dtype)
        ktrain.transpose_into(Y, Ys)
        self.batch_size = min(check_positive_int(batch_size, "batch_size"), N)
        self.order = np.arange(N, dtype=np.int64)
        self.n_batches = -(-N // self.batch_size)  # micro-batches per epoch
        blocks, names = {}, {}
        for address in addresses:
            data = client.scatter([Xs, Ys], workers=[address], hash=False)
            self.futures.extend(data)
            blocks[address], names[address] = [tuple(data)], [None]
        self._start(net, self.batch_size, blocks, names)

    def epoch(self, rng):
        """The epoch's micro-batches as ``(shard, block, rows)``, in order; ``shard`` None:
        any worker (each holds all the data; :meth:`_Trainer._update` assigns them)."""
        if rng is not None:
            rng.shuffle(self.order)
        bs = self.batch_size
        return [(None, 0, self.order[start:start + bs].copy()) for start in range(0, self.n_samples, bs)]


class _Chunked(_Layout):
    """dask arrays chunked along the samples: every chunk stays on its worker; micro-batches
    are cut within chunks (see the module's notes)."""

    def __init__(self, client, net, X, Y, batch_size, addresses):
        super().__init__(client)
        X, Y = _check_chunked(net, X, Y)
        X, Y = client.persist([X, Y])
        distributed.wait([X, Y])
        futures = {future.key: future for future in distributed.futures_of(X) + distributed.futures_of(Y)}
        x_keys = X.__dask_keys__()[0]
        y_keys = Y.__dask_keys__()[0] if Y.ndim == 2 else Y.__dask_keys__()
        self.data = futures  # held for the fit, then dropped (not cancelled: others may share them)
        holders = client.who_has([futures[key] for key in x_keys])
        self.sizes = X.chunks[1]
        self.n_samples = sum(self.sizes)
        self.batch_size = min(check_positive_int(batch_size, "batch_size"), self.n_samples)
        self.n_batches = sum(-(-size // self.batch_size) for size in self.sizes)
        blocks = {address: [] for address in addresses}
        names = {address: [] for address in addresses}
        where = []  # chunk -> (address, block index on that worker)
        starts = np.cumsum((0,) + self.sizes)
        for c, key in enumerate(x_keys):
            held = [address for address in holders.get(key, ()) if address in blocks]
            address = held[0] if held else addresses[c % len(addresses)]  # else it moves there
            where.append((address, len(blocks[address])))
            blocks[address].append((futures[key], futures[y_keys[c]]))
            names[address].append(f"X[:, {starts[c]}:{starts[c + 1]}] (chunk {c})")
        blocks = {address: value for address, value in blocks.items() if value}
        self._start(net, self.batch_size, blocks, names)
        shard_of = {address: i for i, address in enumerate(self.addresses)}
        self.where = [(shard_of[address], block) for address, block in where]
        self.orders = [np.arange(n, dtype=np.int64) for n in self.sizes]

    def epoch(self, rng):
        """The epoch's micro-batches as ``(shard, block, rows)``: each chunk's (shuffled) order
        cut into micro-batches, the whole list shuffled."""
        batches = []
        for c, order in enumerate(self.orders):
            if rng is not None:
                rng.shuffle(order)
            shard, block = self.where[c]
            batches.extend((shard, block, order[start:start + self.batch_size].copy())
                           for start in range(0, order.size, self.batch_size))
        if rng is not None:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches


def _check_chunked(net, X, Y):
    """``X`` (n_0, N) and ``Y`` (n_L, N) or (N,) as dask arrays chunked along the samples
    only, with the same chunks; else ValueError/TypeError naming the fix."""
    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a dask array when Y is one; got {type(X).__name__} (pass both as "
                        f"dask arrays, or both as NumPy arrays)")
    if X.ndim != 2 or X.shape[0] != net.n_inputs:
        raise ValueError(f"X must have shape (n_inputs={net.n_inputs}, n_samples), one sample per column; "
                         f"got shape {X.shape}")
    if len(X.chunks[0]) != 1:
        raise ValueError(f"X is chunked along the features (chunks {X.chunks[0]} along axis 0); chunk it "
                         f"along the samples only: X.rechunk({{0: -1}})")
    if not isinstance(Y, da.Array):
        Y = np.asarray(Y)
        Y = da.from_array(Y, chunks=(Y.shape[:1] if Y.ndim == 2 else ()) + (X.chunks[1],)) \
            if Y.ndim in (1, 2) and Y.shape[-1] == X.shape[1] else Y
    if not isinstance(Y, da.Array) or Y.ndim not in (1, 2) or Y.shape[-1] != X.shape[1]:
        raise ValueError(f"Y must have shape (n_outputs={net.n_outputs}, {X.shape[1]}) or hold "
                         f"{X.shape[1]} labels, one per column of X; got shape {np.shape(Y)}")
    if Y.ndim == 2 and len(Y.chunks[0]) != 1:
        Y = Y.rechunk({0: -1})
    if Y.chunks[-1] != X.chunks[1]:
        raise ValueError(f"Y's chunks along the samples {Y.chunks[-1]} differ from X's {X.chunks[1]}; "
                         f"rechunk Y like X: Y.rechunk({{{Y.ndim - 1}: X.chunks[1]}})")
    return X, Y


def _client(client):
    if client is None:
        try:
            return distributed.get_client()
        except ValueError:
            raise ValueError("fastnn.dask.fit needs a Dask client: create one first, e.g. "
                             "distributed.Client() for a local cluster or "
                             "distributed.Client('tcp://scheduler:8786'), or pass client=") from None
    if not isinstance(client, distributed.Client):
        raise TypeError(f"client must be a distributed.Client; got {type(client).__name__}")
    return client


def _workers(client, workers):
    known = sorted(client.scheduler_info(n_workers=-1)["workers"])
    if workers is None:
        if not known:
            raise ValueError("the Dask cluster has no workers; start some (or wait for them: "
                             "client.wait_for_workers(n))")
        return known
    if isinstance(workers, str):
        workers = [workers]
    workers = list(workers)
    unknown = [address for address in workers if address not in known]
    if unknown or not workers:
        raise ValueError(f"workers must be a non-empty list of the cluster's worker addresses {known}; "
                         f"got {workers}")
    return list(dict.fromkeys(workers))


_LOST = (OSError, distributed.comm.CommClosedError, distributed.client.FutureCancelledError,
         distributed.KilledWorker, TimeoutError)
"""What a call to a lost worker raises (a killed process, a closed connection)."""


def fit(net, X, Y, *, client=None, workers=None, epochs=10, batch_size=32, accumulate=1, optimizer="sgd",
        shuffle=True, seed=0, validation_data=None, callbacks=None, verbose=1, schedule=None, patience=None,
        min_delta=0.0, restore_best_weights=True, initial_epoch=0, validation_split=None):
    """Train ``net`` data-parallel on Dask workers; the result of ``net.fit`` bit for bit.

    Parameters
    ----------
    net : Network
        Trained in place (on the client: the workers hold copies of the weights).
    X : ndarray of shape (n_0, N), or dask array chunked along the samples (axis 1) only
        Inputs, one sample per column. NumPy data is sent once to every worker; a dask
        array's chunks stay on their workers (see the module's notes).
    Y : ndarray or dask array of shape (n_L, N), or 1-D labels of shape (N,)
        Targets, as ``Network.fit`` takes them (with a dask ``X``: chunked like it).
    client : distributed.Client, optional
        Default: the current client (``distributed.get_client()``).
    workers : list of str, optional
        Worker addresses to train on (default: all of the cluster's).
    epochs, batch_size, accumulate, optimizer, shuffle, seed, validation_data, callbacks, verbose, schedule,
    patience, min_delta, restore_best_weights, initial_epoch, validation_split (NumPy data only)
        As in :meth:`Network.fit <fastnn.Network.fit>`: each update uses ``accumulate``
        micro-batches of ``batch_size`` samples, split among the workers. With NumPy data
        the result equals ``net.fit(X, Y, accumulate=accumulate, ...)`` with the same
        options bitwise (weights, optimizer state, history). ``verbose`` also reports the
        workers' start-up (loading or compiling the kernels), which ``fit`` waits for.

    Returns
    -------
    History
        As ``Network.fit``'s; ``net.optimizer`` and ``net.epoch`` are set likewise.

    Raises
    ------
    WorkerLostError
        A worker holding chunks of dask-array data was lost (its process died) mid-fit, or
        every worker was: ``net`` keeps the weights and optimizer state of the last whole
        update. With NumPy data the remaining workers finish the fit (the same bits).
    DivergenceError
        As ``Network.fit``: a NaN or infinite loss or parameter, the last finite weights kept.
    """
    client = _client(client)
    addresses = _workers(client, workers)
    epochs, initial_epoch = check_epochs(epochs, initial_epoch)
    accumulate, optimizer, callbacks = check_loop_options(accumulate, optimizer, shuffle, verbose, callbacks)
    stopping = check_early_stopping(patience, min_delta, restore_best_weights)
    chunked = isinstance(X, da.Array) or isinstance(Y, da.Array)
    if validation_split is not None:
        if validation_data is not None:
            raise ValueError("pass validation_data or validation_split, not both")
        if chunked:
            raise TypeError("validation_split takes NumPy X and Y (the held-out columns of a dask array "
                            "would come to the client); pass validation_data=(Xv, Yv) instead")
        X, Y, validation_data = _split(net, X, Y, validation_split)
    val = check_validation_data(net, validation_data)
    schedule = check_schedule(schedule, optimizer)
    rng = check_seed(seed)
    drop_seed = draw_dropout_seed(net, seed, rng)
    layout = (_Chunked if chunked else _Replicated)(client, net, X, Y, batch_size, addresses)
    try:
        trainer = _Trainer(net, optimizer, layout, accumulate, drop_seed, schedule)
        trainer.warm_up(verbose)
        history = trainer.train(initial_epoch, epochs, rng if shuffle else None, val, callbacks, verbose,
                                stopping, restore_best_weights)
    finally:
        layout.release()
    if layout.Y is not None:
        _warn_if_nothing_learnt(net, history, layout.Y, optimizer)
    return history


class _Trainer:
    """The update loop on the client: draws, sends, folds in order, applies."""

    def __init__(self, net, optimizer, layout, accumulate, drop_seed, schedule=None):
        self.net, self.optimizer, self.layout = net, optimizer, layout
        self.schedule = schedule
        self.accumulate, self.drop_seed = accumulate, drop_seed
        buffers = optimizer.kernel_buffers(net)
        self.state = buffers.state  # the flat state, and the epoch kernel's view of it:
        self.epoch_opt = kopt.epoch_opt(buffers)
        self.params_backup = np.empty_like(net.params)
        self.state_backup = np.empty_like(self.state)
        self.updates = 0
        self.lost = set()  # actors whose worker was lost
        net.optimizer = optimizer
        net.schedule = schedule

    def _call(self, shard, what, method, *args):
        """Call ``method`` of actor ``shard``; its future. A worker known to be lost raises
        :class:`WorkerLostError` here already (Dask refuses calls to its actor)."""
        try:
            return getattr(self.layout.shards[shard], method)(*args)
        except RuntimeError as error:
            if "Worker holding Actor was lost" not in str(error):  # distributed.Actor's message
                raise
            raise self._lost(shard, what, error) from error

    def _result(self, future, shard, what):
        try:
            return future.result()
        except _PeerLost as error:
            raise self._lost(error.shard, what, error) from error
        except _LOST as error:
            raise self._lost(shard, what, error) from error

    def _lost(self, shard, what, error):
        address = self.layout.addresses[shard]
        blocks = self.layout.names[shard] if self.layout.names[shard][0] is not None else ["a copy"]
        return WorkerLostError(
            f"worker {address} was lost while {what} ({type(error).__name__}: {error}), and with it "
            f"{', '.join(blocks)} of the data; the network holds the weights after {self.updates} whole "
            f"update(s) of this fit, none half-applied. Fit again (on the remaining workers: "
            f"workers=[...]) to continue", address, shard, self.updates)

    def warm_up(self, verbose):
        if verbose:
            print(f"fastnn.dask: {len(self.layout.shards)} worker(s) loading (or compiling) the kernels...",
                  flush=True)
        futures = [self._call(i, "loading the kernels", "warm_up") for i in range(len(self.layout.shards))]
        seconds = [self._result(future, i, "loading the kernels") for i, future in enumerate(futures)]
        if verbose:
            print(f"fastnn.dask: workers ready in {max(seconds):.1f} s; training", flush=True)

    def train(self, initial_epoch, epochs, rng, val, callbacks, verbose, stopping, restore_best_weights):
        """Epochs ``initial_epoch + 1 .. epochs`` (the shuffling skips the orders of those before);
        ``stopping`` is ``(patience, min_delta)`` (``patience`` None: no early stopping)."""
        net, layout = self.net, self.layout
        schedule = self.schedule
        keys = ["loss", "accuracy"] + (["val_loss", "val_accuracy"] if val is not None else [])
        keys += ["lr"] if schedule is not None else []
        history = History(keys)
        if rng is not None:
            for _ in range(initial_epoch):
                layout.epoch(rng)
        resume_schedule(schedule, initial_epoch, -(-layout.n_batches // self.accumulate))
        listeners = [_ProgressBar(epochs - initial_epoch, net.loss_name)] if verbose == 1 else []
        listeners += [_EpochLines(epochs)] if verbose == 2 else []
        listeners += callbacks
        hooked = [callback for callback in callbacks if isinstance(callback, Callback)]
        for callback in hooked:
            callback.set_network(net, self.optimizer)
            callback.on_train_begin()
        stopping = early_stopping(net, history, val, *stopping)
        listeners += [stopping] if stopping is not None else []
        try:
            for epoch in range(initial_epoch + 1, epochs + 1):
                batches = layout.epoch(rng)
                loss_sum, correct = 0.0, 0
                rates = None
                if schedule is not None:  # as Network.fit: the epoch's rate, or one per update
                    schedule.epoch_begins()
                    rates = schedule.step_rates(-(-len(batches) // self.accumulate))
                for start in range(0, len(batches), self.accumulate):
                    if rates is not None:
                        self.optimizer.lr = rates[start // self.accumulate]
                    group = batches[start:start + self.accumulate]
                    for batch_loss, right, m in self._update(group, epoch, start, history):
                        loss_sum += batch_loss * m
                        correct += right
                net.epoch = epoch
                metrics = {"loss": loss_sum / layout.n_samples, "accuracy": correct / layout.n_samples}
                add_validation(net, val, metrics)
                if schedule is not None:
                    metrics["lr"] = self.optimizer.lr  # the rate of the epoch's (last) update
                    schedule.epoch_ends(epoch * layout.n_samples, dict(metrics))
                history._append(epoch, metrics)
                if notify(listeners, epoch, metrics):
                    break
        finally:
            for listener in listeners[:1]:
                if isinstance(listener, _ProgressBar):
                    listener.close()
        if stopping is not None:
            stopping.finish(restore_best_weights)
        for callback in hooked:
            callback.on_train_end()
        return history

    def _update(self, group, epoch, start, history):
        """One update from the micro-batches ``group`` (``(shard, block, rows)`` each); returns
        ``(loss, correct, m)`` per micro-batch, in order. With replicated data, a lost worker's
        share goes to the others and the update is computed again (the same bits)."""
        while True:
            alive = [i for i in range(len(self.layout.shards)) if i not in self.lost]
            # Replicated data: contiguous runs of the group over the workers still alive.
            placed = [(alive[i * len(alive) // len(group)] if shard is None else shard, block, rows)
                      for i, (shard, block, rows) in enumerate(group)]
            try:
                return self._apply(placed, epoch, start, history)
            except WorkerLostError as error:
                if any(shard is not None for shard, _, _ in group) or len(alive) == 1:
                    raise
                self.lost.add(error.shard)
                warnings.warn(f"{error.args[0].split(';')[0]}; its micro-batches go to the "
                              f"{len(alive) - 1} other worker(s) (the same bits)", TrainingWarning,
                              stacklevel=caller_stacklevel())

    def _fold_from(self, runs, k, what):
        """Call the worker of run ``k`` to fold it onto the fold the worker of run ``k - 1``
        kept; the last run's returns the group's fold."""
        previous = runs[k - 1][0]
        return self._call(runs[k][0], what, "fold_from", previous, self.layout.shards[previous], runs[k][1],
                          k < len(runs) - 1)

    def _apply(self, group, epoch, start, history):
        """:meth:`_update` on the micro-batches placed on workers."""
        net, optimizer = self.net, self.optimizer
        params = net.params
        step = optimizer.steps
        items = {}
        for i, (shard, block, rows) in enumerate(group):
            items.setdefault(shard, []).append((i, block, rows, step * self.accumulate + i))
        runs, i = [], 0
        while i < len(group):  # runs of consecutive micro-batches of one worker, in order
            shard, run = group[i][0], []
            while i < len(group) and group[i][0] == shard:
                run.append((i, group[i - 1][2].size if i else 0, group[i][2].size))
                i += 1
            runs.append((shard, run))
        computing, reducing = f"computing update {step + 1}", f"reducing update {step + 1}"
        calls = [(shard, self._call(shard, computing, "compute", params, work, self.drop_seed,
                                    runs[0][1] if shard == runs[0][0] else None, len(runs) > 1))
                 for shard, work in items.items()]
        state = self.state
        np.copyto(self.params_backup, params)  # while the workers compute
        np.copyto(self.state_backup, state)
        measured, acc = {}, None
        for shard, future in calls:  # the first run's worker first (the order of items)
            results, folded = self._result(future, shard, computing)
            if folded is not None:
                acc = folded
            for index, batch_loss, right in results:
                measured[index] = (batch_loss, right, group[index][2].size)
        out = [measured[i] for i in range(len(group))]
        for i, (batch_loss, _, _) in enumerate(out):
            if not np.isfinite(batch_loss):
                raise training_diverged(epoch, start + i + 1, "loss", optimizer.lr, history)
        # In order, each once its worker has returned its computation (a call sent earlier
        # could overtake that call's bigger message): it fetches the fold the one before kept.
        for k in range(1, len(runs)):
            acc = self._result(self._fold_from(runs, k, reducing), runs[k][0], reducing)
        check = kdist.apply_update(params, acc, *self.epoch_opt, step + 1, out[-1][2],
                                   sum(m for _, _, m in out))
        net.buffers_changed()
        if not np.isfinite(check):
            np.copyto(params, self.params_backup)
            np.copyto(state, self.state_backup)
            raise training_diverged(epoch, start + len(group), "parameters after the update", optimizer.lr,
                                    history)
        optimizer.steps = step + 1
        self.updates += 1
        return out
