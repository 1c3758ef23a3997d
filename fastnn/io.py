"""Saving and loading networks: one ``.npz`` file, no pickle, atomic writes.

This module sits below :mod:`fastnn.network`, which calls it (``Network.save``,
:func:`fastnn.load`); it knows a network only by ``config()``, ``params`` and
``kernel_buffers``.

The file is a NumPy ``.npz`` archive (a zip) with exactly two arrays:

- ``header``: uint8, the UTF-8 bytes of a JSON object::

      {"format": "fastnn.Network", "version": 1, "fastnn_version": "0.1.0",
       "sizes": [n_0, ..., n_L], "activations": [g_1, ..., g_L], "loss": "bce",
       "dtype": "float32", "n_params": p}

- ``params``: the flat parameter buffer, shape (p,), float32 or float64: for each layer
  in turn, ``W`` (n_l, n_{l-1}) in row-major order, then ``b`` (n_l,).

A checkpoint (``save(net, path, optimizer=opt)``) also has, in the header,
``"optimizer": {"name": "SGD", "lr": ..., ..., "steps": t}`` (:meth:`Optimizer.get_config`
and the update count) and optionally ``"epoch": e`` (epochs completed) and ``"schedule": {"name": ..., "config":
{...}, "state": {...}}`` (a learning-rate schedule's settings and counts,
:func:`fastnn.schedules.to_state`), and a third array:

- ``optimizer_state``: the optimizer's flat state (momentum buffer, or Adam's two
  moments), the params' dtype.

It is read with ``allow_pickle=False`` (opening an untrusted file never runs code) and
checked in full before a network is built from it.
"""

import errno
import glob
import json
import os
import struct
import time
import zipfile
import zlib

import numpy as np

from . import schedules
from ._validation import check_path
from ._version import __version__
from .kernels.activations import CODES as ACTIVATIONS
from .kernels.bundles import NetBuffers
from .losses import LOSSES
from .optimizers import Optimizer, from_config

FORMAT = "fastnn.Network"
VERSION = 1
_KEYS = {"header", "params"}
_CHECKPOINT_KEYS = _KEYS | {"optimizer_state"}


def header(net):
    """The header of ``net``'s file: the format, versions, :meth:`Network.config` and
    ``n_params``."""
    return {"format": FORMAT, "version": VERSION, "fastnn_version": __version__, **net.config(),
            "n_params": int(net.n_params)}


STALE_TMP_SECONDS = 3600
"""Age after which a temporary file of an earlier save to the same path is removed even
when fastnn cannot tell whether its writer is still running."""

try:
    import fcntl
except ImportError:  # not POSIX: the writer's pid alone tells whether it is running
    fcntl = None


def _temporary_prefix(path):
    """``folder/.NAME.``: the start of every temporary file name of saves to ``path``."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, "." + name + ".")


def _pid_alive(pid):
    """Whether a process with this pid runs on this machine (True when unsure)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):  # another user's process, or unsure
        return True
    return True


