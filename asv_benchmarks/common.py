"""Seeded data, the standard workloads, and the peers, shared by every benchmark and by
``python -m asv_benchmarks.compare``.

A workload is one training step of an all-sigmoid MLP with binary cross-entropy (summed
over the outputs, averaged over the batch) and plain SGD: forward + backward + update on
one mini-batch, in steady state. Every implementation below runs the SAME step on the
SAME data (seeded), so their times can be divided:

- :class:`FastnnStep`: ``fastnn.Network.train_step`` (the public API, input checks
  included) and the kernel call it makes (what an epoch loop pays per step);
- :class:`FastnnFit`: ``fastnn.Network.fit``, the training loop users call (one
  compiled call per epoch: shuffle, gather, forward, backward, update), timed per step;
- :class:`NumpyStep`: a careful NumPy implementation of the README's formulas ("Math
  and notation"): preallocated buffers, ``out=`` everywhere, no temporaries in the step;
- :class:`TorchStep`: PyTorch on the CPU (``nn.Sequential``, ``BCEWithLogitsLoss``,
  ``optim.SGD``), as its users write it;
- :class:`SklearnStep`: scikit-learn's ``MLPClassifier(activation='logistic',
  solver='sgd')``, one ``partial_fit`` per step;
- :class:`GemmOnly`: only the step's matrix products, with NumPy on preallocated
  buffers: the floor that everything around the products is measured against.
"""

import os
import sys

import numpy as np

try:
    import fastnn  # noqa: F401
except ImportError:  # a source checkout that is not installed: benchmark the checkout
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import fastnn  # noqa: F401

WORKLOADS = {
    "tiny": ((2, 8, 1), 4),
    "small": ((64, 32, 10), 32),
    "medium": ((784, 256, 128, 10), 128),
    "large": ((1024, 1024, 1024, 10), 512),
}
"""name -> (layer sizes n_0..n_L, batch size m)."""

NAMES = [name for name in os.environ.get("FASTNN_ASV_WORKLOADS", ",".join(WORKLOADS)).split(",") if name]
"""Workloads the asv suite is parameterized over: all of them, or the comma-separated
names in ``FASTNN_ASV_WORKLOADS`` (the CI smoke run uses ``tiny,small``)."""
for _name in NAMES:
    if _name not in WORKLOADS:
        raise ValueError(f"FASTNN_ASV_WORKLOADS names unknown workload {_name!r}; known: {list(WORKLOADS)}")
DTYPES = ["float32", "float64"]
SMOKE = os.environ.get("FASTNN_ASV_SMOKE") == "1"
"""CI's smoke run (``.ci/run`` sets ``FASTNN_ASV_SMOKE=1``): benchmarks whose every run
compiles the kernels from nothing run the fewest cases that still exercise all their code."""
LR = 0.1
SEED = 0


def make_batch(name, dtype, seed=SEED):
    """Seeded batch of a workload: ``X`` (n_0, m) standard normal, ``Y`` (n_L, m) 0/1.

    Returns C-contiguous arrays, feature-major (one sample per column).
    """
    sizes, m = WORKLOADS[name]
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((sizes[0], m)).astype(dtype)
    Y = (rng.random((sizes[-1], m)) < 0.5).astype(dtype)
    return X, Y


