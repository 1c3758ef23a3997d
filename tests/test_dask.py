"""fastnn.dask: data-parallel fits on a real LocalCluster of worker processes.

The cluster (2 worker processes, one thread each) is started once for the module; the
workers load the kernels from the worktree's Numba cache. Networks are small so that the
whole file runs in about a minute.

The single-process reference fits run on a worker too, and the kernels are compiled into
the cache by a subprocess before the cluster starts: float64 results of a process that
compiled a kernel itself were seen to differ in the last bits from those of processes
that loaded the same kernel from Numba's cache (the loss of a fit, here: reproduce it
by running this file right after a kernel source changed, with the references in the
pytest process). Every process then runs the same cached machine code. Traced to the
backward pass's plain-loop products (``SMALL_PRODUCT``, e.g. a 64 -> 1 layer on a batch
of 40) compiled with the ``reassoc`` fast-math flag: without that flag the compiling and
the loading process agree bitwise, with it they do not (``contract`` did the same and was
dropped, see fastnn/kernels/_jit.py).
"""

import copy
import os
import signal
import subprocess
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import fastnn  # noqa: E402
from fastnn import dask as fdask  # noqa: E402

OPTIMIZERS = {
    "sgd": lambda: fastnn.SGD(lr=0.1),
    "momentum": lambda: fastnn.SGD(lr=0.05, momentum=0.9),
    "nesterov": lambda: fastnn.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda: fastnn.Adam(lr=0.01),
}


WARM_CACHE = """
import numpy as np, fastnn
from fastnn.dask import _Shard
from fastnn.kernels import distributed as kdist
from fastnn.kernels import optimizers as kopt
for dtype in (np.float32, np.float64):
    X = np.random.default_rng(0).normal(size=(3, 8)).astype(dtype)
    net = fastnn.Network([3, 4, 2], loss="cce", dtype=dtype)
    net.fit(X, np.arange(8) % 2, epochs=1, batch_size=4, accumulate=2, verbose=0)
    net.evaluate(X, np.eye(2, dtype=dtype)[np.arange(8) % 2].T)
    shard = _Shard(net, 4, [(X, np.arange(8) % 2)], ["X"])
    rows = np.arange(4, dtype=np.int64)
    _, acc = shard.compute(net.params, [(0, 0, rows, 0), (1, 0, rows, 1)], 0, [(0, 0, 4), (1, 4, 3)])
    for optimizer in (fastnn.SGD(0.1), fastnn.SGD(0.1, momentum=0.9), fastnn.Adam()):
        kdist.apply_update(net.params, acc, *kopt.epoch_opt(optimizer.kernel_buffers(net)), 1, 4, 8)
"""


def _environment():
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


@pytest.fixture(scope="module")
def cluster():
    subprocess.run([sys.executable, "-c", WARM_CACHE], check=True, env=_environment())
    cloudpickle = pytest.importorskip("cloudpickle")
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        yield client


def data(dtype, n_inputs=5, n_samples=43, classes=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_inputs, n_samples)).astype(dtype)
    y = ((X[0] + X[1] > 0).astype(np.int64) + (X[2] > 1)) % classes
    return X, y


def on_worker(client, function, *args):
    """``function(*args)`` run on a worker (which loads the kernels from the cache)."""
    return client.submit(function, *args, pure=False).result()


def _fit(net, X, y, options):
    try:
        outcome = net.fit(X, y, **options)
    except fastnn.DivergenceError as error:
        outcome = str(error)
    # A pickled Network keeps its weights only: send what the comparisons read.
    return SimpleNamespace(params=net.params, optimizer=net.optimizer, epoch=net.epoch), outcome


def reference_fit(client, net, X, y, **options):
    """``(result, history)`` of ``net.fit(X, y, **options)`` on a worker, on a copy of
    ``net`` (``result``: its params, optimizer and epoch; for a DivergenceError, its message
    instead of the history)."""
    return on_worker(client, _fit, copy.deepcopy(net), X, y, options)