def _writer_gone(leftover):
    """Whether the save that wrote ``leftover`` has ended (its lock is free); False when unsure.

    A writer holds an exclusive ``flock`` on its temporary file until the rename; the system
    releases it when the process dies, however it dies."""
    if fcntl is None:
        return True
    try:
        fd = os.open(leftover, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def remove_stale_temporaries(path, keep_newer_than=None):
    """Delete the temporary files that killed saves to ``path`` left behind.

    A temporary file is ``.NAME.PID-XXXX.tmp`` beside the model, PID being its writer's
    process id. It is removed at once when that process no longer runs and its lock is free
    (so the removal never races a save in progress, in this process or another); a file
    whose writer cannot be told apart (a live pid, possibly reused, or an older fastnn's
    ``.NAME.XXXX.tmp``) is removed once it is older than :data:`STALE_TMP_SECONDS`. Errors
    are ignored.

    Parameters
    ----------
    path : str
        The model file's path.
    keep_newer_than : float, optional
        A ``time.time()`` value: files of unknown writers last modified after it are kept.
        Default: :data:`STALE_TMP_SECONDS` ago.
    """
    if keep_newer_than is None:
        keep_newer_than = time.time() - STALE_TMP_SECONDS
    prefix = _temporary_prefix(path)
    for leftover in glob.glob(glob.escape(prefix) + "*.tmp"):
        stem = leftover[len(prefix):-len(".tmp")]
        pid_text, dash, _ = stem.partition("-")
        try:
            if dash and pid_text.isdigit() and not _pid_alive(int(pid_text)):
                if _writer_gone(leftover):
                    os.unlink(leftover)
            elif os.path.getmtime(leftover) < keep_newer_than and _writer_gone(leftover):
                os.unlink(leftover)
        except OSError:
            pass


def check_destination(path, name="path"):
    """Raise now what :func:`save` would raise for ``path``'s folder: call it before a long
    training whose result goes to ``path``.

    Returns
    -------
    str
        ``path`` as a str.

    Raises
    ------
    TypeError
        ``path`` is not a file name.
    FileNotFoundError
        Its folder does not exist.
    PermissionError
        Its folder cannot be written.
    IsADirectoryError
        ``path`` is a folder.
    """
    path = check_path(path, name)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path!r}: the folder {folder!r} does not exist; "
                                f"create it first (mkdir -p) or choose another {name}")
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"{name} is a folder, not a file name; give one such as "
                                f"{os.path.join(path, 'model.npz')!r}", path)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"cannot save there: the folder {folder!r} is not writable",
                              path)
    return path


