"""Saving and loading: exact round trips on every backend, atomic writes, and hostile files.

Every defect of a file must surface as ``ValueError`` (a missing file as ``FileNotFoundError``),
and loading must never run anything the file carries.
"""

import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import xpnet
from xpnet import backend as B
from xpnet import io as xio
from xpnet.layers import (
    Dense,
    Dropout,
    Identity,
    Layer,
    LeakyReLU,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)

NUMPY = B.get("numpy")


@pytest.fixture(autouse=True)
def _numpy_by_default():
    """Tests without the ``backend`` fixture run on NumPy, whatever ``XPNET_BACKEND`` says."""
    with B.use(NUMPY):
        yield


def _needs(backend, dtype):
    """Skip where the device refuses ``dtype`` (array_api_strict's "no_float64")."""
    try:
        backend.xp.zeros(1, dtype=backend.dtype(dtype), device=backend.device)
    except ValueError:
        pytest.skip(f"{backend} has no {dtype}")


def _mixed(backend, dtype="float32"):
    """Every registry layer, a Dense without bias and a nested Sequential."""
    kw = dict(backend=backend, dtype=dtype)
    return Sequential(
        Dense(3, 6, seed=1, **kw), LeakyReLU(0.2), Dropout(0.25, seed=0),
        Dense(6, 4, bias=False, seed=2, **kw), Sequential(Dense(4, 4, seed=3, **kw), Tanh()),
        Identity(), ReLU(), Dense(4, 3, seed=4, **kw), Sigmoid(), Softmax())


def _small(backend=NUMPY):
    return Sequential(Dense(2, 3, seed=0, backend=backend), LeakyReLU(0.1), Dropout(0.5),
                      Dense(3, 1, seed=1, backend=backend), Sigmoid())


def _X(backend, dtype, n_in=3):
    return backend.asarray(np.random.default_rng(0).normal(size=(7, n_in)), dtype)


def _assert_same_model(loaded, model, backend):
    assert type(loaded) is Sequential
    assert loaded.config() == model.config()
    assert loaded.dtype == model.dtype
    assert loaded.backend == backend
    assert list(loaded.params) == list(model.params)
    for key, value in model.params.items():
        got = loaded.params[key]
        assert B.of(got) == backend, key
        assert B.dtype_name(got.dtype) == model.dtype, key
        assert tuple(got.shape) == tuple(value.shape), key
        np.testing.assert_array_equal(xpnet.to_numpy(got), xpnet.to_numpy(value), err_msg=key)


def _listing(directory):
    return sorted(os.listdir(directory))


# -- round trips --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("make", [
    lambda b, d: xpnet.mlp([3, 5, 4, 2], activation="tanh", output="softmax", seed=0,
                           backend=b, dtype=d),
    _mixed,
], ids=["mlp", "mixed"])
def test_round_trip_is_exact(backend, dtype, make, tmp_path):
    _needs(backend, dtype)
    model = make(backend, dtype)
    path = tmp_path / "model"
    xio.save(model, path)
    loaded = xio.load(path, backend=backend)
    _assert_same_model(loaded, model, backend)
    X = _X(backend, dtype)
    np.testing.assert_array_equal(xpnet.to_numpy(loaded(X)), xpnet.to_numpy(model(X)))


def test_loads_onto_another_backend(backend, tmp_path):
    # numpy is the default here: on the numpy session, array_api_strict is the other backend
    other = backend if backend.name != "numpy" else B.get("array_api_strict")
    _needs(other, "float64")
    model = _mixed(NUMPY, "float64")
    xio.save(model, tmp_path / "from_numpy")
    _assert_same_model(xio.load(tmp_path / "from_numpy", backend=other), model, other)

    model = _mixed(other, "float32")
    xio.save(model, tmp_path / "to_numpy")
    _assert_same_model(xio.load(tmp_path / "to_numpy", backend="numpy"), model, NUMPY)


def test_default_backend_is_the_current_one(backend, tmp_path):
    xio.save(_small(), tmp_path / "m")
    with B.use(backend):
        assert xio.load(tmp_path / "m").backend == backend


