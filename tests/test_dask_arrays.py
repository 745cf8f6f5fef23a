"""Dask arrays as data: ``predict`` returns a lazy result computed block by block; ``fit`` and
``evaluate`` stream the rows (``validation_split`` split lazily), never computing the whole array,
with memory bounded by batches, not by the data."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from test_cuda import cupy  # noqa: F401  (the CuPy stand-in fixture, for one test)

import xpnet

da = pytest.importorskip("dask.array")


def test_predict_on_a_dask_array_is_lazy_and_computed_block_by_block(backend):
    model = xpnet.mlp([3, 6, 2], activation="tanh", output="softmax", seed=0, backend=backend,
                      dtype="float64")
    X = np.random.default_rng(0).normal(size=(50, 3))
    seen = []
    forward = model.forward

    def counting(rows, *args, **kwargs):
        seen.append(rows.shape[0])
        return forward(rows, *args, **kwargs)

    expected = xpnet.to_numpy(model.predict(X))
    model.forward = counting  # sees each block the lazy result computes
    lazy = model.predict(da.from_array(X, chunks=(16, 2)))
    assert isinstance(lazy, da.Array) and lazy.shape == (50, 2) and seen == []  # nothing computed
    P = lazy.compute()
    assert sorted(seen) == [2, 16, 16, 16]  # one call per row block, never the whole array
    np.testing.assert_allclose(P, expected, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="X must be 2-D"):
        model.predict(da.from_array(X[:, 0]))


def test_predict_on_a_dask_array_checks_what_it_knows_now_and_names_rows_of_x(backend):
    """The width and dtype are known before any block is computed: refused then (a wrong width
    was a lazy result that failed at .compute()). A bad value found in a block is named by its
    row in X, not in the block (row 50 in blocks of 16 was "X[2, 0]"); when the block sizes are
    unknown, by the block and its row."""
    model = xpnet.mlp([2, 4, 1], output="sigmoid", seed=0, backend=backend)
    with pytest.raises(ValueError, match="^X has 3 columns but the model takes 2 inputs"):
        model.predict(da.from_array(np.ones((8, 3)), chunks=4))
    with pytest.raises(ValueError, match="^X must hold numbers .*complex128"):
        model.predict(da.from_array(np.ones((8, 2), dtype=complex), chunks=4))
    X = np.random.default_rng(0).normal(size=(64, 2))
    X[50, 1] = np.nan
    lazy = model.predict(da.from_array(X, chunks=16))
    with pytest.raises(ValueError, match=r"^X\[50, 1\] is nan: X must hold finite numbers"):
        lazy.compute()
    kept = da.from_array(np.arange(64) >= 10, chunks=16)  # rows 10.. kept: row 50 is 2nd of block 3
    with pytest.raises(ValueError, match=r"^X\.blocks\[3\]\[2, 1\] is nan"):
        model.predict(da.from_array(X, chunks=16)[kept]).compute()


@pytest.mark.parametrize("method", ["fit", "fit with validation_split", "evaluate"])
def test_a_dask_array_of_unknown_block_sizes_is_refused_with_the_fix(backend, method):
    """As the client= path does; without one, it failed on int(nan) ("cannot convert float NaN
    to integer") when the rows were counted."""
    X, y = xpnet.datasets.two_moons(n=64, seed=0)
    kept = X[:, 0] > 0
    model = xpnet.mlp([2, 4, 1], output="sigmoid", seed=0, backend=backend)
    run = getattr(model, method.split()[0])
    options = {"epochs": 1, "verbose": 0} if method.startswith("fit") else {}
    if method.endswith("validation_split"):
        options["validation_split"] = 0.25
    with pytest.raises(ValueError, match=r"unknown block sizes; call X\.compute_chunk_sizes\(\)"):
        run(da.from_array(X, chunks=16)[da.from_array(kept, chunks=16)], y[kept],
            loss="binary_crossentropy", **options)


def test_fit_streams_a_dask_array_a_batch_at_a_time(backend, tmp_path, monkeypatch):
    """A memmap-backed dask array: fit computes one batch of rows at a time (the host permutation
    shuffles within and across blocks), never the whole array, and gives exactly the History of
    the same data as a memmap."""
    m, n = 100_000, 10
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=(m, n))
    X[:] = np.random.default_rng(0).normal(size=(m, n))
    y = (X[:, 0] > 0).astype(np.float64)
    lazy = da.from_array(X, chunks=(10_000, n))
    reads = []
    read = xpnet.backend.LazyRows.__getitem__

    def counting(self, index):
        rows = read(self, index)
        reads.append(rows.shape[0])
        return rows

    monkeypatch.setattr(xpnet.backend.LazyRows, "__getitem__", counting)
    monkeypatch.setattr(xpnet.train, "_STREAM_BYTES", 1 << 20)  # validated 1 MiB of rows at a time
    histories = []
    for data in (lazy, X):
        model = xpnet.mlp([n, 8, 1], output="sigmoid", seed=0, backend=backend)
        histories.append(model.fit(data, y, loss="binary_crossentropy", epochs=2, batch_size=4096,
                                   seed=1, metrics=(), verbose=0).history)
    assert histories[0] == histories[1]
    chunk = xpnet.train._stream_rows(xpnet.backend.LazyRows(lazy))  # rows validated at a time, once
    assert max(reads) <= max(chunk, 4096) < m and sum(reads) == 3 * m  # validation, 2 epochs


