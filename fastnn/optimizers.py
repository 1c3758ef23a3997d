"""Optimizers: hyperparameters and state for the in-place update kernels.

An optimizer is created without a network, like ``fastnn.SGD(lr=0.1)``, and binds to
the first network it updates (:meth:`Optimizer.step` or :func:`fastnn.fit`): its state
(momentum buffer, Adam moments) is then allocated once, flat, in the network's dtype.
Using it on another network starts fresh state for that one.
"""

import numbers
import weakref

import numpy as np

from ._validation import check_choice, check_positive_float
from .errors import update_refused
from .kernels import optimizers as kopt
from .kernels.bundles import NetBuffers, OptBuffers


def _check_fraction(value, name):
    """Return ``value`` as a float in [0, 1), else raise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1); got {value!r} ({type(value).__name__})")
    value = float(value)
    if not (0.0 <= value < 1.0):
        raise ValueError(f"{name} must be in [0, 1); got {value}")
    return value


class Optimizer:
    """Base class: a kernel code, a float64 hyperparameter array and flat state.

    Attributes
    ----------
    lr : float
        Learning rate (may be changed between steps, e.g. by a callback).
    steps : int
        Updates done since the state was (re)allocated.
    """

    code = None
    state_per_param = 0

    def __init__(self, lr):
        self._hyper = np.zeros(kopt.N_HYPER, dtype=np.float64)
        self.lr = lr
        self._net = None
        self._state = None
        self._steps = 0
        self._backup = None  # params + state before a step(net), to undo an overflow

    @property
    def lr(self):
        return float(self._hyper[kopt.LR])

    @lr.setter
    def lr(self, value):
        self._hyper[kopt.LR] = check_positive_float(value, "lr")

    @property
    def steps(self):
        """Updates done since the state was (re)allocated (Adam's ``t``)."""
        return self._steps

    @steps.setter
    def steps(self, value):
        self._steps = int(value)

    @property
    def state(self):
        """The flat state (momentum buffer, or Adam's two moments one after the other), or
        None before the first use; updated in place by the kernels."""
        return self._state

    def bind(self, net):
        """Allocate zero state for ``net`` unless this optimizer is already bound to it."""
        if self._net is not None and self._net() is net and self._state.dtype == net.dtype \
                and self._state.size == self.state_per_param * net.n_params:
            return
        self._net = weakref.ref(net)
        self._state = np.zeros(self.state_per_param * net.n_params, dtype=net.dtype)
        self._steps = 0

    def is_bound_to(self, net):
        """Whether this optimizer holds state for ``net`` (it updated it, or was restored
        for it by :func:`fastnn.load`)."""
        return (self._net is not None and self._net() is net and self._state is not None
                and self._state.dtype == net.dtype and self._state.size == self.state_per_param * net.n_params)

    def restore(self, net, state, steps):
        """Bind to ``net`` with the given state and step count (a checkpoint's).

        Parameters
        ----------
        net : Network
        state : ndarray of shape (state_per_param * net.n_params,), net's dtype
            Copied.
        steps : int >= 0
        """
        state = np.asarray(state)
        size = self.state_per_param * net.n_params
        if state.shape != (size,) or state.dtype != net.dtype:
            raise ValueError(f"state must have shape ({size},) and dtype {net.dtype.name} for this "
                             f"{type(self).__name__} and network; got {state.shape} {state.dtype}")
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer; got {steps!r}")
        self._net = weakref.ref(net)
        self._state = np.array(state, copy=True)
        self._steps = int(steps)

    def kernel_buffers(self, net):
        """:class:`~fastnn.kernels.bundles.OptBuffers` for updating ``net`` (bound first)."""
        self.bind(net)
        return OptBuffers(self.code, self._hyper, self._state)

    def reset(self):
        """Forget the state (momentum, moments, step count); rebinds on the next use."""
        self._net = None
        self._state = None
        self._steps = 0

    def __getstate__(self):
        # The weak reference cannot be pickled: the network itself is (pickled once when
        # the optimizer travels with it, e.g. inside an estimator), and bound again below.
        state = self.__dict__.copy()
        state["_net"] = self._net() if self._net is not None else None
        state["_backup"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self._net is not None:
            self._net = weakref.ref(self._net)

    def step(self, net):
        """Update ``net``'s parameters in place from its accumulated gradients.

        Like ``torch.optim`` optimizers: call after ``net.backward(Y)``; gradients are
        kept (call ``net.zero_grad()`` before the next accumulation).

        Parameters
        ----------
        net : Network
        """
        buffers = getattr(net, "kernel_buffers", None)
        if not isinstance(buffers, NetBuffers):
            raise TypeError(f"net must be a fastnn.Network; got {type(net).__name__}")
        code, hyper, state = self.kernel_buffers(net)
        params = buffers.params
        p = params.size
        if self._backup is None or self._backup.size != p + state.size or self._backup.dtype != net.dtype:
            self._backup = np.empty(p + state.size, dtype=net.dtype)
        self._backup[:p] = params
        self._backup[p:] = state
        total = kopt.optimizer_update(params, buffers.grads, code, hyper, state, self._steps + 1, 1.0)
        net.buffers_changed()
        if not np.isfinite(total):
            params[...] = self._backup[:p]
            state[...] = self._backup[p:]
            raise update_refused(net.dtype, self.lr, what="the network and the optimizer keep their state")
        self._steps += 1

    def get_config(self):
        """The hyperparameters as a dict (``{"name": ..., "lr": ..., ...}``)."""
        raise NotImplementedError

    def __repr__(self):
        config = self.get_config()
        name = config.pop("name")
        args = ", ".join(f"{key}={value!r}" for key, value in config.items())
        return f"{name}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and weight decay.

    Parameters
    ----------
    lr : float
        Learning rate, > 0.
    momentum : float, default 0.0
        In [0, 1).
    nesterov : bool, default False
        Nesterov momentum (needs ``momentum > 0``).
    weight_decay : float, default 0.0
        L2 penalty coefficient, >= 0, added to the gradient.

    Notes
    -----
    The update of ``torch.optim.SGD`` (``dampening=0``), per parameter, with
    ``g = grad + weight_decay * theta`` and the buffer ``v`` starting at zero::

        v <- momentum * v + g
        d <- g + momentum * v   if nesterov   else   v
        theta <- theta - lr * d

    With ``momentum=0`` this is plain gradient descent ``theta -= lr * g``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastnn
    >>> X = np.array([[0, 0, 1, 1], [0, 1, 0, 1]], dtype=np.float32)
    >>> Y = np.array([[0, 1, 1, 0]], dtype=np.float32)
    >>> net = fastnn.Network([2, 8, 1], seed=0)
    >>> opt = fastnn.SGD(lr=0.5, momentum=0.9)
    >>> net.zero_grad(); _ = net.forward(X); net.backward(Y)
    >>> opt.step(net)
    >>> opt.steps
    1
    """

    code = kopt.SGD
    state_per_param = 1

    def __init__(self, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(lr)
        self.momentum = _check_fraction(momentum, "momentum")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False; got {nesterov!r}")
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0 (as in torch.optim.SGD)")
        self.nesterov = bool(nesterov)
        self.weight_decay = check_positive_float(weight_decay, "weight_decay", allow_zero=True)
        self._hyper[kopt.SGD_MOMENTUM] = self.momentum
        self._hyper[kopt.SGD_WEIGHT_DECAY] = self.weight_decay
        self._hyper[kopt.SGD_NESTEROV] = 1.0 if self.nesterov else 0.0

    def get_config(self):
        return {"name": "SGD", "lr": self.lr, "momentum": self.momentum,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with optional L2 weight decay.

    Parameters
    ----------
    lr : float, default 0.001
        Learning rate, > 0.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moment estimates, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.
    weight_decay : float, default 0.0
        L2 penalty coefficient, >= 0, added to the gradient (as ``torch.optim.Adam``;
        not the decoupled AdamW).

    Notes
    -----
    The update of ``torch.optim.Adam`` (``amsgrad=False``), per parameter, at step
    ``t = 1, 2, ...`` with ``g = grad + weight_decay * theta`` and ``m = v = 0`` at first::

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        theta <- theta - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    Examples
    --------
    >>> import fastnn
    >>> fastnn.Adam(lr=0.01)
    Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0)
    """

    code = kopt.ADAM
    state_per_param = 2

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(lr)
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError) as err:
            raise TypeError(f"betas must be a pair (beta1, beta2); got {betas!r}") from err
        self.betas = (_check_fraction(beta1, "betas[0]"), _check_fraction(beta2, "betas[1]"))
        self.eps = check_positive_float(eps, "eps")
        self.weight_decay = check_positive_float(weight_decay, "weight_decay", allow_zero=True)
        self._hyper[kopt.ADAM_BETA1] = self.betas[0]
        self._hyper[kopt.ADAM_BETA2] = self.betas[1]
        self._hyper[kopt.ADAM_EPS] = self.eps
        self._hyper[kopt.ADAM_WEIGHT_DECAY] = self.weight_decay

    def get_config(self):
        return {"name": "Adam", "lr": self.lr, "betas": self.betas, "eps": self.eps,
                "weight_decay": self.weight_decay}


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
"""Optimizer names accepted by :func:`get_optimizer`."""

DEFAULT_LR = {"sgd": 0.1, "adam": 0.001}


def from_config(config):
    """A new optimizer from :meth:`Optimizer.get_config`'s dict (``{"name": "SGD", ...}``)."""
    settings = dict(config)
    name = settings.pop("name", None)
    classes = {"SGD": SGD, "Adam": Adam}
    if name not in classes:
        raise ValueError(f"optimizer name must be one of {sorted(classes)}; got {name!r}")
    if name == "Adam" and "betas" in settings:
        settings["betas"] = tuple(settings["betas"])
    return classes[name](**settings)


def get_optimizer(optimizer, lr=None):
    """An :class:`Optimizer` from an instance (returned as is) or a name.

    Parameters
    ----------
    optimizer : Optimizer or {"sgd", "adam"}
        A name builds one with default hyperparameters (SGD: lr 0.1; Adam: lr 0.001).
    lr : float, optional
        Learning rate for a named optimizer.
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        name = check_choice(optimizer, "optimizer", {key: key for key in OPTIMIZERS})
        return OPTIMIZERS[name](lr=DEFAULT_LR[name] if lr is None else lr)
    raise TypeError(
        f"optimizer must be a fastnn.SGD or fastnn.Adam instance or one of {sorted(OPTIMIZERS)}; "
        f"got {type(optimizer).__name__}"
    )
