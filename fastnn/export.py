"""Models that leave fastnn: ONNX export, skl2onnx converters, weights to and from
scikit-learn and PyTorch.

Everything here is reached through :class:`~fastnn.Network` (``to_onnx``, ``from_sklearn``,
``from_torch``, ``to_torch``) and the estimators' ``from_sklearn``. The optional packages
(``onnx``, ``onnxruntime``, ``skl2onnx``: ``pip install "fastnn[onnx]"``; ``torch``) are
imported inside the functions that need them, so importing this module costs nothing.
This module imports no other fastnn module but the version and the activation names:
the network classes are passed in (``cls``), so that ``network.py`` can sit above it.

A layer is described here by a triple ``(W, b, activation)``: ``W`` of shape
(n_out, n_in), ``b`` of shape (n_out,), and fastnn's activation name.
"""

import importlib
import importlib.abc
import importlib.util
import json
import os
import sys

import numpy as np

from ._version import __version__
from .layers import ACTIVATIONS

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "network_from_sklearn", "network_from_torch", "network_to_onnx",
           "network_to_torch", "register_skl2onnx_converters", "register_skl2onnx_on_import",
           "sklearn_layers"]

DEFAULT_OPSET = 17
"""ONNX opset of an export when none is given: supported by ONNX Runtime since 1.14 (2023)."""

MIN_OPSET = 13
"""Oldest opset an export accepts."""

ONNX_EXTRA = 'pip install "fastnn[onnx]"'

OUTPUT_LOSS = {"sigmoid": "bce", "softmax": "cce", "exp": "poisson"}
"""Output activation -> the loss fastnn pairs it with; any other output gets "mse"."""


def _require(module, what, install=ONNX_EXTRA):
    """Import ``module`` for ``what``, or raise an ImportError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is None or err.name.split(".")[0] != module.split(".")[0]:
            raise
        raise ImportError(f"{what} needs {module}, which is not installed; install it with "
                          f"{install}") from err


def _require_torch(what):
    return _require("torch", what, install="pip install torch (fastnn's bench extra pins torch==2.13.0)")


def _params(layers, dtype):
    """The flat parameters of ``layers`` (each ``W`` row-major, then ``b``), in ``dtype``."""
    parts = []
    for W, b, _ in layers:
        parts += [np.asarray(W, dtype=dtype).ravel(), np.asarray(b, dtype=dtype).ravel()]
    return np.concatenate(parts)


def _network_layers(net):
    return [(layer.W, layer.b[:, 0], layer.activation) for layer in net.layers]


# ----------------------------------------------------------------- graph writing

class _Graph:
    """Nodes and initializers of a standalone ONNX graph, with unique names."""

    def __init__(self):
        self.nodes, self.initializers, self._used = [], [], set()

    def name(self, hint):
        name, i = hint, 0
        while name in self._used:
            i += 1
            name = f"{hint}_{i}"
        self._used.add(name)
        return name

    def constant(self, hint, array):
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op, inputs, hint, out=None, **attrs):
        from onnx import helper

        out = out or self.name(hint)
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=self.name(f"{op}_{hint}"), **attrs))
        return out


class _ConverterGraph:
    """The same interface as :class:`_Graph`, writing into a skl2onnx converter's container."""

    def __init__(self, scope, container):
        self.scope, self.container = scope, container

    def name(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def constant(self, hint, array):
        from onnx import TensorProto, numpy_helper

        name = self.name(hint)
        array = np.asarray(array)
        if array.dtype.kind in "OSU":  # string tensors hold their values in string_data
            values = [str(value).encode("utf-8") for value in array.ravel()]
            self.container.add_initializer(name, TensorProto.STRING, list(array.shape), values)
        else:
            tensor = numpy_helper.from_array(np.ascontiguousarray(array), name)
            self.container.add_initializer(name, tensor.data_type, list(array.shape), tensor)
        return name

    def node(self, op, inputs, hint, out=None, **attrs):
        out = out or self.name(hint)
        self.container.add_node(op, list(inputs), [out], name=self.scope.get_unique_operator_name(op),
                                **attrs)
        return out


def _sigmoid(graph, z, dtype, out):
    """``exp(min(z, 0)) / (1 + exp(-|z|))``: the logistic function, relatively accurate in both tails.

    ONNX Runtime's ``Sigmoid`` kernel loses the relative accuracy of small outputs in float32
    (about 2x off at z = -17) and flushes float64 outputs to 0 below about z = -38; this form
    stays within a few ulp of fastnn's sigmoid (``tests/test_export.py`` measures both).
    """
    zero = graph.constant("zero", np.zeros((), dtype))
    one = graph.constant("one", np.ones((), dtype))
    numerator = graph.node("Exp", [graph.node("Min", [z, zero], "z_nonpositive")], "sigmoid_numerator")
    minus_abs = graph.node("Neg", [graph.node("Abs", [z], "abs_z")], "minus_abs_z")
    tail = graph.node("Exp", [minus_abs], "exp_minus_abs_z")
    return graph.node("Div", [numerator, graph.node("Add", [tail, one], "sigmoid_denominator")],
                      "sigmoid", out=out)


def _activation(graph, activation, z, dtype, out=None):
    if activation == "sigmoid":
        return _sigmoid(graph, z, dtype, out)
    if activation == "softmax":  # ONNX Runtime's Softmax subtracts the row maximum first
        return graph.node("Softmax", [z], "softmax", out=out, axis=1)
    op = {"tanh": "Tanh", "relu": "Relu", "identity": "Identity", "exp": "Exp"}[activation]
    if op == "Identity" and out is None:
        return z
    return graph.node(op, [z], activation, out=out)


def _dense_stack(graph, layers, dtype, x, out=None):
    """Write ``A = g(A_prev W^T + b)`` for every layer (row layout: one sample per row).

    Parameters
    ----------
    graph : _Graph or _ConverterGraph
    layers : list of (W, b, activation)
    dtype : float32 or float64
        The weights' and the computation's dtype; ``x`` must already be in it.
    x : str
        Name of the (batch, n_0) input.
    out : str, optional
        Name for the (batch, n_L) output.

    Returns
    -------
    str
        The output's name.
    """
    a = x
    for n, (W, b, activation) in enumerate(layers, start=1):
        W_name = graph.constant(f"W{n}", np.asarray(W, dtype=dtype))
        b_name = graph.constant(f"b{n}", np.asarray(b, dtype=dtype))
        z = graph.node("Gemm", [a, W_name, b_name], f"Z{n}", transB=1)
        a = _activation(graph, activation, z, dtype, out=out if n == len(layers) else None)
    return a


# ----------------------------------------------------------------- Network -> ONNX

def _check_opset(opset):
    onnx = _require("onnx", "Network.to_onnx")
    newest = onnx.defs.onnx_opset_version()
    if opset is None:
        return min(DEFAULT_OPSET, newest)
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset must be an int from {MIN_OPSET} to {newest}; got {opset!r}")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be from {MIN_OPSET} to {newest} (the newest this onnx "
                         f"{onnx.__version__} knows); got {opset}")
    return int(opset)


