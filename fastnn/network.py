"""The Network: flat parameter buffers, cached work spaces, and the kernel calls."""

import numpy as np

from . import export, io, notices
from . import threads as _threads
from ._validation import (as_matrix, batch_ready, check_dtype, check_positive_float, check_positive_int,
                          check_seed, is_ready)
from .errors import update_refused
from .kernels import network as knet
from .kernels import optimizers as kopt
from .kernels.activations import CODES as ACTIVATION_CODES
from .kernels.bundles import BAD_BATCH, OK, NetBuffers
from .kernels.checks import all_finite, all_in_range
from .kernels.losses import CODES as LOSS_CODES
from .kernels.training import count_correct, output_view
from .layers import Dense, check_activation, check_dropout
from .losses import CLASSIFICATION, LOSSES, OUTPUT_ACTIVATION, TARGET_RANGE, check_loss
from .sparse import SparseRows, feature_major_rows, is_sparse
from .training import fit

__all__ = ["LOSSES", "OUTPUT_ACTIVATION", "PREDICT_CHUNK", "TARGET_RANGE", "Network", "Workspace", "load"]

PREDICT_CHUNK = 4096
"""Samples per kernel call in predict, loss and evaluate, to bound their memory."""


class Workspace:
    """One flat work array for batches of up to ``capacity`` samples, carved into the
    buffers the network kernels use by :func:`fastnn.kernels.network.carve`.

    Parameters
    ----------
    layout : int64 ndarray of shape (L, 5)
    capacity : int
    dtype : numpy dtype
    training : bool
        Also the buffers a backward pass needs (a forward pass needs ``acts``, ``z_out``).
    """

    def __init__(self, layout, capacity, dtype, training):
        self.capacity = capacity
        self.training = training
        end = knet.work_size(layout, capacity, training)
        self.work = np.empty(end, dtype=dtype)
        self.acts, self.z_out, self.delta, _, _, self.scratch = knet.work_views(
            self.work, layout, capacity, training)