def assert_same_fit(net, ref, history, ref_history):
    """Bitwise: weights, optimizer state and step count, and every metric of the history."""
    np.testing.assert_array_equal(net.params, ref.params)
    np.testing.assert_array_equal(net.optimizer.state, ref.optimizer.state)
    assert net.optimizer.steps == ref.optimizer.steps
    assert history.history == ref_history.history
    assert net.epoch == ref.epoch


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_numpy_data_equals_local_fit(client, dtype, name):
    """accumulate=3, 43 samples in batches of 4: the last group has two micro-batches, the
    last of 3 samples (the rescaled fold)."""
    X, y = data(dtype)
    net = fastnn.Network([5, 7, 2], loss="cce", dtype=dtype, seed=1)
    options = dict(epochs=3, batch_size=4, accumulate=3, seed=5, verbose=0, validation_data=(X[:, :9], y[:9]))
    ref, ref_history = reference_fit(client, net, X, y, optimizer=OPTIMIZERS[name](), **options)
    history = fdask.fit(net, X, y, client=client, optimizer=OPTIMIZERS[name](), **options)
    assert_same_fit(net, ref, history, ref_history)
    assert net.params.dtype == dtype
    assert history.history["val_loss"][-1] < history.history["val_loss"][0] or name == "sgd"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_blas_sized_network_with_short_last_batch(client, dtype):
    """Layers big enough for the BLAS products (and the gradient added from scratch), 301
    samples in batches of 40 (the last of 21), bce with one output, Adam and dropout."""
    X, y = data(dtype, n_inputs=30, n_samples=301)
    net = fastnn.Network([30, 64, 1], dtype=dtype, seed=2, dropout=0.2)
    options = dict(epochs=2, batch_size=40, accumulate=3, seed=3)
    ref, ref_history = reference_fit(client, net, X, y, optimizer=fastnn.Adam(lr=0.01), verbose=0, **options)
    # verbose=1 (the progress bar) changes nothing in the training
    history = fdask.fit(net, X, y, client=client, optimizer=fastnn.Adam(lr=0.01), verbose=1, **options)
    assert_same_fit(net, ref, history, ref_history)


def test_chunked_data_same_bits_for_1_2_3_workers(cluster, client):
    """Uneven chunks (so short micro-batches fall inside groups): every worker count gives the
    same training; and with shuffle=False and chunks that are whole batches, it is net.fit's."""
    X, y = data(np.float64, n_inputs=6, n_samples=130, classes=3)
    Xd = da.from_array(X, chunks=(6, (50, 37, 43)))
    yd = da.from_array(y, chunks=((50, 37, 43),))
    cluster.scale(3)
    client.wait_for_workers(3)
    try:
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
        results = []
        for count in (1, 2, 3):
            net = fastnn.Network([6, 9, 3], loss="cce", dtype=np.float64, seed=4)
            history = fdask.fit(net, Xd, yd, client=client, workers=workers[:count], epochs=3, batch_size=8,
                                accumulate=3, optimizer=fastnn.Adam(lr=0.01), verbose=0)
            results.append((net.params.copy(), history.history))
    finally:
        cluster.scale(2)
    for params, history in results[1:]:
        np.testing.assert_array_equal(params, results[0][0])
        assert history == results[0][1]
    assert not np.array_equal(results[0][0], fastnn.Network([6, 9, 3], loss="cce", dtype=np.float64,
                                                            seed=4).params)

    net = fastnn.Network([6, 9, 3], loss="cce", seed=4)
    Xw = da.from_array(X.astype(np.float32), chunks=(6, (48, 40, 42)))  # 6, 5 and 5 batches of 8...
    options = dict(epochs=2, batch_size=8, accumulate=2, shuffle=False, verbose=0)
    # ...and one short batch of 2 at the very end, as in net.fit.
    history = fdask.fit(net, Xw, da.from_array(y, chunks=((48, 40, 42),)), client=client,
                        optimizer=fastnn.SGD(0.1, momentum=0.9), **options)
    fresh = fastnn.Network([6, 9, 3], loss="cce", seed=4)
    ref, ref_history = reference_fit(client, fresh, X.astype(np.float32), y,
                                     optimizer=fastnn.SGD(0.1, momentum=0.9), **options)
    assert_same_fit(net, ref, history, ref_history)


