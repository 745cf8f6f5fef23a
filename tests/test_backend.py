"""Backend selection, conversion and seeded random numbers."""

import importlib.util
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import xpnet
from xpnet import backend as B


def test_numpy_is_always_available_and_the_default(monkeypatch):
    assert B.available()[0] == "numpy"
    assert B.get("numpy").xp.__name__ == "array_api_compat.numpy"
    # a fresh process with nothing set: no XPNET_BACKEND, no set_default() yet
    monkeypatch.delenv("XPNET_BACKEND", raising=False)
    monkeypatch.delenv("XPNET_DEVICE", raising=False)
    monkeypatch.setattr(B, "_PROCESS_DEFAULT", [None])
    assert B.get() == B.get("numpy")


@pytest.mark.parametrize("name", ["torch", "jax", "dask", "array_api_strict"])
def test_available_lists_each_library_where_it_is_installed(name):
    installed = importlib.util.find_spec(name) is not None
    assert (name in B.available()) == installed
    if installed:
        assert B.get(name).name == name


def test_auto_is_numpy_without_cuda(monkeypatch):
    monkeypatch.setattr(B, "_importable", lambda name: name != "cupy")
    assert B.get("auto").name == "numpy"
    monkeypatch.setattr(B, "_importable", lambda name: True)
    monkeypatch.setattr(B, "_backend", lambda name, device: name)  # no real CuPy to build
    assert B.get("auto") == "cupy"


@pytest.mark.parametrize("name", ["tensorflow", "", "NumPy", 3])
def test_unknown_backend_lists_what_is_available(name):
    with pytest.raises(ValueError, match=r"backend must be 'auto' or one of .*available here: \["):
        B.get(name)


def test_unavailable_cupy_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(B, "_importable", lambda name: name != "cupy")
    installed = importlib.util.find_spec("cupy") is not None  # the reason says which, truly
    reason = "cupy is installed, but no CUDA device answers" if installed else \
        "cupy is not installed"
    with pytest.raises(ValueError, match=f"'cupy' is not available here \\({reason}: "):
        B.get("cupy")


def _clear_detection():
    B._cuda_available.cache_clear()
    B._importable.cache_clear()


@pytest.mark.parametrize("stub", [None, "raises"])
def test_cupy_without_a_gpu_is_simply_absent(monkeypatch, stub):
    if stub == "raises":  # CuPy installed, no driver: import works, the device query raises
        def no_device():
            raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        stub = types.SimpleNamespace(cuda=types.SimpleNamespace(
            runtime=types.SimpleNamespace(getDeviceCount=no_device)))
    monkeypatch.setitem(sys.modules, "cupy", stub)  # None: "import cupy" raises ImportError
    _clear_detection()
    try:
        assert "cupy" not in B.available()
        assert B.get("auto").name == "numpy"
    finally:
        monkeypatch.undo()
        _clear_detection()


def test_use_is_scoped_and_set_default_is_global(backend):
    before = B.get()
    with B.use(backend) as inside:
        assert inside == backend and B.get() == backend
        assert xpnet.mlp([2, 1], seed=0).backend == backend
    assert B.get() == before
    try:
        assert B.set_default(backend) == backend and B.get() == backend
    finally:
        B.set_default(before)


def _env(**changes):
    """This process's environment with ``changes``: PYTHONPATH (where carried wheels are) and the
    rest stay; XPNET_DEVICE is dropped, as it belongs to the backend of this session."""
    env = {k: v for k, v in os.environ.items() if k != "XPNET_DEVICE"}
    return {**env, **changes}


