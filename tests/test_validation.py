"""Bad input gets a ValueError/TypeError whose message names the argument and says what
was expected and what was received."""

import re

import numpy as np
import pytest

import fastnn


@pytest.fixture
def net():
    return fastnn.Network([3, 4, 2], seed=0)


X_OK = np.zeros((3, 5))
Y_OK = np.zeros((2, 5))


def raises(error, *fragments):
    """``pytest.raises`` requiring every fragment, literally, in the message."""
    return pytest.raises(error, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


# ----------------------------------------------------------------------- shapes


@pytest.mark.parametrize("method", ["forward", "predict", "loss", "train_step", "gradcheck"])
def test_wrong_number_of_rows_in_X(net, method):
    X = np.zeros((4, 5))
    call = {
        "forward": lambda: net.forward(X),
        "predict": lambda: net.predict(X),
        "loss": lambda: net.loss(X, Y_OK),
        "train_step": lambda: net.train_step(X, Y_OK, 0.1),
        "gradcheck": lambda: fastnn.gradcheck(net, X, Y_OK),
    }[method]
    with raises(ValueError, "X has 4 rows (features)", "3 are expected", "(4, 5)", "(3, samples)"):
        call()


def test_samples_in_rows_suggests_transposing(net):
    with raises(ValueError, "X has 5 rows", "3 are expected", "X.T"):
        net.forward(np.zeros((5, 3)))


def call_with_targets(net, method, Y):
    """Call ``method`` ("loss", "train_step" or "backward") on X_OK with targets ``Y``."""
    if method == "loss":
        net.loss(X_OK, Y)
    elif method == "train_step":
        net.train_step(X_OK, Y, 0.1)
    else:
        net.forward(X_OK)
        net.backward(Y)


@pytest.mark.parametrize("method", ["loss", "train_step", "backward"])
def test_Y_not_matching_the_output_layer(net, method):
    Y = np.zeros((3, 5))
    with raises(ValueError, "Y has 3 rows (outputs)", "2 are expected", "(3, 5)", "(2, samples)"):
        call_with_targets(net, method, Y)


@pytest.mark.parametrize("method", ["loss", "train_step", "backward"])
def test_Y_not_matching_the_sample_count_of_X(net, method):
    Y = np.zeros((2, 4))
    with raises(ValueError, "Y has 4 columns (samples)", "X has 5", "(2, 4)", "(2, 5)"):
        call_with_targets(net, method, Y)


@pytest.mark.parametrize("shape", [(3,), (3, 5, 1), ()])
def test_not_two_dimensional(net, shape):
    with raises(ValueError, "X must be a 2-D array", "(features, samples)", f"{len(shape)}-D", str(shape)):
        net.forward(np.zeros(shape))


def test_one_dimensional_input_suggests_a_reshape(net):
    with raises(ValueError, "1-D", "X.reshape(-1, 1)"):
        net.predict(np.zeros(3))
    with raises(ValueError, "Y must be a 2-D array", "(outputs, samples)"):
        net.loss(np.zeros((3, 1)), np.zeros(2))


@pytest.mark.parametrize("shape", [(3, 0), (0, 5), (0, 0)])
def test_empty_arrays(net, shape):
    with raises(ValueError, "X is empty", str(shape)):
        net.forward(np.zeros(shape))


def test_empty_targets(net):
    with raises(ValueError, "Y is empty"):
        net.loss(np.zeros((3, 1)), np.zeros((2, 0)))


# ----------------------------------------------------------------------- values and dtypes


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_X(net, bad):
    X = np.zeros((3, 5))
    X[1, 2] = bad
    with raises(ValueError, "X contains NaN or infinity", "(1, 2)"):
        net.forward(X)


def test_non_finite_Y(net):
    Y = np.zeros((2, 5))
    Y[0, 4] = np.nan
    with raises(ValueError, "Y contains NaN or infinity", "(0, 4)"):
        net.loss(X_OK, Y)


def test_value_overflowing_the_network_dtype(net):
    X = np.zeros((3, 5))
    X[2, 0] = 1e300  # finite in float64, inf in the float32 network
    with raises(ValueError, "X contains NaN or infinity", "(2, 0)", "1e+300", "overflows float32"):
        net.forward(X)


@pytest.mark.parametrize("array,kind", [
    (np.zeros((3, 5), dtype=object), "object"),
    (np.full((3, 5), "1.0"), "string"),
    (np.full((3, 5), b"1"), "bytes"),
    (np.zeros((3, 5), dtype=complex), "complex"),
    (np.zeros((3, 5), dtype="datetime64[s]"), "datetime"),
])
def test_non_real_dtypes(net, array, kind):
    with raises(TypeError, "X must hold real numbers", str(array.dtype), kind):
        net.forward(array)
    with raises(TypeError, "Y must hold real numbers", str(array.dtype)):
        net.loss(X_OK, array[:2])


def test_ragged_input(net):
    with raises(TypeError, "X must be a numeric array", "list"):
        net.forward([[1.0, 2.0], [3.0]])


@pytest.mark.parametrize("loss", ["bce", "cce"])
@pytest.mark.parametrize("value", [-0.5, 1.5])
def test_cross_entropy_targets_outside_0_1(loss, value):
    net = fastnn.Network([3, 2], loss=loss)
    Y = np.zeros((2, 5))
    Y[1, 3] = value
    with raises(ValueError, "Y must hold targets in [0, 1]", f"loss {loss!r}", str(value)):
        net.loss(X_OK, Y)
    with raises(ValueError, "Y must hold targets in [0, 1]"):
        net.train_step(X_OK, Y, 0.1)
    net.forward(X_OK)
    with raises(ValueError, "Y must hold targets in [0, 1]"):
        net.backward(Y)


def test_mse_accepts_any_finite_targets():
    net = fastnn.Network([3, 2], loss="mse", dtype=np.float64)
    Y = np.full((2, 5), -7.5)
    assert net.loss(X_OK, Y) == pytest.approx(7.5**2)


# ----------------------------------------------------------------------- names and numbers


@pytest.mark.parametrize("make", [
    lambda: fastnn.Network([2, 3, 1], activation="swish"),
    lambda: fastnn.Dense(2, 3, activation="swish"),
])
def test_unknown_activation(make):
    with raises(ValueError, "unknown activation 'swish'", "sigmoid", "relu", "tanh"):
        make()


def test_unknown_output_activation():
    with raises(ValueError, "unknown output_activation 'gelu'", "identity", "softmax"):
        fastnn.Network([2, 3, 1], loss="mse", output_activation="gelu")


def test_activation_not_a_string():
    with raises(TypeError, "activation must be a string", "got 3"):
        fastnn.Dense(2, 3, activation=3)


def test_unknown_loss():
    with raises(ValueError, "unknown loss 'hinge'", "bce", "cce", "mse"):
        fastnn.Network([2, 1], loss="hinge")
    with raises(TypeError, "loss must be a string", "got None"):
        fastnn.Network([2, 1], loss=None)


@pytest.mark.parametrize("loss,output,required", [
    ("bce", "relu", "sigmoid"), ("bce", "softmax", "sigmoid"), ("cce", "sigmoid", "softmax"),
])
def test_loss_needs_its_output_activation(loss, output, required):
    with raises(ValueError, f"loss {loss!r} needs a {required!r} output layer", repr(output)):
        fastnn.Network([2, 3, 2], loss=loss, output_activation=output)
    with raises(ValueError, f"needs a {required!r} output layer"):
        fastnn.Network([fastnn.Dense(2, 2, activation=output)], loss=loss)


@pytest.mark.parametrize("lr,error,fragment", [
    (0, ValueError, "got 0.0"), (-0.1, ValueError, "got -0.1"), (float("nan"), ValueError, "got nan"),
    (float("inf"), ValueError, "got inf"), ("0.1", TypeError, "got '0.1' (str)"),
    (True, TypeError, "got True (bool)"), (None, TypeError, "got None"),
])
def test_bad_learning_rate(net, lr, error, fragment):
    net.forward(X_OK)
    net.backward(Y_OK)
    with raises(error, "lr must be", fragment):
        net.step(lr)
    with raises(error, "lr must be", fragment):
        net.train_step(X_OK, Y_OK, lr)


def test_bad_gradcheck_arguments(net):
    with raises(ValueError, "eps must be a finite number > 0", "got 0.0"):
        fastnn.gradcheck(net, X_OK, Y_OK, eps=0)
    with raises(ValueError, "n_directions must be a positive integer", "got 0"):
        fastnn.gradcheck(net, X_OK, Y_OK, n_directions=0)


# ----------------------------------------------------------------------- layers


def test_mismatched_dense_chain():
    with raises(ValueError, "layers[0] has 3 outputs", "layers[1] expects 4 inputs"):
        fastnn.Network([fastnn.Dense(2, 3), fastnn.Dense(4, 1)])
    with raises(ValueError, "layers[1] has 4 outputs", "layers[2] expects 5 inputs"):
        fastnn.Network([fastnn.Dense(2, 3), fastnn.Dense(3, 4), fastnn.Dense(5, 1)])


@pytest.mark.parametrize("sizes,error,fragment", [
    ([3], ValueError, "at least two sizes"),
    ([], ValueError, "at least two sizes"),
    ([3, 0, 1], ValueError, "layers[1] must be a positive integer; got 0"),
    ([3, -2, 1], ValueError, "layers[1] must be a positive integer; got -2"),
    ([3, 2.5, 1], TypeError, "layers[1] must be a positive integer; got 2.5 (float)"),
    ("3,2", TypeError, "layers must be a list"),
    (3, TypeError, "layers must be a list"),
])
def test_bad_layer_sizes(sizes, error, fragment):
    with raises(error, fragment):
        fastnn.Network(sizes)


def test_mixed_sizes_and_dense():
    with raises(TypeError, "all sizes (ints) or all Dense layers"):
        fastnn.Network([2, fastnn.Dense(2, 1)])


def test_dense_reused():
    layer = fastnn.Dense(2, 2)
    with raises(ValueError, "the same Dense object appears twice"):
        fastnn.Network([layer, layer])
    owned = fastnn.Dense(2, 1)
    fastnn.Network([owned])
    with raises(ValueError, "layers[0] already belongs to another Network"):
        fastnn.Network([owned])


def test_layers_of_different_dtypes():
    layers = [fastnn.Dense(2, 2, dtype=np.float32), fastnn.Dense(2, 1, dtype=np.float64)]
    with raises(TypeError, "different dtypes", "float32", "float64", "dtype="):
        fastnn.Network(layers)


@pytest.mark.parametrize("dtype,shown", [(np.float16, "float16"), (int, "int64"), ("banana", "'banana'")])
def test_bad_dtype(dtype, shown):
    with raises(TypeError, "dtype must be float32 or float64", f"got {shown}"):
        fastnn.Network([2, 1], dtype=dtype)
    with raises(TypeError, "dtype must be float32 or float64", f"got {shown}"):
        fastnn.Dense(2, 1, dtype=dtype)


@pytest.mark.parametrize("n_in,n_out,error,fragment", [
    (0, 1, ValueError, "n_in must be a positive integer; got 0"),
    (1, -1, ValueError, "n_out must be a positive integer; got -1"),
    (1, 1.0, TypeError, "n_out must be a positive integer; got 1.0 (float)"),
    (True, 1, TypeError, "n_in must be a positive integer; got True (bool)"),
])
def test_bad_dense_sizes(n_in, n_out, error, fragment):
    with raises(error, fragment):
        fastnn.Dense(n_in, n_out)


# ----------------------------------------------------------------------- call order


def test_backward_needs_a_forward(net):
    with raises(RuntimeError, "backward() needs a forward(X) first"):
        net.backward(Y_OK)
    net.forward(X_OK)
    net.backward(Y_OK)
    net.step(0.1)
    with raises(RuntimeError, "after each step()"):
        net.backward(Y_OK)


@pytest.mark.parametrize("seed", ["abc", 1.5, True])
def test_bad_seed_is_named(seed):
    with pytest.raises(TypeError, match="seed must be None, a non-negative int"):
        fastnn.Network([2, 3, 1], seed=seed)
    with pytest.raises(TypeError, match="seed must be None"):
        fastnn.Dense(2, 3, seed=seed)
    X, y = fastnn.datasets.make_xor()
    with pytest.raises(TypeError, match="seed must be None"):
        fastnn.Network([2, 3, 1]).fit(X, y, epochs=1, seed=seed, verbose=0)


def _batch_variants():
    X = np.zeros((3, 5), np.float32)
    Y = np.zeros((2, 5), np.float32)
    yield "ready", X, Y
    yield "X float64", X.astype(np.float64), Y
    yield "Y float64", X, Y.astype(np.float64)
    yield "X F-ordered", np.asfortranarray(np.zeros((3, 5), np.float32)), Y
    yield "Y not contiguous", X, np.zeros((2, 10), np.float32)[:, ::2]
    yield "X rows", np.zeros((4, 5), np.float32), Y
    yield "Y rows", X, np.zeros((3, 5), np.float32)
    yield "m differs", X, np.zeros((2, 4), np.float32)
    yield "empty", np.zeros((3, 0), np.float32), np.zeros((2, 0), np.float32)
    yield "X 1-D", np.zeros(3, np.float32), Y
    yield "X 3-D", np.zeros((3, 5, 1), np.float32), Y
    yield "Y 1-D", X, np.zeros(5, np.float32)
    yield "X subclass", X.view(type("Sub", (np.ndarray,), {})), Y
    yield "X list", X.tolist(), Y


@pytest.mark.parametrize("case, X, Y", list(_batch_variants()), ids=[c for c, _, _ in _batch_variants()])
def test_batch_ready_is_both_is_ready(case, X, Y):
    """The train_step fast path: True exactly when each array is ready on its own."""
    from fastnn._validation import batch_ready, is_ready

    dtype = np.dtype(np.float32)
    one_by_one = is_ready(X, dtype, 3) and is_ready(Y, dtype, 2, X.shape[1])
    assert batch_ready(X, Y, dtype, 3, 2) == one_by_one == (case == "ready")
