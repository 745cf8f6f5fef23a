"""GPU behaviour that CI can prove without a GPU: xpnet on the CuPy stand-in (``tests/standin``).

The stand-in is NumPy underneath with CuPy's behaviour where xpnet meets it (its docstring cites
CuPy's source for each): an unhashable ``Device``, allocation on the *current* device, kernels
refusing arrays of another device, no implicit conversion to NumPy, and counters of device→host
synchronisations and kernel launches. These tests run in every nox session: the fixture puts the
stand-in in ``sys.modules`` for one test and takes it out again. Models live on device 1 while
device 0 is current, which is where a missing device context shows.

On a machine where the real CuPy is installed they are skipped (the real one is tested by the
whole suite with ``XPNET_BACKEND=cupy`` there, and ``benchmarks/gpu_check.sh`` prints its counts).
"""

import importlib
import os
import pickle
import sys

import numpy as np
import pytest

import xpnet
from xpnet import backend as B
from xpnet import datasets, optim

STANDIN = os.path.join(os.path.dirname(__file__), "standin")


def _clear_caches():
    B._cuda_available.cache_clear()
    B._importable.cache_clear()
    B._cached_backend.cache_clear()


def _cupy_modules():
    return [name for name in sys.modules if name == "cupy" or name.startswith("cupy.")
            or name.startswith("array_api_compat.cupy")]


@pytest.fixture
def cupy(monkeypatch):
    """The CuPy stand-in, importable as ``cupy`` for this test only, with fresh counters."""
    present = sys.modules.get("cupy")
    if present is not None and not getattr(present, "STANDIN", False):
        pytest.skip("the real CuPy is installed here: the whole suite runs on it instead")
    outside = present is None
    if outside:
        monkeypatch.syspath_prepend(STANDIN)
        _clear_caches()
    module = importlib.import_module("cupy")
    assert getattr(module, "STANDIN", False), module
    module.counters.reset()
    yield module
    if outside:
        for name in _cupy_modules():
            del sys.modules[name]
        _clear_caches()


def _model(**options):
    return xpnet.mlp([2, 8, 1], "tanh", "sigmoid", seed=0, backend="cupy", device="cuda:1",
                     **options)


def _moons(n=200):
    return datasets.two_moons(n=n, seed=0)


# -- device objects are never hashed; devices are named like torch's --------------------------


def test_a_model_builds_on_cupy_whose_device_is_unhashable(cupy):
    with pytest.raises(TypeError, match="unhashable"):
        hash(cupy.cuda.Device(0))  # as CuPy's own: the stand-in is faithful here
    model = xpnet.mlp([2, 5, 1], output="sigmoid", seed=0, backend="cupy")  # failed: a set
    assert model.backend == B.get("cupy") and len({model.backend, B.get("cupy")}) == 1
    model.fit(*_moons(), loss="binary_crossentropy", epochs=1, verbose=0)  # a cached constant


@pytest.mark.parametrize("text, index", [("cuda", 0), ("gpu", 0), ("cuda:1", 1), ("gpu:1", 1),
                                         ("1", 1), (1, 1)])
def test_cuda_device_names(cupy, text, index):
    assert B.get("cupy", text).device.id == index


@pytest.mark.parametrize("bad", ["cpu", "cuda:2", "cuda:x", "tpu", -1, 2.0])
def test_bad_cuda_device_names_are_a_clear_error(cupy, bad):
    with pytest.raises(ValueError, match=r"device: .*cuda"):
        B.get("cupy", bad)


def test_the_current_device_is_read_when_used_not_when_first_asked(cupy):
    with cupy.cuda.Device(1):
        assert xpnet.mlp([2, 1], seed=0, backend="cupy").backend.device.id == 1
    assert xpnet.mlp([2, 1], seed=0, backend="cupy").backend.device.id == 0


