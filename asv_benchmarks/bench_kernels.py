"""The kernels one by one, on each workload's biggest layer: fused forward, backward
(accumulating), optimizer update. Compilation is warmed up in ``setup``."""

import numpy as np

from .common import DTYPES, NAMES, SEED, WORKLOADS


def _biggest_layer(name):
    sizes, m = WORKLOADS[name]
    n_in, n_out = max(zip(sizes[:-1], sizes[1:]), key=lambda pair: pair[0] * pair[1])
    return n_in, n_out, m


class DenseKernels:
    params = (NAMES, DTYPES)
    param_names = ["workload", "dtype"]

    def setup(self, name, dtype):
        from fastnn.kernels.activations import SIGMOID
        from fastnn.kernels.dense import dense_backward, dense_forward

        n_in, n_out, m = _biggest_layer(name)
        rng = np.random.default_rng(SEED)
        self.W = (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(dtype)
        self.b = rng.standard_normal((n_out, 1)).astype(dtype)
        self.A_prev = rng.random((n_in, m)).astype(dtype)
        self.Z = np.empty((n_out, m), dtype=dtype)
        self.A = np.empty((n_out, m), dtype=dtype)
        self.dZ = rng.standard_normal((n_out, m)).astype(dtype)
        self.dW = np.zeros((n_out, n_in), dtype=dtype)
        self.db = np.zeros((n_out, 1), dtype=dtype)
        self.dA_prev = np.empty((n_in, m), dtype=dtype)
        self.scratch = np.empty(n_out * n_in, dtype=dtype)
        self.act = SIGMOID
        self.forward = dense_forward
        self.backward = dense_backward
        self.time_forward()
        self.time_backward()
        self.time_backward_accumulate()

    def time_forward(self, *params):
        """Z = W A_prev + b, A = sigmoid(Z), Z kept (the output layer's case)."""
        self.forward(self.W, self.b, self.A_prev, self.Z, self.A, self.act)

    def time_forward_inplace(self, *params):
        """The hidden layers' case: Z is A."""
        self.forward(self.W, self.b, self.A_prev, self.A, self.A, self.act)

    def time_backward(self, *params):
        """dW = dZ A_prev^T, db = sum dZ, dA_prev = W^T dZ (fresh gradients)."""
        self.backward(self.W, self.A_prev, self.dZ, self.dW, self.db, self.dA_prev, self.scratch,
                      False, True)

    def time_backward_accumulate(self, *params):
        """The same, adding into dW and db."""
        self.backward(self.W, self.A_prev, self.dZ, self.dW, self.db, self.dA_prev, self.scratch,
                      True, True)


class ActivationKernels:
    params = (NAMES, DTYPES)
    param_names = ["workload", "dtype"]

    def setup(self, name, dtype):
        from fastnn.kernels.activations import SIGMOID, activation_backward, bias_activation

        _, n_out, m = _biggest_layer(name)
        rng = np.random.default_rng(SEED)
        self.A = (rng.standard_normal((n_out, m)) * 4).astype(dtype)
        self.b = rng.standard_normal((n_out, 1)).astype(dtype)
        self.dZ = rng.standard_normal((n_out, m)).astype(dtype)
        self.act = SIGMOID
        self.bias_activation = bias_activation
        self.activation_backward = activation_backward
        self.time_bias_sigmoid()
        self.time_sigmoid_backward()

    def time_bias_sigmoid(self, *params):
        self.bias_activation(self.A, self.b, self.A, self.act)

    def time_sigmoid_backward(self, *params):
        self.activation_backward(self.A, self.dZ, self.act)


class OptimizerKernels:
    params = (NAMES, DTYPES)
    param_names = ["workload", "dtype"]

    def setup(self, name, dtype):
        from fastnn.kernels.optimizers import sgd_update

        sizes, _ = WORKLOADS[name]
        p = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
        rng = np.random.default_rng(SEED)
        self.params_ = rng.standard_normal(p).astype(dtype)
        self.grads = rng.standard_normal(p).astype(dtype) * 1e-3
        self.sgd_update = sgd_update
        self.time_sgd_update()

    def time_sgd_update(self, *params):
        self.sgd_update(self.params_, self.grads, 1e-3)
