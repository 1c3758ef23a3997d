"""FastMLPClassifier/FastMLPRegressor as drop-ins for scikit-learn's MLP (issue 13): the
"lbfgs" solver against MLPClassifier/MLPRegressor(solver="lbfgs") from the same start,
its objective against central differences, and scikit-learn's behaviour on small points
(dtype, one class, n_iter_no_change=np.inf, error messages, divergence, partial_fit)."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from test_sklearn import reference_objective  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import fastnn.objective  # noqa: E402
from fastnn.objective import FullBatchObjective  # noqa: E402
from fastnn.sklearn import FastMLPClassifier, FastMLPRegressor  # noqa: E402
from helpers import same_start  # noqa: E402

PEERS = {FastMLPClassifier: MLPClassifier, FastMLPRegressor: MLPRegressor}


def _scaled(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _raised(call):
    """The exception ``call()`` raises (the test fails if it raises none)."""
    with pytest.raises(Exception) as info:
        call()
    return info.value


# ----------------------------------------------------------------- lbfgs


@pytest.mark.parametrize("kind", ["regressor-2-outputs", "multiclass", "binary"])
@pytest.mark.parametrize("chunk", [5, 4096])
def test_full_batch_objective_and_gradient(kind, chunk, monkeypatch):
    """The objective is scikit-learn's (mean loss + 0.5 alpha sum ||W||^2 / N), its gradient
    matches central differences, and chunks of the data (a short last one) give the same."""
    monkeypatch.setattr(fastnn.objective, "CHUNK", chunk)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(23, 3))
    if kind == "regressor-2-outputs":
        Y = rng.normal(size=(23, 2))
        est, y, output = FastMLPRegressor(), Y, "identity"
    elif kind == "multiclass":
        y = rng.integers(0, 3, size=23)
        est, Y, output = FastMLPClassifier(), np.eye(3)[y], "softmax"
    else:
        y = rng.integers(0, 2, size=23)
        est, Y, output = FastMLPClassifier(), y[:, None].astype(float), "logistic"
    alpha = 0.3
    with pytest.warns(ConvergenceWarning):
        est.set_params(hidden_layer_sizes=(4, 3), activation="tanh", alpha=alpha, max_iter=1,
                       solver="lbfgs", random_state=0).fit(X, y)
    loss_scale, grad_scale = est._loss_scales()
    objective = FullBatchObjective(est._net, X, np.ascontiguousarray(Y), alpha, grad_scale, loss_scale)
    assert len(objective.bounds) == -(-23 // chunk)
    shapes = [W.shape for W in est.coefs_] + [b.shape for b in est.intercepts_]

    def reference(theta):
        # fastnn's flat layout: each layer's W (n_out, n_in) row-major, then b.
        Ws, bs, k = [], [], 0
        for W in est.coefs_:
            n_in, n_out = W.shape
            Ws.append(theta[k : k + W.size].reshape(n_out, n_in).T)
            k += W.size
            bs.append(theta[k : k + n_out])
            k += n_out
        return reference_objective(Ws, bs, X, Y, "tanh", output, alpha)

    theta = est._net.params.copy()
    value, grad = objective(theta)
    expected = reference(theta)
    if output == "identity":  # scikit-learn reports the squared error averaged over outputs too
        W = [theta[:12], theta[16:28], theta[31:37]]
        P = est.predict(X)
        expected = ((P - Y) ** 2).mean() / 2 + 0.5 * alpha * sum((w**2).sum() for w in W) / 23
    assert value == pytest.approx(expected, rel=1e-12)
    numeric = np.empty_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = 1e-6
        numeric[i] = (reference(theta + step) - reference(theta - step)) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    assert sum(int(np.prod(shape)) for shape in shapes) == theta.size


def _same_start(Estimator, X, y, **settings):
    """scikit-learn's and fastnn's estimator, both holding scikit-learn's starting weights
    (one lbfgs iteration of scikit-learn's) and set to continue with warm_start."""
    settings = dict(dict(solver="lbfgs", warm_start=True, random_state=0, **settings), max_iter=1)
    return same_start(Estimator(**settings), PEERS[Estimator](**settings), X, y)


@pytest.mark.parametrize("Estimator, loader", [
    (FastMLPClassifier, load_iris), (FastMLPClassifier, load_digits), (FastMLPRegressor, load_diabetes)])
def test_lbfgs_same_start_same_path_as_sklearn(Estimator, loader):
    """From equal weights, the same L-BFGS-B run: iterations, loss and weights agree
    (float64 rounding differences only), with max_iter, tol and alpha as scikit-learn's."""
    X, y = _scaled(loader)
    if Estimator is FastMLPRegressor:
        y = y / y.std()
    ours, theirs = _same_start(Estimator, X, y, hidden_layer_sizes=(16,), alpha=1e-3, tol=1e-6)
    for est in (ours, theirs):
        est.set_params(max_iter=15)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            est.fit(X, y)
        est.warned = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert ours.n_iter_ == theirs.n_iter_ == 15
    assert ours.warned == theirs.warned and len(ours.warned) == 1
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-7)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-5, atol=1e-6)
    # lbfgs keeps no per-epoch curve, as scikit-learn's.
    assert not hasattr(ours, "loss_curve_") and not hasattr(theirs, "loss_curve_")


