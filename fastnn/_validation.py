"""Input checks and conversion at the API boundary.

Every public entry point converts its arrays here, once: kernels never validate. The
messages name the argument, what was expected, what was received and how to fix it.
"""

import numbers
import os

import numpy as np

from .kernels.checks import all_finite

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_INF = float("inf")


def check_dtype(dtype, name="dtype"):
    """Return ``dtype`` as a NumPy dtype, float32 or float64, else raise TypeError."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"{name} must be float32 or float64; got {dtype!r}") from err
    if resolved not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64; got {resolved}")
    return resolved


def check_positive_int(value, name):
    """Return ``value`` as an int >= 1, else raise TypeError/ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer; got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value}")
    return int(value)


def check_positive_float(value, name, allow_zero=False):
    """Return ``value`` as a finite float > 0 (>= 0 with ``allow_zero``), else raise."""
    if type(value) is float and 0.0 < value < _INF:  # the common case, checked per step
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value}")
    return value


def check_seed(seed, name="seed"):
    """Return ``np.random.default_rng(seed)`` for None, an int >= 0 or a NumPy generator.

    NumPy's own errors for a bad seed ("expected non-negative integer") do not say which
    argument was wrong; these do.
    """
    generators = (np.random.Generator, np.random.BitGenerator, np.random.SeedSequence)
    if seed is None or isinstance(seed, generators):
        return np.random.default_rng(seed)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"{name} must be None, a non-negative integer or a numpy Generator; "
            f"got {seed!r} ({type(seed).__name__})"
        )
    if seed < 0:
        raise ValueError(f"{name} must be None or a non-negative integer; got {seed}")
    return np.random.default_rng(int(seed))


def check_path(path, name="path"):
    """Return ``path`` (str, bytes or path-like) as a str, else raise TypeError."""
    if isinstance(path, bytes):
        return os.fsdecode(path)
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(
            f"{name} must be a file name (str or pathlib.Path); got {path!r} ({type(path).__name__})"
        ) from None
    return os.fsdecode(path)