def test_model_without_parameters_keeps_backend_and_dtype(backend, tmp_path):
    _needs(backend, "float64")
    model = xpnet.mlp([4, 4], output="softmax", backend=backend, dtype="float64")[1:]
    model.to(backend, "float64")
    xio.save(model, tmp_path / "m")
    loaded = xio.load(tmp_path / "m", backend=backend)
    assert loaded.params == {} and loaded.dtype == "float64" and loaded.backend == backend


def test_optimizer_state_and_extra_round_trip(backend, tmp_path):
    model = xpnet.mlp([2, 3, 1], seed=0, backend=backend)

    class Optimizer:  # anything with state_dict() will do
        def state_dict(self):
            return {"name": "Adam", "hyper": {"lr": 0.01, "beta1": 0.9}, "step": 7, "slots": {
                s: {k: v * 0.5 for k, v in model.params.items()} for s in ("m", "v")}}

    extra = {"epoch": 12, "history": {"loss": [0.5, 0.25, float("nan")]}, "note": "é",
             "rng": np.random.default_rng(3).bit_generator.state, "flags": [True, None],
             "seen": np.arange(5, dtype=np.int32), "scale": np.float32(0.5)}
    path = tmp_path / "ckpt"
    with backend.context():  # the stand-in optimizer's v * 0.5 runs on the model's device (CuPy)
        xio.save(model, path, optimizer=Optimizer(), extra=extra)
    loaded, state, got = xio.load_checkpoint(path, backend=backend)
    _assert_same_model(loaded, model, backend)
    with backend.context():
        expected = Optimizer().state_dict()
    assert {k: state[k] for k in ("name", "hyper", "step")} == \
        {k: expected[k] for k in ("name", "hyper", "step")}
    for slot, entries in expected["slots"].items():
        assert list(state["slots"][slot]) == list(entries)
        for key, value in entries.items():
            assert B.of(state["slots"][slot][key]) == backend
            np.testing.assert_array_equal(xpnet.to_numpy(state["slots"][slot][key]),
                                          xpnet.to_numpy(value))
    assert got["epoch"] == 12 and got["note"] == "é" and got["flags"] == [True, None]
    assert got["history"]["loss"][:2] == [0.5, 0.25] and np.isnan(got["history"]["loss"][2])
    assert got["rng"] == extra["rng"] and got["scale"] == 0.5
    assert got["seen"].dtype == np.int32
    np.testing.assert_array_equal(got["seen"], np.arange(5))
    rng = np.random.default_rng()
    rng.bit_generator.state = got["rng"]
    assert rng.random() == np.random.default_rng(3).random()


def test_plain_dict_optimizer_state(tmp_path):
    model = xpnet.mlp([2, 3, 1], seed=0)
    state = {"name": "SGD", "hyper": {"lr": 0.1}, "step": 3,
             "slots": {"momentum": {"0.W": np.ones((2, 3))}}}
    xio.save(model, tmp_path / "m", optimizer=state)
    _, got, extra = xio.load_checkpoint(tmp_path / "m")
    assert extra is None and got["step"] == 3 and got["hyper"] == {"lr": 0.1}
    np.testing.assert_array_equal(got["slots"]["momentum"]["0.W"], np.ones((2, 3)))
    assert xio.load_checkpoint(tmp_path / "m")[0].config() == model.config()


def test_real_optimizer_state_round_trips(tmp_path):
    optim = pytest.importorskip("xpnet.optim")
    model = xpnet.mlp([2, 3, 1], seed=0)
    opt = optim.Adam(lr=0.01)
    X, y = np.random.default_rng(0).normal(size=(8, 2)), np.ones((8, 1))
    _, grads = xpnet.value_and_grad(model, "mse", X, y)
    opt.step(model.params, grads)
    xio.save(model, tmp_path / "m", optimizer=opt)
    _, state, _ = xio.load_checkpoint(tmp_path / "m")
    fresh = optim.Adam(lr=0.01)
    fresh.load_state_dict(state)
    expected, got = opt.state_dict(), fresh.state_dict()
    assert got["step"] == expected["step"] == 1 and got["hyper"] == expected["hyper"]
    assert set(got["slots"]) == {"m", "v"}
    for slot, arrays in expected["slots"].items():
        assert set(got["slots"][slot]) == set(arrays) == set(model.params), slot
        for key, value in arrays.items():
            assert np.any(xpnet.to_numpy(value) != 0), (slot, key)  # a step was taken
            np.testing.assert_array_equal(xpnet.to_numpy(got["slots"][slot][key]),
                                          xpnet.to_numpy(value), err_msg=f"{slot} {key}")