@pytest.mark.parametrize("stop", [dict(max_fun=7), dict(tol=1e-1)])
def test_lbfgs_max_fun_and_tol_stop_where_sklearn_stops(stop):
    X, y = _scaled(load_iris)
    ours, theirs = _same_start(FastMLPClassifier, X, y, hidden_layer_sizes=(8,), max_iter=200, **stop)
    ours.set_params(max_iter=200)
    theirs.set_params(max_iter=200)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert ours.n_iter_ == theirs.n_iter_ < 200
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-7)
    if "max_fun" in stop:  # both stop on the evaluation budget and say so, in the same words
        assert len(messages) == 2 and messages[0] == messages[1] and "STOP: TOTAL NO. OF F,G" in messages[0]
    else:
        assert messages == []


LBFGS_CASES = {"iris": (load_iris, FastMLPClassifier, 1.0, 0.03),
               "digits": (load_digits, FastMLPClassifier, 1.0, 0.02),
               "breast_cancer": (load_breast_cancer, FastMLPClassifier, 1.0, 0.02),
               "diabetes": (load_diabetes, FastMLPRegressor, 10.0, 0.03)}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dataset", sorted(LBFGS_CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lbfgs_scores_at_least_sklearn(dataset, dtype):
    """Mean test score over 3 seeds, scaled inputs, one hidden layer of 32, the stated alpha
    (diabetes overfits below 10), scikit-learn's defaults otherwise (max_iter=200): fastnn's
    may trail by at most the stated tolerance (accuracy, or R^2 for diabetes). float32
    input trains in float32."""
    loader, Estimator, alpha, tolerance = LBFGS_CASES[dataset]
    X, y = loader(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr).astype(dtype), scaler.transform(Xte).astype(dtype)
    if Estimator is FastMLPRegressor:  # scikit-learn's MLP needs a scaled target too
        ytr, yte = ytr / ytr.std(), yte / ytr.std()
    settings = dict(solver="lbfgs", hidden_layer_sizes=(32,), alpha=alpha)
    scores = {}
    with threadpool_limits(1, user_api="blas"):
        for E in (Estimator, PEERS[Estimator]):
            fits = [E(random_state=seed, **settings).fit(Xtr, ytr) for seed in range(3)]
            scores[E] = np.mean([fit.score(Xte, yte) for fit in fits])
            if E is Estimator:
                assert fits[0].coefs_[0].dtype == dtype
    assert scores[Estimator] >= scores[PEERS[Estimator]] - tolerance, scores


def test_partial_fit_only_for_stochastic_solvers():
    for Estimator in PEERS:
        assert hasattr(Estimator(solver="sgd"), "partial_fit") and hasattr(Estimator(), "partial_fit")
        assert not hasattr(Estimator(solver="lbfgs"), "partial_fit")
        with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as info:
            Estimator(solver="lbfgs").partial_fit
        assert "only available for stochastic optimizers. lbfgs is not" in str(info.value.__cause__)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


# ----------------------------------------------------------------- dtype


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("Estimator", list(PEERS))
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("given, dtype, expected", [
    (np.float32, None, np.float32), (np.float64, None, np.float64), (np.int64, None, np.float64),
    (np.float32, np.float64, np.float64), (np.float64, np.float32, np.float32),
])
def test_dtype_follows_the_input_unless_given(Estimator, solver, given, dtype, expected):
    X, y = load_iris(return_X_y=True)
    X = (X * 10).astype(given)
    est = Estimator(hidden_layer_sizes=(4,), max_iter=3, solver=solver, dtype=dtype).fit(X, y)
    out = est.predict_proba(X) if Estimator is FastMLPClassifier else est.predict(X)
    assert est.coefs_[0].dtype == est.intercepts_[0].dtype == out.dtype == expected
    if dtype is None and solver == "adam":  # scikit-learn's rule (its lbfgs returns float64)
        peer = PEERS[Estimator](hidden_layer_sizes=(4,), max_iter=3, solver=solver).fit(X, y)
        assert peer.coefs_[0].dtype == expected
    # warm_start and partial_fit keep the network's dtype, whatever the new input's.
    est.set_params(warm_start=True).fit(X.astype(np.float64), y)
    assert est.coefs_[0].dtype == expected