def test_chunks_stay_on_their_workers(client):
    """The persisted chunks are computed on the workers: the client never holds them, and
    each actor's blocks are the chunks its worker already had."""
    X, y = data(np.float32, n_samples=60)
    Xd = da.from_array(X, chunks=(5, 15)).persist()
    yd = da.from_array(y, chunks=15).persist()
    distributed.wait([Xd, yd])
    held = client.who_has(distributed.futures_of(Xd))
    layout = fdask._Chunked(client, fastnn.Network([5, 4, 2], loss="cce", seed=0), Xd, yd, 8,
                            sorted(client.scheduler_info(n_workers=-1)["workers"]))
    try:
        for c, key in enumerate(Xd.__dask_keys__()[0]):
            shard, _ = layout.where[c]
            assert layout.addresses[shard] in held[key]
    finally:
        layout.release()


def test_verbose_reports_start_up_and_epochs_and_callbacks_get_the_network(client, capsys, tmp_path):
    X, y = data(np.float32)
    net = fastnn.Network([5, 7, 2], loss="cce", seed=1)
    checkpoint = fastnn.callbacks.ModelCheckpoint(str(tmp_path / "net-{epoch}.npz"))
    fdask.fit(net, X, y, client=client, epochs=2, batch_size=8, accumulate=2, verbose=2,
              callbacks=[checkpoint], optimizer="adam")
    out = capsys.readouterr().out
    assert "2 worker(s) loading (or compiling) the kernels" in out
    assert "workers ready in" in out
    assert "epoch 2/2" in out
    assert [os.path.basename(path) for path in checkpoint.saved] == ["net-1.npz", "net-2.npz"]
    saved = fastnn.load(checkpoint.saved[-1])
    np.testing.assert_array_equal(saved.params, net.params)
    np.testing.assert_array_equal(saved.optimizer.state, net.optimizer.state)
    assert saved.epoch == net.epoch == 2


def _pids(client):
    return client.run(os.getpid)


def test_killed_worker_numpy_data_finishes_with_the_same_bits(client):
    X, y = data(np.float64, n_inputs=8, n_samples=200)
    net = fastnn.Network([8, 16, 2], loss="cce", dtype=np.float64, seed=3)
    options = dict(epochs=3, batch_size=10, accumulate=4, verbose=0)
    ref, ref_history = reference_fit(client, net, X, y, optimizer=fastnn.Adam(0.01), **options)
    victim = sorted(_pids(client).items())[1][1]

    def kill(epoch, metrics):
        if epoch == 1:
            os.kill(victim, signal.SIGKILL)

    with pytest.warns(fastnn.TrainingWarning, match="was lost .* go to the 1 other worker"):
        history = fdask.fit(net, X, y, client=client, optimizer=fastnn.Adam(0.01), callbacks=[kill],
                            **options)
    assert_same_fit(net, ref, history, ref_history)


def test_killed_worker_chunked_data_raises_with_whole_updates(client):
    X, y = data(np.float32, n_inputs=8, n_samples=200)
    Xd = da.from_array(X, chunks=(8, 50)).persist()
    yd = da.from_array(y, chunks=50).persist()
    distributed.wait([Xd, yd])
    holder = client.who_has(distributed.futures_of(Xd))[Xd.__dask_keys__()[0][0]][0]  # of chunk 0
    victim = _pids(client)[holder]
    net = fastnn.Network([8, 16, 2], loss="cce", seed=3)
    kept = []

    def kill(epoch, metrics):
        kept.append((net.params.copy(), net.optimizer.state.copy(), net.optimizer.steps))
        if epoch == 2:
            os.kill(victim, signal.SIGKILL)

    with pytest.raises(fdask.WorkerLostError, match=r"was lost .*X\[:, \d+:\d+\] \(chunk \d\).* after 10 "
                                                    r"whole update"):
        fdask.fit(net, Xd, yd, client=client, epochs=5, batch_size=10, accumulate=4, optimizer="adam",
                  verbose=0, callbacks=[kill])
    params, state, steps = kept[-1]
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(net.optimizer.state, state)
    assert net.optimizer.steps == steps == 10