def init_params(sizes, dtype, seed=SEED):
    """Seeded weights ``W[l]`` (n_l, n_{l-1}) ~ N(0, 1/n_{l-1}) and zero biases, shared by
    the peers so that every implementation starts from the same point."""
    rng = np.random.default_rng(seed)
    Ws = [(rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(dtype)
          for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros((n_out, 1), dtype=dtype) for n_out in sizes[1:]]
    return Ws, bs


class FastnnStep:
    """fastnn on a workload. ``step()`` is ``Network.train_step``; ``kernel_step()`` is the
    compiled step alone (input checks skipped), what a compiled epoch loop pays."""

    label = "fastnn"

    def __init__(self, name, dtype):
        import fastnn
        from fastnn.kernels import network as knet

        sizes, m = WORKLOADS[name]
        self.X, self.Y = make_batch(name, dtype)
        self.net = fastnn.Network(list(sizes), dtype=dtype, seed=SEED)
        Ws, bs = init_params(sizes, dtype)
        for layer, W, b in zip(self.net.layers, Ws, bs):
            layer.W[...] = W
            layer.b[...] = b
        self.net.train_step(self.X, self.Y, LR)  # compile (or load the cache) + workspace
        self._args = self.net.kernel_step_args(self.X, self.Y, LR)
        self._kernel = knet.checked_train_step  # what Network.train_step calls
        self._work = self.net.product_size(m)
        from fastnn import threads

        self._threads = threads

    def step(self):
        self.net.train_step(self.X, self.Y, LR)

    def kernel_step(self):
        threads = self._threads
        if self._work < threads.THREADED_WORK:
            self._kernel(*self._args)
        else:
            with threads.training_threads(self._work):
                self._kernel(*self._args)

    def loss(self):
        return self.net.loss(self.X, self.Y)


FIT_STEPS = {"tiny": 128, "small": 128, "medium": 64, "large": 16}
"""Steps per ``fit`` call in :class:`FastnnFit`: enough that the per-call set-up (input
checks, work buffers, the epoch backup) is amortized as in a real fit of many epochs
(with 16 medium steps and 4 large ones it added 8-15% per step, measured)."""


class FastnnFit:
    """``Network.fit`` on a workload: ``fit()`` runs :data:`FIT_STEPS` mini-batch steps
    (epochs of 8 batches of the workload's batch size, shuffled, verbose=0, plain SGD
    at the same learning rate) in one call; divide its time by ``steps``."""

    label = "fastnn-fit"
    n_batches = 8

    def __init__(self, name, dtype):
        import fastnn

        sizes, m = WORKLOADS[name]
        self.steps = FIT_STEPS[name]
        n = min(self.n_batches, self.steps)
        self.epochs = self.steps // n
        rng = np.random.default_rng(SEED)
        # Sample-major data passed as rows.T (how scikit-learn-style data arrives; fit
        # reads it without a copy). C-ordered feature-major data (one sample per column)
        # costs fit one transposed copy per call, which a real fit amortizes over all its
        # epochs.
        self.X = np.ascontiguousarray(rng.standard_normal((sizes[0], m * n)).astype(dtype).T).T
        self.Y = np.ascontiguousarray((rng.random((sizes[-1], m * n)) < 0.5).astype(dtype).T).T
        self.m = m
        self.net = fastnn.Network(list(sizes), dtype=dtype, seed=SEED)
        Ws, bs = init_params(sizes, dtype)
        for layer, W, b in zip(self.net.layers, Ws, bs):
            layer.W[...] = W
            layer.b[...] = b
        self.optimizer = fastnn.SGD(LR)
        self.fit()  # compile (or load the cache)

    def fit(self):
        self.net.fit(self.X, self.Y, epochs=self.epochs, batch_size=self.m,
                     optimizer=self.optimizer, verbose=0)


class NumpyStep:
    """The README's formulas in careful NumPy: preallocated buffers, ``out=`` everywhere.

    Forward ``Z = W A + b``, ``A = 1 / (1 + exp(-Z))``; backward ``dZ[L] = (A[L] - Y) / m``,
    ``dW = dZ A_prev^T``, ``db = sum_columns dZ``, ``dZ_prev = (W^T dZ) * A_prev (1 - A_prev)``;
    update ``W -= lr dW``, ``b -= lr db``.
    """

    label = "numpy"

    def __init__(self, name, dtype):
        sizes, m = WORKLOADS[name]
        self.X, self.Y = make_batch(name, dtype)
        self.W, self.b = init_params(sizes, dtype)
        self.A = [np.empty((n, m), dtype=dtype) for n in sizes[1:]]
        self.dZ = [np.empty((n, m), dtype=dtype) for n in sizes[1:]]
        self.tmp = [np.empty((n, m), dtype=dtype) for n in sizes[1:]]
        self.dW = [np.empty_like(W) for W in self.W]
        self.db = [np.empty_like(b) for b in self.b]
        self.inv_m = np.dtype(dtype).type(1.0 / m)
        self.lr = np.dtype(dtype).type(LR)
        self.one = np.dtype(dtype).type(1.0)
        self.step()

    def step(self):
        W, b, A, dZ, tmp, dW, db = self.W, self.b, self.A, self.dZ, self.tmp, self.dW, self.db
        L = len(W)
        with np.errstate(over="ignore"):  # exp(-z) -> inf for z < -88 (float32): sigmoid 0
            A_prev = self.X
            for l in range(L):
                a = A[l]
                np.matmul(W[l], A_prev, out=a)
                a += b[l]
                np.negative(a, out=a)
                np.exp(a, out=a)
                a += self.one
                np.reciprocal(a, out=a)
                A_prev = a
        np.subtract(A[-1], self.Y, out=dZ[-1])
        dZ[-1] *= self.inv_m
        for l in range(L - 1, -1, -1):
            A_prev = A[l - 1] if l > 0 else self.X
            np.matmul(dZ[l], A_prev.T, out=dW[l])
            np.sum(dZ[l], axis=1, keepdims=True, out=db[l])
            if l > 0:
                np.matmul(W[l].T, dZ[l], out=dZ[l - 1])
                t = tmp[l - 1]
                np.subtract(self.one, A_prev, out=t)
                t *= A_prev
                dZ[l - 1] *= t
        for l in range(L):
            dW[l] *= self.lr
            W[l] -= dW[l]
            db[l] *= self.lr
            b[l] -= db[l]


class GemmOnly:
    """Only the matrix products of one step (forward, dW, dA_prev but the first layer's),
    NumPy on preallocated buffers."""

    label = "gemm-only"

    def __init__(self, name, dtype):
        sizes, m = WORKLOADS[name]
        self.X, _ = make_batch(name, dtype)
        self.W, _ = init_params(sizes, dtype)
        rng = np.random.default_rng(SEED + 1)
        self.A = [rng.random((n, m)).astype(dtype) for n in sizes[1:]]
        self.dZ = [np.empty((n, m), dtype=dtype) for n in sizes[1:]]
        self.dW = [np.empty_like(W) for W in self.W]
        self.step()

    def step(self):
        W, A, dZ, dW = self.W, self.A, self.dZ, self.dW
        L = len(W)
        A_prev = self.X
        for l in range(L):
            np.matmul(W[l], A_prev, out=A[l])
            A_prev = A[l]
        for l in range(L - 1, -1, -1):
            np.matmul(A[l], (A[l - 1] if l > 0 else self.X).T, out=dW[l])
            if l > 0:
                np.matmul(W[l].T, A[l], out=dZ[l - 1])


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


class TorchStep:
    """PyTorch on the CPU, as its users write a training step (sample-major tensors)."""

    label = "torch"

    def __init__(self, name, dtype):
        import torch

        sizes, m = WORKLOADS[name]
        X, Y = make_batch(name, dtype)
        Ws, _ = init_params(sizes, dtype)
        tdtype = {"float32": torch.float32, "float64": torch.float64}[np.dtype(dtype).name]
        layers = []
        for l, W in enumerate(Ws):
            lin = torch.nn.Linear(W.shape[1], W.shape[0], dtype=tdtype)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.zero_()
            layers.append(lin)
            if l < len(Ws) - 1:
                layers.append(torch.nn.Sigmoid())
        self.model = torch.nn.Sequential(*layers)
        self.X = torch.from_numpy(np.ascontiguousarray(X.T))
        self.Y = torch.from_numpy(np.ascontiguousarray(Y.T))
        self.m = m
        # sigmoid output + BCE summed over outputs, mean over samples (fused, stable)
        self.loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.step()

    def step(self):
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(self.X), self.Y) / self.m
        loss.backward()
        self.opt.step()