def test_a_backend_pickles_by_device_id(cupy):
    backend = B.get("cupy", "cuda:1")
    assert pickle.loads(pickle.dumps(backend)) == backend
    assert str(backend) == "cupy:cuda:1"


def test_torch_cuda_means_the_current_cuda_device(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # devices are checked against it
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    try:
        backend = B.get("torch", "cuda")
        assert backend.device == torch.device("cuda:0")  # a tensor's device, index and all
        assert backend == B.get("torch", "cuda:0") == B.get("torch", "gpu")
    finally:
        B._cached_backend.cache_clear()  # no Backend of a faked GPU left for later tests


# -- a model on device 1 while device 0 is current --------------------------------------------


def test_every_array_of_a_model_on_device_1_stays_there(cupy):
    X, y = _moons()
    model = _model()
    optimizer = optim.Adam(lr=0.01)
    model.fit(X, y, loss="binary_crossentropy", optimizer=optimizer, epochs=2, verbose=0,
              validation_split=0.25)
    arrays = [*model.params.values(), model.predict(X),
              *(a for slots in optimizer.state_dict()["slots"].values() for a in slots.values())]
    assert {a.device.id for a in arrays} == {1}
    assert cupy.cuda.Device().id == 0  # and the caller's current device is as it was
    value, grads = xpnet.value_and_grad(model, "binary_crossentropy", X, y)
    assert {g.device.id for g in grads.values()} == {1}
    assert max(xpnet.gradcheck(_model(dtype="float64"), "binary_crossentropy", X[:8], y[:8])
               .values()) < 1e-6


def test_check_backends_compares_cupy_instead_of_skipping_it(cupy):
    X, y = _moons(64)
    report = xpnet.check_backends(_model(), X, y, steps=3, backends=["cupy"])
    assert report.backends == ["cupy:cuda:0"] and not report.skipped
    assert report.max_diff < 1e-9


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")  # max_iter=20: not converged
def test_the_sklearn_estimators_train_on_cupy(cupy):
    pytest.importorskip("sklearn")
    from xpnet.sklearn import MLPClassifier

    X, y = _moons()
    with cupy.cuda.Device(1):  # the estimator's backend is the current device at fit time
        clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0, backend="cupy")
        clf.fit(X, y)
    assert clf.score(X, y) > 0.7 and clf.predict_proba(X).shape == (200, 2)


def test_decision_boundary_takes_device_arrays(cupy):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from xpnet import plot

    X, y = _moons()
    model = _model()
    plot.decision_boundary(model, model.backend.asarray(X), model.backend.asarray(y), resolution=20)


# -- the sync and launch budget -----------------------------------------------------------------


def _fit_syncs(cupy, epochs, batch_size=32, **options):
    X, y = _moons()
    model = _model()
    cupy.counters.reset()
    model.fit(X, y, loss="binary_crossentropy", epochs=epochs, batch_size=batch_size, verbose=0,
              **options)
    return cupy.counters.syncs


def test_fit_waits_for_the_device_once_per_epoch_and_never_per_step(cupy):
    setup = _fit_syncs(cupy, 1) - 1
    assert setup <= 1, cupy.counters.sync_reasons  # the label check of y, once per fit
    assert _fit_syncs(cupy, 4) == setup + 4  # loss, accuracy and finiteness: one copy an epoch
    assert _fit_syncs(cupy, 4, batch_size=8) == setup + 4  # 25 steps an epoch cost no more
    assert _fit_syncs(cupy, 4, validation_split=0.25) == 2 * setup + 8  # + validation, once


def test_predict_does_not_wait_for_the_device(cupy):
    X, _ = _moons()
    model = _model()
    cupy.counters.reset()
    model.predict(X)
    model.predict(X, batch_size=64)
    assert cupy.counters.syncs == 0, cupy.counters.sync_reasons


@pytest.mark.parametrize("loss, output, y", [("binary_crossentropy", "sigmoid", "binary"),
                                             ("crossentropy", "softmax", "labels"),
                                             ("mse", None, "binary")])