def _open_temporary(path):
    """Create and lock a new temporary file for a save to ``path``: (fd, name).

    Created with mode 0o666 so that the umask applies, as for ``np.savez`` or ``open``
    (``tempfile.mkstemp`` would make it 0o600 whatever the umask)."""
    prefix = _temporary_prefix(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = f"{prefix}{os.getpid()}-{os.urandom(4).hex()}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:  # a file system without locks: the pid in the name still tells
                pass
        return fd, tmp
    raise FileExistsError(f"cannot create a temporary file beside {path!r}")


def save(net, path, optimizer=None, epoch=None, schedule=None):
    """Write ``net`` to ``path`` (exactly that name; no suffix is added), atomically.

    The archive is written to a temporary file in the same folder, flushed to disk
    (``fsync``) and renamed over ``path`` (``os.replace``): a crash mid-save never
    leaves a corrupt file where a good one was. A save killed before its rename
    (SIGKILL, power loss) leaves its hidden temporary file ``.NAME.PID-XXXX.tmp``
    behind; the next save to the same path removes it at once
    (:func:`remove_stale_temporaries`; a save still running is never touched). The file's
    permissions follow the umask, as ``np.savez``'s.

    Parameters
    ----------
    net : Network
    path : str or path-like
    optimizer : SGD or Adam, optional
        Also save its hyperparameters, state and step count (a checkpoint): a fit resumed
        from the file continues bitwise as if it had not stopped. It must be ``net``'s
        (have updated it), or not have been used yet.
    epoch : int >= 0, optional
        Epochs completed, recorded for :func:`fastnn.load` (``net.epoch``).
    schedule : Schedule, optional
        Also save the learning-rate schedule bound to ``optimizer`` (settings and counts),
        restored by :func:`fastnn.load` as ``net.schedule``; needs ``optimizer``.
    """
    if not isinstance(getattr(net, "kernel_buffers", None), NetBuffers):
        raise TypeError(f"net must be a fastnn.Network; got {type(net).__name__}")
    path = check_destination(path)
    folder = os.path.dirname(os.path.abspath(path))
    head = header(net)
    arrays = {"params": net.params}
    if optimizer is not None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a fastnn.SGD or fastnn.Adam; got {type(optimizer).__name__}")
        if optimizer.is_bound_to(net):
            state, steps = optimizer.state, optimizer.steps
        elif optimizer.state is None:  # not used yet: the state it would start from
            state, steps = np.zeros(optimizer.state_per_param * net.n_params, dtype=net.dtype), 0
        else:
            raise ValueError("optimizer holds the state of another network (it updated another one); "
                             "save each network with its own optimizer")
        head["optimizer"] = {**optimizer.get_config(), "steps": int(steps)}
        arrays["optimizer_state"] = state
    if epoch is not None:
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer (epochs completed); got {epoch!r}")
        head["epoch"] = int(epoch)
    if schedule is not None:
        bound_to = getattr(schedule, "optimizer", None)
        if optimizer is None or (bound_to is not None and bound_to is not optimizer):
            raise ValueError("schedule must be saved with the optimizer it sets the rate of: pass "
                             "optimizer=schedule.optimizer too")
        head["schedule"] = schedules.to_state(schedule)
    header_bytes = np.frombuffer(json.dumps(head).encode("utf-8"), dtype=np.uint8)
    remove_stale_temporaries(path)
    fd, tmp = _open_temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, header=header_bytes, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
            if fcntl is not None:
                os.replace(tmp, path)  # while locked: a cleaner never finds it free before
        if fcntl is None:
            os.replace(tmp, path)  # (Windows cannot rename an open file)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); not possible everywhere
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


class _Invalid(Exception):
    pass


_READ_ERRORS = (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error,
                NotImplementedError, RuntimeError, struct.error, UnicodeDecodeError, OverflowError,
                MemoryError)
"""What reading a damaged archive raises: zipfile says NotImplementedError for an unknown
compression method or version and RuntimeError for an 'encrypted' member."""


def _read(path):
    """The header dict and params array of a file, or raise _Invalid with the reason."""
    # The file is opened here, not by np.load, so that it is closed on every error (np.load
    # leaks its handle when the zip directory is corrupt).
    with open(path, "rb") as handle:
        return _read_open(handle)


def _read_open(handle):
    try:
        archive = np.load(handle, allow_pickle=False)
    except ValueError as err:  # not npy/npz: np.load would have to unpickle it
        raise _Invalid(f"not an .npz archive ({err})") from None
    except _READ_ERRORS as err:
        raise _Invalid(f"unreadable or truncated ({type(err).__name__}: {err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise _Invalid("a single .npy array, not an .npz archive")
    with archive:
        names = set(archive.files)
        expected = _CHECKPOINT_KEYS if "optimizer_state" in names else _KEYS
        if names != expected:
            missing = sorted(expected - names)
            extra = sorted(names - expected)
            raise _Invalid(f"expected the arrays {sorted(expected)}; missing {missing}, unexpected {extra}")
        arrays = {}
        for name in sorted(expected):
            try:
                arrays[name] = archive[name]
            except ValueError as err:  # object arrays: would need pickle
                raise _Invalid(f"array {name!r} cannot be read without pickle ({err})") from None
            except _READ_ERRORS as err:
                raise _Invalid(f"array {name!r} is unreadable or truncated ({type(err).__name__}: {err})") from None
            if not isinstance(arrays[name], np.ndarray):  # NpzFile returns a non-.npy member as bytes
                raise _Invalid(f"array {name!r} is not an .npy array")
    raw, params = arrays["header"], arrays["params"]
    optimizer_state = arrays.get("optimizer_state")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _Invalid(f"'header' must be a 1-D uint8 array; got {raw.dtype} of shape {raw.shape}")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _Invalid(f"'header' is not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise _Invalid("'header' must be a JSON object")
    if (optimizer_state is None) != ("optimizer" not in header):
        raise _Invalid("the header's 'optimizer' and the array 'optimizer_state' come together; "
                       "one of them is missing")
    return header, params, optimizer_state


def _check_header(header, params):
    """Validated (sizes, activations, loss, dtype), or raise _Invalid."""
    if header.get("format") != FORMAT:
        raise _Invalid(f"'format' is {header.get('format')!r}, expected {FORMAT!r}")
    version = header.get("version")
    if version != VERSION:
        raise _Invalid(
            f"format version {version!r} is not supported by this fastnn (which reads version "
            f"{VERSION}); save it again with a matching fastnn"
        )
    for key in ("sizes", "activations", "loss", "dtype", "n_params"):
        if key not in header:
            raise _Invalid(f"the header has no {key!r}")
    sizes, activations = header["sizes"], header["activations"]
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes)):
        raise _Invalid(f"'sizes' must be a list of at least two positive integers; got {sizes!r}")
    if (not isinstance(activations, list) or len(activations) != len(sizes) - 1
            or not all(isinstance(a, str) and a in ACTIVATIONS for a in activations)):
        raise _Invalid(
            f"'activations' must list one of {sorted(ACTIVATIONS)} per layer ({len(sizes) - 1}); "
            f"got {activations!r}"
        )
    loss = header["loss"]
    if not isinstance(loss, str) or loss not in LOSSES:
        raise _Invalid(f"'loss' must be one of {sorted(set(LOSSES.values()))}; got {loss!r}")
    dtype = header["dtype"]
    if dtype not in ("float32", "float64"):
        raise _Invalid(f"'dtype' must be 'float32' or 'float64'; got {dtype!r}")
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if header["n_params"] != n_params:
        raise _Invalid(f"'n_params' is {header['n_params']!r} but the sizes {sizes} need {n_params}")
    if params.dtype != np.dtype(dtype):
        raise _Invalid(f"'params' has dtype {params.dtype} but the header says {dtype}")
    if params.shape != (n_params,):
        raise _Invalid(f"'params' has shape {params.shape}, expected ({n_params},) for sizes {sizes}")
    if not np.all(np.isfinite(params)):
        raise _Invalid("'params' holds NaN or infinite weights")
    return sizes, activations, loss, np.dtype(dtype)


def read(path, build):
    """Read a model file written by :func:`save` and build its network (see :func:`fastnn.load`).

    Parameters
    ----------
    path : str or path-like
    build : callable
        ``build(sizes, activations, params, loss=...)`` returns the network
        (:meth:`fastnn.Network.from_params`); its TypeError/ValueError means the header
        is inconsistent.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`fastnn.load`.
    """
    path = check_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such model file: {path!r}")
    try:
        header, params, optimizer_state = _read(path)
        sizes, activations, loss, _ = _check_header(header, params)
        dropout = header.get("dropout")
        if dropout is not None and (not isinstance(dropout, list) or len(dropout) != len(activations) or not all(
                isinstance(rate, (int, float)) and not isinstance(rate, bool) for rate in dropout)):
            raise _Invalid(f"'dropout' must list one rate per layer ({len(activations)}); got {dropout!r}")
        try:
            net = build(sizes, activations, params, loss=loss, dropout=dropout)
        except (TypeError, ValueError) as err:
            raise _Invalid(f"inconsistent header ({err})") from None
        net.optimizer = _restore_optimizer(header, optimizer_state, net)
        epoch = header.get("epoch")
        if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0):
            raise _Invalid(f"'epoch' must be a non-negative integer; got {epoch!r}")
        net.epoch = epoch
        net.schedule = None
        if "schedule" in header:
            if net.optimizer is None:
                raise _Invalid("a 'schedule' needs the optimizer it belongs to")
            try:
                net.schedule = schedules.from_state(header["schedule"], net.optimizer)
            except (TypeError, ValueError) as err:
                raise _Invalid(f"invalid schedule ({err})") from None
        return net
    except _Invalid as err:
        raise ValueError(f"{path!r} is not a valid fastnn model file: {err}") from None


def _restore_optimizer(header, state, net):
    """The checkpoint's optimizer bound to ``net`` with its state and steps, or None."""
    if state is None:
        return None
    config = header["optimizer"]
    if not isinstance(config, dict):
        raise _Invalid(f"'optimizer' must be a JSON object; got {config!r}")
    config = dict(config)
    steps = config.pop("steps", None)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise _Invalid(f"the optimizer's 'steps' must be a non-negative integer; got {steps!r}")
    try:
        optimizer = from_config(config)
    except (TypeError, ValueError) as err:
        raise _Invalid(f"invalid optimizer settings ({err})") from None
    if state.dtype != net.dtype or state.shape != (optimizer.state_per_param * net.n_params,):
        raise _Invalid(f"'optimizer_state' has dtype {state.dtype} and shape {state.shape}; "
                       f"{config.get('name')} needs {net.dtype.name} of shape "
                       f"({optimizer.state_per_param * net.n_params},)")
    if not np.all(np.isfinite(state)):
        raise _Invalid("'optimizer_state' holds NaN or infinite values")
    optimizer.restore(net, state, steps)
    return optimizer
