"""save/load: bitwise round trip, atomic writes, and a clear ValueError for every bad file."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import io


def make_net(dtype=np.float32):
    layers = [fastnn.Dense(4, 6, "tanh", dtype, seed=1), fastnn.Dense(6, 5, "relu", dtype, seed=2),
              fastnn.Dense(5, 3, "softmax", dtype, seed=3)]
    net = fastnn.Network(layers, loss="cce")
    net.params += np.random.default_rng(0).standard_normal(net.n_params).astype(dtype)
    return net


def write(path, **arrays):
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def write_npy(path, array):
    with open(path, "wb") as handle:
        np.save(handle, array)


def write_objects(path, **arrays):
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)  # object arrays are pickled into the archive


def header_of(net, **changes):
    header = io.header(net)
    header.update(changes)
    return np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_bitwise(tmp_path, dtype):
    net = make_net(dtype)
    path = tmp_path / "model.npz"
    net.save(path)  # path-like
    loaded = fastnn.load(str(path))  # str
    assert loaded.sizes == net.sizes and loaded.dtype == dtype and loaded.loss_name == "cce"
    assert [layer.activation for layer in loaded.layers] == ["tanh", "relu", "softmax"]
    np.testing.assert_array_equal(loaded.params, net.params)
    X = np.random.default_rng(1).standard_normal((4, 33)).astype(dtype)
    assert np.array_equal(loaded.predict(X), net.predict(X))
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind


def test_trained_network_round_trip(tmp_path):
    X, y = fastnn.datasets.make_moons(100, seed=0)
    net = fastnn.Network([2, 8, 1], seed=0)
    net.fit(X, y, epochs=5, verbose=0)
    net.save(tmp_path / "moons")  # no suffix is added
    assert (tmp_path / "moons").exists()
    loaded = fastnn.load(tmp_path / "moons")
    assert np.array_equal(loaded.predict(X), net.predict(X))
    loaded.fit(X, y, epochs=1, verbose=0)  # and it trains


def test_save_replaces_atomically_and_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    good = make_net()
    good.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(io.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        make_net(np.float64).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]
    other = fastnn.Network([2, 3, 1], seed=5)
    other.save(path)
    assert fastnn.load(path).sizes == [2, 3, 1]


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model file"):
        fastnn.load(tmp_path / "absent.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_net().save(tmp_path / "no" / "such" / "folder.npz")


def corrupt_cases(tmp_path):
    net = make_net()
    good = tmp_path / "good.npz"
    net.save(good)
    data = good.read_bytes()
    params = net.params
    cases = {}

    def case(name, match, writer):
        path = tmp_path / f"{name}.npz"
        writer(path)
        cases[name] = (path, match)

    case("truncated", "truncated|unreadable", lambda p: p.write_bytes(data[: len(data) // 2]))
    case("truncated_tail", "truncated|unreadable", lambda p: p.write_bytes(data[:-10]))
    case("empty", "not an .npz|truncated|unreadable", lambda p: p.write_bytes(b""))
    case("garbage", "not an .npz", lambda p: p.write_bytes(b"hello, this is not a model" * 10))
    case("pickle", "not an .npz", lambda p: p.write_bytes(pickle.dumps({"params": params})))
    case("npy", "single .npy", lambda p: write_npy(p, params))
    case("object_array", "without pickle",
         lambda p: write_objects(p, header=np.array([{"evil": 1}], dtype=object), params=params))
    case("wrong_version", "version 2", lambda p: write(p, header=header_of(net, version=2), params=params))
    case("wrong_format", "format", lambda p: write(p, header=header_of(net, format="keras"), params=params))
    case("missing_key", "missing", lambda p: write(p, header=header_of(net)))
    case("extra_key", "unexpected", lambda p: write(p, header=header_of(net), params=params, code=params))
    case("short_params", "shape", lambda p: write(p, header=header_of(net), params=params[:-1]))
    case("wrong_dtype", "dtype", lambda p: write(p, header=header_of(net), params=params.astype(np.float64)))
    case("int_params", "dtype", lambda p: write(p, header=header_of(net), params=params.astype(np.int32)))
    case("nan_weights", "NaN", lambda p: write(p, header=header_of(net), params=np.where(
        np.arange(params.size) == 3, np.float32(np.nan), params)))
    case("inf_weights", "NaN or infinite", lambda p: write(p, header=header_of(net), params=np.full_like(params, np.inf)))
    case("bad_json", "JSON", lambda p: write(p, header=np.frombuffer(b"{not json", np.uint8), params=params))
    case("header_not_object", "JSON object",
         lambda p: write(p, header=np.frombuffer(b"[1, 2]", np.uint8), params=params))
    case("header_dtype", "uint8", lambda p: write(p, header=np.zeros(3, np.float32), params=params))
    case("bad_sizes", "sizes", lambda p: write(p, header=header_of(net, sizes=[4, -6, 5, 3]), params=params))
    case("bad_activation", "activations",
         lambda p: write(p, header=header_of(net, activations=["tanh", "evil", "softmax"]), params=params))
    case("bad_loss", "loss", lambda p: write(p, header=header_of(net, loss="hinge"), params=params))
    case("bad_header_dtype", "dtype", lambda p: write(p, header=header_of(net, dtype="float16"), params=params))
    case("n_params", "n_params", lambda p: write(p, header=header_of(net, n_params=5), params=params))
    case("missing_header_key", "no 'loss'", lambda p: write(p, header=np.frombuffer(json.dumps(
        {k: v for k, v in io.header(net).items() if k != "loss"}).encode(), np.uint8), params=params))
    case("inconsistent", "inconsistent header",
         lambda p: write(p, header=header_of(net, loss="bce"), params=params))
    return cases


CASES = ["truncated", "truncated_tail", "empty", "garbage", "pickle", "npy", "object_array",
         "wrong_version", "wrong_format", "missing_key", "extra_key", "short_params", "wrong_dtype",
         "int_params", "nan_weights", "inf_weights", "bad_json", "header_not_object", "header_dtype",
         "bad_sizes", "bad_activation", "bad_loss", "bad_header_dtype", "n_params",
         "missing_header_key", "inconsistent"]


@pytest.mark.parametrize("name", CASES)
def test_bad_files_raise_a_clear_value_error(tmp_path, name):
    path, match = corrupt_cases(tmp_path)[name]
    with pytest.raises(ValueError, match="not a valid fastnn model file") as info:
        fastnn.load(path)
    assert info.match(match)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_pickled_file_never_runs_code(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ValueError):
        fastnn.load(path)
    write_objects(tmp_path / "evil2.npz", header=np.array([Evil()], dtype=object),
                  params=np.zeros(3, np.float32))
    with pytest.raises(ValueError):
        fastnn.load(tmp_path / "evil2.npz")
    assert not marker.exists()


def test_save_checks_its_argument():
    with pytest.raises(TypeError, match="net"):
        io.save("not a network", "x.npz")