# -- the file on disk ---------------------------------------------------------------------------

def test_exactly_one_file_and_no_suffix(tmp_path):
    model = _small()
    xio.save(model, tmp_path / "model")
    assert _listing(tmp_path) == ["model"]
    xio.save(xpnet.mlp([2, 1]), str(tmp_path / "model"))  # overwrite, str path
    assert _listing(tmp_path) == ["model"]
    assert zipfile.is_zipfile(tmp_path / "model")


def test_same_model_same_bytes(tmp_path):
    model = _small()
    xio.save(model, tmp_path / "a")
    xio.save(model, tmp_path / "b")
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_archive_holds_json_and_npy_only(tmp_path):
    xio.save(_small(), tmp_path / "m")
    with zipfile.ZipFile(tmp_path / "m") as archive:
        names = archive.namelist()
        meta = json.loads(archive.read("xpnet.json"))
        assert all(n == "xpnet.json" or n.endswith(".npy") for n in names)
        for name in names[1:]:
            assert archive.read(name).startswith(b"\x93NUMPY")
    assert meta["format"] == "xpnet" and meta["format_version"] == 1
    assert meta["xpnet_version"] == xpnet.__version__ and meta["dtype"] == "float32"
    assert meta["architecture"] == {"type": "Sequential", "config": _small().config()}
    assert meta["params"]["0.W"]["shape"] == [2, 3]