def network_to_onnx(net, path=None, *, opset=None):
    """The ONNX model of ``net``: see :meth:`fastnn.Network.to_onnx`."""
    onnx = _require("onnx", "Network.to_onnx")
    from onnx import helper

    opset = _check_opset(opset)
    if path is not None:
        folder = os.path.dirname(os.path.abspath(os.fspath(path)))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"path {os.fspath(path)!r}: the folder {folder!r} does not exist; "
                                    f"create it first")
    elem = helper.np_dtype_to_tensor_dtype(net.dtype)
    graph = _Graph()
    graph.name("input")
    graph.name("output")
    _dense_stack(graph, _network_layers(net), net.dtype, "input", out="output")
    acts = [layer.activation for layer in net.layers]
    doc = (f"fastnn {net!r} exported with fastnn {__version__}. input: (batch, {net.n_inputs}) "
           f"{net.dtype.name}, one sample per row; output: (batch, {net.n_outputs}), "
           f"fastnn's Network.predict(input.T).T")
    onnx_graph = helper.make_graph(
        graph.nodes, "fastnn_network",
        [helper.make_tensor_value_info("input", elem, ["batch", net.n_inputs])],
        [helper.make_tensor_value_info("output", elem, ["batch", net.n_outputs])],
        initializer=graph.initializers, doc_string=doc)
    opset_ids = [helper.make_opsetid("", opset)]
    model = helper.make_model(onnx_graph, opset_imports=opset_ids, producer_name="fastnn",
                              producer_version=__version__, doc_string=doc,
                              ir_version=helper.find_min_ir_version_for(opset_ids))
    helper.set_model_props(model, {
        "fastnn_version": __version__,
        "sizes": json.dumps(net.sizes),
        "activations": json.dumps(acts),
        "loss": net.loss_name,
        "dtype": net.dtype.name,
    })
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        onnx.save_model(model, os.fspath(path))
    return model


# ----------------------------------------------------------------- scikit-learn -> Network

