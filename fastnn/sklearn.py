"""scikit-learn compatible estimators: :class:`FastMLPClassifier`, :class:`FastMLPRegressor`.

They take scikit-learn's row layout ``X`` of shape (n_samples, n_features), convert it
once to the network's dtype, and train a :class:`~fastnn.Network` with fastnn's kernels
and optimizers (:class:`~fastnn.SGD`, :class:`~fastnn.Adam`): each epoch is one compiled
call of :class:`fastnn.engine.EpochEngine` (gather, forward, backward, the L2
penalty and the update of every mini-batch); between epochs Python only tracks convergence
and asks the learning-rate schedule (:mod:`fastnn.schedules`). Parameters, fitted
attributes and convergence rules follow :class:`sklearn.neural_network.MLPClassifier` /
``MLPRegressor`` where the meaning is the same; the differences are listed in the class
docstrings.

This module imports scikit-learn (an optional dependency); ``import fastnn`` does not.
"""

import numbers
import warnings

import numpy as np
import scipy.optimize
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data

from . import export
from . import threads as _threads
from ._validation import check_dtype, check_positive_float, check_positive_int
from .engine import EpochEngine
from .kernels.bundles import Penalty
from .network import Network
from .objective import FullBatchObjective
from .optimizers import SGD, Adam
from .schedules import Adaptive, InvScaling, Schedule
from .sparse import is_sparse, sparse_rows

HIDDEN_ACTIVATIONS = {"identity": "identity", "linear": "identity", "logistic": "sigmoid",
                      "sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu"}
"""Accepted ``activation`` values -> fastnn's activation name."""

SOLVERS = ("lbfgs", "sgd", "adam")
INIT_BLOCK = 1 << 17
"""Values per block of the initial weights' draw (float64: 1 MB)."""
NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain large values "
              "and need to be preprocessed.")
"""scikit-learn's message on divergence, which its users match on; fastnn adds where and why."""
STOCHASTIC_SOLVERS = ("sgd", "adam")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
SPARSE_FORMATS = ("csr", "csc")
"""Sparse formats taken as they are (others are converted to CSR by ``validate_data``)."""
REGRESSION_LOSSES = {"squared_error": "mse", "poisson": "poisson"}
"""FastMLPRegressor's ``loss`` -> fastnn's loss."""


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__})")
    return bool(value)


def _check_fraction(value, name, low_open=False):
    """A real number in [0, 1) ((0, 1) with ``low_open``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1); got {value!r} ({type(value).__name__})")
    value = float(value)
    if not (0.0 <= value < 1.0) or (low_open and value == 0.0):
        interval = "(0, 1)" if low_open else "[0, 1)"
        raise ValueError(f"{name} must be in {interval}; got {value}")
    return value


def _check_option(value, name, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {list(options)}; got {value!r}")
    return value


def _check_n_iter_no_change(value):
    """A positive integer, or ``np.inf`` (never stop on the tolerance), as scikit-learn."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"n_iter_no_change must be a positive integer or np.inf; got {value!r} "
                        f"({type(value).__name__})")
    if value == np.inf:
        return np.inf
    if not isinstance(value, numbers.Integral):
        raise TypeError(f"n_iter_no_change must be a positive integer or np.inf; got {value!r}")
    if value < 1:
        raise ValueError(f"n_iter_no_change must be a positive integer or np.inf; got {value}")
    return int(value)


def _check_hidden_layer_sizes(value):
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        value = [value]
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(
            f"hidden_layer_sizes must be a positive integer or a sequence of them, e.g. (100,) "
            f"or (64, 32); got {value!r}"
        )
    return [check_positive_int(size, f"hidden_layer_sizes[{i}]") for i, size in enumerate(value)]


