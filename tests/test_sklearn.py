"""FastMLPClassifier and FastMLPRegressor: scikit-learn's estimator checks, the loss and
gradient conventions against NumPy references, convergence rules, model selection tools,
persistence, and accuracy next to scikit-learn's own MLPClassifier."""

import copy
import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402
from fastnn.sklearn import FastMLPClassifier, FastMLPRegressor  # noqa: E402

no_convergence_warning = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ----------------------------------------------------------------- scikit-learn's checks


@no_convergence_warning
@parametrize_with_checks([FastMLPClassifier(), FastMLPRegressor()])
def test_sklearn_checks_default_parameters(estimator, check):
    check(estimator)


FLOAT32_REGRESSOR_FAILURES = {
    "check_regressor_multioutput": "the check requires float64 predictions; dtype=float32 "
                                   "predicts in float32 by design",
    "check_methods_sample_order_invariance": "the check compares predictions of permuted rows at "
                                             "rtol=1e-7, below float32's epsilon (1.2e-7), and "
                                             "BLAS rounds edge columns of a block differently",
}


def expected_failures(estimator):
    """Checks that cannot pass for a setting, with the reason (run as xfail, not skipped)."""
    if estimator.dtype == np.float32 and isinstance(estimator, FastMLPRegressor):
        return FLOAT32_REGRESSOR_FAILURES
    return {}


@no_convergence_warning
@parametrize_with_checks(
    [
        FastMLPClassifier(dtype=np.float32),
        FastMLPRegressor(dtype=np.float32),
        FastMLPClassifier(solver="sgd", learning_rate_init=0.01, activation="tanh",
                          hidden_layer_sizes=(16, 16), learning_rate="invscaling", power_t=0.1),
        FastMLPRegressor(solver="sgd", learning_rate_init=0.01, activation="logistic",
                         learning_rate="adaptive", nesterovs_momentum=False),
    ],
    expected_failed_checks=expected_failures,
)
def test_sklearn_checks_other_settings(estimator, check):
    check(estimator)