def test_keyboard_interrupt_mid_update_leaves_whole_updates(client, monkeypatch):
    """Ctrl-C while the client waits for a worker (for the fold of the 4th update):
    the network and the optimizer hold the state after the 3rd update, and the fit's actors
    and data are released."""
    X, y = data(np.float32, n_samples=60)
    net = fastnn.Network([5, 7, 2], loss="cce", seed=1)
    after = []
    apply, result = fdask._Trainer._apply, fdask._Trainer._result
    waits = []

    def recording_apply(self, *args):
        out = apply(self, *args)
        after.append((net.params.copy(), net.optimizer.state.copy()))
        return out

    def interrupting_result(self, *args):
        waits.append(1)
        if len(waits) == 2 + 3 * 3 + 3:  # 2 start-up waits, 3 per update (2 computes, a fold): the 4th's fold
            raise KeyboardInterrupt
        return result(self, *args)

    monkeypatch.setattr(fdask._Trainer, "_apply", recording_apply)
    monkeypatch.setattr(fdask._Trainer, "_result", interrupting_result)
    held = len(client.futures)
    with pytest.raises(KeyboardInterrupt):
        fdask.fit(net, X, y, client=client, epochs=3, batch_size=5, accumulate=2, optimizer="adam", verbose=0)
    assert len(after) == 3 and net.optimizer.steps == 3
    np.testing.assert_array_equal(net.params, after[-1][0])
    np.testing.assert_array_equal(net.optimizer.state, after[-1][1])
    assert len(client.futures) == held


def test_bad_input_raises_before_any_update(client):
    X, y = data(np.float32, n_samples=40)
    net = fastnn.Network([5, 4, 2], loss="cce", seed=0)
    before = net.params.copy()
    yd = da.from_array(y, chunks=10)
    with pytest.raises(ValueError, match="X"):
        fdask.fit(net, X[:4], y, client=client, verbose=0)
    with pytest.raises(ValueError, match="chunked along the features .* X.rechunk"):
        fdask.fit(net, da.from_array(X, chunks=(2, 10)), yd, client=client, verbose=0)
    with pytest.raises(ValueError, match="Y's chunks along the samples"):
        fdask.fit(net, da.from_array(X, chunks=(5, 20)), yd, client=client, verbose=0)
    bad = X.copy()
    bad[3, 27] = np.nan
    with pytest.raises(ValueError, match=r"X\[:, 20:30\] \(chunk 2\).*(NaN|finite)"):
        fdask.fit(net, da.from_array(bad, chunks=(5, 10)), yd, client=client, verbose=0)
    with pytest.raises(ValueError, match="worker addresses"):
        fdask.fit(net, X, y, client=client, workers=["tcp://nowhere:1"], verbose=0)
    with pytest.raises(TypeError, match="client must be a distributed.Client"):
        fdask.fit(net, X, y, client="tcp://127.0.0.1:8786", verbose=0)
    with pytest.raises(ValueError, match="accumulate"):
        fdask.fit(net, X, y, client=client, accumulate=0, verbose=0)
    with pytest.raises(ValueError, match=r"initial_epoch \(3\) must not exceed epochs \(2\)"):
        fdask.fit(net, X, y, client=client, epochs=2, initial_epoch=3, verbose=0)
    with pytest.raises(ValueError, match="patience"):
        fdask.fit(net, X, y, client=client, patience=0, verbose=0)
    with pytest.raises(TypeError, match="validation_split takes NumPy X and Y"):
        fdask.fit(net, da.from_array(X, chunks=(5, 10)), yd, client=client, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="validation_data or validation_split, not both"):
        fdask.fit(net, X, y, client=client, validation_split=0.2, validation_data=(X, y), verbose=0)
    np.testing.assert_array_equal(net.params, before)
    assert net.optimizer is None