class _BaseFastMLP(BaseEstimator):
    """Shared parameters, validation, fit loop and persistence of the two estimators."""

    # Set by the subclasses.
    _loss_name = None

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=None, threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.threads = threads

    # ----------------------------------------------------------------- parameters

    def _check_params(self):
        """Validate every parameter once, at fit time; return the resolved values."""
        batch_size = self.batch_size
        if not (isinstance(batch_size, str) and batch_size == "auto"):
            if isinstance(batch_size, str):
                raise ValueError(f"batch_size must be 'auto' or a positive integer; got {batch_size!r}")
            batch_size = check_positive_int(batch_size, "batch_size")
        verbose = self.verbose
        if isinstance(verbose, numbers.Real) and not isinstance(verbose, numbers.Integral):
            raise TypeError(f"verbose must be a bool or an integer; got {verbose!r}")
        if not isinstance(verbose, (numbers.Integral, np.bool_)):
            raise TypeError(f"verbose must be a bool or an integer; got {verbose!r}")
        if not (self.random_state is None or isinstance(self.random_state, (numbers.Integral,
                                                                            np.random.RandomState))):
            raise TypeError(f"random_state must be None, an int or a numpy RandomState; got "
                            f"{self.random_state!r}")
        params = {
            "hidden_layer_sizes": _check_hidden_layer_sizes(self.hidden_layer_sizes),
            "activation": HIDDEN_ACTIVATIONS[
                _check_option(self.activation, "activation", tuple(HIDDEN_ACTIVATIONS))],
            "solver": _check_option(self.solver, "solver", SOLVERS),
            "alpha": check_positive_float(self.alpha, "alpha", allow_zero=True),
            "batch_size": batch_size,
            "learning_rate": _check_option(self.learning_rate, "learning_rate", LEARNING_RATES),
            "learning_rate_init": check_positive_float(self.learning_rate_init, "learning_rate_init"),
            "power_t": check_positive_float(self.power_t, "power_t", allow_zero=True),
            "max_iter": check_positive_int(self.max_iter, "max_iter"),
            "shuffle": _check_bool(self.shuffle, "shuffle"),
            "tol": check_positive_float(self.tol, "tol", allow_zero=True),
            "verbose": bool(verbose),
            "warm_start": _check_bool(self.warm_start, "warm_start"),
            "momentum": _check_fraction(self.momentum, "momentum"),
            "nesterovs_momentum": _check_bool(self.nesterovs_momentum, "nesterovs_momentum"),
            "early_stopping": _check_bool(self.early_stopping, "early_stopping"),
            "validation_fraction": _check_fraction(self.validation_fraction, "validation_fraction",
                                                   low_open=self.early_stopping is True),
            "beta_1": _check_fraction(self.beta_1, "beta_1"),
            "beta_2": _check_fraction(self.beta_2, "beta_2"),
            "epsilon": check_positive_float(self.epsilon, "epsilon"),
            "n_iter_no_change": _check_n_iter_no_change(self.n_iter_no_change),
            "max_fun": check_positive_int(self.max_fun, "max_fun"),
            "dtype": None if self.dtype is None else check_dtype(self.dtype),
            "threads": _threads.check_threads(self.threads),
        }
        return params

    # ----------------------------------------------------------------- fitted state

    @property
    def coefs_(self):
        """list of ndarray of shape (n_in, n_out): the weights, scikit-learn's orientation.

        Views into the network's parameters (fastnn's ``W`` transposed): writing into them
        changes the model. Assigning a new list copies its values into the network.
        """
        net = self.__dict__.get("_net")
        if net is None:
            raise AttributeError("coefs_ is set by fit; this estimator is not fitted yet")
        return [layer.W.T for layer in net.layers]

    @coefs_.setter
    def coefs_(self, values):
        self._assign("coefs_", values, [layer.W.T for layer in self._fitted_net("coefs_").layers])

    @property
    def intercepts_(self):
        """list of ndarray of shape (n_out,): the biases, views into the network's parameters."""
        net = self.__dict__.get("_net")
        if net is None:
            raise AttributeError("intercepts_ is set by fit; this estimator is not fitted yet")
        return [layer.b[:, 0] for layer in net.layers]

    @intercepts_.setter
    def intercepts_(self, values):
        net = self._fitted_net("intercepts_")
        self._assign("intercepts_", values, [layer.b[:, 0] for layer in net.layers])

    def _fitted_net(self, name):
        """The network, or NotFittedError (a ValueError and an AttributeError) naming ``name``."""
        net = self.__dict__.get("_net")
        if net is None:
            raise NotFittedError(
                f"{name} can only be assigned to a fitted {type(self).__name__}: fastnn keeps the "
                f"weights in the network that fit builds. Call fit first (e.g. with max_iter=1 on "
                f"a few samples, which sets the layer sizes), then assign {name}"
            )
        return net

    def _assign(self, name, values, targets):
        values = list(values)
        if len(values) != len(targets):
            raise ValueError(f"{name} needs {len(targets)} arrays (one per layer); got {len(values)}")
        arrays = [np.asarray(value) for value in values]
        for i, (array, target) in enumerate(zip(arrays, targets)):
            if array.shape != target.shape:
                raise ValueError(f"{name}[{i}] must have shape {target.shape}; got {array.shape}")
        for array, target in zip(arrays, targets):
            target[...] = array

    # ----------------------------------------------------------------- fitting

    def fit(self, X, y, sample_weight=None):
        """Fit the model to ``X`` and ``y``: epochs of mini-batch updates until convergence.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training inputs, one sample per ROW (scikit-learn's layout).
        y : array_like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier; a 0/1 indicator matrix for multilabel) or
            real-valued targets (regressor).
        sample_weight : array_like of shape (n_samples,), optional
            Weight of each sample, as scikit-learn's MLP uses it: each batch's loss is the
            weighted average of its samples' losses, the L2 penalty divides by the batch's
            weight sum, and the early-stopping validation score is weighted.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def _check_solver(self):
        """True for a stochastic solver, else AttributeError: ``partial_fit`` exists only
        then (scikit-learn's ``available_if``)."""
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} "
                                 f"is not stochastic.")
        return True

    def _random_generator(self):
        """A numpy Generator seeded from ``random_state`` (int, None or RandomState)."""
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return np.random.default_rng(seed)

    def _fit(self, X, y, incremental, sample_weight=None):
        params = self._check_params()
        first_pass = "_net" not in self.__dict__ or (not params["warm_start"] and not incremental)
        if incremental and params["early_stopping"]:
            raise ValueError("partial_fit does not support early_stopping=True; set early_stopping=False")
        if params["dtype"] is not None:
            dtype = params["dtype"]
        elif first_pass:  # scikit-learn's rule: float32 stays float32, anything else -> float64
            dtype = (np.float64, np.float32)
        else:
            dtype = self._net.dtype
        X, Y = self._validate_input(X, y, dtype, incremental, reset=first_pass)
        params["dtype"] = X.dtype
        if sample_weight is not None:  # scikit-learn's checks and messages, in float64
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        sizes = [X.shape[1]] + params["hidden_layer_sizes"] + [Y.shape[1]]
        rng = self._random_generator()
        if first_pass:
            self._initialize(sizes, params, rng)
        else:
            net = self._net
            wanted = (sizes, params["activation"], params["dtype"])
            have = (net.sizes, net.layers[0].activation if len(net.layers) > 1 else params["activation"],
                    net.dtype)
            if wanted != have:
                raise ValueError(
                    f"warm_start and partial_fit continue the fitted network (layer sizes "
                    f"{have[0]}, activation {have[1]!r}, dtype {have[2]}), but the parameters "
                    f"and data now give {wanted[0]}, {wanted[1]!r}, {wanted[2]}; fit again "
                    f"with warm_start=False to start a new network"
                )
        if params["solver"] == "lbfgs":
            self._fit_lbfgs(X, Y, params, sample_weight)
        else:
            self._fit_stochastic(X, Y, params, rng, incremental, sample_weight)
        if not np.isfinite(self._net.params).all():
            raise ValueError(f"{NON_FINITE} Scale the inputs (e.g. StandardScaler) or lower "
                             f"learning_rate_init")
        return self

    def _initialize(self, sizes, params, rng):
        self._net = Network(sizes, loss=self._loss_name, dtype=params["dtype"], seed=rng,
                            activation=params["activation"])
        # scikit-learn's initialization (weights AND biases uniform in +-sqrt(f / (n_in + n_out)),
        # f = 2 for logistic, else 6), so that equal settings start from equal distributions.
        factor = 2.0 if params["activation"] == "sigmoid" else 6.0
        # W is drawn in blocks of rows: the same values as one draw of its whole shape (the
        # generator's doubles in order), with a temporary of ~1 MB instead of one the size of W.
        for layer in self._net.layers:
            bound = np.sqrt(factor / (layer.n_in + layer.n_out))
            rows = max(1, INIT_BLOCK // layer.n_in)
            for start in range(0, layer.n_out, rows):
                block = layer.W[start:start + rows]
                block[...] = rng.uniform(-bound, bound, size=block.shape)
            layer.b[...] = rng.uniform(-bound, bound, size=layer.b.shape)
        self._optimizer = None
        self.n_outputs_ = sizes[-1]
        self.n_layers_ = len(sizes)
        self.out_activation_ = {"sigmoid": "logistic"}.get(self._net.layers[-1].activation,
                                                           self._net.layers[-1].activation)
        self.n_iter_ = 0
        self.t_ = 0
        self._best_params = None  # early stopping's copy of the best weights (made by its first fit)
        for name in ("loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_"):
            self.__dict__.pop(name, None)
        if params["solver"] == "lbfgs":  # scikit-learn keeps no curve for lbfgs
            return
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if params["early_stopping"]:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _make_optimizer(self, params):
        if params["solver"] == "sgd":
            momentum = params["momentum"]
            return SGD(params["learning_rate_init"], momentum=momentum,
                       nesterov=params["nesterovs_momentum"] and momentum > 0)
        return Adam(params["learning_rate_init"], betas=(params["beta_1"], params["beta_2"]),
                    eps=params["epsilon"])

    def _fit_lbfgs(self, X, Y, params, sample_weight=None):
        """scikit-learn's "lbfgs": SciPy's L-BFGS-B on the full-batch objective, with
        ``maxiter=max_iter``, ``maxfun=max_fun`` and ``gtol=tol``."""
        net = self._net
        loss_scale, grad_scale = self._loss_scales()
        if is_sparse(X):
            X = sparse_rows(X, net.dtype, net.n_inputs)
        objective = FullBatchObjective(net, X, Y, params["alpha"], grad_scale, loss_scale, sample_weight)
        with _threads.for_call(params["threads"]), _threads.single_threaded_blas():
            result = scipy.optimize.minimize(
                objective, net.params.astype(np.float64), method="L-BFGS-B", jac=True,
                options={"maxfun": params["max_fun"], "maxiter": params["max_iter"], "gtol": params["tol"]})
        net.params[...] = result.x
        net.buffers_changed()
        self.n_iter_ = min(int(result.nit), params["max_iter"])
        self.loss_ = float(result.fun)
        if params["verbose"]:
            print(f"L-BFGS-B: {self.n_iter_} iterations, {objective.calls} evaluations, "
                  f"loss = {self.loss_:.8f}: {result.message}")
        if result.status != 0:
            message = (f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                       f"(status={result.status}):\n{result.message}\n")
            if self.n_iter_ == params["max_iter"]:
                message += "\nIncrease the number of iterations to improve the convergence "
                message += f"(max_iter={params['max_iter']})."
            message += ("\nYou might also want to scale the data as shown in:\n"
                        "    https://scikit-learn.org/stable/modules/preprocessing.html")
            warnings.warn(message, ConvergenceWarning, stacklevel=4)

    def _fit_stochastic(self, X, Y, params, rng, incremental, sample_weight=None):
        net = self._net
        if not incremental or self.__dict__.get("_optimizer") is None:
            self._optimizer = self._make_optimizer(params)
        optimizer = self._optimizer
        early_stopping = params["early_stopping"]
        if early_stopping and self.__dict__.get("_best_params") is None:
            self._best_params = net.params.copy()  # the weights restored if no epoch scores better
        if early_stopping:
            # Stratified (one output only) by the boolean targets, as scikit-learn: the split's
            # errors then name the classes as scikit-learn's do (['False'], not ['0.0']).
            stratify = Y.astype(bool) if self._stratify() and Y.shape[1] == 1 else None
            arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
            split = train_test_split(*arrays, random_state=int(rng.integers(np.iinfo(np.int32).max)),
                                     test_size=params["validation_fraction"], stratify=stratify)
            X, X_val, Y, Y_val = split[:4]
            sample_weight, weight_val = (None, None) if sample_weight is None else split[4:]
            if X_val.shape[0] < 2:
                raise ValueError(
                    f"The validation set is too small. Increase 'validation_fraction' or the size of "
                    f"your dataset. (It holds {X_val.shape[0]} sample with validation_fraction="
                    f"{params['validation_fraction']} of {X.shape[0] + X_val.shape[0]} samples.)"
                )
            X = X if is_sparse(X) else np.ascontiguousarray(X)
            Y = np.ascontiguousarray(Y)
            X_val_T = X_val.T if is_sparse(X_val) else np.ascontiguousarray(X_val.T)
        n_samples = X.shape[0]
        if params["batch_size"] == "auto":
            batch_size = min(200, n_samples)
        else:
            batch_size = params["batch_size"]
            if batch_size > n_samples:
                warnings.warn(f"batch_size={batch_size} is larger than the {n_samples} training "
                              f"samples; it is clipped to {n_samples}", UserWarning, stacklevel=4)
                batch_size = n_samples

        loss_scale, grad_scale = self._loss_scales()
        if is_sparse(X):
            X = sparse_rows(X, net.dtype, net.n_inputs)
        engine = EpochEngine(net, optimizer, X, Y, batch_size,
                             penalty=Penalty(params["alpha"], grad_scale, loss_scale),
                             sample_weight=sample_weight, weight_by_sum=True, rollback=False)
        schedule = self._schedule(params, optimizer)
        with _threads.for_call(params["threads"]):
            self.n_iter_ = 0
            for _ in range(params["max_iter"]):
                result = engine.run(1, rng if params["shuffle"] else None)
                diverged = result.divergence
                if diverged is not None:
                    what = ("loss became NaN or infinite" if diverged.what == "loss"
                            else "update made a weight NaN or infinite")
                    where = (f"training diverged at iteration {self.n_iter_ + 1}, batch "
                             f"{diverged.batch + 1}: the {what}")
                    if not early_stopping:
                        raise ValueError(
                            f"{NON_FINITE} ({where}.) Scale the inputs (e.g. StandardScaler) or "
                            f"lower learning_rate_init (now {params['learning_rate_init']:g})"
                        )
                    # scikit-learn records the epoch's NaN loss and validation score and keeps
                    # the best weights; the epochs after it would only add more NaN.
                    self.n_iter_ += 1
                    self.t_ += n_samples
                    self.loss_ = np.nan
                    self.loss_curve_.append(np.nan)
                    self.validation_scores_.append(np.nan)
                    warnings.warn(f"Stochastic Optimizer: {where}; fit stopped and kept the weights of "
                                  f"the best validation score. Scale the inputs or lower "
                                  f"learning_rate_init", ConvergenceWarning, stacklevel=4)
                    break
                self.n_iter_ += 1
                self.t_ += n_samples
                self.loss_ = float(result.loss_sums[0]) / n_samples
                self.loss_curve_.append(self.loss_)
                if params["verbose"]:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                if early_stopping:
                    self._track_validation(X_val_T, Y_val, params, weight_val)
                else:
                    self._track_loss(params)
                schedule.epoch_ends(self.t_)
                if self._no_improvement_count > params["n_iter_no_change"]:
                    what = "Validation score" if early_stopping else "Training loss"
                    message = (f"{what} did not improve more than tol={params['tol']:f} for "
                               f"{params['n_iter_no_change']} consecutive epochs.")
                    stop, action = schedule.no_improvement()
                    if params["verbose"]:
                        print(f"{message} {action}")
                    if stop:
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == params["max_iter"]:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({params['max_iter']}) reached and "
                        f"the optimization hasn't converged yet.", ConvergenceWarning, stacklevel=4)
        if early_stopping:
            net.params[...] = self._best_params
            net.buffers_changed()

    @staticmethod
    def _schedule(params, optimizer):
        """The learning-rate schedule (scikit-learn's ``learning_rate``; SGD only)."""
        if params["solver"] != "sgd" or params["learning_rate"] == "constant":
            return Schedule(optimizer)
        if params["learning_rate"] == "invscaling":
            return InvScaling(optimizer, params["power_t"])
        return Adaptive(optimizer)

    def _track_loss(self, params):
        if self.loss_curve_[-1] > self.best_loss_ - params["tol"]:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if self.loss_curve_[-1] < self.best_loss_:
            self.best_loss_ = self.loss_curve_[-1]

    def _validation_score(self, X_val_T, Y_val, sample_weight=None):
        """The estimator's score (:meth:`_score_outputs`, weighted by ``sample_weight``) of the
        held-out samples; NaN when the network's outputs are not finite (as scikit-learn's)."""
        try:
            out = self._net.predict(X_val_T).T
        except ValueError:  # finite inputs, so the outputs overflowed
            return np.nan
        return self._score_outputs(Y_val, out, sample_weight)

    def _track_validation(self, X_val_T, Y_val, params, sample_weight=None):
        score = self._validation_score(X_val_T, Y_val, sample_weight)
        self.validation_scores_.append(score)
        if params["verbose"]:
            print(f"Validation score: {score:f}")
        if score < self.best_validation_score_ + params["tol"]:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            self._best_params[...] = self._net.params

    # ----------------------------------------------------------------- prediction

    def _forward(self, X):
        """Network outputs for row-layout ``X``: ndarray of shape (n_samples, n_outputs_)."""
        check_is_fitted(self, "_net")
        X = validate_data(self, X, reset=False, dtype=self._net.dtype, accept_sparse=SPARSE_FORMATS)
        return np.ascontiguousarray(self._net.predict(X.T).T)

    @classmethod
    def from_sklearn(cls, estimator):
        """A fitted estimator with the weights of a fitted scikit-learn MLP (copied).

        Parameters
        ----------
        estimator : fitted MLPClassifier (for FastMLPClassifier) or MLPRegressor
            Its parameters are copied where this class has them; so are ``n_iter_``, ``t_``,
            ``loss_``, ``loss_curve_``, ``best_loss_``, ``n_features_in_`` and
            ``feature_names_in_``.

        Returns
        -------
        estimator of this class
            Its ``predict`` and ``predict_proba`` equal the source's; the dtype is that of
            the source's ``coefs_``. ``partial_fit`` and ``warm_start`` continue from the
            weights with a fresh optimizer.
        """
        from sklearn.base import is_classifier

        classifier = issubclass(cls, ClassifierMixin)
        if is_classifier(estimator) != classifier:
            wanted = "MLPClassifier" if classifier else "MLPRegressor"
            raise TypeError(f"{cls.__name__}.from_sklearn needs a fitted {wanted}; got "
                            f"{type(estimator).__name__}")
        net = Network.from_sklearn(estimator)
        names = cls._get_param_names()
        params = {key: value for key, value in estimator.get_params(deep=False).items() if key in names}
        params["dtype"] = net.dtype.type
        adopted = cls(**params)
        adopted._adopt(net, estimator)
        return adopted

    def _adopt(self, net, source):
        """Become fitted with ``net``'s parameters; fitted statistics copied from ``source``."""
        self.n_features_in_ = net.n_inputs
        if hasattr(source, "feature_names_in_"):
            self.feature_names_in_ = np.array(source.feature_names_in_, dtype=object)
        self._initialize(net.sizes, self._check_params(), self._random_generator())
        self._net.params = net.params
        for name in ("n_iter_", "t_", "loss_", "best_loss_"):
            if hasattr(source, name):
                setattr(self, name, getattr(source, name))
        if hasattr(source, "loss_curve_"):  # scikit-learn's lbfgs keeps no curve
            self.loss_curve_ = list(source.loss_curve_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class FastMLPClassifier(ClassifierMixin, _BaseFastMLP):
    """Multi-layer perceptron classifier trained by fastnn's Numba kernels.

    A drop-in for :class:`sklearn.neural_network.MLPClassifier`: same parameter names
    and defaults, same fitted attributes, same stopping rules, for the stochastic solvers
    and "lbfgs". Binary and multilabel problems use sigmoid outputs with binary cross-entropy,
    multiclass problems a softmax output with categorical cross-entropy; labels may be
    integers or strings.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default (100,)
        Units of each hidden layer; ``()`` gives no hidden layer.
    activation : {"relu", "tanh", "logistic", "identity"}, default "relu"
        Hidden activation ("sigmoid" and "linear" are accepted aliases).
    solver : {"adam", "sgd", "lbfgs"}, default "adam"
        "lbfgs": SciPy's L-BFGS-B (``scipy.optimize.minimize``) on the full-batch loss
        and gradient computed by fastnn's kernels, with ``maxiter=max_iter``,
        ``maxfun=max_fun`` and ``gtol=tol`` as scikit-learn's; the batch, learning-rate,
        momentum, Adam and early-stopping parameters do not apply to it, and
        ``partial_fit`` is not available (as in scikit-learn).
    alpha : float, default 1e-4
        L2 penalty on the weights (not the biases), scikit-learn's convention: each batch
        of m samples minimizes ``loss + 0.5 * alpha * sum ||W||^2 / m``.
    batch_size : int or "auto", default "auto"
        Samples per mini-batch; "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        Step-size schedule for ``solver="sgd"`` (ignored by Adam).
    learning_rate_init : float, default 0.001
    power_t : float, default 0.5
        Exponent of the "invscaling" schedule.
    max_iter : int, default 200
        Maximum number of epochs.
    shuffle : bool, default True
        Reshuffle the samples every epoch.
    random_state : int, RandomState or None, default None
        Seeds the initial weights, the shuffling and the validation split.
    tol : float, default 1e-4
        Improvement of the training loss (or of the validation score with
        ``early_stopping``) that counts as progress.
    verbose : bool, default False
        Print the loss of every epoch.
    warm_start : bool, default False
        Continue from the fitted weights on the next ``fit``.
    momentum : float, default 0.9
        SGD momentum, in [0, 1).
    nesterovs_momentum : bool, default True
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the data, stop when its accuracy stops
        improving, and keep the best weights.
    validation_fraction : float, default 0.1
    beta_1, beta_2 : float, default 0.9, 0.999
        Adam's moment decay rates.
    epsilon : float, default 1e-8
        Adam's denominator term.
    n_iter_no_change : int or np.inf, default 10
        Stop after this many epochs in a row without progress (``> tol``); ``np.inf``
        never stops on the tolerance.
    max_fun : int, default 15000
        "lbfgs" only: the most loss-and-gradient evaluations.
    dtype : float64, float32 or None, default None
        Precision of the weights and of the computation; inputs are converted to it.
        None: the input's, as scikit-learn (float32 stays float32, anything else is
        float64); ``warm_start`` and ``partial_fit`` keep the fitted network's.
    threads : int >= 1, optional
        BLAS threads while fitting. None (default): fastnn's setting
        (:func:`fastnn.set_num_threads`, 1 by default).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` has string column names.
    n_iter_ : int
        Epochs run by the last ``fit`` (L-BFGS-B iterations with "lbfgs").
    t_ : int
        Training samples seen.
    loss_ : float
        Mean training loss of the last epoch (including the L2 term).
    loss_curve_ : list of float
        ``loss_`` of every epoch (stochastic solvers only, as in scikit-learn).
    best_loss_ : float or None
        Lowest ``loss_`` (None with ``early_stopping``).
    validation_scores_ : list of float or None
        Validation accuracy of every epoch (with ``early_stopping``, else None).
    best_validation_score_ : float or None
    coefs_ : list of ndarray of shape (n_in, n_out)
        Weights per layer (views into the network's parameters).
    intercepts_ : list of ndarray of shape (n_out,)
    n_layers_ : int
        Layers including the input layer.
    n_outputs_ : int
        Output units: 1 for a binary problem, else the number of classes or labels.
    out_activation_ : {"logistic", "softmax"}

    Notes
    -----
    Sparse ``X`` (CSR or CSC; other formats are converted to CSR) trains and predicts
    without a dense copy: the first layer multiplies each batch's non-zeros. Sample weights
    follow scikit-learn's rules (each batch's loss is its weighted average, the L2 term
    divides by the batch's weight sum, the validation score is weighted); scikit-learn's
    early-stopping split ignores the weights, and so does fastnn's.

    Differences from scikit-learn's MLPClassifier: a diverging fit with ``early_stopping`` records the NaN epoch and stops there
    with a ConvergenceWarning (keeping the best weights, as scikit-learn), where
    scikit-learn runs the remaining epochs on NaN weights; "lbfgs" on float32 input keeps
    float32 weights (scikit-learn's returns float64 ones); ``partial_fit`` is hidden for
    "lbfgs" on the regressor too (scikit-learn's regressor shows it); assigning
    ``coefs_``/``intercepts_`` needs a fitted estimator (NotFittedError). Adam adds
    ``epsilon`` to ``sqrt(v_hat)``
    (PyTorch's form), scikit-learn to ``sqrt(v)``; with ``learning_rate`` "invscaling" or
    "adaptive", the SGD momentum buffer holds gradients (PyTorch's form), so a change of
    the step size applies to it at once. The initialization follows scikit-learn's
    (Glorot-uniform weights and biases) but draws from numpy's ``default_rng``, so equal
    ``random_state`` values do not give scikit-learn's exact starting weights. From equal
    starting weights, SGD gives the same updates as scikit-learn's MLP (to rounding).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastnn.sklearn import FastMLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = FastMLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    def _validate_input(self, X, y, dtype, incremental, reset):
        X, y = validate_data(self, X, y, multi_output=True, dtype=dtype, reset=reset, order="C",
                             accept_sparse=SPARSE_FORMATS)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if "classes_" not in self.__dict__ or (not self.warm_start and not incremental):
            # One class is fitted as scikit-learn does: one sigmoid output trained towards 0.
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:  # scikit-learn's messages, which its users match on
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        f"warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
                    )
            elif np.setdiff1d(classes, self.classes_).size:
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                    f"'y' has {classes}."
                )
        Y = np.ascontiguousarray(self._label_binarizer.transform(y), dtype=X.dtype)
        return X, Y

    _loss_name = "bce"

    def _initialize(self, sizes, params, rng):
        self._loss_name = "cce" if self._label_binarizer.y_type_ == "multiclass" else "bce"
        super()._initialize(sizes, params, rng)

    def _adopt(self, net, source):
        classes = np.asarray(source.classes_)
        if source.out_activation_ == "logistic" and source.n_outputs_ > 1:  # multilabel
            self._label_binarizer = LabelBinarizer().fit(np.eye(classes.size, dtype=int))
        else:
            self._label_binarizer = LabelBinarizer().fit(classes)
        self.classes_ = self._label_binarizer.classes_
        super()._adopt(net, source)

    def _loss_scales(self):
        """(loss factor, gradient factor) turning fastnn's loss into scikit-learn's."""
        return 1.0, 1.0

    def _stratify(self):
        return True

    def _score_outputs(self, Y, out, sample_weight=None):
        return accuracy_score(self._decode(Y), self._decode(out), sample_weight=sample_weight)

    def _decode(self, out):
        if self.n_outputs_ == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``X``, ``y``, continuing from the current weights and optimizer.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,) or (n_samples, n_labels)
        sample_weight : array_like of shape (n_samples,), optional
            As in :meth:`fit`.
        classes : array_like of shape (n_classes,), optional
            Every class of the whole stream; required on the first call (not for
            multilabel indicator targets), optional afterwards.

        Returns
        -------
        self
        """
        current = self.__dict__.get("classes_")
        if current is None:
            if classes is None and not type_of_target(y).startswith("multilabel"):
                raise ValueError("classes must be passed on the first call to partial_fit, e.g. "
                                 "classes=np.unique(y_all)")
            binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                binarizer.fit(y)
            else:
                binarizer.fit(unique_labels(classes))
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
        elif classes is not None and not np.array_equal(unique_labels(classes), current):
            raise ValueError(f"classes={classes!r} is not the same as on the first call to "
                             f"partial_fit, {current!r}")
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def predict(self, X):
        """Predicted labels.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), or (n_samples, n_labels) for multilabel
        """
        return self._decode(self._forward(X))

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            For a binary problem ``[1 - p, p]``; for multilabel each label's probability.
        """
        out = self._forward(X)
        if self.n_outputs_ == 1:
            return np.column_stack([1 - out[:, 0], out[:, 0]])
        return out

    def predict_log_proba(self, X):
        """``log(predict_proba(X))`` (-inf where a probability rounds to 0).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class FastMLPRegressor(RegressorMixin, _BaseFastMLP):
    """Multi-layer perceptron regressor trained by fastnn's Numba kernels.

    A drop-in for :class:`sklearn.neural_network.MLPRegressor` (stochastic solvers and
    "lbfgs"): identity output and squared error, or exp output and Poisson deviance, one or
    several outputs, ``score`` as R^2. The parameters are those of :class:`FastMLPClassifier`
    (the default ``activation`` is "relu"), plus ``loss``; ``validation_scores_`` hold R^2
    values.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default "squared_error"
        "squared_error": half the squared error, identity output. "poisson": half the
        Poisson deviance summed over the outputs, ``mean over samples of
        sum (y log(y / p) - y + p)``, with an exp output (the log link, so predictions
        are > 0); needs ``y >= 0``. As scikit-learn's.
    hidden_layer_sizes, activation, solver, ...
        As in :class:`FastMLPClassifier`.

    Attributes
    ----------
    n_features_in_, n_iter_, t_, loss_, loss_curve_, best_loss_, validation_scores_,
    best_validation_score_, coefs_, intercepts_, n_layers_, n_outputs_
        As in :class:`FastMLPClassifier`. ``loss_`` is scikit-learn's squared error,
        ``0.5 * mean((y - prediction)^2)``, or its half Poisson deviance, plus the L2 term.
    out_activation_ : "identity" or "exp" (loss="poisson")

    Notes
    -----
    As in scikit-learn, the gradient followed for several outputs is that of
    ``0.5 * sum over outputs of the squared error / n_samples``, whereas ``loss_``
    averages over the outputs too. Differences from MLPRegressor: those listed for
    :class:`FastMLPClassifier`; with ``loss="poisson"`` a negative ``y`` is refused with a
    ValueError (scikit-learn trains on it and reports a NaN loss).

    Examples
    --------
    >>> import numpy as np
    >>> from fastnn.sklearn import FastMLPRegressor
    >>> X = np.linspace(-1, 1, 50).reshape(-1, 1)
    >>> reg = FastMLPRegressor(hidden_layer_sizes=(16,), max_iter=50, random_state=0)
    >>> reg.fit(X, X[:, 0] ** 2).predict(X[:3]).shape
    (3,)
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=None, threads=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            dtype=dtype, threads=threads)
        self.loss = loss

    @property
    def _loss_name(self):
        """fastnn's loss for ``loss`` (checked at fit time by :meth:`_check_params`)."""
        return REGRESSION_LOSSES.get(self.loss, "mse")

    def _check_params(self):
        _check_option(self.loss, "loss", tuple(REGRESSION_LOSSES))
        return super()._check_params()

    def _validate_input(self, X, y, dtype, incremental, reset):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=dtype,
                             reset=reset, order="C", accept_sparse=SPARSE_FORMATS)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and (y < 0).any():
            raise ValueError(f"loss='poisson' needs y >= 0 (counts or rates); got a smallest y of "
                             f"{float(y.min()):g}: shift y or use loss='squared_error'")
        with np.errstate(over="ignore"):
            Y = np.ascontiguousarray(y.reshape(y.shape[0], -1), dtype=X.dtype)
        if not np.isfinite(Y).all():  # validate_data checked y in its own dtype only
            raise ValueError(
                f"y has values that overflow {X.dtype.name} (the largest |y| is "
                f"{float(np.abs(y).max()):.3g}); scale y or use dtype=np.float64"
            )
        return X, Y

    def _loss_scales(self):
        """fastnn's "mse" is ``sum (a - y)^2 / (m n_out)`` with gradient ``2 (a - y) / (m n_out)``;
        scikit-learn reports half of it and follows the gradient ``(a - y) / m``. fastnn's
        "poisson" is scikit-learn's half Poisson deviance already."""
        if self._loss_name == "poisson":
            return 1.0, 1.0
        return 0.5, self._net.n_outputs / 2.0

    def _stratify(self):
        return False

    def _score_outputs(self, Y, out, sample_weight=None):
        return r2_score(Y, out, sample_weight=sample_weight)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``X``, ``y``, continuing from the current weights and optimizer.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array_like of shape (n_samples,), optional
            As in :meth:`fit`.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def predict(self, X):
        """Predicted values.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) for one output, else (n_samples, n_outputs)
        """
        out = self._forward(X)
        return out.ravel() if out.shape[1] == 1 else out

    def score(self, X, y, sample_weight=None):
        """R^2 of ``predict(X)`` against ``y``, as scikit-learn's, computed in float64.

        With ``dtype=np.float32``, scikit-learn's ``r2_score`` would sum the squares of
        ``y`` in float32, which overflows (NaN) once ``|y|`` passes 1.8e19.
        """
        return float(r2_score(y, self.predict(X).astype(np.float64), sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags


# skl2onnx.to_onnx(pipeline_with_a_fastnn_estimator, ...) finds fastnn's converters, whichever
# of skl2onnx and this module is imported first (registering needs no import of skl2onnx).
export.register_skl2onnx_on_import()
