"""The Network: flat parameter buffers, cached work spaces, and the kernel calls."""

import numpy as np

from . import threads as _threads
from ._validation import (as_matrix, check_choice, check_dtype, check_positive_float, check_positive_int,
                          batch_ready, check_seed, is_ready)
from .kernels import network as knet
from .kernels.checks import all_finite, all_in_range
from .kernels import optimizers as kopt
from .kernels.activations import CODES as ACTIVATION_CODES
from .kernels.losses import CODES as LOSS_CODES
from .layers import Dense, check_activation

LOSSES = {
    "bce": "bce", "binary_crossentropy": "bce", "log_loss": "bce",
    "cce": "cce", "categorical_crossentropy": "cce", "ce": "cce", "cross_entropy": "cce",
    "mse": "mse", "mean_squared_error": "mse",
}
"""Accepted loss names -> canonical name."""

OUTPUT_ACTIVATION = {"bce": "sigmoid", "cce": "softmax", "mse": "identity"}
"""The output activation each loss implies (bce and cce require it)."""

TARGET_RANGE = {"bce": (0.0, 1.0), "cce": (0.0, 1.0), "mse": (-np.inf, np.inf)}
"""The values each loss accepts as targets (finite in every case)."""

PREDICT_CHUNK = 4096
"""Samples per kernel call in :meth:`Network.predict`, to bound its memory."""


class Workspace:
    """Flat work buffers for batches of up to ``capacity`` samples (see kernels.network)."""

    def __init__(self, sizes, max_weights, capacity, dtype):
        self.capacity = capacity
        self.acts = np.empty(capacity * sum(sizes), dtype=dtype)
        self.z_out = np.empty(capacity * sizes[-1], dtype=dtype)
        self.delta = np.empty(2 * capacity * max(sizes), dtype=dtype)
        self.scratch = np.empty(max_weights, dtype=dtype)

    def output(self, sizes, m):
        """View of the last layer's activations for a batch of m, shape (n_L, m)."""
        start = m * sum(sizes[:-1])
        return self.acts[start : start + m * sizes[-1]].reshape(sizes[-1], m)


