"""Layers: parameter holders that the :class:`~fastnn.Network` wires to its kernels."""

import numbers

import numpy as np

from ._validation import check_choice, check_dtype, check_positive_int, check_seed
from .kernels.activations import CODES as ACTIVATION_CODES

ACTIVATIONS = {name: name for name in ACTIVATION_CODES}
ACTIVATIONS["logistic"] = "sigmoid"
ACTIVATIONS["linear"] = "identity"


def check_activation(activation, name="activation"):
    """Return the canonical activation name for ``activation`` (aliases accepted)."""
    return check_choice(activation, name, ACTIVATIONS)


def check_dropout(rate, name="dropout"):
    """Return ``rate`` as a float in [0, 1), else raise."""
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real):
        raise TypeError(f"{name} must be a rate in [0, 1), e.g. 0.2; got {rate!r} ({type(rate).__name__})")
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} must be a rate in [0, 1) (the fraction of units zeroed while "
                         f"training), e.g. 0.2; got {rate}")
    return rate


def init_bound(n_in, n_out, activation):
    """Half-width of the uniform initialization of ``W``.

    Glorot/Xavier, ``sqrt(6 / (n_in + n_out))``, for sigmoid, tanh, identity and
    softmax; He, ``sqrt(6 / n_in)``, for relu.
    """
    if activation == "relu":
        return np.sqrt(6.0 / n_in)
    return np.sqrt(6.0 / (n_in + n_out))


class Dense:
    """A fully-connected layer: ``A = g(W @ A_prev + b)``.

    Parameters
    ----------
    n_in : int
        Inputs per sample, ``n_{l-1}``.
    n_out : int
        Units, ``n_l``.
    activation : {"sigmoid", "tanh", "relu", "identity", "softmax"}, default "sigmoid"
        ``g``. "logistic" and "linear" are accepted aliases.
    dtype : float32 or float64, default float32
    seed : int, numpy Generator or None
        Seeds the initialization; the same seed gives bitwise the same weights.
        None draws fresh entropy.
    dropout : float in [0, 1), default 0.0
        Inverted dropout of this layer's outputs while :meth:`Network.fit` trains: each
        is zeroed with this probability and the others scaled by ``1 / (1 - dropout)``;
        ``predict`` and ``evaluate`` use every unit. Not on the output layer, nor on a
        softmax layer.

    Attributes
    ----------
    W : ndarray of shape (n_out, n_in)
        Weights, Glorot-uniform (He-uniform for relu), drawn in float64 then rounded.
    b : ndarray of shape (n_out, 1)
        Biases, zeros.
    dW : ndarray of shape (n_out, n_in)
        Accumulated gradient of the loss with respect to ``W``.
    db : ndarray of shape (n_out, 1)
        Accumulated gradient with respect to ``b``.
    network : Network or None
        The network this layer belongs to. Once it is part of one, ``W``, ``b``, ``dW``
        and ``db`` are views into the network's flat parameter and gradient buffers.

    Examples
    --------
    >>> import numpy as np
    >>> import fastnn
    >>> layer = fastnn.Dense(3, 2, activation="tanh", seed=0)
    >>> layer.W.shape, layer.b.shape, layer.W.dtype
    ((2, 3), (2, 1), dtype('float32'))
    """

    def __init__(self, n_in, n_out, activation="sigmoid", dtype=np.float32, seed=None, dropout=0.0):
        self.n_in = check_positive_int(n_in, "n_in")
        self.n_out = check_positive_int(n_out, "n_out")
        self.activation = check_activation(activation)
        self.dropout = check_dropout(dropout)
        self.dtype = check_dtype(dtype)
        rng = check_seed(seed)
        bound = init_bound(self.n_in, self.n_out, self.activation)
        try:
            self.W = rng.uniform(-bound, bound, size=(self.n_out, self.n_in)).astype(self.dtype, copy=False)
        except (MemoryError, ValueError) as err:  # NumPy: "Unable to allocate", "Maximum allowed dimension"
            raise ValueError(
                f"a layer with n_in={self.n_in} and n_out={self.n_out} needs {self.n_in * self.n_out:.3g} "
                f"weights, which cannot be allocated ({type(err).__name__}: {err})"
            ) from None
        self.b = np.zeros((self.n_out, 1), dtype=self.dtype)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self.network = None

    @classmethod
    def empty(cls, n_in, n_out, activation, dtype, dropout=0.0):
        """A layer without parameters of its own, for a Network that binds it to flat
        parameters it already has (:meth:`Network.from_params`): nothing is drawn."""
        layer = cls.__new__(cls)
        layer.n_in = check_positive_int(n_in, "n_in")
        layer.n_out = check_positive_int(n_out, "n_out")
        layer.activation = check_activation(activation)
        layer.dropout = check_dropout(dropout)
        layer.dtype = check_dtype(dtype)
        layer.W = layer.b = layer.dW = layer.db = layer.network = None
        return layer

    def attach(self, network, W, b, dW, db):
        """Make ``W``, ``b``, ``dW``, ``db`` the given views of ``network``'s flat buffers."""
        self.network = network
        self.dtype = W.dtype
        self.W, self.b, self.dW, self.db = W, b, dW, db

    @property
    def n_params(self):
        """Number of trainable parameters, ``n_out * n_in + n_out``."""
        return self.n_out * self.n_in + self.n_out

    def __repr__(self):
        dropout = f", dropout={self.dropout}" if self.dropout else ""
        return (
            f"Dense(n_in={self.n_in}, n_out={self.n_out}, "
            f"activation={self.activation!r}, dtype={self.dtype.name}{dropout})"
        )