def _fail_on_call(real, n, error):
    """``real``, except that its ``n``-th call raises ``error``."""
    calls = []

    def fail(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise error
        return real(*args, **kwargs)
    return fail


@pytest.mark.parametrize("target, n", [
    ("numpy.lib.format.write_array", 2), ("os.fsync", 1), ("os.replace", 1), ("os.chmod", 1)])
@pytest.mark.parametrize("existing", [True, False])
def test_failed_save_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch, target, n,
                                                          existing):
    path = tmp_path / "model"
    if existing:
        xio.save(_small(), path)
        before = path.read_bytes()
    module, _, name = target.rpartition(".")
    owner = {"os": os, "numpy.lib.format": np.lib.format}[module]
    monkeypatch.setattr(owner, name, _fail_on_call(getattr(owner, name), n, OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        xio.save(xpnet.mlp([2, 4, 1], seed=5), path)
    monkeypatch.undo()
    assert _listing(tmp_path) == (["model"] if existing else [])
    if existing:
        assert path.read_bytes() == before
        _assert_same_model(xio.load(path), _small(), NUMPY)


@pytest.mark.parametrize("bad, error, match", [
    (lambda: xpnet.mlp([2, 1]).layers[0], TypeError, "save takes an xpnet.Sequential, got Dense"),
    (lambda: Sequential(Dense(2, 2), type("Custom", (Layer,), {})()), TypeError,
     "cannot save layer 1: Custom is not one of xpnet's layers"),
])
def test_save_refuses_layers_it_cannot_load(tmp_path, bad, error, match):
    with pytest.raises(error, match=match):
        xio.save(bad(), tmp_path / "m")
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(extra={"f": object()}), TypeError, r"extra\['f'\]: cannot save a object"),
    (dict(extra={1: 2}), TypeError, "keys must be strings"),
    (dict(extra=[1]), TypeError, "extra must be a dict"),
    (dict(extra={"s": np.array(["a"])}), TypeError, "arrays must have a dtype"),
    (dict(optimizer={"name": "SGD", "slots": {"m": {"9.W": np.ones(2)}}}), ValueError,
     "not a parameter of the model"),
    (dict(optimizer={"name": "SGD", "slots": {"m": {"0.W": np.ones(2)}}}), ValueError,
     r"must be an array of shape \(2, 3\)"),
    (dict(optimizer={"name": "SGD", "slots": {"m": {"0.W": np.full((2, 3), np.inf)}}}),
     ValueError, "NaN or infinite"),
])
def test_save_refuses_what_it_could_not_load(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        xio.save(xpnet.mlp([2, 3, 1]), tmp_path / "m", **kwargs)
    assert _listing(tmp_path) == []


def test_save_refuses_non_finite_parameters(tmp_path):
    model = xpnet.mlp([2, 3, 1])
    model.layers[0].params["W"] = np.full((2, 3), np.nan, dtype=np.float32)
    with pytest.raises(ValueError, match="parameter '0.W' holds NaN"):
        xio.save(model, tmp_path / "m")
    assert _listing(tmp_path) == []


# -- hostile and broken files -------------------------------------------------------------------

def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _npy(array, **kwargs):
    buffer = __import__("io").BytesIO()
    np.lib.format.write_array(buffer, array, **kwargs)
    return buffer.getvalue()


@pytest.fixture
def good(tmp_path):
    """A small saved model (Dense, LeakyReLU, Dropout, Dense, Sigmoid) and its members."""
    path = tmp_path / "good"
    xio.save(_small(), path)
    return path, _members(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        xio.load(tmp_path / "nope")


@pytest.mark.parametrize("content", [b"", b"hello", b"\x80\x04K\x01.", b"PK\x03\x04" + b"\0" * 40],
                         ids=["empty", "text", "pickle", "zip-magic"])
def test_not_a_zip(tmp_path, content):
    (tmp_path / "m").write_bytes(content)
    with pytest.raises(ValueError, match="not a valid zip archive"):
        xio.load(tmp_path / "m")


def test_zip_without_xpnet_json(tmp_path):
    _write_zip(tmp_path / "m", {"model.json": b"{}"})
    with pytest.raises(ValueError, match=r"m: not an xpnet model file \(no xpnet.json"):
        xio.load(tmp_path / "m")


def test_every_truncation_is_a_value_error(good, tmp_path):
    data = good[0].read_bytes()
    path = tmp_path / "cut"
    for n in range(len(data)):
        path.write_bytes(data[:n])
        with pytest.raises(ValueError):
            xio.load(path)


def _loads_or_value_error(path):
    """None when the file loaded (then it is a sane model), the ValueError's message; else raise."""
    try:
        model, _, _ = xio.load_checkpoint(path)
    except ValueError as err:
        return str(err)
    assert isinstance(model, Sequential)
    assert all(np.isfinite(xpnet.to_numpy(v)).all() for v in model.params.values())
    return None


def test_random_byte_mutations_give_the_same_model_or_value_errors(good, tmp_path):
    """Every mutated file either loads as exactly the saved model or is refused with ValueError."""
    data = good[0].read_bytes()
    original = xio.load(good[0])
    path = tmp_path / "mutant"
    rng = np.random.default_rng(1234)
    loaded = 0
    for _ in range(300):
        mutant = bytearray(data)
        for i in rng.integers(0, len(data), size=rng.integers(1, 4)):
            mutant[i] = int(rng.integers(0, 256))
        path.write_bytes(bytes(mutant))
        if _loads_or_value_error(path) is None:  # e.g. a changed timestamp or unused field
            loaded += 1
            again, state, extra = xio.load_checkpoint(path)
            _assert_same_model(again, original, NUMPY)
            assert (state, extra) == (None, None)
    assert loaded < 300  # the damage did reach the checks


_POOL = [None, True, 0, -1, 1.5, float("nan"), 2**40, "", "Dense", "float64", [], [1, 2], {},
         {"type": "Dense", "config": {}}, {"__ndarray__": "params/0.W.npy"}]


def _nodes(tree, path=()):
    yield path
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _nodes(value, (*path, i))


def test_random_json_edits_give_only_value_errors(good, tmp_path):
    _, members = good
    meta = json.loads(members["xpnet.json"])
    nodes = list(_nodes(meta))[1:]
    rng = np.random.default_rng(99)
    path = tmp_path / "edited"
    for _ in range(300):
        edited = json.loads(members["xpnet.json"])
        where = nodes[rng.integers(len(nodes))]
        parent = edited
        for step in where[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and rng.random() < 0.2:
            del parent[where[-1]]
        else:
            parent[where[-1]] = _POOL[rng.integers(len(_POOL))]
        _write_zip(path, {**members, "xpnet.json": json.dumps(edited).encode()})
        message = _loads_or_value_error(path)
        assert message is None or "corrupt" not in message  # schema checks name the defect


class _Payload:
    """Unpickling this object creates the file at ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_member_is_refused_and_never_run(good, tmp_path):
    _, members = good
    armed = tmp_path / "armed"
    pickle.loads(pickle.dumps(_Payload(armed)))  # the payload is live...
    assert armed.exists()
    marker = tmp_path / "pwned"
    evil = np.array([_Payload(marker)], dtype=object)
    cases = {
        "npy": _npy(evil, allow_pickle=True),
        "raw": pickle.dumps(_Payload(marker)),
    }
    for case, payload in cases.items():
        _write_zip(tmp_path / case, {**members, "params/0.W.npy": payload})
        with pytest.raises(ValueError, match=r"params/0.W.npy"):
            xio.load(tmp_path / case)
    # ... and a JSON that declares the object dtype too
    meta = json.loads(members["xpnet.json"])
    meta["params"]["0.W"].update(shape=[1], dtype="object")
    _write_zip(tmp_path / "declared", {**members, "xpnet.json": json.dumps(meta).encode(),
                                       "params/0.W.npy": cases["npy"]})
    with pytest.raises(ValueError, match="dtype must be one of"):
        xio.load(tmp_path / "declared")
    (tmp_path / "whole").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError):
        xio.load(tmp_path / "whole")
    assert not marker.exists()


def _edit(key_path, value):
    """An edit of xpnet.json: set (or with value ``...``, delete) the entry at ``key_path``."""
    def edit(meta):
        parent = meta
        for key in key_path[:-1]:
            parent = parent[key]
        if value is ...:
            del parent[key_path[-1]]
        else:
            parent[key_path[-1]] = value
    return edit


_LAYERS = ("architecture", "config", "layers")


@pytest.mark.parametrize("edit, match", [
    (_edit(("format",), "keras"), "not an xpnet model file"),
    (_edit(("format_version",), 2), "unsupported format version 2: .* reads version 1; upgrade"),
    (_edit(("format_version",), "1"), "format_version must be an int"),
    (_edit(("dtype",), "float16"), "dtype must be one of"),
    (_edit(("params",), ...), r"missing keys \['params'\]"),
    (_edit(("code",), "import os"), r"unknown keys \['code'\]"),
    (_edit(("architecture", "type"), "Dense"), "architecture must be"),
    (_edit((*_LAYERS, 1, "type"), "os.system"), "layer 1: unknown layer type 'os.system'"),
    (_edit((*_LAYERS, 1, "type"), "Layer"), "layer 1: unknown layer type 'Layer'"),
    (_edit((*_LAYERS, 1), "LeakyReLU"), "layer 1: expected"),
    (_edit((*_LAYERS, 1, "config", "slope"), "x"), r"layer 1 \(LeakyReLU\): slope must be"),
    (_edit((*_LAYERS, 2, "config", "rate"), 1.5), r"layer 2 \(Dropout\): rate must be"),
    (_edit((*_LAYERS, 2, "config", "seed"), 1), r"layer 2 \(Dropout\): unknown config keys"),
    (_edit((*_LAYERS, 0, "config", "n_in"), "2"), r"layer 0 \(Dense\): n_in must be"),
    (_edit((*_LAYERS, 0, "config", "n_in"), 0), r"layer 0 \(Dense\): n_in must be"),
    (_edit((*_LAYERS, 0, "config", "bias"), "yes"), "bias must be true or false"),
    (_edit((*_LAYERS, 0, "config", "n_in"), 10**9), r"needs parameter '0.W' of shape"),
    (_edit((*_LAYERS, 0, "config", "bias"), False), "unexpected|does not have|architecture"),
    (_edit((*_LAYERS, 3, "config", "n_in"), 4), r"needs parameter '3.W' of shape \(4, 1\)"),
    (_edit(("params", "0.b"), ...), r"unexpected \['params/0.b.npy'\]"),
    (_edit(("params", "0.W", "shape"), [3, 2]), "holds a float32 array of shape"),
    (_edit(("params", "0.W", "shape"), [2**31 + 1]), "shape must be a list"),
    (_edit(("params", "0.W", "shape"), [2**30, 2**30]), "more than the limit"),
    (_edit(("params", "0.W", "dtype"), "float64"), r"dtype must be one of \['float32'\]"),
    (_edit(("params", "0.W", "__ndarray__"), "params/0.b.npy"), "repeated member"),
    (_edit(("params", "0.W", "__ndarray__"), "xpnet.json"), "invalid or repeated member"),
    (_edit(("params", "0.W"), [1, 2]), "must be an array reference"),
    (_edit(("optimizer",), []), "optimizer must be an object"),
    (_edit(("optimizer",), {"name": 3}), "'name' string"),
    (_edit(("optimizer",), {"name": "SGD", "step": -1}), "step must be a non-negative int"),
    (_edit(("optimizer",), {"name": "SGD", "slots": {"m": {"0.W": 1}}}), "must be an array"),
    (_edit(("extra",), 5), "extra must be an object"),
    (_edit(("extra",), {"a": {"__ndarray__": "x.npy", "shape": [1], "dtype": "float64"}}),
     r"missing \['x.npy'\]"),
])
def test_schema_defects_are_value_errors(good, tmp_path, edit, match):
    _, members = good
    meta = json.loads(members["xpnet.json"])
    edit(meta)
    _write_zip(tmp_path / "bad", {**members, "xpnet.json": json.dumps(meta).encode()})
    with pytest.raises(ValueError, match=match) as info:
        xio.load(tmp_path / "bad")
    assert str(tmp_path / "bad") in str(info.value)


@pytest.mark.parametrize("change, match", [
    (lambda m: m.update({"xpnet.json": b"{not json"}), "not valid JSON"),
    (lambda m: m.update({"xpnet.json": b"\xff\xfe"}), "not valid JSON"),
    (lambda m: m.update({"xpnet.json": b"[]"}), "not an xpnet model file"),
    (lambda m: m.update({"xpnet.json": b"[" * 100_000}), "corrupt|JSON"),
    (lambda m: m.update({"evil.sh": b"rm -rf /"}), r"unexpected \['evil.sh'\]"),
    (lambda m: m.pop("params/0.b.npy"), r"missing \['params/0.b.npy'\]"),
    (lambda m: m.update({"params/0.W.npy": _npy(np.full((2, 3), np.nan, np.float32))}),
     "NaN or infinite"),
    (lambda m: m.update({"params/0.W.npy": _npy(np.ones((2, 3), ">f4"))}), "holds a >f4 array"),
    (lambda m: m.update({"params/0.W.npy": _npy(np.ones((2, 3), np.float64))}), "holds a float64"),
    (lambda m: m.update({"params/0.W.npy": _npy(np.ones((2, 3), np.float32)) + b"!"}),
     "bytes after its array"),
    (lambda m: m.update({"params/0.W.npy": _npy(np.ones((2, 3), np.float32))[:-4]}),
     "not a valid .npy"),
    (lambda m: m.update({"params/0.W.npy": b"\x93NUMPY\x03\x00" + b" " * 60}),
     "unsupported .npy version"),
    (lambda m: m.update({"params/0.W.npy": _npy(np.ones((2, 3), np.float32)) + b"\0" * 70_000}),
     "larger than a float32 array"),
])
def test_member_defects_are_value_errors(good, tmp_path, change, match):
    _, members = good
    change(members)
    _write_zip(tmp_path / "bad", members)
    with pytest.raises(ValueError, match=match):
        xio.load(tmp_path / "bad")


def test_deeply_nested_architecture_is_refused(good, tmp_path):
    _, members = good
    meta = json.loads(members["xpnet.json"])
    spec = {"type": "Sequential", "config": {"layers": []}}
    for _ in range(40):
        spec = {"type": "Sequential", "config": {"layers": [spec]}}
    meta["architecture"]["config"]["layers"].append(spec)
    _write_zip(tmp_path / "bad", {**members, "xpnet.json": json.dumps(meta).encode()})
    with pytest.raises(ValueError, match="nested more than 32 deep"):
        xio.load(tmp_path / "bad")


def test_duplicate_members_are_refused(good, tmp_path):
    _, members = good
    with zipfile.ZipFile(tmp_path / "bad", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("params/0.W.npy", members["params/0.W.npy"])
    with pytest.raises(ValueError, match="duplicate member names"):
        xio.load(tmp_path / "bad")