class Network:
    """A multi-layer perceptron trained by Numba kernels, one sample per column.

    Parameters
    ----------
    layers : list of int or list of Dense
        Layer sizes ``[n_0, n_1, ..., n_L]`` (inputs first), or ready-made layers whose
        sizes chain (``layers[i].n_out == layers[i+1].n_in``).
    loss : {"bce", "cce", "mse"}, default "bce"
        "bce": binary cross-entropy summed over the outputs (sigmoid output);
        "cce": categorical cross-entropy (softmax output); "mse": mean squared error.
        Long names ("binary_crossentropy", "categorical_crossentropy",
        "mean_squared_error") are accepted.
    dtype : float32 or float64, optional
        Defaults to the layers' dtype when ``layers`` are Dense, else float32.
    seed : int or None, default 0
        Seeds the initialization when ``layers`` are sizes: the same seed gives bitwise
        the same weights.
    activation : str, default "sigmoid"
        Hidden activation when ``layers`` are sizes.
    output_activation : str, optional
        Output activation when ``layers`` are sizes; defaults to the one ``loss``
        implies (sigmoid for bce, softmax for cce, identity for mse).

    Attributes
    ----------
    layers : list of Dense
        The layers; their ``W``, ``b``, ``dW``, ``db`` are views into one flat
        parameter buffer and one flat gradient buffer.
    loss_name : str
        Canonical loss name.
    dtype : numpy dtype

    Examples
    --------
    >>> import numpy as np
    >>> import fastnn
    >>> X = np.array([[0, 0, 1, 1], [0, 1, 0, 1]], dtype=np.float32)  # (features, samples)
    >>> Y = np.array([[0, 1, 1, 0]], dtype=np.float32)
    >>> net = fastnn.Network([2, 8, 1], seed=0)
    >>> for _ in range(3):
    ...     _ = net.forward(X)
    ...     net.zero_grad()
    ...     net.backward(Y)
    ...     net.step(lr=0.5)
    >>> net.predict(X).shape
    (1, 4)
    """

    def __init__(self, layers, loss="bce", dtype=None, seed=0, activation="sigmoid",
                 output_activation=None):
        self.loss_name = check_choice(loss, "loss", LOSSES)
        if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__"):
            raise TypeError(f"layers must be a list of layer sizes or of Dense layers; got {type(layers).__name__}")
        layers = list(layers)
        if layers and all(isinstance(layer, Dense) for layer in layers):
            self.dtype = check_dtype(dtype) if dtype is not None else self._common_dtype(layers)
            built = layers
        elif any(isinstance(layer, Dense) for layer in layers):
            raise TypeError("layers must be all sizes (ints) or all Dense layers, not a mix")
        else:
            self.dtype = check_dtype(dtype) if dtype is not None else np.dtype(np.float32)
            built = self._build(layers, seed, activation, output_activation)
        self._check_chain(built)
        self.layers = built
        self._allocate()
        self._train_ws = None
        self._eval_ws = None
        self._X = None
        self._grads_zero = True

    # ----------------------------------------------------------------- construction

    @staticmethod
    def _common_dtype(layers):
        dtypes = {layer.dtype for layer in layers}
        if len(dtypes) > 1:
            raise TypeError(
                f"the layers have different dtypes {sorted(d.name for d in dtypes)}; "
                f"pass dtype= to choose the network's"
            )
        return dtypes.pop()

    def _build(self, sizes, seed, activation, output_activation):
        if len(sizes) < 2:
            raise ValueError(
                f"layers needs at least two sizes (inputs and outputs), e.g. [2, 8, 1]; got {sizes}"
            )
        sizes = [check_positive_int(size, f"layers[{i}]") for i, size in enumerate(sizes)]
        hidden = check_activation(activation)
        if output_activation is None:
            output = OUTPUT_ACTIVATION[self.loss_name]
        else:
            output = check_activation(output_activation, "output_activation")
        rng = check_seed(seed)
        built = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            try:
                built.append(Dense(n_in, n_out, hidden if i < len(sizes) - 2 else output, self.dtype, seed=rng))
            except ValueError as err:
                raise ValueError(f"layers[{i}] -> layers[{i + 1}]: {err}") from None
        return built

    def _check_chain(self, layers):
        for i, (a, b) in enumerate(zip(layers[:-1], layers[1:])):
            if a.n_out != b.n_in:
                raise ValueError(
                    f"layers[{i}] has {a.n_out} outputs but layers[{i + 1}] expects {b.n_in} inputs"
                )
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("the same Dense object appears twice in layers; create one per position")
        for i, layer in enumerate(layers):
            if layer._owner is not None and layer._owner is not self:
                raise ValueError(
                    f"layers[{i}] already belongs to another Network; create a new Dense "
                    f"(or copy.deepcopy it) to use it here"
                )
        required = OUTPUT_ACTIVATION[self.loss_name]
        last = layers[-1].activation
        if self.loss_name != "mse" and last != required:
            raise ValueError(
                f"loss {self.loss_name!r} needs a {required!r} output layer; the last layer's "
                f"activation is {last!r}"
            )

    def _allocate(self):
        """Move every layer's parameters into flat buffers and rebind them as views."""
        rows, offset = [], 0
        for layer in self.layers:
            w_off, b_off = offset, offset + layer.n_out * layer.n_in
            rows.append([layer.n_in, layer.n_out, w_off, b_off, ACTIVATION_CODES[layer.activation]])
            offset = b_off + layer.n_out
        self._layout = np.array(rows, dtype=np.int64)
        self._params = np.empty(offset, dtype=self.dtype)
        self._grads = np.zeros(offset, dtype=self.dtype)
        for layer, (n_in, n_out, w_off, b_off, _) in zip(self.layers, rows):
            self._params[w_off:b_off] = layer.W.ravel()
            self._params[b_off : b_off + n_out] = layer.b.ravel()
            layer.dtype = self.dtype
        self._bind_views()
        self._sizes = [self.layers[0].n_in] + [layer.n_out for layer in self.layers]
        self._max_weights = max(layer.n_in * layer.n_out for layer in self.layers)
        self._loss_code = LOSS_CODES[self.loss_name]

    def _bind_views(self):
        """Point every layer's ``W``, ``b``, ``dW``, ``db`` into the flat buffers."""
        for layer, (n_in, n_out, w_off, b_off, _) in zip(self.layers, self._layout):
            layer.W = self._params[w_off:b_off].reshape(n_out, n_in)
            layer.b = self._params[b_off : b_off + n_out].reshape(n_out, 1)
            layer.dW = self._grads[w_off:b_off].reshape(n_out, n_in)
            layer.db = self._grads[b_off : b_off + n_out].reshape(n_out, 1)
            layer._owner = self

    def __getstate__(self):
        # Pickle and deepcopy copy each view on its own; the flat buffers are the truth,
        # and the views are bound to them again in __setstate__. Work spaces are rebuilt.
        state = self.__dict__.copy()
        state.update(_train_ws=None, _eval_ws=None, _X=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._bind_views()

    def _workspace(self, current, m):
        if current is None or current.capacity < m:
            current = Workspace(self._sizes[1:], self._max_weights, m, self.dtype)
        return current

    # ----------------------------------------------------------------- properties

    @property
    def n_inputs(self):
        """Features per sample, ``n_0``."""
        return self._sizes[0]

    @property
    def n_outputs(self):
        """Outputs per sample, ``n_L``."""
        return self._sizes[-1]

    @property
    def sizes(self):
        """Layer sizes ``[n_0, ..., n_L]``."""
        return list(self._sizes)

    @property
    def n_params(self):
        """Number of trainable parameters."""
        return self._params.size

    def __repr__(self):
        acts = ", ".join(layer.activation for layer in self.layers)
        return f"Network(sizes={self._sizes}, activations=[{acts}], loss={self.loss_name!r}, dtype={self.dtype.name})"

    # ----------------------------------------------------------------- validation

    def _check_X(self, X, name="X"):
        return as_matrix(X, name, self.dtype, rows=self.n_inputs, what="features")

    def _check_Y(self, Y, m, name="Y", cols_of="X"):
        if self.loss_name != "mse":
            # One pass checks both finiteness and the range of an array that needs no
            # conversion (the per-step case).
            if is_ready(Y, self.dtype, self.n_outputs, m) and all_in_range(Y.reshape(-1), 0.0, 1.0):
                return Y
        Y = as_matrix(Y, name, self.dtype, rows=self.n_outputs, cols=m, what="outputs", cols_of=cols_of)
        if self.loss_name != "mse" and not all_in_range(Y.reshape(-1), 0.0, 1.0):
            raise ValueError(
                f"{name} must hold targets in [0, 1] for loss {self.loss_name!r} (0/1 labels, "
                f"one-hot rows or probabilities); got values in [{Y.min()}, {Y.max()}]"
            )
        return Y

    def _overflow(self, what, X, Y=None, names=("X", "Y")):
        """The ValueError for a non-finite result from finite, checked inputs."""
        if not np.isfinite(self._params).all():
            return ValueError(
                f"the network's weights hold NaN or infinity, so its {what} for {names[0]} are not "
                f"finite; re-initialize or load the network"
            )
        largest = f"the largest |{names[0]}| is {float(np.abs(X).max()):.3g}"
        if Y is not None:
            largest += f", the largest |{names[1]}| is {float(np.abs(Y).max()):.3g}"
        largest += f", the largest |weight| is {float(np.abs(self._params).max()):.3g}"
        fix = names[0] if Y is None else f"{names[0]} (and {names[1]} for 'mse')"
        return ValueError(
            f"the network's {what} for {names[0]} overflow {self.dtype.name} ({largest}); "
            f"scale {fix}, e.g. standardize each feature, or retrain with a smaller learning rate"
        )

    def _diverged(self, lr, X=None):
        """The DivergenceError for an update that was refused (the weights are unchanged)."""
        from .training import DivergenceError

        cause = f"lower lr (got {lr:g})"
        if X is not None:
            cause += f" or scale X (the largest |X| is {float(np.abs(X).max()):.3g})"
        return DivergenceError(
            f"the update made weights NaN or infinite ({self.dtype.name} overflow); the network "
            f"keeps its weights from before the update. To fix it, {cause}", None, None, None)

    # ----------------------------------------------------------------- computation

    def forward(self, X):
        """Forward pass, kept for :meth:`backward`.

        Parameters
        ----------
        X : array_like of shape (n_0, m)
            One sample per column. Converted to the network's dtype if needed
            (never modified).

        Returns
        -------
        ndarray of shape (n_L, m), the network's dtype
            ``A[L]``, a new array.
        """
        checked = self._check_X(X)
        m = checked.shape[1]
        self._train_ws = ws = self._workspace(self._train_ws, m)
        knet.network_forward(self._params, self._layout, checked, ws.acts, ws.z_out)
        out = ws.output(self._sizes[1:], m)
        if not all_finite(out.reshape(-1)):
            self._X = None
            raise self._overflow("outputs", checked)
        # backward() reads X again: keep a private copy, so that a caller who changes
        # their array in between cannot make the gradient silently disagree with it.
        self._X = checked.copy() if checked is X else checked
        return out.copy()

    def backward(self, Y):
        """Accumulate ``dW``/``db`` of every layer from the last :meth:`forward`.

        Gradients ADD to what the buffers hold until :meth:`zero_grad`: calling
        ``backward`` twice gives twice the gradient.

        Parameters
        ----------
        Y : array_like of shape (n_L, m)
            Targets for the samples of the last forward pass.
        """
        if self._X is None:
            raise RuntimeError("backward() needs a forward(X) first (and again after each step())")
        Y = self._check_Y(Y, self._X.shape[1])
        ws = self._train_ws
        before = None if self._grads_zero else self._grads.copy()
        knet.network_backward(self._params, self._grads, self._layout, self._X, Y, ws.acts,
                              ws.delta, ws.scratch, self._loss_code, not self._grads_zero)
        if not all_finite(self._grads):
            if before is None:
                self._grads.fill(0)
            else:
                np.copyto(self._grads, before)
            raise self._overflow("gradients", self._X, Y)
        self._grads_zero = False

    def zero_grad(self):
        """Set every gradient buffer to zero."""
        self._grads.fill(0)
        self._grads_zero = True

    def step(self, lr):
        """Plain gradient descent on every layer: ``W -= lr * dW``, ``b -= lr * db``.

        Gradients are kept (call :meth:`zero_grad` before the next accumulation). The
        last forward pass is discarded: call :meth:`forward` before :meth:`backward`.
        """
        lr = check_positive_float(lr, "lr")
        applied = kopt.sgd_update_checked(self._params, self._grads, lr)
        self._X = None
        if not applied:
            raise self._diverged(lr)

    def train_step(self, X, Y, lr):
        """Forward, backward and gradient descent on one batch in one kernel call.

        Equivalent to ``zero_grad(); forward(X); backward(Y); step(lr)``.

        Returns
        -------
        None
        """
        dtype = self.dtype
        lo, hi = TARGET_RANGE[self.loss_name]
        sizes = self._sizes
        if not batch_ready(X, Y, dtype, sizes[0], sizes[-1]):
            X = self._check_X(X)  # the full checks: they raise the precise error
            Y = self._check_Y(Y, X.shape[1])
        lr = check_positive_float(lr, "lr")
        m = X.shape[1]
        ws = self._train_ws
        if ws is None or ws.capacity < m:
            self._train_ws = ws = self._workspace(ws, m)
        args = (self._params, self._grads, self._layout, X, Y, ws.acts, ws.z_out,
                ws.delta, ws.scratch, self._loss_code, lr, lo, hi)
        work = m * self._max_weights
        # The kernel checks the batch (finite inputs, targets in range), then applies the
        # update only if every new weight is finite (no copy of the weights, one
        # read-only pass): otherwise they are left as they were.
        if work < _threads.THREADED_WORK:
            status = knet.checked_train_step(*args)
        else:
            with _threads.training_threads(work):
                status = knet.checked_train_step(*args)
        if status == knet.STEP_BAD_BATCH:
            self._check_X(X)  # the full checks raise the precise error
            self._check_Y(Y, m)
            raise RuntimeError("fastnn bug: the step kernel refused a batch that the full checks accept")
        self._grads_zero = False
        self._X = None
        if status == knet.STEP_REFUSED:
            raise self._diverged(lr, X)

    def _eval_chunks(self, X, Y):
        """Yield ``(X_part, Y_part, workspace)`` over at most ``PREDICT_CHUNK`` samples.

        Bounds the memory of loss/evaluate by one chunk's work space, whatever m is.
        """
        m = X.shape[1]
        chunk = min(m, PREDICT_CHUNK)
        self._eval_ws = ws = self._workspace(self._eval_ws, chunk)
        for start in range(0, m, chunk):
            if chunk == m:
                yield X, Y, ws
            else:
                yield (np.ascontiguousarray(X[:, start : start + chunk]),
                       np.ascontiguousarray(Y[:, start : start + chunk]), ws)

    def _loss_checked(self, X, Y):
        """Mean loss of checked ``X``, ``Y``: the sample-weighted mean over chunks."""
        parts = [(knet.network_loss(self._params, self._layout, xs, ys, ws.acts, ws.z_out,
                                    self._loss_code), xs.shape[1])
                 for xs, ys, ws in self._eval_chunks(X, Y)]
        if len(parts) == 1:
            return float(parts[0][0])
        return float(sum(loss * m for loss, m in parts) / X.shape[1])

    def loss(self, X, Y):
        """Mean loss over the samples of ``X``.

        For "bce": ``J = -(1/m) sum_samples sum_k [y log a + (1 - y) log(1 - a)]``,
        scikit-learn's ``log_loss`` convention for one output. Does not disturb a
        pending :meth:`forward`/:meth:`backward`.

        Parameters
        ----------
        X : array_like of shape (n_0, m)
        Y : array_like of shape (n_L, m)

        Returns
        -------
        float
        """
        X = self._check_X(X)
        Y = self._check_Y(Y, X.shape[1])
        J = self._loss_checked(X, Y)
        if not np.isfinite(J):
            raise self._overflow("loss", X, Y)
        return J

    def predict(self, X):
        """Network outputs for ``X``, computed in chunks without touching training state.

        Parameters
        ----------
        X : array_like of shape (n_0, m)

        Returns
        -------
        ndarray of shape (n_L, m), the network's dtype
        """
        X = self._check_X(X)
        m = X.shape[1]
        chunk = min(m, PREDICT_CHUNK)
        ws = Workspace(self._sizes[1:], 0, chunk, self.dtype)
        out = np.empty((self.n_outputs, m), dtype=self.dtype)
        with _threads.training_threads(chunk * self._max_weights, -(-m // chunk), "forward"):
            for start in range(0, m, chunk):
                part = X if chunk == m else np.ascontiguousarray(X[:, start : start + chunk])
                knet.network_forward(self._params, self._layout, part, ws.acts, ws.z_out)
                out[:, start : start + part.shape[1]] = ws.output(self._sizes[1:], part.shape[1])
        if not all_finite(out.reshape(-1)):
            raise self._overflow("outputs", X)
        return out

    # ----------------------------------------------------------------- training and I/O
    # Thin delegates: the work is done in fastnn.training and fastnn.io.

    def fit(self, X, Y, epochs=10, batch_size=32, optimizer="sgd", shuffle=True, seed=0,
            validation_data=None, accumulate=1, callbacks=None, verbose=1, patience=None,
            min_delta=0.0, restore_best_weights=True, threads=None):
        """Train by mini-batch gradient descent, one compiled call per epoch.

        ``X`` (n_0, N) and ``Y`` (n_L, N), or 1-D labels (N,). See
        :func:`fastnn.training.fit` for every option.

        Returns
        -------
        History

        Examples
        --------
        >>> import fastnn
        >>> X, y = fastnn.datasets.make_xor()
        >>> net = fastnn.Network([2, 8, 1], seed=0)
        >>> history = net.fit(X, y, epochs=1000, batch_size=4, optimizer=fastnn.SGD(2.0), verbose=0)
        >>> net.predict_classes(X)
        array([0, 1, 1, 0])
        """
        from .training import fit

        return fit(self, X, Y, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                   shuffle=shuffle, seed=seed, validation_data=validation_data,
                   accumulate=accumulate, callbacks=callbacks, verbose=verbose, patience=patience,
                   min_delta=min_delta, restore_best_weights=restore_best_weights, threads=threads)

    def evaluate(self, X, Y):
        """Mean loss and accuracy on ``X``, ``Y`` (see :func:`fastnn.training.evaluate`).

        Returns
        -------
        (float, float)
        """
        from .training import evaluate

        return evaluate(self, X, Y)

    def predict_classes(self, X):
        """Predicted class per sample: argmax of the outputs, or ``output > 0.5`` for one.

        Returns
        -------
        int64 ndarray of shape (m,)
        """
        from .training import predict_classes

        return predict_classes(self, X)

    def save(self, path):
        """Write the network to one ``.npz`` file, atomically (see :func:`fastnn.io.save`)."""
        from .io import save

        save(self, path)