def check_choice(value, name, choices):
    """Map ``value`` through ``choices`` (a dict of accepted names), else raise ValueError."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {sorted(choices)}; got {value!r}")
    key = value.lower()
    if key not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {sorted(choices)}")
    return choices[key]


def is_ready(value, dtype, rows=None, cols=None):
    """True if ``value`` is already what :func:`as_matrix` returns, finiteness aside.

    A NumPy array (not a subclass) of exactly ``dtype``, 2-D, C-contiguous, not empty,
    with ``rows`` rows and ``cols`` columns when given: the per-step fast path, a few
    attribute reads instead of a conversion.
    """
    return (type(value) is np.ndarray and value.dtype == dtype and value.ndim == 2
            and value.flags.c_contiguous and value.size != 0
            and (rows is None or value.shape[0] == rows)
            and (cols is None or value.shape[1] == cols))


def batch_ready(X, Y, dtype, n_in, n_out):
    """:func:`is_ready` for a training batch ``X`` (n_in, m), ``Y`` (n_out, m) at once:
    the per-step fast path of ``Network.train_step``, cheaper than two calls (timed by the
    tiny workload of ``python -m asv_benchmarks.compare``)."""
    if type(X) is not np.ndarray or type(Y) is not np.ndarray:
        return False
    shape = X.shape
    return (X.dtype == dtype and Y.dtype == dtype and len(shape) == 2 and shape[0] == n_in
            and shape[1] != 0 and Y.shape == (n_out, shape[1])
            and X.flags.c_contiguous and Y.flags.c_contiguous)


def as_matrix(value, name, dtype, rows=None, cols=None, what="features", cols_of="X"):
    """Check a feature-major 2-D array (one sample per column); return it C-contiguous in ``dtype``.

    Parameters
    ----------
    value : array_like of shape (rows, cols)
        Bool, integer or floating values, any memory layout. Never modified: a copy is
        made whenever conversion is needed.
    name : str
        The argument's name, used in messages.
    dtype : numpy dtype
        float32 or float64: the result's dtype.
    rows, cols : int, optional
        Required number of rows (``what``) and columns (samples).
    what : str
        What a row is, for messages ("features", "outputs").
    cols_of : str
        The argument whose sample count ``cols`` is, for messages ("X", "validation_data[0]").

    Returns
    -------
    ndarray of shape (rows, cols), ``dtype``, C-contiguous
        ``value`` itself when it already is one.

    Raises
    ------
    TypeError
        Not array-like, or complex, string, object, datetime or structured dtype.
    ValueError
        Not 2-D, empty, wrong number of rows or columns, or a NaN/inf value.
    """
    if is_ready(value, dtype, rows, cols) and all_finite(value.reshape(-1)):
        return value  # fast path; anything else (errors included) goes the long way
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a numeric array; got {type(value).__name__}: {err}") from err
    if array.dtype.kind not in "biuf":
        kind = {"c": "complex", "O": "object", "U": "string", "S": "bytes", "V": "structured",
                "M": "datetime", "m": "timedelta"}.get(array.dtype.kind, str(array.dtype))
        if array.dtype.kind in "USO" and what == "outputs":
            fix = (f"Encode labels as integers 0..k-1 first, e.g. classes, codes = "
                   f"np.unique({name}, return_inverse=True), or use fastnn.FastMLPClassifier, "
                   f"which takes labels of any type")
        elif array.dtype.kind in "USO":
            fix = "Encode them as numbers first, e.g. one indicator row per category"
        else:
            fix = f"Convert it first, e.g. {name}.astype(np.float32)"
        raise TypeError(
            f"{name} must hold real numbers (bool, integer or float); got dtype {array.dtype} "
            f"({kind}). {fix}"
        )
    if array.ndim != 2:
        hint = _one_dimensional_hint(array, name, rows, what) if array.ndim == 1 else ""
        raise ValueError(
            f"{name} must be a 2-D array of shape ({what}, samples), one sample per column; "
            f"got a {array.ndim}-D array of shape {array.shape}.{hint}"
        )
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); it needs at least one row and one column")
    if rows is not None and array.shape[0] != rows:
        raise ValueError(
            f"{name} has {array.shape[0]} rows ({what}) but {rows} are expected; "
            f"got shape {array.shape}, expected ({rows}, samples). Data in the "
            f"(samples, {what}) layout must be transposed: {name}.T"
        )
    if cols is not None and array.shape[1] != cols:
        raise ValueError(
            f"{name} has {array.shape[1]} columns (samples) but {cols_of} has {cols}; "
            f"got shape {array.shape}, expected ({array.shape[0]}, {cols})"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        # A value too large for ``dtype`` becomes inf here; it is reported just below
        # as a ValueError that names it, not as NumPy's "overflow encountered in cast".
        result = np.ascontiguousarray(array, dtype=dtype)
    # A kernel, not np.isfinite(result).all(): that allocates a boolean copy of the data
    # (95 MB for 10^6 x 100 samples), and this runs on every array passed in.
    if not all_finite(result.reshape(-1)):
        bad = np.argwhere(~np.isfinite(result))[0]
        note = ""
        if array.dtype.kind == "f" and np.isfinite(array[tuple(bad)]):
            note = f" (the value {array[tuple(bad)].item()!r} overflows {np.dtype(dtype)})"
        raise ValueError(
            f"{name} contains NaN or infinity, first at index {tuple(int(i) for i in bad)}{note}; "
            f"remove or impute non-finite values first"
        )
    return result


def _one_dimensional_hint(array, name, rows, what):
    """The reshape that turns the 1-D ``array`` into the (rows, samples) layout ``as_matrix``
    expects: one sample when its length is ``rows``, samples of a single row when ``rows`` is 1."""
    if rows is None or array.size == rows:
        return f" For one sample use {name}.reshape(-1, 1)."
    if rows == 1:
        return f" For {array.size} samples of one {what[:-1]} use {name}.reshape(1, -1)."
    if what == "outputs":
        return f" For integer class labels use fastnn.datasets.one_hot({name}, {rows})."
    return ""


def monitored(metrics, monitor, owner, fix):
    """The name and value of the metric ``monitor`` names in one epoch's ``metrics``
    ("auto": ``val_loss`` when the fit has validation data, else ``loss``), as the callbacks
    and schedules that watch a metric read it.

    Raises
    ------
    ValueError
        The fit does not report that metric; the message names ``owner`` and ends with ``fix``.
    """
    key = monitor
    if key == "auto":
        key = "val_loss" if "val_loss" in metrics else "loss"
    if key not in metrics:
        raise ValueError(f"{owner} monitors {key!r}, which this fit does not report "
                         f"(it has {sorted(metrics)}); {fix}")
    return key, metrics[key]