def test_unfused_losses_and_clipping_make_no_sync(cupy, loss, output, y):
    from xpnet import losses

    model = xpnet.mlp([2, 4, 3 if y == "labels" else 1], "relu", output, seed=0, backend="cupy",
                      device="cuda:1")
    X = model.backend.asarray(np.random.default_rng(0).normal(size=(16, 2)), "float32")
    target = model.backend.asarray(np.arange(16) % (3 if y == "labels" else 2),
                                   None if y == "labels" else "float32")
    if y != "labels":
        target = target[:, None]
    pred = model.forward(X)[0]
    cupy.counters.reset()
    losses.get(loss)(pred, target)  # unfused: from probabilities, clamped at the smallest normal
    optim.clip_grad_norm(dict(model.params), 1e-3)
    assert cupy.counters.syncs == 0, cupy.counters.sync_reasons


def test_an_optimizer_step_is_a_few_launches_per_parameter_whatever_its_size(cupy):
    small = xpnet.mlp([4, 4], seed=0, backend="cupy", device="cuda:1")
    large = xpnet.mlp([1024, 1024], seed=0, backend="cupy", device="cuda:1")  # 16 NumPy blocks
    launches = {}
    for name, model in (("small", small), ("large", large)):
        adam = optim.Adam()
        with model.backend.context():
            grads = {k: v * 0.5 for k, v in model.params.items()}
        adam.step(model.params, grads)  # the first step makes the state
        cupy.counters.reset()
        adam.step(model.params, grads)
        launches[name] = cupy.counters.launches
    assert launches["large"] == launches["small"] < 40, launches


def test_dropout_masks_cross_as_one_byte_per_element(cupy):
    model = xpnet.Sequential(xpnet.Dense(64, 64, seed=0, backend="cupy", device="cuda:1"),
                             xpnet.Dropout(0.5, seed=0))
    X = model.backend.asarray(np.ones((128, 64)), "float32")
    cupy.counters.reset()
    model.forward(X, training=True)
    assert cupy.counters.h2d_bytes == 128 * 64  # a bool mask, not 4 or 8 bytes per element


# -- a memmap is validated on the host and streamed one batch ahead ---------------------------------


def test_a_memmap_crosses_to_the_device_once_per_epoch(cupy, tmp_path):
    """Validation reads the file on the host; only the epoch's batches are copied to the device
    (with y and the permutation). On 1ea7cd2 the validation copied the whole file over first."""
    X, y = _moons(400)
    stored = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float32,
                                       shape=(400, 2))
    stored[:] = X
    model = _model()
    cupy.counters.reset()
    model.fit(stored, y, loss="binary_crossentropy", epochs=1, batch_size=32, verbose=0)
    moved = cupy.counters.h2d_bytes
    assert stored.nbytes <= moved <= stored.nbytes + 400 * (8 + 8), moved  # + y, perm: int64


def test_memmap_batches_are_gathered_on_a_prefetch_thread(tmp_path, monkeypatch):
    import threading

    from xpnet import train

    X, y = _moons(256)
    stored = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64,
                                       shape=(256, 2))
    stored[:] = X
    threads = []
    gather = train._gather_rows

    def recording(X, index):
        threads.append(threading.current_thread().name)
        return gather(X, index)

    monkeypatch.setattr(train, "_gather_rows", recording)
    model = xpnet.mlp([2, 4, 1], "tanh", "sigmoid", seed=0, dtype="float64", backend="numpy")
    twin = model.copy()
    model.fit(stored, y, loss="binary_crossentropy", epochs=2, batch_size=32, seed=3, verbose=0)
    twin.fit(X, y, loss="binary_crossentropy", epochs=2, batch_size=32, seed=3, verbose=0)
    assert len(threads) == 2 * 8 and all(name.startswith("xpnet-prefetch") for name in threads)
    for key, value in model.params.items():
        np.testing.assert_array_equal(value, twin.params[key])