class Network:
    """A multi-layer perceptron trained by Numba kernels, one sample per column.

    Parameters
    ----------
    layers : list of int or list of Dense
        Layer sizes ``[n_0, n_1, ..., n_L]`` (inputs first), or ready-made layers whose
        sizes chain (``layers[i].n_out == layers[i+1].n_in``).
    loss : {"bce", "cce", "mse", "poisson"}, default "bce"
        "bce": binary cross-entropy summed over the outputs (sigmoid output);
        "cce": categorical cross-entropy (softmax output); "mse": mean squared error;
        "poisson": half the Poisson deviance summed over the outputs (exp output, the log
        link; targets >= 0), scikit-learn's ``MLPRegressor(loss="poisson")``. Long names ("binary_crossentropy", "categorical_crossentropy",
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
    dropout : float or list of float, optional
        When ``layers`` are sizes: the dropout rate of every hidden layer, or one per
        hidden layer (see :class:`Dense`; with Dense layers set ``Dense(..., dropout=p)``).
        Applied while :meth:`fit` and :meth:`train_step` train, never in
        :meth:`predict`, :meth:`loss` or :meth:`evaluate`.

    Attributes
    ----------
    layers : list of Dense
        The layers; their ``W``, ``b``, ``dW``, ``db`` are views into one flat
        parameter buffer and one flat gradient buffer.
    loss_name : str
        Canonical loss name.
    dtype : numpy dtype
    optimizer : Optimizer or None
        The optimizer of the last :meth:`fit`, or the one restored by :func:`fastnn.load`
        from a checkpoint (its state and step count); None before.
    epoch : int or None
        The last epoch that :meth:`fit` trained, or the one a checkpoint recorded.

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
                 output_activation=None, dropout=None):
        self.loss_name = check_loss(loss)
        if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__"):
            raise TypeError(f"layers must be a list of layer sizes or of Dense layers; got {type(layers).__name__}")
        layers = list(layers)
        if layers and all(isinstance(layer, Dense) for layer in layers):
            if dropout is not None:
                raise TypeError("dropout= applies to layer sizes; with Dense layers give each its own "
                                "rate: Dense(n_in, n_out, dropout=0.2)")
            self.dtype = check_dtype(dtype) if dtype is not None else self._common_dtype(layers)
            built = layers
        elif any(isinstance(layer, Dense) for layer in layers):
            raise TypeError("layers must be all sizes (ints) or all Dense layers, not a mix")
        else:
            self.dtype = check_dtype(dtype) if dtype is not None else np.dtype(np.float32)
            built = self._build(layers, seed, activation, output_activation, dropout)
        self._check_chain(built)
        params = np.empty(sum(layer.n_params for layer in built), dtype=self.dtype)
        offset = 0
        for layer in built:
            params[offset : offset + layer.n_in * layer.n_out] = layer.W.ravel()
            offset += layer.n_in * layer.n_out
            params[offset : offset + layer.n_out] = layer.b.ravel()
            offset += layer.n_out
            if built is not layers:  # our own layers: drop each copied W at once (_bind makes views)
                layer.W = None
        self._bind(built, params)

    @classmethod
    def from_params(cls, sizes, activations, params, loss="bce", dropout=None):
        """A network with the given flat parameters (copied), without drawing an init.

        The one way fastnn rebuilds a network: :func:`fastnn.load`, unpickling and the
        scikit-learn estimators use it.

        Parameters
        ----------
        sizes : list of int
            ``[n_0, ..., n_L]``.
        activations : list of str
            One per layer.
        params : ndarray of shape (p,), float32 or float64
            Every layer's ``W`` (row-major) then ``b``, as :attr:`params`; its dtype is
            the network's.
        loss : str, default "bce"
        dropout : list of float, optional
            One rate per layer (default: none).
        """
        built = cls.__new__(cls)
        config = {"sizes": list(sizes), "activations": list(activations), "loss": loss, "params": params}
        if dropout is not None:
            config["dropout"] = list(dropout)
        built._restore(config)
        return built

    def _restore(self, config):
        """Build from a ``config`` dict (see :meth:`config`) plus its ``params``."""
        self.loss_name = check_loss(config["loss"])
        params = np.array(config["params"], copy=True, order="C")
        self.dtype = check_dtype(params.dtype, "params")
        sizes, activations = config["sizes"], config["activations"]
        if len(activations) != len(sizes) - 1:
            raise ValueError(f"activations needs one name per layer ({len(sizes) - 1}); "
                             f"got {len(activations)}")
        rates = config.get("dropout") or [0.0] * len(activations)
        if len(rates) != len(activations):
            raise ValueError(f"dropout needs one rate per layer ({len(activations)}); got {len(rates)}")
        layers = [Dense.empty(n_in, n_out, activation, self.dtype, rate)
                  for n_in, n_out, activation, rate in zip(sizes[:-1], sizes[1:], activations, rates)]
        self._check_chain(layers)
        expected = sum(layer.n_params for layer in layers)
        if params.shape != (expected,):
            raise ValueError(f"params must have shape ({expected},) for sizes {list(sizes)}; "
                             f"got {params.shape}")
        self._bind(layers, params)

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

    def _build(self, sizes, seed, activation, output_activation, dropout=None):
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
        n_hidden = len(sizes) - 2
        if dropout is None:
            rates = [0.0] * n_hidden
        elif isinstance(dropout, (list, tuple, np.ndarray)):
            if len(dropout) != n_hidden:
                raise ValueError(f"dropout needs one rate per hidden layer ({n_hidden} for layers {sizes}); "
                                 f"got {len(dropout)}")
            rates = [check_dropout(rate, f"dropout[{i}]") for i, rate in enumerate(dropout)]
        else:
            rate = check_dropout(dropout)
            if rate > 0 and n_hidden == 0:
                raise ValueError(f"dropout applies to hidden layers, and layers {sizes} has none; add one "
                                 f"(e.g. [{sizes[0]}, 32, {sizes[-1]}]) or leave dropout out")
            rates = [rate] * n_hidden
        rates.append(0.0)
        built = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            try:
                layer = Dense(n_in, n_out, hidden if i < len(sizes) - 2 else output, self.dtype, seed=rng,
                              dropout=rates[i])
            except ValueError as err:
                raise ValueError(f"layers[{i}] -> layers[{i + 1}]: {err}") from None
            # Its own zero gradient is never used (_bind gives it views of the flat one): freed now,
            # a fit's peak memory is then the flat buffers, not twice the weights on top of them.
            layer.dW = layer.db = None
            built.append(layer)
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
            if layer.network is not None and layer.network is not self:
                raise ValueError(
                    f"layers[{i}] already belongs to another Network; create a new Dense "
                    f"(or copy.deepcopy it) to use it here"
                )
        for i, layer in enumerate(layers):
            if layer.activation == "softmax" and layer.n_out == 1:
                if i < len(layers) - 1:
                    which, fix = f"hidden layer {i + 1}", "give it 2 or more units or another activation"
                else:
                    which, fix = "the output layer", (
                        "for two classes use one sigmoid output with loss='bce' (e.g. "
                        "Network([n_0, 16, 1], loss='bce')); for k >= 2 classes give the output "
                        "layer k units with loss='cce'")
                raise ValueError(f"{which} applies softmax to a single unit, which always outputs 1: "
                                 f"the loss would be constant and nothing would train; {fix}")
        for i, layer in enumerate(layers):
            if layer.dropout > 0 and i == len(layers) - 1:
                raise ValueError(f"the output layer has dropout={layer.dropout}; dropout applies to hidden "
                                 f"layers only (it would zero the predictions): set it on the layers before")
            if layer.dropout > 0 and layer.activation == "softmax":
                raise ValueError(f"layers[{i}] is a softmax layer with dropout={layer.dropout}; dropout "
                                 f"needs an elementwise activation (sigmoid, tanh, relu, identity)")
        required = OUTPUT_ACTIVATION[self.loss_name]
        last = layers[-1].activation
        if self.loss_name != "mse" and last != required:
            raise ValueError(
                f"loss {self.loss_name!r} needs a {required!r} output layer; the last layer's "
                f"activation is {last!r}"
            )

    def _bind(self, layers, params):
        """Own the flat ``params`` and zero gradients; make every layer's ``W``, ``b``,
        ``dW``, ``db`` views into them."""
        rows, offset = [], 0
        for layer in layers:
            w_off, b_off = offset, offset + layer.n_out * layer.n_in
            rows.append([layer.n_in, layer.n_out, w_off, b_off, ACTIVATION_CODES[layer.activation]])
            offset = b_off + layer.n_out
        layout = np.array(rows, dtype=np.int64)
        grads = np.zeros_like(params)
        # The flat buffers the kernels read and write (the interface fastnn's other modules
        # use); whoever writes them outside forward/backward calls buffers_changed().
        self.kernel_buffers = NetBuffers(params, grads, layout, LOSS_CODES[self.loss_name])
        for layer, (n_in, n_out, w_off, b_off, _) in zip(layers, rows):
            layer.attach(self, params[w_off:b_off].reshape(n_out, n_in),
                         params[b_off : b_off + n_out].reshape(n_out, 1),
                         grads[w_off:b_off].reshape(n_out, n_in),
                         grads[b_off : b_off + n_out].reshape(n_out, 1))
        self.layers = layers
        # Dropout rate of each layer's output, for the kernels (zeros: none).
        self.dropout_rates = np.array([layer.dropout for layer in layers], dtype=np.float64)
        self._dropout = bool(self.dropout_rates.any())
        self._drop = None  # the dropout bundle of the pending forward pass
        self._dropout_steps = 0  # train_step's count, keying its masks
        self._sizes = [layers[0].n_in] + [layer.n_out for layer in layers]
        self._max_weights = max(layer.n_in * layer.n_out for layer in layers)
        self._train_ws = None
        self._step_loss = np.zeros(1, dtype=np.float64)  # train_step's batch loss, from the kernel
        self.optimizer = None  # the last fit's optimizer, or a checkpoint's (fastnn.load)
        self.epoch = None  # epochs completed by the last fit, or a checkpoint's
        self.schedule = None  # the last fit's learning-rate schedule, or a checkpoint's
        self._X = None  # the checked input of the pending forward pass
        self._grads_zero = True  # the gradients are known to be zero

    def config(self):
        """What defines the network besides its parameters: ``{"sizes", "activations",
        "loss", "dtype"}`` (JSON-able; the header of a saved file)."""
        config = {"sizes": self.sizes, "activations": [layer.activation for layer in self.layers],
                  "loss": self.loss_name, "dtype": self.dtype.name}
        if self._dropout:  # only then: files without dropout stay as they were
            config["dropout"] = [float(rate) for rate in self.dropout_rates]
        return config

    def __getstate__(self):
        # The flat buffers are the truth: pickle and deepcopy rebuild the layers' views
        # from them (from_params), and drop the work space and pending forward pass.
        state = self.config()
        state.update(params=self.params, grads=self.grads, grads_zero=self._grads_zero)
        return state

    def __setstate__(self, state):
        self._restore(state)
        self.grads[...] = state["grads"]
        self._grads_zero = state["grads_zero"]

    def buffers_changed(self):
        """Restore the invariants after the flat buffers were written outside
        :meth:`forward`/:meth:`backward` (by a kernel, a restore, an assignment): the pending
        forward pass is dropped and the gradients are no longer known to be zero."""
        self._X = None
        self._grads_zero = False

    def _workspace(self, m):
        """The training work space, grown to m samples if needed."""
        ws = self._train_ws
        if ws is None or ws.capacity < m:
            self._train_ws = ws = Workspace(self.kernel_buffers.layout, m, self.dtype, True)
        return ws

    def _output(self, acts, m):
        """View of ``A[L]`` in ``acts`` for a batch of m (:func:`~fastnn.kernels.network.output_offset`)."""
        start = m * sum(self._sizes[1:-1])
        return acts[start : start + m * self._sizes[-1]].reshape(self._sizes[-1], m)

    # ----------------------------------------------------------------- properties

    @property
    def params(self):
        """ndarray of shape (p,): every parameter, flat (each layer's ``W`` row-major, then
        ``b``). The layers' ``W`` and ``b`` are views into it: writing changes the network."""
        return self.kernel_buffers.params

    @params.setter
    def params(self, values):
        # Assigning copies the values in (``net.params += d`` works in place), so that the
        # layers' views stay bound to the buffer.
        params = self.kernel_buffers.params
        if values is not params:
            values = np.asarray(values)
            if values.shape != params.shape:
                raise ValueError(f"params must have shape {params.shape}; got {values.shape}")
            params[...] = values
        self.buffers_changed()

    @property
    def grads(self):
        """ndarray of shape (p,): the accumulated gradients, laid out as :attr:`params`."""
        return self.kernel_buffers.grads

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
        return self.params.size

    def product_size(self, m):
        """Multiply-adds of the largest matrix product for a batch of m (thread policy)."""
        return m * self._max_weights

    def __repr__(self):
        acts = ", ".join(layer.activation for layer in self.layers)
        return f"Network(sizes={self._sizes}, activations=[{acts}], loss={self.loss_name!r}, dtype={self.dtype.name})"

    # ----------------------------------------------------------------- validation

    def check_inputs(self, X, name="X"):
        """``X`` checked and converted: (n_0, m), the network's dtype, C-contiguous, finite."""
        return as_matrix(X, name, self.dtype, rows=self.n_inputs, what="features")

    def check_targets(self, Y, m, name="Y", cols_of="X", labels=False):
        """``Y`` checked and converted: (n_L, m), the network's dtype, within the loss's range.

        Parameters
        ----------
        Y : array_like of shape (n_L, m), or (m,) with ``labels``
        m : int
            The sample count of ``cols_of``.
        labels : bool, default False
            Accept 1-D ``Y`` of length m: the single output row when the network has one
            output, else integer class labels 0..n_L-1, one-hot encoded.
        """
        if labels:
            Y = self._from_labels(Y, name, m, cols_of)
        lo, hi = TARGET_RANGE[self.loss_name]
        if self.loss_name in CLASSIFICATION:
            # One pass checks both finiteness and the range of an array that needs no
            # conversion (the per-step case; finite bounds only).
            if is_ready(Y, self.dtype, self.n_outputs, m) and all_in_range(Y.reshape(-1), lo, hi):
                return Y
        Y = as_matrix(Y, name, self.dtype, rows=self.n_outputs, cols=m, what="outputs", cols_of=cols_of)
        if self.loss_name != "mse" and not all_in_range(Y.reshape(-1), lo, hi):
            what = ("counts or rates >= 0" if self.loss_name == "poisson"
                    else "0/1 labels, one-hot rows or probabilities")
            raise ValueError(
                f"{name} must hold targets in [{lo:g}, {hi:g}] for loss {self.loss_name!r} ({what}); "
                f"got values in [{Y.min()}, {Y.max()}]"
            )
        return Y

    def _from_labels(self, Y, name, m, cols_of):
        """1-D labels as the output row or one-hot columns; anything else as it is."""
        array = np.asarray(Y) if not isinstance(Y, np.ndarray) else Y
        if array.ndim != 1 or array.dtype.kind not in "biuf":
            return Y
        if array.size != m:
            raise ValueError(
                f"{name} has {array.size} labels (shape {array.shape}) but {cols_of} has {m} samples; "
                f"pass one label per sample (column) of {cols_of}"
            )
        n = self.n_outputs
        if n == 1:
            return array.reshape(1, -1)
        if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
            raise ValueError(
                f"{name} is 1-D, so it must hold integer class labels 0..{n - 1} "
                f"for a network with {n} outputs; got non-integer values"
            )
        # The range is checked before the cast: 1e30 or 2**64 - 1 do not fit in int64.
        if array.size and (array.min() < 0 or array.max() >= n):
            raise ValueError(
                f"{name} holds class labels in [{array.min()}, {array.max()}] but the network "
                f"has {n} outputs (labels 0..{n - 1})"
            )
        labels = array.astype(np.int64)
        onehot = np.zeros((n, labels.size), dtype=self.dtype)
        onehot[labels, np.arange(labels.size)] = 1
        return onehot

    def _overflow(self, what, X, Y=None, names=("X", "Y")):
        """The ValueError for a non-finite result from finite, checked inputs."""
        params = self.params
        if not np.isfinite(params).all():
            return ValueError(
                f"the network's weights hold NaN or infinity, so its {what} for {names[0]} are not "
                f"finite; re-initialize or load the network"
            )
        values = X.data if isinstance(X, SparseRows) else X
        largest = f"the largest |{names[0]}| is {float(np.abs(values).max(initial=0.0)):.3g}"
        if Y is not None:
            largest += f", the largest |{names[1]}| is {float(np.abs(Y).max()):.3g}"
        largest += f", the largest |weight| is {float(np.abs(params).max()):.3g}"
        fix = names[0] if Y is None else f"{names[0]} (and {names[1]} for 'mse')"
        return ValueError(
            f"the network's {what} for {names[0]} overflow {self.dtype.name} ({largest}); "
            f"scale {fix}, e.g. standardize each feature, or retrain with a smaller learning rate"
        )

    # ----------------------------------------------------------------- computation

    def _drop_bundle(self, training, seed, step):
        """The kernels' dropout bundle for ``training`` with masks ``(seed, step)``, or None."""
        if not isinstance(training, (bool, np.bool_)):
            raise TypeError(f"training must be True or False; got {training!r}")
        if not training or not self._dropout:
            return None
        for name, value in (("seed", seed), ("step", step)):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
                    or not 0 <= value < 2**63:
                raise ValueError(f"{name} must be an integer in [0, 2**63) (it keys the dropout masks); "
                                 f"got {value!r}")
        return (self.dropout_rates, int(seed), int(step))

    def forward(self, X, training=False, seed=0, step=0):
        """Forward pass, kept for :meth:`backward`.

        Parameters
        ----------
        X : array_like of shape (n_0, m)
            One sample per column. Converted to the network's dtype if needed
            (never modified).
        training : bool, default False
            Apply the layers' dropout, with the masks of ``(seed, step)``: the same
            key gives the same masks (a fixed mask, e.g. for :func:`fastnn.gradcheck`),
            and :meth:`backward` uses the masks of this pass.
        seed, step : int, default 0
            The key of the dropout masks (with ``training``).

        Returns
        -------
        ndarray of shape (n_L, m), the network's dtype
            ``A[L]``, a new array.
        """
        checked = self.check_inputs(X)
        drop = self._drop_bundle(training, seed, step)
        m = checked.shape[1]
        ws = self._workspace(m)
        notices.announce_compilation(knet.network_forward)
        if drop is None:
            knet.network_forward(self.params, self.kernel_buffers.layout, checked, ws.acts, ws.z_out)
        else:
            knet.network_forward(self.params, self.kernel_buffers.layout, checked, ws.acts, ws.z_out, drop)
        self._drop = drop
        out = self._output(ws.acts, m)
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
        Y = self.check_targets(Y, self._X.shape[1])
        ws = self._train_ws
        grads = self.grads
        before = None if self._grads_zero else grads.copy()
        if self._drop is None:
            knet.network_backward(*self.kernel_buffers, self._X, Y, ws.acts, ws.delta, ws.scratch,
                                  not self._grads_zero)
        else:
            knet.network_backward(*self.kernel_buffers, self._X, Y, ws.acts, ws.delta, ws.scratch,
                                  not self._grads_zero, self._drop)
        if not all_finite(grads):
            if before is None:
                grads.fill(0)
            else:
                np.copyto(grads, before)
            raise self._overflow("gradients", self._X, Y)
        self._grads_zero = False

    def zero_grad(self):
        """Set every gradient buffer to zero."""
        self.grads.fill(0)
        self._grads_zero = True

    def step(self, lr):
        """Plain gradient descent on every layer: ``W -= lr * dW``, ``b -= lr * db``.

        Gradients are kept (call :meth:`zero_grad` before the next accumulation). The
        last forward pass is discarded: call :meth:`forward` before :meth:`backward`.
        """
        lr = check_positive_float(lr, "lr")
        applied = kopt.sgd_update_checked(self.params, self.grads, lr)
        self._X = None
        if not applied:
            raise update_refused(self.dtype, lr)

    def kernel_step_args(self, X, Y, lr):
        """The arguments of :func:`~fastnn.kernels.network.checked_train_step` for a batch
        ``X`` (n_0, m), ``Y`` (n_L, m) already in the network's dtype and layout (what
        :meth:`train_step` calls; benchmarks time the kernel alone with them)."""
        ws = self._train_ws
        if ws is None or ws.capacity < X.shape[1]:
            ws = self._workspace(X.shape[1])
        lo, hi = TARGET_RANGE[self.loss_name]
        return (*self.kernel_buffers, X, Y, ws.acts, ws.z_out, ws.delta, ws.scratch, lr, lo, hi,
                self._step_loss)

    def train_step(self, X, Y, lr):
        """Forward, backward and gradient descent on one batch in one kernel call.

        Equivalent to ``zero_grad(); forward(X); backward(Y); step(lr)``; with dropout,
        to ``forward(X, training=True, step=k)`` where k counts this network's
        ``train_step`` calls (from 0).

        Parameters
        ----------
        X : array_like of shape (n_0, m)
        Y : array_like of shape (n_L, m), or 1-D labels of shape (m,)
            As in :meth:`fit`: 1-D integer labels are one-hot encoded for a network with
            several outputs; for one output a 1-D ``Y`` is the output row.
        lr : float

        Returns
        -------
        float
            The batch's mean loss, measured before the update (as each batch of :meth:`fit`
            is): the kernel computes it from the forward pass the step makes anyway.
        """
        sizes = self._sizes
        if not batch_ready(X, Y, self.dtype, sizes[0], sizes[-1]):
            X = self.check_inputs(X)  # the full checks: they raise the precise error
            Y = self.check_targets(Y, X.shape[1], labels=True)
        lr = check_positive_float(lr, "lr")
        if self._train_ws is None:  # a network's first step (kept off the per-step path)
            notices.announce_compilation(knet.checked_train_step)
        # kernel_step_args, written out: the per-step path of small networks is mostly
        # Python, and the two method calls cost more than the kernel's own checks.
        m = X.shape[1]
        ws = self._train_ws
        if ws is None or ws.capacity < m:
            ws = self._workspace(m)
        lo, hi = TARGET_RANGE[self.loss_name]
        params, grads, layout, loss = self.kernel_buffers
        args = (params, grads, layout, loss, X, Y, ws.acts, ws.z_out, ws.delta, ws.scratch, lr, lo, hi,
                self._step_loss)
        work = m * self._max_weights
        # The kernel checks the batch (finite inputs, targets in range), then applies the
        # update only if every new weight is finite (no copy of the weights, one
        # read-only pass): otherwise they are left as they were.
        if self._dropout:
            args = (*args, (self.dropout_rates, 0, self._dropout_steps))
        if work < _threads.THREADED_WORK:
            status = knet.checked_train_step(*args)
        else:
            with _threads.training_threads(work):
                status = knet.checked_train_step(*args)
        if status == BAD_BATCH:
            self.check_inputs(X)  # the full checks raise the precise error
            self.check_targets(Y, m, labels=True)
            raise RuntimeError("fastnn bug: the step kernel refused a batch that the full checks accept")
        self._X = None  # buffers_changed(), inline
        self._grads_zero = False
        if status != OK:
            raise update_refused(self.dtype, lr, X)
        self._dropout_steps += self._dropout
        return float(self._step_loss[0])

    def _forward_chunks(self, X, Y=None, out=None, count=False, names=("X", "Y")):
        """The one chunked forward loop of :meth:`predict`, :meth:`loss` and :meth:`evaluate`.

        Runs over checked ``X`` (and ``Y``) in chunks of at most :data:`PREDICT_CHUNK`
        samples (bounded memory, a work space of its own: the pending forward pass and
        other threads' calls are not disturbed). Fills ``out`` (n_L, m) when given.

        Returns
        -------
        (float or None, int)
            With ``Y``: the mean loss (the sample-weighted mean over chunks) and, with
            ``count``, the correctly classified samples (:func:`count_correct`).
        """
        sparse = isinstance(X, SparseRows)
        m = X.n_samples if sparse else X.shape[1]
        chunk = max(1, min(m, PREDICT_CHUNK))
        params, _, layout, loss = self.kernel_buffers
        ws = Workspace(layout, chunk, self.dtype, False)
        notices.announce_compilation(knet.network_forward if Y is None else knet.network_loss)
        parts, correct = [], 0
        with _threads.training_threads(self.product_size(chunk), -(-m // chunk), "forward"):
            for start in range(0, m, chunk):
                if sparse:
                    xs = X.batch(start, min(start + chunk, m))
                    n = xs[3].size
                else:
                    xs = X if chunk == m else np.ascontiguousarray(X[:, start : start + chunk])
                    n = xs.shape[1]
                if Y is None:
                    knet.network_forward(params, layout, xs, ws.acts, ws.z_out)
                else:
                    ys = Y if chunk == m else np.ascontiguousarray(Y[:, start : start + chunk])
                    parts.append((knet.network_loss(params, layout, loss, xs, ys, ws.acts, ws.z_out), n))
                    if count:
                        correct += count_correct(output_view(ws.acts, layout, n), ys)
                if out is not None:
                    out[:, start : start + n] = self._output(ws.acts, n)
        if Y is None:
            if out is not None and not all_finite(out.reshape(-1)):
                raise self._overflow("outputs", X)
            return None, 0
        J = parts[0][0] if len(parts) == 1 else sum(value * n for value, n in parts) / m
        if not np.isfinite(J):
            raise self._overflow("loss", X, Y, names)
        return float(J), correct

    def loss(self, X, Y, training=False, seed=0, step=0):
        """Mean loss over the samples of ``X``.

        For "bce": ``J = -(1/m) sum_samples sum_k [y log a + (1 - y) log(1 - a)]``,
        scikit-learn's ``log_loss`` convention for one output. Does not disturb a
        pending :meth:`forward`/:meth:`backward`.

        Parameters
        ----------
        X : array_like of shape (n_0, m)
        Y : array_like of shape (n_L, m)
        training, seed, step
            As in :meth:`forward`: the loss with the dropout masks of ``(seed, step)``.

        Returns
        -------
        float
        """
        X = self.check_inputs(X)
        Y = self.check_targets(Y, X.shape[1])
        drop = self._drop_bundle(training, seed, step)
        if drop is None:
            return self._forward_chunks(X, Y)[0]
        # One call over the whole batch: a mask is keyed by the sample's place in it.
        params, _, layout, loss = self.kernel_buffers
        ws = Workspace(layout, X.shape[1], self.dtype, False)
        J = knet.network_loss(params, layout, loss, X, Y, ws.acts, ws.z_out, drop)
        if not np.isfinite(J):
            raise self._overflow("loss", X, Y)
        return float(J)

    def predict(self, X):
        """Network outputs for ``X``, computed in chunks without touching training state.

        Parameters
        ----------
        X : array_like of shape (n_0, m), or a scipy.sparse matrix or array of that shape
            Sparse inputs are multiplied by their non-zeros only, in chunks of samples
            (a CSC matrix, one sample per column, is read without conversion).

        Returns
        -------
        ndarray of shape (n_L, m), the network's dtype
        """
        X = self._checked_inputs(X)
        m = X.n_samples if isinstance(X, SparseRows) else X.shape[1]
        out = np.empty((self.n_outputs, m), dtype=self.dtype)
        self._forward_chunks(X, out=out)
        return out

    def _checked_inputs(self, X, name="X"):
        """:meth:`check_inputs`, or :class:`~fastnn.sparse.SparseRows` for sparse ``X``."""
        if is_sparse(X):
            return feature_major_rows(X, self, name)
        return self.check_inputs(X, name)

    def evaluate(self, X, Y):
        """Mean loss and accuracy of the network on ``X``, ``Y``.

        Parameters
        ----------
        X : array_like of shape (n_0, m)
        Y : array_like of shape (n_L, m), or 1-D labels of shape (m,)

        Returns
        -------
        (float, float)
            The loss (as :meth:`loss`) and the accuracy: the fraction of samples whose
            ``argmax`` output matches the ``argmax`` target (several outputs), or whose
            output and target fall on the same side of 0.5 (one output).
        """
        X = self._checked_inputs(X)
        Y = self.check_targets(Y, X.n_samples if isinstance(X, SparseRows) else X.shape[1], labels=True)
        return self.evaluate_checked(X, Y)

    def evaluate_checked(self, X, Y, names=("X", "Y")):
        """:meth:`evaluate` of ``X``, ``Y`` already checked (fit's validation data, named
        ``names`` in an overflow error)."""
        J, correct = self._forward_chunks(X, Y, count=True, names=names)
        return J, correct / Y.shape[1]

    def predict_classes(self, X):
        """Predicted class per sample: argmax of the outputs, or ``output > 0.5`` for one.

        Returns
        -------
        int64 ndarray of shape (m,)
        """
        A = self.predict(X)
        if A.shape[0] == 1:
            return (A[0] > 0.5).astype(np.int64)
        return np.argmax(A, axis=0).astype(np.int64)

    def __call__(self, X):
        """``net(X)`` is :meth:`predict` (as a Keras model or a PyTorch module is called)."""
        return self.predict(X)

    def predict_proba(self, X):
        """Class probabilities for ``X``: the outputs of a sigmoid or softmax output layer.

        Parameters
        ----------
        X : array_like of shape (n_0, m)

        Returns
        -------
        ndarray of shape (n_L, m), the network's dtype
            Softmax: each column sums to 1. Sigmoid: each output is the probability of its
            label being 1 (one output: of class 1).

        Raises
        ------
        ValueError
            The output layer's activation does not give probabilities (e.g. identity for
            ``loss="mse"``).
        """
        last = self.layers[-1].activation
        if last not in ("sigmoid", "softmax"):
            raise ValueError(
                f"predict_proba needs probability outputs (a 'sigmoid' or 'softmax' output layer); "
                f"this network's output activation is {last!r} (loss {self.loss_name!r}); use "
                f"predict(X) for its outputs, or train a classifier with loss='bce' or 'cce'")
        return self.predict(X)

    def summary(self, print_fn=print):
        """A table of the layers, as Keras's ``model.summary()``.

        One row per layer: its weight shape ``W`` (n_l, n_{l-1}), output shape (n_l, m) for
        m samples (one per column), activation and parameter count; then the totals, the
        loss and the dtype.

        Parameters
        ----------
        print_fn : callable or None, default print
            Called once with the table; None prints nothing.

        Returns
        -------
        str
            The table.

        Examples
        --------
        >>> import fastnn
        >>> print(fastnn.Network([4, 8, 3], loss="cce").summary(print_fn=None))  # doctest: +NORMALIZE_WHITESPACE
        Network: loss 'cce', float32, one sample per column (m samples)
        Layer      W shape     Output shape   Activation     Params
        -----------------------------------------------------------
        input                  (4, m)
        dense_1    (8, 4)      (8, m)         sigmoid            40
        dense_2    (3, 8)      (3, m)         softmax            27
        -----------------------------------------------------------
        Total params: 67 (268 B)
        """
        if print_fn is not None and not callable(print_fn):
            raise TypeError(f"print_fn must be callable (e.g. print) or None; got {type(print_fn).__name__}")
        rows = [("input", "", f"({self.n_inputs}, m)", "", "")]
        for i, layer in enumerate(self.layers, 1):
            activation = layer.activation + (f", dropout {layer.dropout:g}" if layer.dropout else "")
            rows.append((f"dense_{i}", f"({layer.n_out}, {layer.n_in})", f"({layer.n_out}, m)",
                         activation, f"{layer.n_params:,}"))
        head = ("Layer", "W shape", "Output shape", "Activation", "Params")
        widths = [max(len(row[k]) for row in rows + [head]) for k in range(5)]
        widths = [max(w, minimum) for w, minimum in zip(widths, (10, 11, 14, 10, 10))]

        def line(row):
            return ("".join(cell.ljust(width + 1) for cell, width in zip(row[:4], widths[:4]))
                    + row[4].rjust(widths[4])).rstrip()

        rule = "-" * (sum(widths) + 4)
        size = self.n_params * self.dtype.itemsize
        unit = next((f"{size / scale:.1f} {name}" for scale, name in ((2**30, "GB"), (2**20, "MB"),
                     (2**10, "KB")) if size >= scale), f"{size} B")
        text = "\n".join([f"Network: loss {self.loss_name!r}, {self.dtype.name}, one sample per column "
                          f"(m samples)", line(head), rule, *(line(row) for row in rows), rule,
                          f"Total params: {self.n_params:,} ({unit})"])
        if print_fn is not None:
            print_fn(text)
        return text

    def get_weights(self):
        """Copies of every layer's weights and biases, as Keras's ``get_weights``.

        Returns
        -------
        list of ndarray
            ``[W_1, b_1, ..., W_L, b_L]``: ``W_l`` of shape (n_l, n_{l-1}), ``b_l`` of shape
            (n_l, 1), the network's dtype (fastnn's shapes: Keras's kernels are transposed).
        """
        return [array.copy() for layer in self.layers for array in (layer.W, layer.b)]

    def set_weights(self, weights):
        """Copy ``weights`` (as :meth:`get_weights` returns them) into the network.

        Parameters
        ----------
        weights : list of array_like
            ``[W_1, b_1, ..., W_L, b_L]`` with the shapes of :meth:`get_weights` (a bias may
            also be 1-D, (n_l,)); real, finite values, converted to the network's dtype.
            Nothing is changed unless every array is valid.
        """
        if isinstance(weights, (str, bytes, dict)) or not hasattr(weights, "__len__"):
            raise TypeError(f"weights must be a list [W_1, b_1, ..., W_L, b_L] as get_weights() "
                            f"returns; got {type(weights).__name__}")
        expected = 2 * len(self.layers)
        if len(weights) != expected:
            raise ValueError(f"weights must hold {expected} arrays [W_1, b_1, ..., W_L, b_L] for "
                             f"{len(self.layers)} layers; got {len(weights)}")
        names = [f"{kind}_{i}" for i in range(1, len(self.layers) + 1) for kind in ("W", "b")]
        self._copy_in(dict(zip(names, weights)), {name: f"weights[{k}] ({name})"
                                                  for k, name in enumerate(names)})

    def state_dict(self):
        """Copies of the parameters by name, as PyTorch's ``state_dict``.

        Returns
        -------
        dict of str to ndarray
            ``{"layers.0.W": W_1, "layers.0.b": b_1, ...}`` (0-based as in
            :attr:`layers`), the shapes of :meth:`get_weights`.
        """
        return {f"layers.{i}.{kind}": getattr(layer, kind).copy()
                for i, layer in enumerate(self.layers) for kind in ("W", "b")}

    def load_state_dict(self, state_dict):
        """Copy the parameters of ``state_dict`` (as :meth:`state_dict` returns) in.

        Parameters
        ----------
        state_dict : dict of str to array_like
            Exactly the keys of :meth:`state_dict`, the same shapes (a bias may be 1-D);
            nothing is changed unless every array is valid.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict must be a dict as Network.state_dict() returns; "
                            f"got {type(state_dict).__name__}")
        keys = [f"layers.{i}.{kind}" for i in range(len(self.layers)) for kind in ("W", "b")]
        missing = [key for key in keys if key not in state_dict]
        unexpected = sorted(str(key) for key in state_dict if key not in keys)
        if missing or unexpected:
            raise ValueError(f"state_dict does not match this network's parameters: missing keys "
                             f"{missing}, unexpected keys {unexpected}; sizes are {self.sizes}")
        renamed = {f"{kind}_{i + 1}": state_dict[f"layers.{i}.{kind}"]
                   for i in range(len(self.layers)) for kind in ("W", "b")}
        self._copy_in(renamed, {f"{kind}_{i + 1}": f"state_dict[{f'layers.{i}.{kind}'!r}]"
                                for i in range(len(self.layers)) for kind in ("W", "b")})

    def _copy_in(self, arrays, labels):
        """Check ``arrays`` ({"W_1": ..., "b_1": ...}) against the layers, then copy all in."""
        checked = []
        for i, layer in enumerate(self.layers, 1):
            for kind, target in (("W", layer.W), ("b", layer.b)):
                label = labels[f"{kind}_{i}"]
                value = arrays[f"{kind}_{i}"]
                try:
                    value = np.asarray(value)
                except (TypeError, ValueError) as err:
                    raise TypeError(f"{label} must be a numeric array; got {type(value).__name__}") from err
                if value.dtype.kind not in "biuf":
                    raise TypeError(f"{label} must hold real numbers; got dtype {value.dtype}; convert "
                                    f"it first, e.g. np.asarray(..., dtype=np.{self.dtype.name})")
                if kind == "b" and value.shape == (target.shape[0],):
                    value = value.reshape(-1, 1)
                if value.shape != target.shape:
                    raise ValueError(f"{label} must have shape {target.shape} (layer {i} of sizes "
                                     f"{self.sizes}); got {value.shape}"
                                     + ("; W is (n_out, n_in): transpose Keras or scikit-learn "
                                        "weights with .T" if value.shape == target.shape[::-1] else ""))
                with np.errstate(over="ignore", invalid="ignore"):
                    value = value.astype(self.dtype)
                if not all_finite(value.reshape(-1)):
                    raise ValueError(f"{label} contains NaN or infinity (or a value that overflows "
                                     f"{self.dtype.name}); pass finite weights")
                checked.append((target, value))
        for target, value in checked:
            target[...] = value
        self.buffers_changed()

    # ----------------------------------------------------------------- training and I/O

    def fit(self, X, Y, epochs=10, batch_size=32, optimizer="sgd", shuffle=True, seed=0,
            validation_data=None, accumulate=1, callbacks=None, verbose=1, patience=None,
            min_delta=0.0, restore_best_weights=True, threads=None, schedule=None, initial_epoch=0,
            validation_split=None, sample_weight=None, class_weight=None):
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
        return fit(self, X, Y, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                   shuffle=shuffle, seed=seed, validation_data=validation_data,
                   accumulate=accumulate, callbacks=callbacks, verbose=verbose, patience=patience,
                   min_delta=min_delta, restore_best_weights=restore_best_weights, threads=threads,
                   schedule=schedule, initial_epoch=initial_epoch, validation_split=validation_split,
                   sample_weight=sample_weight, class_weight=class_weight)

    def save(self, path, optimizer=None, epoch=None, schedule=None):
        """Write the network to one ``.npz`` file, atomically (see :func:`fastnn.io.save`).

        Parameters
        ----------
        path : str or path-like
        optimizer : SGD or Adam, optional
            Also save its state and step count (a checkpoint): :func:`fastnn.load` restores
            it as ``net.optimizer``, and ``fit(..., optimizer=net.optimizer,
            initial_epoch=net.epoch)`` then continues bitwise as the fit that never stopped.
        epoch : int, optional
            Epochs completed, restored as ``net.epoch``.
        schedule : Schedule, optional
            The learning-rate schedule bound to ``optimizer`` (its settings and counts),
            restored as ``net.schedule``: pass ``schedule=net.schedule`` to the resumed fit.

        Examples
        --------
        >>> import os, tempfile
        >>> import fastnn
        >>> X, y = fastnn.datasets.make_xor()
        >>> net = fastnn.Network([2, 4, 1])
        >>> _ = net.fit(X, y, epochs=3, optimizer=fastnn.Adam(0.01), verbose=0)
        >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
        >>> net.save(path, optimizer=net.optimizer, epoch=net.epoch)
        >>> again = fastnn.load(path)
        >>> again.optimizer.steps, again.epoch
        (3, 3)
        """
        io.save(self, path, optimizer=optimizer, epoch=epoch, schedule=schedule)

    # ----------------------------------------------------------------- other libraries

    def to_onnx(self, path=None, *, opset=None):
        """The network as an ONNX model, for ONNX Runtime and other serving stacks.

        The graph takes ROW-layout input, one sample per row, as ONNX consumers expect:
        ``input`` of shape (batch, n_0) with a dynamic batch dimension, in the network's
        dtype, and gives ``output`` of shape (batch, n_L), ``predict(input.T).T``. It uses
        standard operators only (Gemm, Tanh, Relu, Softmax, Identity, and the logistic
        function as Exp, Min, Abs, Neg, Add, Div: ONNX Runtime's Sigmoid loses relative
        accuracy in the tails). The metadata holds ``fastnn_version``, ``sizes``,
        ``activations``, ``loss`` and ``dtype``. Needs ``pip install "fastnn[onnx]"``.

        Parameters
        ----------
        path : str or path-like, optional
            Also write the model there (``.onnx``); its folder must exist.
        opset : int, optional
            ONNX opset, from 13 to the newest the installed ``onnx`` knows; default 17.

        Returns
        -------
        onnx.ModelProto
            Checked with ``onnx.checker.check_model(model, full_check=True)``.

        Examples
        --------
        >>> import fastnn
        >>> model = fastnn.Network([4, 8, 3], loss="cce").to_onnx()  # doctest: +SKIP
        >>> [node.op_type for node in model.graph.node][-2:]          # doctest: +SKIP
        ['Gemm', 'Softmax']
        """
        return export.network_to_onnx(self, path, opset=opset)

    @classmethod
    def from_sklearn(cls, estimator):
        """A network with the weights of a fitted scikit-learn MLP (copied).

        Parameters
        ----------
        estimator : fitted MLPClassifier or MLPRegressor
            (FastMLPClassifier/FastMLPRegressor work too.) Its ``coefs_[i]`` of shape
            (n_in, n_out) become ``layers[i].W`` of shape (n_out, n_in).

        Returns
        -------
        Network
            ``predict(X.T).T`` equals the estimator's ``predict_proba(X)`` (one output:
            its second column) or ``predict(X)``; loss "bce" for a logistic output,
            "cce" for softmax, "mse" for identity; the dtype of ``coefs_``.

        Raises
        ------
        TypeError
            ``estimator`` is not a multi-layer perceptron (a Pipeline: pass its last step).
        sklearn.exceptions.NotFittedError
            (a ValueError) ``estimator`` is not fitted.
        """
        return export.network_from_sklearn(cls, estimator)

    @classmethod
    def from_torch(cls, module, loss=None):
        """A network with the weights of a ``torch.nn.Sequential`` (copied).

        Parameters
        ----------
        module : torch.nn.Sequential
            Of ``Linear`` layers, each followed by at most one of ``Sigmoid``, ``Tanh``,
            ``ReLU``, ``Softmax(dim=-1)``; ``Identity`` modules are skipped. float32 or
            float64 parameters (the network's dtype).
        loss : str, optional
            Default: "bce" after a Sigmoid output, "cce" after Softmax, else "mse".

        Returns
        -------
        Network
            ``predict(X.T).T`` equals ``module(torch.from_numpy(X))``.

        Raises
        ------
        TypeError
            A module fastnn has no equivalent for, or parameters of another dtype.
        ValueError
            Sizes that do not chain, two activations in a row, a softmax over another dim.
        """
        return export.network_from_torch(cls, module, loss=loss)

    def to_torch(self):
        """The network as a ``torch.nn.Sequential`` of ``Linear`` and activation modules.

        Returns
        -------
        torch.nn.Sequential
            Parameters copied, in the network's dtype; ``module(torch.from_numpy(X))``
            equals ``predict(X.T).T`` for X of shape (batch, n_0).
        """
        return export.network_to_torch(self)


def load(path):
    """Read a network written by :meth:`Network.save`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Network
        Its parameters are bitwise those saved, so it predicts bitwise the same. From a
        checkpoint (``save(path, optimizer=...)``): ``net.optimizer`` is that optimizer
        with its state and step count, bound to the network, and ``net.epoch`` the epoch
        saved; otherwise both are None.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not a valid fastnn model: not an ``.npz`` archive, truncated,
        another format version, holding pickled objects, or tampered with (missing or
        extra arrays, wrong shapes or dtypes, NaN weights, an inconsistent header).
        The message says which.

    Examples
    --------
    >>> import os, tempfile
    >>> import fastnn
    >>> net = fastnn.Network([2, 8, 1], seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "xor.npz")
    >>> net.save(path)
    >>> fastnn.load(path).sizes
    [2, 8, 1]
    """
    return io.read(path, Network.from_params)
