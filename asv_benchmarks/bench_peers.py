"""The peers on the same workloads as :class:`asv_benchmarks.bench_training.TrainStep`:
a careful NumPy implementation, PyTorch on the CPU (skipped when not installed),
scikit-learn's MLPClassifier, and the step's matrix products alone."""

from .common import DTYPES, NAMES, GemmOnly, NumpyStep, SklearnStep, TorchStep, torch_available


class NumpyPeer:
    params = (NAMES, DTYPES)
    param_names = ["workload", "dtype"]

    def setup(self, name, dtype):
        self.impl = NumpyStep(name, dtype)

    def time_train_step(self, name, dtype):
        self.impl.step()


class TorchPeer:
    params = (NAMES, DTYPES)
    param_names = ["workload", "dtype"]

    def setup(self, name, dtype):
        if not torch_available():
            raise NotImplementedError("torch is not installed")
        self.impl = TorchStep(name, dtype)

    def time_train_step(self, name, dtype):
        self.impl.step()


class SklearnPeer:
    params = (NAMES, DTYPES)
    param_names = ["workload", "dtype"]

    def setup(self, name, dtype):
        try:
            self.impl = SklearnStep(name, dtype)
        except ImportError as err:
            raise NotImplementedError("scikit-learn is not installed") from err

    def time_partial_fit_step(self, name, dtype):
        self.impl.step()


class GemmOnlyReference:
    params = (NAMES, DTYPES)
    param_names = ["workload", "dtype"]

    def setup(self, name, dtype):
        self.impl = GemmOnly(name, dtype)

    def time_matrix_products(self, name, dtype):
        self.impl.step()
