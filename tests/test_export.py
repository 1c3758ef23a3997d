"""Models that leave fastnn: ONNX export (checked, run by ONNX Runtime), the estimators in
skl2onnx pipelines, and weights to and from scikit-learn and PyTorch.

Each group skips with a reason when its optional package is missing
(``pip install "fastnn[onnx]"``; torch is in the bench extra).
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import fastnn

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = ("sigmoid", "tanh", "relu", "identity")
OUTPUTS = (("bce", "sigmoid"), ("cce", "softmax"), ("mse", "identity"), ("mse", "tanh"), ("mse", "relu"))
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-6}


def assert_close(got, want, rtol):
    """Elementwise ``|got - want| <= rtol (|want| + scale)``, scale the larger of the largest
    ``|want|`` of the sample (its row) and of the output (its column, over the batch).

    An output that cancels to near zero still carries the rounding of the terms it sums,
    and a tiny softmax probability the absolute rounding of its logit: pure elementwise
    relative error would test the summation order, not the export.
    """
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    assert np.isfinite(got).all()
    scale = np.maximum(np.abs(want).max(axis=0, keepdims=True), np.abs(want).max(axis=1, keepdims=True))
    bound = rtol * (np.abs(want) + scale)
    worst = np.abs(got - want) - bound
    assert (worst <= 0).all(), f"largest excess {worst.max():.3g} over rtol={rtol}"


def make_net(sizes, hidden, loss, output, dtype, seed=0):
    """A network with random weights AND biases of order 1 (fastnn starts biases at 0)."""
    net = fastnn.Network(sizes, loss=loss, dtype=dtype, seed=seed, activation=hidden,
                         output_activation=output)
    net.params = np.random.default_rng(seed).normal(size=net.n_params)
    return net


def ort_session(model):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


# ----------------------------------------------------------------- optional imports


def test_import_fastnn_needs_none_of_the_optional_packages():
    code = ("import sys, fastnn, fastnn.export; fastnn.Network([2, 3, 1]).predict([[0.0], [1.0]]); "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'skl2onnx', 'torch') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("module, call, install", [
    ("onnx", lambda net: net.to_onnx(), 'pip install "fastnn[onnx]"'),
    ("torch", lambda net: net.to_torch(), "pip install torch"),
    ("torch", lambda net: fastnn.Network.from_torch(None), "pip install torch"),
])
def test_missing_package_is_an_import_error_naming_the_install(monkeypatch, module, call, install):
    monkeypatch.setitem(sys.modules, module, None)  # makes "import module" fail
    with pytest.raises(ImportError, match=module) as info:
        call(fastnn.Network([2, 3, 1]))
    assert install in str(info.value)


# ----------------------------------------------------------------- Network.to_onnx


@pytest.mark.parametrize("loss, output", OUTPUTS, ids=[out for _, out in OUTPUTS])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_onnx_runtime_equals_predict(dtype, hidden, loss, output):
    onnx = pytest.importorskip("onnx")
    net = make_net([5, 7, 6, 3], hidden, loss, output, dtype)
    model = net.to_onnx()
    onnx.checker.check_model(model, full_check=True)
    ops = {node.op_type for node in model.graph.node}
    assert ops <= {"Gemm", "Tanh", "Relu", "Softmax", "Identity", "Exp", "Min", "Abs", "Neg", "Add", "Div"}
    session = ort_session(model)
    rng = np.random.default_rng(1)
    for batch in (1, 2, 7, 10_000):
        for scale in (1.0, 30.0, 1e4):  # 1e4: logits in the thousands, sigmoid and softmax saturated
            X = (scale * rng.standard_normal((batch, 5))).astype(dtype)
            (out,) = session.run(None, {"input": X})
            assert out.dtype == dtype and out.shape == (batch, 3)
            assert_close(out, net.predict(X.T).T, RTOL[np.dtype(dtype)])


def test_onnx_graph_layout_and_metadata(dtype):
    pytest.importorskip("onnx")
    net = make_net([4, 6, 2], "tanh", "bce", "sigmoid", dtype)
    model = net.to_onnx()
    (inp,), (out,) = model.graph.input, model.graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert inp.name == "input" and dims == ["batch", 4]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["batch", 2]
    elem = {np.dtype(np.float32): 1, np.dtype(np.float64): 11}[np.dtype(dtype)]  # FLOAT, DOUBLE
    assert inp.type.tensor_type.elem_type == elem == out.type.tensor_type.elem_type
    meta = {prop.key: prop.value for prop in model.metadata_props}
    assert meta["fastnn_version"] == fastnn.__version__ == model.producer_version
    assert meta["sizes"] == "[4, 6, 2]" and meta["activations"] == '["tanh", "sigmoid"]'
    assert meta["dtype"] == np.dtype(dtype).name and meta["loss"] == "bce"
    assert model.opset_import[0].version == 17


def test_softmax_of_huge_logits_is_finite_in_onnx_runtime(dtype):
    pytest.importorskip("onnx")
    # logits of +-1e30: a softmax written as exp(z) / sum(exp(z)) gives inf / inf = NaN
    net = fastnn.Network([2, 3], loss="cce", dtype=dtype)
    net.layers[0].W[...] = np.array([[1e15, 0], [0, 1e15], [-1e15, -1e15]])
    X = np.array([[1e15, -1e15], [-1e15, 1e15], [0, 0], [1e15, 1e15]], dtype=dtype)
    want = net.predict(X.T).T
    assert np.isfinite(want).all()
    (got,) = ort_session(net.to_onnx()).run(None, {"input": X})
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, want, rtol=RTOL[np.dtype(dtype)], atol=0)


def test_sigmoid_tails_keep_their_relative_accuracy(dtype):
    """The exported logistic function is relatively accurate far into both tails, where
    ONNX Runtime's own Sigmoid kernel is not (float32 about 2x off at z = -17)."""
    pytest.importorskip("onnx")
    net = fastnn.Network([1, 1], loss="bce", dtype=dtype)
    net.layers[0].W[...] = 1
    z = np.concatenate([np.linspace(-80, 80, 641), [-30, -17.3, -10, 0, 10, 17.3, 30]]).astype(dtype)
    (got,) = ort_session(net.to_onnx()).run(None, {"input": z[:, None]})
    want = net.predict(z[None, :]).T
    normal = np.abs(want) >= np.finfo(dtype).tiny  # subnormal results carry no relative precision
    rel = np.abs(got - want)[normal] / want[normal]
    assert rel.max() <= 8 * np.finfo(dtype).eps