def test_divergence_keeps_the_last_finite_weights(client):
    X, y = data(np.float32, n_samples=40)
    X *= 1e3
    net = fastnn.Network([5, 4, 1], loss="mse", seed=0)
    options = dict(epochs=5, batch_size=8, accumulate=2, verbose=0)
    ref, ref_error = reference_fit(client, net, X, y.astype(np.float32), optimizer=fastnn.SGD(lr=1e4),
                                   **options)
    with pytest.raises(fastnn.DivergenceError) as error:
        fdask.fit(net, X, y.astype(np.float32), client=client, optimizer=fastnn.SGD(lr=1e4), **options)
    assert str(error.value) == ref_error
    np.testing.assert_array_equal(net.params, ref.params)


def test_without_the_extra_import_error_says_what_to_install():
    code = ("import sys; sys.modules['distributed'] = None\n"
            "import fastnn; assert 'dask' not in sys.modules\n"
            "try:\n    import fastnn.dask\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=_environment()).stdout
    assert 'pip install "fastnn[dask]"' in out


# ------------------------------------------------------------ scikit-learn's Dask tools

def _classification(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] - X[:, 1] > 0).astype(np.int64)
    return X, y


def _partial_fits(X, y):
    ref = fastnn.FastMLPClassifier(hidden_layer_sizes=(6,), random_state=0, batch_size=10)
    for start in range(0, 120, 30):
        ref.partial_fit(X[start:start + 30], y[start:start + 30], classes=[0, 1])
    return ref