def test_environment_variable_sets_the_initial_default():
    code = "from xpnet import backend; print(backend.get().name)"
    for value, expected in (("array_api_strict", "array_api_strict"), ("", "numpy")):
        if expected not in B.available():
            continue
        out = subprocess.run([sys.executable, "-c", code], env=_env(XPNET_BACKEND=value),
                             capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected
    bad = subprocess.run([sys.executable, "-c", code], env=_env(XPNET_BACKEND="nope"),
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "XPNET_BACKEND='nope'" in bad.stderr


def test_asarray_casts_on_the_backend_device(backend):
    X = backend.asarray([[1, 2], [3, 4]], "float32")
    assert X.dtype == backend.xp.float32
    assert B.of(X) == backend
    np.testing.assert_array_equal(xpnet.to_numpy(X), [[1.0, 2.0], [3.0, 4.0]])
    assert backend.asarray(X, "float32") is X  # already there: no copy


def test_asarray_refuses_another_library(backend):
    others = [n for n in ("array_api_strict", "torch") if n != backend.name and n in B.available()]
    if not others:
        pytest.skip("no second array library installed in this session")
    foreign = B.get(others[0]).asarray([1.0, 2.0])
    with pytest.raises(TypeError, match=rf"X is a .* array but the model is on the {backend.name} "
                                        r"backend; .*model\.to\("):
        backend.asarray(foreign, name="X")


@pytest.mark.parametrize("bad", [["a", "b"], [[1.0], [2.0, 3.0]], np.array([object()])])
def test_asarray_refuses_non_numbers(backend, bad):
    with pytest.raises(ValueError, match="^X "):
        backend.asarray(bad, name="X")


def test_complex_data_is_refused_in_every_library(backend):
    """Complex input is an error, whatever library holds it: torch cast it to real with only its
    own warning, jax silently (NumPy's complex was refused already)."""
    X = np.array([[1.0 + 2.0j, 0.5]])
    model = xpnet.mlp([2, 3, 1], seed=0, backend=backend)
    with pytest.raises(ValueError, match=r"^X must hold numbers .*complex"):
        model.predict(backend.xp.asarray(X, dtype=backend.xp.complex64) if backend.name != "numpy"
                      else X)


def test_a_torch_tensor_that_requires_grad_leaves_no_autograd_graph_in_the_model():
    """xpnet's backprop is its own: an input with requires_grad=True is read detached. It used to
    make every parameter part of torch's graph, for good (later epochs 3-5x slower)."""
    torch = pytest.importorskip("torch")
    X, y = xpnet.datasets.two_moons(n=32, noise=0.1, seed=0)
    model = xpnet.mlp([2, 8, 1], output="sigmoid", seed=0, backend="torch")
    tracked = torch.tensor(X, dtype=torch.float32, requires_grad=True)
    model.fit(tracked, y, loss="binary_crossentropy", epochs=1, verbose=0)
    model.load_params({k: v.clone().requires_grad_(True) for k, v in model.params.items()})
    assert not any(p.requires_grad or p.grad_fn is not None for p in model.params.values())
    assert not model.predict(tracked).requires_grad


def test_move_goes_through_the_host_between_libraries(backend):
    source = B.get("numpy").asarray(np.arange(6.0).reshape(2, 3), "float64")
    moved = backend.move(source, "float32")
    assert B.of(moved) == backend and moved.dtype == backend.xp.float32
    np.testing.assert_array_equal(xpnet.to_numpy(moved), np.arange(6.0).reshape(2, 3))


def test_same_seed_same_random_numbers_everywhere(backend):
    for dtype in ("float32", "float64"):
        here = B.Random(3).normal((4, 5), 1.0, backend=backend, dtype=dtype)
        there = B.Random(3).normal((4, 5), 1.0, backend=B.get("numpy"), dtype=dtype)
        assert here.dtype == backend.dtype(dtype)
        np.testing.assert_array_equal(xpnet.to_numpy(here), xpnet.to_numpy(there))
    assert not np.array_equal(B.Random(3).permutation(50), B.Random(4).permutation(50))


def test_random_state_round_trips():
    random = B.Random(0)
    state = random.state
    first = random.permutation(10)
    random.state = state
    np.testing.assert_array_equal(random.permutation(10), first)


def test_dtype_names():
    assert B.dtype_name("float64") == "float64"
    assert B.dtype_name(np.float32) == "float32"
    with pytest.raises(ValueError, match=r"dtype must be one of \['float32', 'float64'\]"):
        B.dtype_name("int8")


def test_model_moves_between_backends(backend):
    # from another backend: array_api_strict on the numpy session, else numpy
    source = "array_api_strict" if backend.name == "numpy" else "numpy"
    model = xpnet.mlp([3, 4, 2], seed=0, backend=source)
    X = np.random.default_rng(0).normal(size=(5, 3))
    expected = xpnet.to_numpy(model(model.backend.asarray(X, "float32")))
    assert model.to(backend) is model and model.backend == backend
    assert all(B.of(p) == backend for p in model.params.values())
    np.testing.assert_allclose(xpnet.to_numpy(model(backend.asarray(X, "float32"))), expected,
                               rtol=1e-6)
    model.to(dtype="float64")
    assert model.dtype == "float64" and model.params["0.W"].dtype == backend.xp.float64


# -- the open backend set: get(array), register(), capabilities --------------------------------


@pytest.fixture
def registry(monkeypatch):
    """Registrations made in a test are undone after it."""
    monkeypatch.setattr(B, "_LIBRARIES", dict(B._LIBRARIES))
    yield
    monkeypatch.undo()
    B._importable.cache_clear()
    B._cached_backend.cache_clear()


def test_get_of_an_array_is_its_backend(backend):
    x = backend.asarray([1.0, 2.0], "float32")
    assert B.get(x) == backend == B.of(x)
    assert B.get(B.get(x)) == backend


def test_capabilities_are_explicit(backend):
    caps = backend.capabilities
    assert set(caps) == {"writeable", "float64", "devices"}
    assert caps["writeable"] == (backend.name not in ("jax", "dask"))
    assert B.device_id(backend.device) in caps["devices"]
    if caps["float64"]:
        assert backend.asarray([1.0], "float64").dtype == backend.xp.float64


def test_a_library_xpnet_does_not_know_by_name_trains(registry):
    """array-api-strict registered as ``strict2``: any standard-conforming library, literally."""
    array_api_strict = pytest.importorskip("array_api_strict")  # the library under registration

    B.register("strict2", array_api_strict)
    assert "strict2" in B.available()
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(float)
    histories = {}
    for name in ("strict2", "numpy"):
        model = xpnet.mlp([2, 6, 1], activation="tanh", output="sigmoid", seed=3, backend=name,
                          dtype="float64")
        assert model.backend.name == name and B.get(model.params["0.W"]).name == name
        histories[name] = model.fit(X, y, loss="binary_crossentropy", optimizer="sgd", epochs=5,
                                    batch_size=8, seed=1, verbose=0).history
        np.testing.assert_array_equal(xpnet.to_numpy(model.predict(X)).shape, (40, 1))
    np.testing.assert_allclose(histories["strict2"]["loss"], histories["numpy"]["loss"], rtol=1e-12)
    assert histories["strict2"]["loss"][-1] < histories["strict2"]["loss"][0]


def test_register_checks_its_arguments(registry):
    with pytest.raises(ValueError, match="'numpy' is a built-in backend"):
        B.register("numpy", "array_api_strict")
    with pytest.raises(ValueError, match="name must be a Python identifier"):
        B.register("auto", "array_api_strict")
    with pytest.raises(TypeError, match="namespace must be a module"):
        B.register("lib", 3)
    B.register("missing", "no_such_module_xpnet")
    assert "missing" not in B.available()
    with pytest.raises(ValueError, match="'missing' is not available here"):
        B.get("missing")


def test_a_missing_capability_is_named_with_the_way_to_get_it(registry):
    array_api_strict = pytest.importorskip("array_api_strict")

    B.register("no64", array_api_strict, float64=False)
    assert B.get("no64").capabilities["float64"] is False
    xpnet.mlp([2, 1], backend="no64", dtype="float32")
    with pytest.raises(ValueError, match="no64 backend cannot make float64 .*capability float64"):
        xpnet.mlp([2, 1], backend="no64", dtype="float64")


def test_foreign_arrays_name_their_backend():
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(TypeError, match=r"X is a jax array .*model\.to\('jax'\)"):
        B.get("numpy").asarray(jnp.ones(2), name="X")


# -- devices: one this machine lacks is refused when the backend is made -------------------------


def _missing_torch_devices(torch):
    """Devices torch names on any machine but this one lacks: one past its last CUDA device (as
    a name and as a number), CUDA itself without one, MPS where it does not answer."""
    count = torch.cuda.device_count()
    return [f"cuda:{count}", count, *([] if count else ["cuda", "gpu"]),
            *([] if torch.backends.mps.is_available() else ["mps"])]


def test_a_torch_device_this_machine_lacks_is_a_clear_error():
    """torch accepts any device name and failed at the model's first tensor: AssertionError
    ("cuda"), NotImplementedError ("cuda:0"), RuntimeError (1), or "mps" accepted, then failing."""
    torch = pytest.importorskip("torch")
    model = xpnet.mlp([2, 3, 1], seed=0, backend="torch")
    for device in _missing_torch_devices(torch):
        refusal = rf"^device: the torch backend has devices \['cpu'.*\] here; got {device!r}$"
        with pytest.raises(ValueError, match=refusal):
            B.get("torch", device)
        with pytest.raises(ValueError, match=refusal):
            xpnet.mlp([2, 3, 1], backend="torch", device=device)
        with pytest.raises(ValueError, match=refusal):
            model.to("torch", device=device)
        assert model.backend.device == torch.device("cpu")  # and the model stays where it was
    for device in ("cpu", "cpu:0", torch.device("cpu")):
        assert B.get("torch", device).device.type == "cpu"


def test_torch_cuda_devices_are_the_ones_torch_counts(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)  # two GPUs, the second current
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    B._cached_backend.cache_clear()  # backends made by name are cached: none of these may last
    try:
        assert B.get("torch", "cuda").device == torch.device("cuda:1") \
            == B.get("torch", "gpu").device
        assert B.get("torch", "cuda:0").device == torch.device("cuda:0")
        with pytest.raises(ValueError, match=r"devices \['cpu', 'cuda:0', 'cuda:1'.*got 'cuda:2'"):
            B.get("torch", "cuda:2")
    finally:
        B._cached_backend.cache_clear()


def test_a_jax_device_is_one_of_jax_devices_by_index_name_or_object():
    """A number was passed on to jax as a sharding: "sharding=1 must be an instance of ...",
    at the model's first array."""
    jax = pytest.importorskip("jax")
    devices = jax.devices()
    assert B.get("jax", 0).device == devices[0] == B.get("jax", devices[0]).device
    assert B.get("jax", "cpu").device == jax.devices("cpu")[0]
    for device in (len(devices), -1, True, 1.0, "tpu:7"):
        with pytest.raises(ValueError, match=rf"^device: the jax backend has devices .*"
                                             rf"got {device!r}$"):
            xpnet.mlp([2, 3, 1], backend="jax", device=device)