def test_to_onnx_writes_the_model(tmp_path):
    onnx = pytest.importorskip("onnx")
    net = make_net([3, 4, 2], "relu", "cce", "softmax", np.float32)
    path = tmp_path / "net.onnx"
    model = net.to_onnx(path)
    assert onnx.load(str(path)) == model
    with pytest.raises(FileNotFoundError, match="does not exist"):
        net.to_onnx(tmp_path / "missing" / "net.onnx")


@pytest.mark.parametrize("opset", [13, 21])
def test_opset_choice_runs(opset):
    pytest.importorskip("onnx")
    net = make_net([3, 4, 2], "sigmoid", "cce", "softmax", np.float64)
    model = net.to_onnx(opset=opset)
    assert model.opset_import[0].version == opset
    X = np.random.default_rng(0).standard_normal((5, 3))
    assert_close(ort_session(model).run(None, {"input": X})[0], net.predict(X.T).T, 1e-6)


@pytest.mark.parametrize("opset, error", [(12, ValueError), (10_000, ValueError), ("17", TypeError),
                                          (True, TypeError)])
def test_bad_opset_is_a_clear_error(opset, error):
    pytest.importorskip("onnx")
    with pytest.raises(error, match="opset must"):
        fastnn.Network([2, 1]).to_onnx(opset=opset)


# ----------------------------------------------------------------- skl2onnx pipelines


def _classification_targets(kind, X):
    if kind == "binary-strings":
        return np.where(X[:, 0] + X[:, 1] > 0, "spam", "ham")
    if kind == "multiclass-ints":
        return np.digitize(X[:, 0], [-0.5, 0.5]) * 10 - 7
    if kind == "multiclass-strings":
        return np.array(["cat", "dog", "eel", "fox"])[np.digitize(X[:, 0] - X[:, 2], [-1, 0, 1])]
    return (X[:, :3] > 0).astype(np.int64)  # multilabel