def sklearn_layers(estimator, name="estimator"):
    """The layers of a fitted multi-layer perceptron, read from its public attributes.

    Parameters
    ----------
    estimator : fitted MLPClassifier, MLPRegressor, FastMLPClassifier or FastMLPRegressor
        Read: ``coefs_``, ``intercepts_``, ``activation``, ``out_activation_``.
    name : str
        How error messages call the argument.

    Returns
    -------
    layers : list of (W, b, activation)
        ``W`` of shape (n_out, n_in) (``coefs_[i].T``), ``b`` of shape (n_out,).
    dtype : numpy dtype
        The weights' dtype, float32 or float64.
    loss : {"bce", "cce", "mse", "poisson"}
        The loss fastnn pairs with the output activation.
    """
    kind = type(estimator).__name__
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    if "activation" not in params or "hidden_layer_sizes" not in params:
        hint = " (pass the pipeline's last step, pipeline[-1])" if hasattr(estimator, "steps") else ""
        raise TypeError(f"{name} must be a fitted scikit-learn MLPClassifier or MLPRegressor (or "
                        f"FastMLPClassifier/FastMLPRegressor); got {kind}{hint}")
    if not hasattr(estimator, "coefs_") or not hasattr(estimator, "out_activation_"):
        try:
            from sklearn.exceptions import NotFittedError as error
        except ImportError:
            error = ValueError
        raise error(f"{name} ({kind}) is not fitted (it has no coefs_); call fit first")
    coefs, intercepts = list(estimator.coefs_), list(estimator.intercepts_)
    if len(coefs) != len(intercepts) or not coefs:
        raise ValueError(f"{name} has {len(coefs)} coefs_ but {len(intercepts)} intercepts_; "
                         f"they need one array per layer each")
    try:
        hidden = ACTIVATIONS[str(estimator.activation).lower()]
        output = ACTIVATIONS[str(estimator.out_activation_).lower()]
    except KeyError as err:
        raise ValueError(f"{name} uses the activation {err.args[0]!r}, which fastnn does not have; "
                         f"fastnn has {sorted(set(ACTIVATIONS.values()))}") from None
    dtypes = {np.asarray(array).dtype for array in coefs + intercepts}
    if len(dtypes) != 1 or not dtypes <= {np.dtype(np.float32), np.dtype(np.float64)}:
        raise TypeError(f"{name}'s coefs_ and intercepts_ must all be float32 or all float64; "
                        f"got {sorted(d.name for d in dtypes)}")
    dtype = dtypes.pop()
    layers, n_in = [], None
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        coef, intercept = np.asarray(coef), np.asarray(intercept)
        if coef.ndim != 2 or intercept.shape != (coef.shape[-1],):
            raise ValueError(f"{name}.coefs_[{i}] has shape {coef.shape} and intercepts_[{i}] "
                             f"{intercept.shape}; expected (n_in, n_out) and (n_out,)")
        if n_in is not None and coef.shape[0] != n_in:
            raise ValueError(f"{name}.coefs_[{i}] has {coef.shape[0]} rows (inputs) but the layer "
                             f"before it has {n_in} outputs")
        n_in = coef.shape[1]
        layers.append((coef.T, intercept, output if i == len(coefs) - 1 else hidden))
    return layers, dtype, OUTPUT_LOSS.get(output, "mse")


def network_from_sklearn(cls, estimator):
    """``cls.from_params`` of the fitted ``estimator``'s weights: see :meth:`fastnn.Network.from_sklearn`."""
    layers, dtype, loss = sklearn_layers(estimator)
    sizes = [layers[0][0].shape[1]] + [W.shape[0] for W, _, _ in layers]
    return cls.from_params(sizes, [act for _, _, act in layers], _params(layers, dtype), loss=loss)


# ----------------------------------------------------------------- PyTorch <-> Network

