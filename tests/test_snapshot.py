"""The fit loop's epoch snapshot (what a replay after a divergence starts from): exact whether it
is held in memory or written to a temporary file, and no second copy of Adam's state in memory."""

import gc
import os
import tracemalloc

import numpy as np
import pytest

import xpnet
from xpnet import datasets, optim
from xpnet import train as _train


def _host(arrays):
    return {k: xpnet.to_numpy(v).copy() for k, v in arrays.items()}


def _slots(optimizer):
    return {f"{s}/{k}": xpnet.to_numpy(a).copy()
            for s, per_key in optimizer.state_dict()["slots"].items() for k, a in per_key.items()}


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_replay_from_a_snapshot_in_a_file_is_that_from_memory(backend, monkeypatch):
    """A divergence after the first epoch (so the snapshot holds momentum buffers too): the
    model and optimizer end as after the last finite step, the same to the bit whether the
    snapshot was kept in memory or written to a file, and as a run stopped by hand there."""
    X, y = datasets.two_moons(n=64, noise=0.15, seed=0)
    X = X * 3.0  # diverges in epoch 7 at lr 0.01
    spilled, results = [], {}
    snapshot = _train._Snapshot

    class Recording(snapshot):
        def take(self, *args):
            super().take(*args)
            spilled.append(self.file is not None)

    monkeypatch.setattr(_train, "_Snapshot", Recording)
    for limit in (1 << 40, 0):  # in memory; in a file
        monkeypatch.setattr(_train, "_SPILL_BYTES", limit)
        model = xpnet.mlp([2, 8, 1], "relu", "identity", seed=0, backend=backend)
        opt = optim.SGD(lr=0.01, momentum=0.9)
        with pytest.raises(xpnet.DivergenceError) as info:
            model.fit(X, y, loss="mse", optimizer=opt, epochs=100, batch_size=8, seed=0,
                      metrics=(), verbose=0)
        results[limit] = (info.value.epoch, info.value.step), _host(model.params), _slots(opt)
        assert opt.iterations == 8 * info.value.epoch + info.value.step
    assert spilled[0] is False and spilled[-1] is True
    (where, params, slots), (where_file, params_file, slots_file) = results.values()
    assert where == where_file and where[0] >= 1, where
    for key in params:
        np.testing.assert_array_equal(params_file[key], params[key], err_msg=key)
        assert np.isfinite(params[key]).all()
    assert slots_file.keys() == slots.keys() and slots
    for key in slots:
        np.testing.assert_array_equal(slots_file[key], slots[key], err_msg=key)

    if backend.name == "jax":  # fit's epochs run as one jax.jit step, rounded unlike eager steps
        return
    manual = xpnet.mlp([2, 8, 1], "relu", "identity", seed=0, backend=backend)
    opt, random = optim.SGD(lr=0.01, momentum=0.9), xpnet.backend.Random(0)
    for e in range(where[0] + 1):
        perm = random.permutation(len(X))
        for s, start in enumerate(range(0, len(X), 8)):
            if (e, s) == where:
                break
            rows = perm[start:start + 8]
            opt.step(manual.params, xpnet.value_and_grad(manual, "mse", X[rows], y[rows])[1])
    for key, value in _host(manual.params).items():
        np.testing.assert_array_equal(params[key], value, err_msg=key)
    for key, value in _slots(opt).items():
        np.testing.assert_array_equal(slots[key], value, err_msg=key)


def _epochs_peak(optimizer, batch_size):
    """tracemalloc's peak over two epochs of a 64-512-512-4 network (its optimizer state made by
    a first fit), over the bytes of its parameters."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(256, 64)).astype(np.float32), rng.integers(0, 4, size=256)
    model = xpnet.mlp([64, 512, 512, 4], output="softmax", seed=0)
    params = sum(int(np.prod(p.shape)) * 4 for p in model.params.values())
    assert params > _train._SPILL_BYTES
    options = dict(loss="crossentropy", optimizer=optimizer, batch_size=batch_size, metrics=(),
                   verbose=0)
    model.fit(X, y, epochs=1, **options)
    gc.collect()
    tracemalloc.start()
    try:
        model.fit(X, y, epochs=2, **options)
        return tracemalloc.get_traced_memory()[1] / params
    finally:
        tracemalloc.stop()


numpy_only = pytest.mark.skipif(os.environ.get("XPNET_BACKEND", "numpy") != "numpy",
                                reason="NumPy-only measurement (tracemalloc sees NumPy's allocations)")


@numpy_only
def test_adam_training_holds_no_copy_of_its_state():
    """With Adam's state made (a second fit), an epoch allocates less than the parameters and
    Adam's two moments together: the old epoch snapshot copied all three (3 x the parameters).
    What is left: the gradients (1x), the batch's activations and the update's temporaries,
    1.7x (2.4x while the last step's gradients and batch were kept until the next step's were
    made)."""
    assert _epochs_peak(optim.Adam(lr=1e-3), batch_size=64) < 2.0


@numpy_only
def test_one_steps_gradients_alive_at_a_time():
    """SGD on small batches: an epoch's peak is one set of gradients and the update's temporary
    (1.25x the parameters), not two sets: the fit loop drops a step's gradients and batch before
    the next are made (it held them, in the batch generator and in ``enumerate``'s last tuple,
    until the next backward pass had made its own: 2.1x)."""
    assert _epochs_peak(optim.SGD(lr=1e-3), batch_size=8) < 1.5


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_snapshot_stays_in_memory_without_a_writable_temporary_directory(backend, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError("read-only temporary directory")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    monkeypatch.setattr(_train, "_SPILL_BYTES", 0)
    X, y = datasets.two_moons(n=64, noise=0.15, seed=0)
    model = xpnet.mlp([2, 8, 1], "relu", "identity", seed=0, backend=backend)
    with pytest.raises(xpnet.DivergenceError) as info:
        model.fit(X * 3.0, y, loss="mse", optimizer=optim.SGD(lr=0.01, momentum=0.9), epochs=100,
                  batch_size=8, seed=0, metrics=(), verbose=0)
    assert info.value.epoch >= 1
    assert all(np.isfinite(v).all() for v in _host(model.params).values())