@pytest.mark.parametrize("zipmap", [False, True])
@pytest.mark.parametrize("kind", ["binary-strings", "multiclass-ints", "multiclass-strings", "multilabel"])
def test_classifier_pipeline_in_onnx_runtime(dtype, kind, zipmap):
    skl2onnx = pytest.importorskip("skl2onnx")
    pytest.importorskip("sklearn")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from fastnn import FastMLPClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 6)) * 5 + 3
    y = _classification_targets(kind, X)
    pipe = make_pipeline(StandardScaler(), FastMLPClassifier(hidden_layer_sizes=(16,), max_iter=60,
                                                             random_state=0, dtype=dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning
        pipe.fit(X, y)
    # ZipMap takes float32 probabilities only (as for MLPClassifier): float32 input with it
    X_in = X.astype(np.float32) if zipmap else X
    model = skl2onnx.to_onnx(pipe, X_in[:1], options={id(pipe[-1]): {"zipmap": zipmap}})
    labels, proba = ort_session(model).run(None, {"X": X_in})
    if zipmap:
        assert list(proba[0]) == list(pipe[-1].classes_)
        proba = np.array([[row[c] for c in pipe[-1].classes_] for row in proba])
    want = pipe.predict(X_in)
    assert labels.shape == want.shape
    np.testing.assert_array_equal(labels, want)
    atol = 1e-6 if dtype == np.float32 or zipmap else 1e-12
    np.testing.assert_allclose(proba, pipe.predict_proba(X_in), rtol=0, atol=atol)


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_regressor_pipeline_in_onnx_runtime(dtype, n_outputs):
    skl2onnx = pytest.importorskip("skl2onnx")
    pytest.importorskip("sklearn")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from fastnn import FastMLPRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4)) * 3 - 1
    Y = np.column_stack([np.sin(X[:, 0]) * 10, X[:, 1] * X[:, 2], X[:, 3]])[:, :n_outputs]
    y = Y[:, 0] if n_outputs == 1 else Y
    pipe = make_pipeline(StandardScaler(), FastMLPRegressor(hidden_layer_sizes=(16,), max_iter=60,
                                                            random_state=0, dtype=dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y)
    for X_in in (X, X.astype(np.float32)):
        (values,) = ort_session(skl2onnx.to_onnx(pipe, X_in[:1])).run(None, {"X": X_in})
        assert values.shape == (300, n_outputs) and values.dtype == X_in.dtype
        want = pipe.predict(X_in).reshape(300, n_outputs)
        tight = dtype == np.float64 and X_in.dtype == np.float64
        assert_close(values, want, 1e-12 if tight else 1e-5)


def test_converters_registered_when_skl2onnx_is_imported_after_fastnn():
    pytest.importorskip("skl2onnx")
    pytest.importorskip("sklearn")
    code = ("import numpy as np\n"
            "from fastnn import FastMLPRegressor\n"
            "import skl2onnx\n"
            "X = np.random.default_rng(0).standard_normal((20, 3))\n"
            "est = FastMLPRegressor(hidden_layer_sizes=(4,), max_iter=2).fit(X, X[:, 0])\n"
            "print(skl2onnx.to_onnx(est, X[:1]).graph.node[-1].op_type)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Identity"


# ----------------------------------------------------------------- scikit-learn weights


def _fitted_mlp(kind, dtype=np.float64):
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 5)).astype(dtype)
    if kind == "regressor":
        est, y = MLPRegressor(hidden_layer_sizes=(8, 6), activation="tanh", max_iter=30), X[:, :2] * 2
    else:
        est = MLPClassifier(hidden_layer_sizes=(7,), activation="logistic", max_iter=30)
        y = {"binary": X[:, 0] > 0, "multiclass": np.array(list("abc"))[np.digitize(X[:, 1], [-0.4, 0.4])],
             "multilabel": (X[:, :3] > 0).astype(int)}[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.set_params(random_state=0).fit(X, y), X


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regressor"])
def test_network_from_sklearn_predicts_the_same(kind):
    mlp, X = _fitted_mlp(kind)
    net = fastnn.Network.from_sklearn(mlp)
    assert net.dtype == np.float64 and net.sizes == [5, *mlp.hidden_layer_sizes, mlp.n_outputs_]
    out = net.predict(X.T).T
    if kind == "regressor":
        want = mlp.predict(X)
    else:
        want = mlp.predict_proba(X)[:, 1:] if kind == "binary" else mlp.predict_proba(X)
    assert_close(out, want, 1e-12)
    assert net.loss_name == {"binary": "bce", "multilabel": "bce", "multiclass": "cce"}.get(kind, "mse")


def test_network_from_sklearn_keeps_float32():
    mlp, X = _fitted_mlp("multiclass", np.float32)
    net = fastnn.Network.from_sklearn(mlp)
    assert net.dtype == np.float32
    assert_close(net.predict(X.T).T, mlp.predict_proba(X), 1e-5)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regressor"])
def test_estimator_from_sklearn_predicts_the_same_and_keeps_training(kind):
    mlp, X = _fitted_mlp(kind)
    from fastnn import FastMLPClassifier, FastMLPRegressor

    cls = FastMLPRegressor if kind == "regressor" else FastMLPClassifier
    est = cls.from_sklearn(mlp)
    assert est.get_params()["hidden_layer_sizes"] == mlp.hidden_layer_sizes
    assert est.n_iter_ == mlp.n_iter_ and est.loss_curve_ == mlp.loss_curve_
    if kind == "regressor":
        assert_close(est.predict(X), mlp.predict(X), 1e-12)
    else:
        np.testing.assert_array_equal(est.predict(X), mlp.predict(X))
        np.testing.assert_array_equal(est.classes_, mlp.classes_)
        assert_close(est.predict_proba(X), mlp.predict_proba(X), 1e-12)
    before = est.coefs_[0].copy()
    y = mlp.predict(X)
    est.partial_fit(X, y)
    assert not np.array_equal(est.coefs_[0], before)


def test_from_sklearn_errors_name_the_problem():
    pytest.importorskip("sklearn")
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline

    from fastnn import FastMLPClassifier, FastMLPRegressor

    with pytest.raises(NotFittedError, match="not fitted"):
        fastnn.Network.from_sklearn(MLPClassifier())
    with pytest.raises(TypeError, match=r"pipeline\[-1\]"):
        fastnn.Network.from_sklearn(make_pipeline(MLPClassifier()))
    with pytest.raises(TypeError, match="MLPClassifier or MLPRegressor.*LogisticRegression"):
        fastnn.Network.from_sklearn(LogisticRegression())
    mlp, _ = _fitted_mlp("binary")
    with pytest.raises(TypeError, match="needs a fitted MLPRegressor; got MLPClassifier"):
        FastMLPRegressor.from_sklearn(mlp)
    reg, _ = _fitted_mlp("regressor")
    with pytest.raises(TypeError, match="needs a fitted MLPClassifier; got MLPRegressor"):
        FastMLPClassifier.from_sklearn(reg)
    reg.coefs_[1] = reg.coefs_[1][:-1]
    with pytest.raises(ValueError, match=r"coefs_\[1\] has 7 rows \(inputs\) but the layer before it has 8"):
        fastnn.Network.from_sklearn(reg)


# ----------------------------------------------------------------- PyTorch weights


TORCH_ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU", "identity": None,
                     "softmax": "Softmax"}