def _torch_activations(nn):
    return {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu", nn.Softmax: "softmax"}


def network_from_torch(cls, module, loss=None):
    """``cls.from_params`` of a ``torch.nn.Sequential``: see :meth:`fastnn.Network.from_torch`."""
    torch = _require_torch("Network.from_torch")
    nn = torch.nn
    activations = _torch_activations(nn)
    supported = "Linear, Sigmoid, Tanh, ReLU, Softmax(dim=-1), Identity"
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"module must be a torch.nn.Sequential of {supported}; got {type(module).__name__}")
    layers = []  # [W, b, activation, index]
    for i, child in enumerate(module):
        where = f"module[{i}] ({type(child).__name__})"
        if type(child) is nn.Linear:
            W = child.weight.detach().cpu().numpy()
            if layers and W.shape[1] != layers[-1][0].shape[0]:
                raise ValueError(f"{where} expects {W.shape[1]} inputs but module[{layers[-1][3]}] "
                                 f"(Linear) gives {layers[-1][0].shape[0]} outputs")
            b = (child.bias.detach().cpu().numpy() if child.bias is not None
                 else np.zeros(W.shape[0], dtype=W.dtype))
            layers.append([W, b, "identity", i])
        elif type(child) is nn.Identity:
            continue
        elif type(child) in activations:
            name = activations[type(child)]
            if not layers:
                raise ValueError(f"{where} comes before any Linear layer; a fastnn layer is a Linear "
                                 f"layer followed by at most one activation")
            if layers[-1][2] != "identity":
                raise ValueError(f"{where} follows another activation ({layers[-1][2]}); a fastnn "
                                 f"layer has one activation: put a Linear layer between them")
            if name == "softmax" and child.dim not in (1, -1):
                raise ValueError(f"{where} takes the softmax over dim={child.dim}; fastnn's is over "
                                 f"the features of each sample: use torch.nn.Softmax(dim=-1)")
            layers[-1][2] = name
        else:
            raise TypeError(f"{where} has no fastnn equivalent; fastnn converts Sequential models "
                            f"of {supported}")
    if not layers:
        raise ValueError("module has no Linear layer; fastnn needs at least one")
    dtypes = {array.dtype for W, b, _, _ in layers for array in (W, b)}
    if len(dtypes) != 1 or not dtypes <= {np.dtype(np.float32), np.dtype(np.float64)}:
        raise TypeError(f"module's parameters must all be float32 or all float64 (module.float() or "
                        f"module.double()); got {sorted(str(d) for d in dtypes)}")
    dtype = layers[0][0].dtype
    sizes = [layers[0][0].shape[1]] + [W.shape[0] for W, _, _, _ in layers]
    acts = [act for _, _, act, _ in layers]
    loss = OUTPUT_LOSS.get(acts[-1], "mse") if loss is None else loss
    return cls.from_params(sizes, acts, _params([layer[:3] for layer in layers], dtype), loss=loss)


def network_to_torch(net):
    """A ``torch.nn.Sequential`` with ``net``'s weights: see :meth:`fastnn.Network.to_torch`."""
    torch = _require_torch("Network.to_torch")
    nn = torch.nn
    modules = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
    dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[net.dtype]
    children = []
    for layer in net.layers:
        if layer.activation == "exp":
            raise ValueError("Network.to_torch: torch.nn has no exp activation module, so a network "
                             "with an 'exp' layer (loss 'poisson') cannot be converted; export it "
                             "to ONNX instead (Network.to_onnx)")
        linear = nn.Linear(layer.n_in, layer.n_out, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(layer.W)))
            linear.bias.copy_(torch.from_numpy(np.array(layer.b[:, 0])))
        children.append(linear)
        if layer.activation == "softmax":
            children.append(nn.Softmax(dim=-1))
        elif layer.activation in modules:
            children.append(modules[layer.activation]())
    return nn.Sequential(*children)


# ----------------------------------------------------------------- skl2onnx converters