# ----------------------------------------------------------------- small behaviour items


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_one_class_fits_as_sklearn():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 3)), columns=["a", "b", "c"])
    y = np.array(["spam"] * 20)
    ours = FastMLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X, y)
    theirs = MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X, y)
    for attribute in ("classes_", "feature_names_in_"):
        np.testing.assert_array_equal(getattr(ours, attribute), getattr(theirs, attribute))
    assert ours.n_outputs_ == theirs.n_outputs_ == 1 and ours.out_activation_ == theirs.out_activation_
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.predict_proba(X).shape == theirs.predict_proba(X).shape == (20, 2)
    assert ours.score(X, y) == 1.0
    partial = FastMLPClassifier(hidden_layer_sizes=(4,)).partial_fit(X, y, classes=["spam"])
    np.testing.assert_array_equal(partial.predict(X), y)


def test_n_iter_no_change_inf_disables_the_tolerance_stop():
    X, y = _scaled(load_iris)
    settings = dict(hidden_layer_sizes=(4,), tol=1e6, n_iter_no_change=np.inf, max_iter=12, random_state=0)
    for Estimator in (FastMLPClassifier, MLPClassifier):
        with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(12\\)"):
            est = Estimator(**settings).fit(X, y)
        assert est.n_iter_ == 12
    # An int stops as before (best at epoch 1, then n_iter_no_change + 1 epochs without gain).
    assert FastMLPClassifier(**dict(settings, n_iter_no_change=3)).fit(X, y).n_iter_ == 5


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_error_messages_users_match_on_are_sklearns():
    X, y = _scaled(load_iris)
    # warm_start with other classes: scikit-learn's message, word for word.
    errors = []
    for Estimator in (FastMLPClassifier, MLPClassifier):
        est = Estimator(hidden_layer_sizes=(4,), max_iter=2, warm_start=True, random_state=0).fit(X, y)
        errors.append(str(_raised(lambda est=est: est.fit(X[y < 2], y[y < 2]))))
    assert errors[0] == errors[1] and errors[0].startswith("warm_start can only be used where `y`")
    # partial_fit with a class never declared: scikit-learn's message too.
    errors = []
    for Estimator in (FastMLPClassifier, MLPClassifier):
        est = Estimator(hidden_layer_sizes=(4,)).partial_fit(X, y, classes=[0, 1, 2])
        errors.append(str(_raised(lambda est=est: est.partial_fit(X, y + 5))))
    assert errors[0] == errors[1]
    # A validation set of one sample: scikit-learn's sentence first, then fastnn's numbers.
    for Estimator in (FastMLPRegressor, MLPRegressor):
        with pytest.raises(ValueError, match="^The validation set is too small. Increase 'valid"):
            Estimator(early_stopping=True, validation_fraction=0.1).fit(X[:10], y[:10])


def test_stratified_split_of_a_boolean_target_names_the_users_labels():
    X = np.random.default_rng(0).normal(size=(30, 2))
    y = np.array([True] * 29 + [False])
    errors = [str(_raised(lambda E=Estimator: E(early_stopping=True).fit(X, y)))
              for Estimator in (FastMLPClassifier, MLPClassifier)]
    assert errors[0] == errors[1] and "['False']" in errors[0]


def test_a_diverging_fit_with_early_stopping_keeps_the_best_weights():
    """As scikit-learn: the NaN epoch is recorded (loss and validation score), the best
    weights are restored and predict; fastnn stops at that epoch (warning) instead of
    running the remaining epochs, whose scores would all be NaN."""
    X, y = load_iris(return_X_y=True)
    settings = dict(solver="sgd", activation="identity", learning_rate_init=1e-4, early_stopping=True,
                    max_iter=30, random_state=0, hidden_layer_sizes=(8,))
    fits = {}
    for Estimator in (FastMLPRegressor, MLPRegressor):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's overflow RuntimeWarnings
            fits[Estimator] = Estimator(**settings).fit(X * 30, y)
    with pytest.warns(ConvergenceWarning, match="training diverged at iteration"):
        FastMLPRegressor(**settings).fit(X * 30, y)
    for est in fits.values():
        scores = np.array(est.validation_scores_)
        assert np.isnan(scores[-1]) and np.isnan(est.loss_curve_[-1])
        assert est.best_validation_score_ == np.nanmax(scores) and np.isfinite(est.best_validation_score_)
        assert np.isfinite(est.predict(X)).all()
    ours = fits[FastMLPRegressor]
    assert ours.n_iter_ == len(ours.loss_curve_) == len(ours.validation_scores_) < 30
    # The restored weights are those of the best epoch: training up to it gives them too.
    best = int(np.nanargmax(ours.validation_scores_)) + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        short = FastMLPRegressor(**dict(settings, max_iter=best)).fit(X * 30, y)
    np.testing.assert_array_equal(ours.coefs_[0], short.coefs_[0])


def test_assigning_weights_before_fit_is_a_clear_error():
    for name in ("coefs_", "intercepts_"):
        est = FastMLPClassifier()
        error = _raised(lambda est=est, name=name: setattr(est, name, [np.zeros((4, 3))]))
        assert isinstance(error, NotFittedError) and isinstance(error, AttributeError)
        assert f"{name} can only be assigned to a fitted FastMLPClassifier" in str(error)
        assert "_net" not in str(error)