def test_incremental_partial_fit_over_blocks(client):
    """dask_ml's Incremental calls partial_fit once per block, classes= every time: the same
    as those calls made in a loop."""
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = _classification()
    Xd, yd = da.from_array(X, chunks=(30, 4)), da.from_array(y, chunks=30)
    estimator = fastnn.FastMLPClassifier(hidden_layer_sizes=(6,), random_state=0, batch_size=10)
    model = wrappers.Incremental(estimator, shuffle_blocks=False).fit(Xd, yd, classes=[0, 1])
    ref = on_worker(client, _partial_fits, X, y)
    fitted = model.estimator_
    for got, want in zip(fitted.coefs_ + fitted.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(model.predict(Xd).compute(), ref.predict(X))


def test_grid_search_on_the_cluster_equals_one_job(client):
    import joblib
    from sklearn.model_selection import GridSearchCV

    X, y = _classification()
    grid = {"hidden_layer_sizes": [(4,), (8,)], "learning_rate_init": [0.01, 0.05]}
    def make(n_jobs):
        return GridSearchCV(fastnn.FastMLPClassifier(max_iter=15, random_state=0), grid, cv=3, n_jobs=n_jobs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of the short fits
        with joblib.parallel_config(backend="dask"):
            on_cluster = make(-1).fit(X, y)
        local = on_worker(client, make(1).fit, X, y)
    for key, values in local.cv_results_.items():
        if "time" not in key:
            np.testing.assert_array_equal(np.asarray(on_cluster.cv_results_[key]), np.asarray(values))
    assert on_cluster.best_params_ == local.best_params_


@pytest.mark.parametrize("make_schedule", [lambda: fastnn.CosineDecay(20, warmup=4, per="step"),
                                           lambda: fastnn.ReduceLROnPlateau(factor=0.5, patience=1,
                                                                            min_delta=0.05)],
                         ids=["cosine-per-step", "plateau"])
def test_a_schedule_sets_the_rates_as_in_net_fit(client, make_schedule):
    """schedule= as in Network.fit: the same rate for every update (per step, or cut on a
    plateau of val_loss), so the same bits and the same lr history."""
    X, y = data(np.float64)
    net = fastnn.Network([5, 7, 2], loss="cce", dtype=np.float64, seed=1)
    options = dict(epochs=4, batch_size=4, accumulate=3, seed=5, verbose=0, validation_data=(X[:, :9], y[:9]))
    ref, ref_history = reference_fit(client, net, X, y, optimizer=fastnn.Adam(0.05), schedule=make_schedule(),
                                     **options)
    history = fdask.fit(net, X, y, client=client, optimizer=fastnn.Adam(0.05), schedule=make_schedule(),
                        **options)
    assert_same_fit(net, ref, history, ref_history)
    assert len(set(history.history["lr"])) > 1
    assert net.schedule.optimizer is net.optimizer


def test_early_stopping_restores_the_best_weights_as_net_fit(client):
    """patience= on val_loss: the same stopping epoch, best epoch and restored weights."""
    X, y = data(np.float64, n_samples=60)
    net = fastnn.Network([5, 7, 2], loss="cce", dtype=np.float64, seed=1)
    options = dict(epochs=40, batch_size=4, accumulate=3, verbose=0, validation_data=(X[:, :15], y[:15]),
                   patience=2, min_delta=0.002)
    ref, ref_history = reference_fit(client, net, X, y, optimizer=fastnn.Adam(0.05), **options)
    history = fdask.fit(net, X, y, client=client, optimizer=fastnn.Adam(0.05), **options)
    assert_same_fit(net, ref, history, ref_history)
    assert history.stopped_epoch == ref_history.stopped_epoch < 40
    assert history.best_epoch == ref_history.best_epoch < history.stopped_epoch  # weights restored


def test_validation_split_holds_out_the_last_columns_as_net_fit(client):
    X, y = data(np.float64)
    net = fastnn.Network([5, 7, 2], loss="cce", dtype=np.float64, seed=1)
    options = dict(epochs=2, batch_size=4, accumulate=3, seed=5, verbose=0, validation_split=0.25)
    ref, ref_history = reference_fit(client, net, X, y, optimizer=fastnn.SGD(0.1), **options)
    history = fdask.fit(net, X, y, client=client, optimizer=fastnn.SGD(0.1), **options)
    assert_same_fit(net, ref, history, ref_history)
    assert "val_loss" in history.history


def test_initial_epoch_resumes_as_the_fit_that_never_stopped(client):
    """Two epochs, then initial_epoch=2 with the same optimizer: the 4-epoch fit, bitwise."""
    X, y = data(np.float32)
    net = fastnn.Network([5, 7, 2], loss="cce", seed=1)
    options = dict(batch_size=4, accumulate=3, seed=5, verbose=0)
    ref, ref_history = reference_fit(client, net, X, y, optimizer=fastnn.SGD(0.05, momentum=0.9), epochs=4,
                                     **options)
    optimizer = fastnn.SGD(0.05, momentum=0.9)
    fdask.fit(net, X, y, client=client, optimizer=optimizer, epochs=2, **options)
    history = fdask.fit(net, X, y, client=client, optimizer=optimizer, epochs=4, initial_epoch=2, **options)
    np.testing.assert_array_equal(net.params, ref.params)
    np.testing.assert_array_equal(optimizer.state, ref.optimizer.state)
    assert optimizer.steps == ref.optimizer.steps and net.epoch == 4
    assert history.epoch == [3, 4]
    assert history.history["loss"] == ref_history.history["loss"][2:]


@pytest.mark.filterwarnings("ignore:The total space of parameters:UserWarning")  # Hyperband's brackets
@pytest.mark.parametrize("search", ["IncrementalSearchCV", "HyperbandSearchCV"])
def test_incremental_and_hyperband_search(client, search):
    """dask_ml's adaptive searches: partial_fit and score on the cluster, every candidate
    scored, the best estimator a fitted FastMLPClassifier. With dask >= 2025.3 they fail inside
    dask-ml before any estimator is called ("RuntimeError: Attempting to use an asynchronous
    Client in a synchronous context of `dask.compute`", dask/dask-ml#1016, open): dask.persist
    in their coroutine picks the client, which is asynchronous there. Dask's documented
    ``scheduler=`` setting takes the client's ``get`` function instead, which dask.persist uses
    through ``client.persist`` without that check."""
    model_selection = pytest.importorskip("dask_ml.model_selection")
    X, y = _classification(n=200)
    Xd, yd = da.from_array(X, chunks=(50, 4)), da.from_array(y, chunks=50)
    estimator = fastnn.FastMLPClassifier(hidden_layer_sizes=(6,), random_state=0, batch_size=10)
    grid = {"learning_rate_init": [0.001, 0.1]}
    options = dict(max_iter=4)
    if search == "IncrementalSearchCV":
        options.update(n_initial_parameters=2, decay_rate=None)  # decay_rate's default is deprecated
    searcher = getattr(model_selection, search)(estimator, grid, random_state=0, **options)
    with dask.config.set(scheduler=client.get):
        searcher.fit(Xd, yd, classes=[0, 1])
    assert set(searcher.cv_results_["param_learning_rate_init"]) == {0.001, 0.1}
    assert searcher.best_score_ == max(searcher.cv_results_["test_score"])
    assert min(searcher.cv_results_["partial_fit_calls"]) >= 1
    best = searcher.best_estimator_
    assert isinstance(best, fastnn.FastMLPClassifier) and best.n_iter_ >= 1
    assert searcher.best_params_ == {"learning_rate_init": 0.1}  # 4 calls at 0.001 learn little
    assert best.score(X, y) > 0.9


class _Shrink(fastnn.callbacks.Callback):
    """Halves the network's weights after epoch 1."""

    def on_epoch_end(self, epoch, metrics):
        if epoch == 1:
            self.network.params[:] *= self.network.params.dtype.type(0.5)


def test_a_callback_setting_the_weights_is_followed_as_in_net_fit(client):
    """A callback that changes net's weights between epochs: the next updates start from
    them, as in Network.fit (a guard for any protocol that keeps weights on the workers)."""
    X, y = data(np.float32)
    net = fastnn.Network([5, 7, 2], loss="cce", seed=1)
    options = dict(epochs=3, batch_size=4, accumulate=3, seed=5, verbose=0)
    ref, ref_history = reference_fit(client, net, X, y, optimizer=fastnn.Adam(0.01), callbacks=[_Shrink()],
                                     **options)
    history = fdask.fit(net, X, y, client=client, optimizer=fastnn.Adam(0.01), callbacks=[_Shrink()],
                        **options)
    assert_same_fit(net, ref, history, ref_history)


def test_a_failed_fetch_of_a_peer_fold_names_the_peer():
    """fold_from on a worker whose peer died: the error names the peer's actor, and the
    client turns it into a WorkerLostError for that worker (not for the one that fetched)."""
    X, y = data(np.float32, n_samples=8)
    net = fastnn.Network([5, 4, 2], loss="cce", seed=0)
    shard = fdask._Shard(net, 4, [(X, y)], ["X"])

    def raises(error):
        def result():
            raise error
        return SimpleNamespace(result=result)

    class DeadPeer:
        def take(self):
            return raises(OSError("connection refused"))

    with pytest.raises(fdask._PeerLost) as error:
        shard.fold_from(1, DeadPeer(), [(0, 0, 4)], False)
    assert error.value.shard == 1 and "OSError: connection refused" in str(error.value)
    layout = SimpleNamespace(addresses=["tcp://a:1", "tcp://b:2"], names=[[None], [None]])
    trainer = SimpleNamespace(layout=layout, updates=7)
    trainer._lost = lambda *args: fdask._Trainer._lost(trainer, *args)
    lost_b = r"worker tcp://b:2 was lost while reducing .* after 7"
    with pytest.raises(fdask.WorkerLostError, match=lost_b) as lost:
        fdask._Trainer._result(trainer, raises(error.value), 0, "reducing update 8")
    assert lost.value.worker == "tcp://b:2"