@pytest.mark.parametrize("loss, output", OUTPUTS, ids=[out for _, out in OUTPUTS])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_torch_round_trip_predicts_the_same(dtype, hidden, loss, output):
    torch = pytest.importorskip("torch")
    net = make_net([5, 7, 6, 3], hidden, loss, output, dtype)
    module = net.to_torch()
    X = (3 * np.random.default_rng(2).standard_normal((64, 5))).astype(dtype)
    with torch.no_grad():
        out = module(torch.from_numpy(X)).numpy()
    assert out.dtype == dtype
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert_close(out, net.predict(X.T).T, rtol)
    back = fastnn.Network.from_torch(module, loss=loss)
    assert back.sizes == net.sizes and back.loss_name == net.loss_name and back.dtype == net.dtype
    assert [layer.activation for layer in back.layers] == [layer.activation for layer in net.layers]
    np.testing.assert_array_equal(back.params, net.params)


def test_from_torch_reads_bias_free_layers_identity_and_infers_the_loss():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 8, bias=False), nn.Identity(), nn.Tanh(), nn.Linear(8, 3),
                           nn.Softmax(dim=1)).double()
    net = fastnn.Network.from_torch(module)
    assert net.loss_name == "cce" and net.dtype == np.float64
    np.testing.assert_array_equal(net.layers[0].b, 0)
    X = np.random.default_rng(0).standard_normal((10, 4))
    with torch.no_grad():
        want = module(torch.from_numpy(X)).numpy()
    assert_close(net.predict(X.T).T, want, 1e-12)
    assert fastnn.Network.from_torch(nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())).loss_name == "bce"
    assert fastnn.Network.from_torch(nn.Sequential(nn.Linear(2, 1))).loss_name == "mse"