def _counting_reads(monkeypatch):
    """The number of rows each ``LazyRows`` read computes, in order."""
    reads, read = [], xpnet.backend.LazyRows.__getitem__

    def counting(self, index):
        rows = read(self, index)
        reads.append(rows.shape[0])
        return rows

    monkeypatch.setattr(xpnet.backend.LazyRows, "__getitem__", counting)
    return reads


def test_evaluate_on_a_dask_array_is_computed_a_block_of_rows_at_a_time(backend, monkeypatch):
    m = 3000
    X = np.random.default_rng(0).normal(size=(m, 4))
    y = np.argmax(X[:, :3], axis=1)
    model = xpnet.mlp([4, 8, 3], output="softmax", seed=0, backend=backend, dtype="float64")
    expected = model.evaluate(X, y, loss="crossentropy", metrics=("accuracy", "f1"))
    reads = _counting_reads(monkeypatch)
    monkeypatch.setattr(xpnet.train, "_STREAM_BYTES", 16 * 1024)  # 512 rows of 4 float64
    got = model.evaluate(da.from_array(X, chunks=(700, 4)), da.from_array(y, chunks=700),
                         loss="crossentropy", metrics=("accuracy", "f1"))
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
    assert max(reads) == 512 and sum(reads) == 2 * m  # checked, then evaluated: never whole