class SklearnStep:
    """scikit-learn's MLPClassifier (logistic hidden units, plain SGD, no L2), one
    ``partial_fit`` per step. Binary for one output, multilabel (sigmoid outputs, log
    loss summed over them) for several: the same loss as the others."""

    label = "sklearn"

    def __init__(self, name, dtype):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        sizes, m = WORKLOADS[name]
        X, Y = make_batch(name, dtype)
        self.X = np.ascontiguousarray(X.T)
        self.Y = Y[0].astype(np.int64) if sizes[-1] == 1 else np.ascontiguousarray(Y.T).astype(np.int64)
        if sizes[-1] > 1:
            self.Y[0] = 1  # every label seen with both values in the first call
            self.Y[1] = 0
        self.clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="logistic",
                                 solver="sgd", learning_rate_init=LR, momentum=0.0,
                                 nesterovs_momentum=False, alpha=0.0, batch_size=m,
                                 shuffle=False, random_state=SEED)
        self.classes = np.array([0, 1]) if sizes[-1] == 1 else np.arange(sizes[-1])
        self.clf.partial_fit(self.X, self.Y, classes=self.classes)
        self.step()

    def step(self):
        self.clf.partial_fit(self.X, self.Y)


PEERS = {"numpy": NumpyStep, "torch": TorchStep, "sklearn": SklearnStep}