def test_from_torch_errors_name_the_module():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    cases = [
        (nn.Linear(2, 3), TypeError, "torch.nn.Sequential.*got Linear"),
        (nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(), nn.Linear(3, 1)), TypeError,
         r"module\[1\] \(LeakyReLU\) has no fastnn equivalent"),
        (nn.Sequential(nn.Linear(2, 3), nn.Linear(4, 1)), ValueError,
         r"module\[1\] \(Linear\) expects 4 inputs but module\[0\] \(Linear\) gives 3"),
        (nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Sigmoid()), ValueError,
         r"module\[2\] \(Sigmoid\) follows another activation \(relu\)"),
        (nn.Sequential(nn.ReLU(), nn.Linear(2, 3)), ValueError, r"module\[0\] \(ReLU\) comes before"),
        (nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=0)), ValueError, r"dim=0.*Softmax\(dim=-1\)"),
        (nn.Sequential(nn.Linear(2, 3).half()), TypeError, "float32 or all float64.*float16"),
        (nn.Sequential(nn.Identity()), ValueError, "no Linear layer"),
    ]
    for module, error, match in cases:
        with pytest.raises(error, match=match):
            fastnn.Network.from_torch(module)


def test_estimator_from_an_lbfgs_mlp_stays_lbfgs():
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPClassifier

    from fastnn import FastMLPClassifier

    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 4))
    y = X[:, 0] + X[:, 1] + rng.standard_normal(80) > 0  # noisy: 5 iterations do not converge
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=5, random_state=0).fit(X, y)
    est = FastMLPClassifier.from_sklearn(mlp)
    assert est.solver == "lbfgs" and not hasattr(est, "partial_fit")
    assert hasattr(est, "loss_curve_") == hasattr(mlp, "loss_curve_")
    assert_close(est.predict_proba(X), mlp.predict_proba(X), 1e-12)
    before = est.coefs_[0].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.set_params(warm_start=True, max_iter=5).fit(X, y)
    assert not np.array_equal(est.coefs_[0], before) and est.loss_ < mlp.loss_


def test_poisson_regressor_in_onnx_runtime(dtype):
    """loss="poisson" ends in an Exp node: ONNX Runtime predicts what the estimator does, through
    skl2onnx and through Network.to_onnx."""
    skl2onnx = pytest.importorskip("skl2onnx")
    pytest.importorskip("sklearn")
    from fastnn import FastMLPRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1]))
    est = FastMLPRegressor(loss="poisson", hidden_layer_sizes=(8,), max_iter=40, random_state=0, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    assert est.out_activation_ == "exp"
    X_in = X.astype(dtype)
    model = skl2onnx.to_onnx(est, X_in[:1])
    assert "Exp" in {node.op_type for node in model.graph.node}
    (values,) = ort_session(model).run(None, {"X": X_in})
    assert_close(values, est.predict(X_in)[:, None], RTOL[np.dtype(dtype)])
    net = est._net
    assert net.loss_name == "poisson"
    (out,) = ort_session(net.to_onnx()).run(None, {"input": X_in})
    assert_close(out, net.predict(X_in.T).T, RTOL[np.dtype(dtype)])