def test_validation_split_of_a_dask_array_is_lazy_and_equals_a_numpy_split(backend, monkeypatch):
    m = 2000
    X = np.random.default_rng(1).normal(size=(m, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.float64)
    options = {"loss": "binary_crossentropy", "epochs": 2, "batch_size": 64, "seed": 4,
               "validation_split": 0.25, "verbose": 0}
    histories = []
    reads = _counting_reads(monkeypatch)
    for data, labels in ((X, y), (da.from_array(X, chunks=(300, 3)), da.from_array(y, 300))):
        model = xpnet.mlp([3, 5, 1], output="sigmoid", seed=0, backend=backend, dtype="float64")
        histories.append(model.fit(data, labels, **options).history)
    assert set(histories[1]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key, values in histories[0].items():
        np.testing.assert_allclose(histories[1][key], values, rtol=1e-12, err_msg=key)
    assert max(reads) < m  # streamed, split without computing the whole array
    with pytest.raises(ValueError, match="leaves an empty split"):
        model.fit(da.from_array(X[:3]), y[:3], loss="binary_crossentropy", validation_split=0.1)


def test_a_cupy_model_moves_each_numpy_block_of_a_dask_array_once(cupy):  # noqa: F811
    """On the CuPy stand-in (which counts host-to-device copies): predict copies each NumPy block
    to the device once; evaluate and a one-epoch fit copy exactly the bytes the same data in
    memory costs (each row once), however many pieces it comes in."""
    model = xpnet.mlp([3, 6, 2], activation="tanh", output="softmax", seed=0, backend="cupy",
                      device="cuda:1")
    X = np.random.default_rng(0).normal(size=(1000, 3)).astype(np.float32)
    y = np.argmax(X[:, :2], axis=1)
    lazy = da.from_array(X, chunks=(250, 3))
    cupy.counters.reset()
    P = model.predict(lazy).compute()
    assert (cupy.counters.h2d, cupy.counters.h2d_bytes) == (4, X.nbytes)
    np.testing.assert_allclose(P, xpnet.to_numpy(model.predict(X)), rtol=1e-6)
    moved = {}
    for name, data in (("numpy", X), ("dask", lazy)):
        cupy.counters.reset()
        model.evaluate(data, y, loss="crossentropy")
        model.fit(data, y, loss="crossentropy", epochs=1, batch_size=100, seed=0, verbose=0)
        moved[name] = cupy.counters.h2d_bytes
    assert moved["dask"] == moved["numpy"]


_OUT_OF_CORE = """
import json, sys, tracemalloc
import numpy as np, dask.array as da, xpnet

X = da.from_array(np.load(sys.argv[1], mmap_mode="r"), chunks=(20_000, -1))  # a file, not memory
y = np.load(sys.argv[2])
model = xpnet.mlp([X.shape[1], 8, 1], output="sigmoid", seed=0, backend="numpy")
fit = dict(loss="binary_crossentropy", batch_size=1024, seed=0, verbose=0)
model.fit(X[:4096], y[:4096], epochs=1, **fit)  # imports, thread pools: not the data's memory
tracemalloc.start()  # NumPy reports its buffers to tracemalloc: every copy of the data counts
history = model.fit(X, y, epochs=1, **fit).history
print(json.dumps({"peak": tracemalloc.get_traced_memory()[1], "history": history}))
"""


@pytest.mark.skipif(os.environ.get("XPNET_BACKEND", "numpy") != "numpy",
                    reason="a host-memory measurement (tracemalloc sees NumPy's allocations): "
                           "runs in the numpy session")
def test_fit_on_a_dask_array_ten_times_larger_than_its_peak_memory(tmp_path):
    """Out of core: a dask array over a 156 MiB memory-mapped file, shuffled across its blocks,
    is trained on (checked, then streamed a batch at a time) with a peak memory growth of less
    than a tenth of it, measured in a fresh process."""
    m, n = 160_000, 256
    rng = np.random.default_rng(0)
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=(m, n))
    y = np.empty(m, np.float32)
    w = rng.normal(size=n).astype(np.float32)
    for start in range(0, m, 10_000):
        X[start:start + 10_000] = part = rng.standard_normal((10_000, n), dtype=np.float32)
        y[start:start + 10_000] = part @ w > 0
    X.flush()
    np.save(tmp_path / "y.npy", y)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "XPNET_BACKEND": "numpy"}
    done = subprocess.run([sys.executable, "-c", _OUT_OF_CORE, str(tmp_path / "X.npy"),
                           str(tmp_path / "y.npy")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert X.nbytes >= 10 * result["peak"], (X.nbytes, result["peak"])
    assert result["history"]["accuracy"][0] > 0.7  # and it learned from all of it


def test_the_dask_backend_trains_at_a_steady_pace_and_as_numpy_does():
    """On backend="dask" the parameters are dask arrays: each step's update is a graph over the
    last one's, and left lazy, the n-th step recomputed every step before it (the graph grew by
    ~80 tasks a step, every fit slower than the last). Persisted after each step, a parameter is
    its value (a one-task graph), and training equals NumPy's. A dask X and y with
    validation_split also train (the class check read the lazy y with .tolist())."""
    X, y = xpnet.datasets.two_moons(n=96, noise=0.1, seed=0)
    options = dict(loss="binary_crossentropy", optimizer="adam", epochs=3, batch_size=16,
                   seed=0, verbose=0)
    lazy = xpnet.mlp([2, 8, 1], output="sigmoid", seed=0, backend="dask", dtype="float64")
    eager = xpnet.mlp([2, 8, 1], output="sigmoid", seed=0, backend="numpy", dtype="float64")
    for _ in range(2):
        history = lazy.fit(X, y, **options)
        expected = eager.fit(X, y, **options)
        assert max(len(p.__dask_graph__()) for p in lazy.params.values()) == 1
        np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-12)
    for key, value in eager.params.items():
        np.testing.assert_allclose(xpnet.to_numpy(lazy.params[key]), value, rtol=1e-12,
                                   atol=1e-15, err_msg=key)
    lazy.fit(da.from_array(X, chunks=32), da.from_array(y, chunks=32), validation_split=0.25,
             **options)
