"""Fuzzing the public API with hypothesis.

Every call on messy input must end in one of three ways:

- it succeeds, and its output is finite, correctly shaped and of the right dtype;
- it raises ValueError or TypeError whose message names the offending argument, and the
  network's weights are untouched;
- (training calls only) it raises DivergenceError, and the weights are finite.

Never a segfault, a Numba typing error, another exception type or a hang (a watchdog
kills the run after a timeout). The caller's arrays are compared with snapshots taken
before the call: they are never modified.

Inputs are drawn over dtypes (float16/32/64, big-endian, int, uint, bool, complex, object,
strings, bytes), layouts (C, Fortran, strided and reversed views, read-only, unaligned,
broadcast, nested lists), shapes (right, transposed, wrong rows or samples, 0-D, 1-D,
3-D, empty) and values (normal, zeros, constant features, all equal, huge, tiny, NaN, +-inf,
values overflowing float32).
"""

import faulthandler
import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import fastnn

EXAMPLES = int(os.environ.get("FASTNN_FUZZ_EXAMPLES", "1000"))
"""Examples per fuzz test (hypothesis ``max_examples``); raise it for a long local run,
e.g. ``FASTNN_FUZZ_EXAMPLES=5000 python -m pytest tests/test_reliability_fuzz.py``."""

FUZZ = settings(max_examples=EXAMPLES, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

WATCHDOG_SECONDS = 600


@pytest.fixture(autouse=True)
def watchdog():
    """A hang (in Python or inside a kernel) kills the run with every thread's traceback."""
    faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


DTYPES = ["float64", "float32", "float16", ">f8", "int8", "int64", "uint64", "bool",
          "complex128", "object", "str", "bytes"]
LAYOUTS = ["C", "F", "strided", "reversed", "readonly", "unaligned", "broadcast", "list"]
VALUES = ["normal", "zeros", "constant_features", "all_equal", "huge", "tiny", "nan", "inf",
          "-inf", "over_float32"]
SHAPES = ["ok", "ok", "ok", "transposed", "extra_row", "missing_sample", "0d", "1d", "3d",
          "no_samples", "no_rows"]

MODERATE = 1e3
"""Finite, correctly shaped real input no larger than this MUST be accepted."""


# ----------------------------------------------------------------------- building inputs


def base_values(rng, rows, cols, values, targets):
    """A float64 (rows, cols) array of the requested kind of values."""
    a = rng.random((rows, cols)) if targets else 3 * rng.standard_normal((rows, cols))
    if values == "zeros":
        a[...] = 0
    elif values == "constant_features":
        a[...] = a[:, :1]
    elif values == "all_equal":
        a[...] = a[0, 0]
    elif values == "huge":
        a *= 1e30
    elif values == "tiny":
        a *= 1e-300
    elif values == "over_float32":
        a *= 1e300
    elif values in ("nan", "inf", "-inf"):
        a[rng.integers(rows), rng.integers(cols)] = float(values)
    return a


def reshape(a, shape, rng):
    rows, cols = a.shape
    if shape == "transposed":
        return a.T
    if shape == "extra_row":
        return np.vstack([a, a[:1]])
    if shape == "missing_sample":
        return a[:, : cols - 1]  # may be empty
    if shape == "0d":
        return np.array(a[0, 0])
    if shape == "1d":
        return a[0].copy()
    if shape == "3d":
        return a[:, :, None]
    if shape == "no_samples":
        return a[:, :0]
    if shape == "no_rows":
        return a[:0]
    return a


def convert(a, dtype):
    with np.errstate(all="ignore"):
        return _convert(a, dtype)


def _convert(a, dtype):
    if dtype in ("str", "bytes"):
        return a.astype("U32" if dtype == "str" else "S32")
    if dtype == "object":
        return a.astype(object)
    target = np.dtype(dtype)
    if target.kind in "iu":
        info = np.iinfo(target)
        a = np.nan_to_num(np.round(a), nan=0.0, posinf=info.max, neginf=info.min)
        return np.clip(a, info.min, info.max).astype(target)
    if target.kind == "b":
        return a != 0
    return a.astype(target)


def lay_out(a, layout):
    if a.ndim == 0 or layout == "C":
        return a
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.repeat(a, 2, axis=-1)
        big[..., 1::2] = a  # padding columns equal to the data: only the view is used
        return big[..., ::2]
    if layout == "reversed":
        return np.flip(np.flip(a).copy())  # same values, negative strides
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    if layout == "unaligned" and a.dtype.kind in "biufc" and a.dtype.itemsize > 1:
        raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
        view = raw[1:].view(a.dtype).reshape(a.shape)
        view[...] = a
        return view
    if layout == "broadcast" and a.ndim == 2 and a.size:
        return np.broadcast_to(a[:, :1], a.shape) if (a == a[:, :1]).all() else a
    if layout == "list" and a.dtype.kind in "biuf":
        return a.tolist()
    return a


@st.composite
def arrays(draw, rows, cols, targets=False):
    """(value to pass, verdict): verdict is 'bad', 'good' (moderate, must succeed) or 'any'."""
    seed = draw(st.integers(0, 2**32 - 1))
    values = draw(st.sampled_from(VALUES))
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.sampled_from(SHAPES))
    layout = draw(st.sampled_from(LAYOUTS))
    rng = np.random.default_rng(seed)
    a = base_values(rng, rows, cols, values, targets)
    a = lay_out(convert(reshape(a, shape, rng), dtype), layout)
    return a, (values, dtype, shape, layout)