def _label_constant(classes):
    """``classes_`` as ONNX label values: strings stay strings, integers and booleans become
    int64, integral floats int64 (skl2onnx's convention for MLPClassifier)."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "OSU":
        return np.array([str(c) for c in classes], dtype=object)
    if classes.dtype.kind == "f" and not np.array_equal(classes, np.round(classes)):
        raise ValueError(f"classes_ {classes} are floats that are not integers; ONNX labels are "
                         f"int64 or strings: encode the classes as integers or strings")
    return classes.astype(np.int64)


def _labels(operator):
    """The label values of the classifier (``classes_``, or 0, 1, ... with option ``nocl``)."""
    from skl2onnx.common.utils_classifier import get_label_classes

    return _label_constant(get_label_classes(operator.scope_inst, operator.raw_operator))


def _float_type(operator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    return DoubleTensorType if isinstance(operator.inputs[0].type, DoubleTensorType) else FloatTensorType


def _is_multilabel(estimator):
    return estimator.out_activation_ == "logistic" and estimator.n_outputs_ > 1


def _classifier_shapes(operator):
    """Declared outputs: label (N,) ((N, n_labels) for multilabel), probabilities (N, n_classes)."""
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType
    from skl2onnx.common.utils import check_input_and_output_numbers

    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    est = operator.raw_operator
    N = operator.inputs[0].get_first_dimension()
    labels = _labels(operator)
    label_type = StringTensorType if labels.dtype == object else Int64TensorType
    multilabel = _is_multilabel(est)
    operator.outputs[0].type = label_type([N, len(labels)] if multilabel else [N])
    operator.outputs[1].type = _float_type(operator)([N, len(labels)])


def _regressor_shapes(operator):
    """Declared output: values (N, n_outputs)."""
    from skl2onnx.common.utils import check_input_and_output_numbers

    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    N = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = _float_type(operator)([N, operator.raw_operator.n_outputs_])


def _network_output(scope, operator, container):
    """Write the estimator's network; returns (graph, output name, its float type's dtype)."""
    from onnx import helper

    layers, dtype, _ = sklearn_layers(operator.raw_operator)
    graph = _ConverterGraph(scope, container)
    x = graph.node("Cast", [operator.inputs[0].full_name], "input_cast",
                   to=helper.np_dtype_to_tensor_dtype(dtype))
    out = _dense_stack(graph, layers, dtype, x)
    from skl2onnx.common.data_types import DoubleTensorType

    wanted = np.dtype(np.float64 if _float_type(operator) is DoubleTensorType else np.float32)
    if wanted != dtype:
        out = graph.node("Cast", [out], "output_cast", to=helper.np_dtype_to_tensor_dtype(wanted))
    return graph, out, wanted


def _convert_classifier(scope, operator, container):
    """Labels and probabilities, decided as the estimator's predict/predict_proba decide them."""
    est = operator.raw_operator
    graph, out, dtype = _network_output(scope, operator, container)
    label_name, proba_name = operator.outputs[0].full_name, operator.outputs[1].full_name
    if est.n_outputs_ == 1:  # binary: [1 - p, p]; the label is classes_[p > 0.5]
        negative = graph.node("Sub", [graph.constant("one", np.array(1, dtype)), out], "negative_proba")
        graph.node("Concat", [negative, out], "probabilities", out=proba_name, axis=1)
        above = graph.node("Greater", [out, graph.constant("half", np.array(0.5, dtype))], "above_half")
        index = graph.node("Reshape", [graph.node("Cast", [above], "index", to=7),  # 7: INT64
                                       graph.constant("flat", np.array([-1], np.int64))], "label_index")
    else:
        graph.node("Identity", [out], "probabilities", out=proba_name)
        if _is_multilabel(est):  # every label whose probability is above 0.5
            half = graph.constant("half", np.array(0.5, dtype))
            graph.node("Cast", [graph.node("Greater", [out, half], "above_half")], "labels",
                       out=label_name, to=7)
            return
        index = graph.node("ArgMax", [out], "label_index", axis=1, keepdims=0)
    graph.node("Gather", [graph.constant("classes", _labels(operator)), index], "labels",
               out=label_name, axis=0)


def _convert_regressor(scope, operator, container):
    graph, out, _ = _network_output(scope, operator, container)
    graph.node("Identity", [out], "values", out=operator.outputs[0].full_name)


def register_skl2onnx_converters():
    """Register FastMLPClassifier and FastMLPRegressor with skl2onnx (idempotent).

    Done automatically when both ``fastnn.sklearn`` and ``skl2onnx`` are imported, in
    either order (:func:`register_skl2onnx_on_import`). The classifier takes skl2onnx's
    classifier options ``zipmap`` (True, False, "columns"), ``output_class_labels`` and
    ``nocl`` (labels 0, 1, ... instead of ``classes_``).
    """
    skl2onnx = _require("skl2onnx", "converting fastnn's estimators with skl2onnx")
    from .sklearn import FastMLPClassifier, FastMLPRegressor

    skl2onnx.update_registered_converter(
        FastMLPClassifier, "FastnnMLPClassifier", _classifier_shapes, _convert_classifier,
        options={"zipmap": [True, False, "columns"], "output_class_labels": [False, True],
                 "nocl": [False, True]})
    skl2onnx.update_registered_converter(FastMLPRegressor, "FastnnMLPRegressor", _regressor_shapes,
                                         _convert_regressor)


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``skl2onnx`` is first imported, it wraps that module's
    loader so that the converters are registered right after the module has run."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "skl2onnx":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            register_skl2onnx_converters()

        spec.loader.exec_module = exec_then_register
        return spec


def register_skl2onnx_on_import():
    """Register the converters now if skl2onnx is imported, else as soon as it is.

    Importing skl2onnx takes seconds, so fastnn never imports it itself: ``fastnn.sklearn``
    calls this, and ``skl2onnx.to_onnx(pipeline_with_a_fastnn_estimator, X[:1])`` works
    whichever of the two was imported first.
    """
    if "skl2onnx" in sys.modules:
        register_skl2onnx_converters()
    elif not any(isinstance(finder, _RegisterAfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())