def verdict(value, rows, cols, net_dtype, targets_in_01):
    """What the API must do with ``value``: 'bad' (raise), 'good' (succeed) or 'any'."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        return "bad"
    if a.ndim != 2 or a.shape[0] != rows or a.shape[1] != (a.shape[1] if cols is None else cols) \
            or a.size == 0:
        return "bad"
    with np.errstate(over="ignore", invalid="ignore"):
        as_net = a.astype(net_dtype)
    if not np.isfinite(as_net).all():
        return "bad"
    if targets_in_01 and (as_net.min() < 0 or as_net.max() > 1):
        return "bad"
    return "good" if np.abs(a.astype(np.float64)).max() <= MODERATE else "any"


def verdict_labels(value, net, m):
    """fit/evaluate take 1-D targets: the output row (one output) or class labels."""
    a = np.asarray(value)
    if net.n_outputs == 1:
        return verdict(a.reshape(1, -1), 1, m, net.dtype, net.loss_name != "mse")
    if a.dtype.kind not in "biuf" or a.shape != (m,):
        return "bad"
    real = a.astype(np.float64)
    ok = np.isfinite(real).all() and (real == np.round(real)).all()
    return "good" if ok and real.min() >= 0 and real.max() < net.n_outputs else "bad"


def snapshot(value):
    if isinstance(value, np.ndarray):
        return (value.dtype, value.shape, value.strides, value.flags.writeable, value.tobytes(),
                None if value.base is None else np.asarray(value.base).tobytes())
    return repr(value)


def names(message, name):
    """True if ``message`` names the argument ``name`` as a word (X, Y, validation_data...)."""
    return re.search(rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z_])", message) is not None


# ----------------------------------------------------------------------- networks

NET_CONFIGS = [
    ([3, 4, 2], "bce", "sigmoid"),
    ([3, 5, 3], "cce", "tanh"),
    ([3, 4, 4, 1], "mse", "relu"),
    ([3, 2], "mse", "identity"),
    ([3, 6, 1], "bce", "relu"),
]


def make_net(config, dtype):
    sizes, loss, activation = NET_CONFIGS[config]
    return fastnn.Network(sizes, loss=loss, dtype=dtype, activation=activation, seed=config)


def good_X(net, m, seed=0):
    return np.random.default_rng(seed).standard_normal((net.n_inputs, m))


def good_Y(net, m, seed=1):
    return np.random.default_rng(seed).random((net.n_outputs, m))


def check_output(net, A, m):
    assert isinstance(A, np.ndarray) and A.shape == (net.n_outputs, m) and A.dtype == net.dtype
    assert np.isfinite(A).all()
    if net.layers[-1].activation in ("sigmoid", "softmax"):
        assert A.min() >= 0 and A.max() <= 1


METHODS = ["forward", "predict", "predict_classes", "loss", "evaluate", "backward",
           "train_step", "fit", "fit_validation", "gradcheck"]


def call(net, method, X, Y):
    """Run ``method`` with the given X, Y; check and return what it returned."""
    m = np.asarray(X).shape[1] if np.ndim(X) == 2 else None
    if method == "forward":
        A = net.forward(X)
        check_output(net, A, m)
    elif method == "predict":
        check_output(net, net.predict(X), m)
    elif method == "predict_classes":
        c = net.predict_classes(X)
        assert c.dtype == np.int64 and c.shape == (m,)
        assert c.min() >= 0 and c.max() < max(net.n_outputs, 2)
    elif method == "loss":
        J = net.loss(X, Y)
        assert type(J) is float and np.isfinite(J) and J >= 0
    elif method == "evaluate":
        J, acc = net.evaluate(X, Y)
        assert type(J) is float and np.isfinite(J) and J >= 0 and 0 <= acc <= 1
    elif method == "backward":
        net.zero_grad()
        net.forward(X)
        net.backward(Y)
        assert np.isfinite(net.grads).all()
    elif method == "train_step":
        net.train_step(X, Y, 0.05)
        assert np.isfinite(net.params).all()
    elif method == "fit":
        history = net.fit(X, Y, epochs=2, batch_size=3, verbose=0)
        assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
        assert np.isfinite(net.params).all()
    elif method == "fit_validation":
        Xg, Yg = good_X(net, 5, 3), good_Y(net, 5, 4)
        history = net.fit(Xg, Yg, epochs=1, batch_size=2, verbose=0, validation_data=(X, Y))
        assert np.isfinite(history.history["val_loss"]).all()
    elif method == "gradcheck":
        err = fastnn.gradcheck(net, X, Y)
        assert np.isfinite(err)


@FUZZ
@given(data=st.data(), config=st.integers(0, len(NET_CONFIGS) - 1),
       dtype=st.sampled_from([np.float32, np.float64]), method=st.sampled_from(METHODS),
       which=st.sampled_from(["X", "Y"]), m=st.integers(1, 9))
def test_fuzz_array_arguments(data, config, dtype, method, which, m):
    net = make_net(config, dtype)
    if method == "gradcheck":
        net = make_net(config, np.float64)
    if method in ("forward", "predict", "predict_classes"):
        which = "X"
    X, Y = good_X(net, m), good_Y(net, m)
    fuzzed, how = data.draw(arrays(net.n_inputs if which == "X" else net.n_outputs, m,
                                   targets=which == "Y"), label=f"{which} (values, dtype, shape, layout)")
    classify = net.loss_name != "mse"
    if which == "X":
        X = fuzzed
        only_X = method in ("forward", "predict", "predict_classes")
        expect = verdict(X, net.n_inputs, None if only_X else m, net.dtype, False)
    else:
        Y = fuzzed
        expect = verdict(Y, net.n_outputs, m, net.dtype, classify)
        if method in ("fit", "evaluate", "fit_validation", "train_step") and np.ndim(Y) == 1:
            expect = verdict_labels(Y, net, m)
    name = {"X": "X", "Y": "Y"}[which]
    if method == "fit_validation":
        name = "validation_data[0]" if which == "X" else "validation_data[1]"
    before = [snapshot(X), snapshot(Y)]
    params = net.params.copy()
    try:
        call(net, method, X, Y)
    except (ValueError, TypeError) as err:
        event(f"outcome: {how[0]}/{how[1]}/{how[2]} -> {type(err).__name__}")
        assert not isinstance(err, fastnn.DivergenceError)
        assert expect != "good", f"{method} rejected a good {which} {how}: {err!r}"
        assert names(str(err), name), f"{method}: the message does not name {name}: {err}"
        if method not in ("fit_validation",):
            assert np.array_equal(net.params, params), "a rejected call changed the weights"
    except fastnn.DivergenceError:
        event(f"outcome: {how[0]}/{how[1]}/{how[2]} -> DivergenceError")
        assert method in ("fit", "fit_validation", "train_step") and expect != "bad"
        assert np.isfinite(net.params).all()
    else:
        event(f"outcome: {how[0]}/{how[1]}/{how[2]} -> ok")
        assert expect != "bad", f"{method} accepted a bad {which} {how}"
    assert [snapshot(X), snapshot(Y)] == before, "the caller's arrays were modified"
    # Whatever happened, the network still works, or says that huge inputs made its
    # weights so large that ordinary inputs overflow now.
    try:
        check_output(net, net.predict(good_X(net, 2)), 2)
    except ValueError as err:
        assert expect == "any" and "overflow" in str(err), err


# ----------------------------------------------------------------------- other arguments

JUNK = [None, -1, 0, 1.5, float("nan"), float("inf"), "x", b"x", True, [], (1, 2), {}, object(),
        np.float32(2), np.int64(-3), 10**30, -(10**30)]

SIZES = st.lists(st.one_of(st.integers(-2, 6), st.sampled_from(JUNK)), min_size=0, max_size=4)
ACTIVATIONS = st.sampled_from(["sigmoid", "tanh", "relu", "identity", "softmax", "logistic", "linear",
                               "RELU", "gelu", ""] + JUNK)
LOSSES = st.sampled_from(["bce", "cce", "mse", "binary_crossentropy", "hinge", "BCE"] + JUNK)
NET_DTYPES = st.sampled_from([np.float32, np.float64, "float32", "f8", None, np.float16, int, bool,
                              complex, "banana", np.dtype("S4")] + JUNK)
SEEDS = st.sampled_from([0, 1, 2**63, np.int64(5), None, np.random.default_rng(0)] + JUNK)


def fails_naming(err, names_):
    return isinstance(err, (ValueError, TypeError)) and any(names(str(err), n) for n in names_)


@FUZZ
@given(layers=SIZES, loss=LOSSES, dtype=NET_DTYPES, seed=SEEDS, activation=ACTIVATIONS,
       output_activation=st.one_of(st.none(), ACTIVATIONS))
def test_fuzz_network_construction(layers, loss, dtype, seed, activation, output_activation):
    try:
        net = fastnn.Network(layers, loss=loss, dtype=dtype, seed=seed, activation=activation,
                             output_activation=output_activation)
    except Exception as err:  # noqa: BLE001 - the type is what is checked
        assert fails_naming(err, ["layers", "loss", "dtype", "seed", "activation", "output_activation",
                                  "layers[0]", "layers[1]", "layers[2]", "layers[3]"]), repr(err)
        return
    X = np.random.default_rng(0).standard_normal((net.n_inputs, 3))
    check_output(net, net.predict(X), 3)


FIT_OPTIONS = {
    "epochs": [1, 2, 0, np.int64(1)],
    "batch_size": [1, 2, 3, 10**6, np.int64(2)],
    "optimizer": ["sgd", "adam", "SGD", fastnn.SGD(0.1, momentum=0.9), fastnn.Adam(0.01)],
    "shuffle": [True, False],
    "seed": [0, 7, None],
    "accumulate": [1, 2, 5],
    "verbose": [0],
    "patience": [None, 1, 3],
    "min_delta": [0.0, 0.1],
    "restore_best_weights": [True, False],
    "callbacks": [None, [], lambda epoch, metrics: None, [lambda epoch, metrics: False]],
}
FIT_JUNK = {
    "epochs": [-1, 1.0, "2", None, True],
    "batch_size": [0, -3, 2.5, None, "32"],
    "optimizer": ["rmsprop", None, 3, fastnn.Adam],
    "shuffle": [1, "yes", None],
    "seed": [-1, 1.5, "x"],
    "accumulate": [0, -1, 1.0],
    "verbose": [3, -1, "1", 0.0],
    "patience": [0, -2, 1.5],
    "min_delta": [-0.1, float("nan"), "0"],
    "callbacks": [3, [3], "abc"],
}


@st.composite
def fit_options(draw):
    options, junk = {}, []
    for name, good in FIT_OPTIONS.items():
        if name in FIT_JUNK and draw(st.integers(0, 5)) == 0:
            options[name] = draw(st.sampled_from(FIT_JUNK[name]))
            junk.append(name)
        else:
            options[name] = draw(st.sampled_from(good))
    return options, junk


@FUZZ
@given(drawn=fit_options(), config=st.integers(0, len(NET_CONFIGS) - 1))
def test_fuzz_fit_options(drawn, config):
    options, junk = drawn
    if isinstance(options["optimizer"], fastnn.optimizers.Optimizer):
        options["optimizer"].reset()
    net = make_net(config, np.float64)
    X, Y = good_X(net, 7), good_Y(net, 7)
    try:
        history = net.fit(X, Y, **options)
    except Exception as err:  # noqa: BLE001
        assert junk and fails_naming(err, junk), (junk, repr(err))
        return
    assert not junk, f"fit accepted {junk}: {options}"
    assert all(np.isfinite(v).all() for v in history.history.values())
    check_output(net, net.predict(X), 7)


PATHS = ["model.npz", "model", "sub/model.npz", "missing/model.npz", ".", "", b"model.npz",
         None, 3, 1.5, ["model.npz"]]


@FUZZ
@given(path=st.sampled_from(PATHS), as_path=st.booleans(), config=st.integers(0, len(NET_CONFIGS) - 1),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_fuzz_save_load(tmp_path_factory, path, as_path, config, dtype):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "sub").mkdir()
    net = make_net(config, dtype)
    if isinstance(path, (str, bytes)):
        full = os.path.join(os.fsencode(folder) if isinstance(path, bytes) else str(folder), path)
        path = type(folder)(os.fsdecode(full)) if as_path and isinstance(full, str) else full
    try:
        net.save(path)
        loaded = fastnn.load(path)
    except OSError as err:  # a folder, a missing folder: the OS's own, clear, error
        assert err.filename is not None or "does not exist" in str(err) or "no such" in str(err), repr(err)
        return
    except Exception as err:  # noqa: BLE001
        assert fails_naming(err, ["path"]), repr(err)
        return
    X = good_X(net, 4)
    assert loaded.dtype == net.dtype and np.array_equal(loaded.predict(X), net.predict(X))
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []  # no temp files left


# ----------------------------------------------------------------------- scikit-learn estimators

sklearn_estimators = pytest.importorskip("fastnn.sklearn")


@FUZZ
@given(data=st.data(), which=st.sampled_from(["X", "y", "X_predict"]),
       kind=st.sampled_from(["classifier", "regressor"]), m=st.integers(3, 12),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_fuzz_sklearn_estimators(data, which, kind, m, dtype):
    """Row layout (samples, features): the same contract through fit/predict/score."""
    rng = np.random.default_rng(m)
    X = rng.standard_normal((m, 3))
    y = rng.integers(0, 3, m) if kind == "classifier" else rng.standard_normal(m)
    if kind == "classifier":
        y[:3] = [0, 1, 2]
    X_predict = rng.standard_normal((4, 3))
    drawn, how = data.draw(arrays(m if which != "X_predict" else 4, 3 if which != "y" else 1,
                                  targets=False), label=f"{which} (values, dtype, shape, layout)")
    if which == "y" and isinstance(drawn, np.ndarray) and drawn.ndim == 2 and drawn.shape[1] == 1:
        drawn = drawn[:, 0]  # a 1-D y is the usual case; 2-D is multi-output/multilabel
    args = {"X": X, "y": y, "X_predict": X_predict}
    args[which] = drawn
    before = {k: snapshot(v) for k, v in args.items()}
    Estimator = (sklearn_estimators.FastMLPClassifier if kind == "classifier"
                 else sklearn_estimators.FastMLPRegressor)
    est = Estimator(hidden_layer_sizes=(5,), max_iter=3, batch_size=4, random_state=0, dtype=dtype)
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)  # ConvergenceWarning, DataConversionWarning
            # scikit-learn's own input validation warns before it raises on inf or values that
            # overflow the cast (as it does for its MLPClassifier); fastnn's code must not.
            warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"sklearn\.")
            warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"numpy\.",
                                    message=r"(invalid value|overflow) encountered in (reduce|cast)")
            est.fit(args["X"], args["y"])
            P = est.predict(args["X_predict"])
            score = est.score(args["X"], args["y"])
    except (ValueError, TypeError) as err:
        assert not isinstance(err, fastnn.DivergenceError)
        message = str(err)
        assert message and "numba" not in message.lower(), repr(err)
    except fastnn.DivergenceError:
        pass
    else:
        n_predict = np.shape(args["X_predict"])[0]
        assert len(P) == n_predict and np.isfinite(score)
        if kind == "classifier":
            assert set(np.ravel(P)) <= set(np.ravel(est.classes_))
            proba = est.predict_proba(args["X_predict"])
            assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1, atol=1e-4)
        else:
            assert np.isfinite(P).all()
    assert {k: snapshot(v) for k, v in args.items()} == before, "the caller's arrays were modified"
