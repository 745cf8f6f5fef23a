"""Data-parallel training on a Dask LocalCluster of worker processes is the single-process run:
the parameters after every step, the History and the metrics equal ``fit``'s for 1, 2 and 3
workers; a worker killed mid-fit costs nothing; workers that never come back end the fit with
WorkerLostError and the model at its last completed step."""

import os
import signal
import threading
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import xpnet  # noqa: E402
from xpnet.distributed import WorkerLostError  # noqa: E402
from xpnet.train import Callback  # noqa: E402

ROWS, BLOCK = 300, 70  # 5 row blocks, the last one short


def _cluster(n):
    return distributed.LocalCluster(n_workers=n, processes=True, threads_per_worker=1,
                                    dashboard_address=":0", worker_dashboard_address=":0")


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(ROWS, 4))
    y = rng.integers(0, 3, ROWS)
    return X, y


class _Steps(Callback):
    """The parameters after every step, on the host."""

    def on_train_begin(self, logs=None):
        self.params = []

    def on_batch_end(self, step, logs=None):
        self.params.append({k: xpnet.to_numpy(v).copy() for k, v in self.model.params.items()})


def _fit(backend, dtype, X, y, client=None, callbacks=(), **options):
    model = xpnet.mlp([4, 8, 3], activation="tanh", output="softmax", seed=1, backend=backend,
                      dtype=dtype)
    steps = _Steps()
    if client is not None:
        X, y = da.from_array(X, chunks=(BLOCK, 4)), da.from_array(y, chunks=BLOCK)
        options["client"] = client
    history = model.fit(X, y, loss="crossentropy", optimizer="adam", epochs=3, batch_size=64,
                        seed=2, verbose=0, callbacks=[steps, *callbacks],
                        metrics=("accuracy", "f1"), validation_split=0.2, **options)
    return model, history, steps.params


@pytest.mark.parametrize("n_workers", [1, 2, 3])
def test_every_step_equals_the_single_process_fit(backend, n_workers):
    _numpy_session_only(backend, n_workers != 2)
    X, y = _data()
    with _cluster(n_workers) as cluster, distributed.Client(cluster) as client, \
            distributed.get_task_stream(client) as tasks:
        runs = {dtype: (_fit(backend, dtype, X, y), _fit(backend, dtype, X, y, client))
                for dtype in ("float64", "float32")}
    assert len({t["worker"] for t in tasks.data}) == n_workers  # every worker took part
    for dtype, ((_, history, steps), (model, cluster_history, cluster_steps)) in runs.items():
        tol = {"float64": 1e-10, "float32": 1e-5}[dtype]
        assert model.dtype == dtype and len(cluster_steps) == len(steps) == 3 * 4
        for single, on_cluster in zip(steps, cluster_steps, strict=True):
            for key, value in single.items():
                np.testing.assert_allclose(on_cluster[key], value, rtol=tol, atol=tol)
        assert history.history.keys() == cluster_history.history.keys() == {
            "loss", "accuracy", "f1", "val_loss", "val_accuracy", "val_f1"}
        for key, values in history.history.items():
            np.testing.assert_allclose(cluster_history[key], values, rtol=tol, atol=tol)


def _numpy_session_only(backend, condition=True):
    """The workers' replicas are NumPy in every session; the other sessions (another backend for
    the model here) run the 2-worker equivalence test and the checks, to keep CI short."""
    if condition and backend.name != "numpy":
        pytest.skip("runs in the numpy session (worker replicas are NumPy in every session)")


def _pids(client):
    return client.run(os.getpid)


def test_a_worker_killed_mid_fit_loses_no_step(backend):
    _numpy_session_only(backend)
    X, y = _data()
    single, _, _ = _fit(backend, "float64", X, y)
    with _cluster(2) as cluster, distributed.Client(cluster) as client:
        uninterrupted, _, _ = _fit(backend, "float64", X, y, client)
        killed = []

        class KillAWorker(Callback):  # SIGKILL while the next step's tasks are being sent
            def on_batch_end(self, step, logs=None):
                if step == 1 and not killed:
                    address, pid = sorted(_pids(client).items())[0]
                    killed.append(address)
                    threading.Timer(0.01, os.kill, (pid, signal.SIGKILL)).start()

        interrupted, history, steps = _fit(backend, "float64", X, y, client, [KillAWorker()])
        assert killed and killed[0] not in _pids(client)  # that worker is gone (or replaced)
    assert len(steps) == 12  # no step lost, none counted twice
    for key, value in uninterrupted.params.items():
        np.testing.assert_array_equal(xpnet.to_numpy(interrupted.params[key]),
                                      xpnet.to_numpy(value))
        np.testing.assert_allclose(xpnet.to_numpy(value), xpnet.to_numpy(single.params[key]),
                                   rtol=1e-10, atol=1e-10)


def test_workers_that_never_come_back_end_the_fit_at_the_last_completed_step(backend):
    X, y = _data()
    with _cluster(1) as cluster, distributed.Client(cluster) as client:

        class LoseEveryWorker(Callback):
            def on_batch_end(self, step, logs=None):
                if step == 1:
                    cluster.scale(0)
                    while client.scheduler_info()["workers"]:
                        time.sleep(0.05)

        model = xpnet.mlp([4, 8, 3], activation="tanh", output="softmax", seed=1,
                          backend=backend, dtype="float64")
        steps = _Steps()
        with pytest.raises(WorkerLostError, match="timeout=3"):
            model.fit(da.from_array(X, chunks=(BLOCK, 4)), da.from_array(y, chunks=BLOCK),
                      loss="crossentropy", epochs=3, batch_size=64, seed=2, verbose=0,
                      client=client, timeout=3, callbacks=[steps, LoseEveryWorker()])
    assert len(steps.params) == 2
    for key, value in steps.params[-1].items():
        np.testing.assert_array_equal(xpnet.to_numpy(model.params[key]), value)


def test_bad_arguments_and_data_are_refused_before_training(backend):
    X, y = _data()
    model = xpnet.mlp([4, 8, 3], output="softmax", seed=1, backend=backend)
    before = {k: xpnet.to_numpy(v).copy() for k, v in model.params.items()}
    with pytest.raises(TypeError, match="go with client="):
        model.fit(X, y, loss="crossentropy", timeout=3)
    with pytest.raises(TypeError, match="client must be a distributed.Client"):
        model.fit(da.from_array(X), y, loss="crossentropy", client="tcp://nowhere")
    with _cluster(1) as cluster, distributed.Client(cluster) as client:
        with pytest.raises(TypeError, match="X must be a dask array"):
            model.fit(X, y, loss="crossentropy", client=client)
        with pytest.raises(ValueError, match="X has 300 samples but y has 299"):
            model.fit(da.from_array(X), y[:-1], loss="crossentropy", client=client)
        bad = X.copy()
        bad[150, 2] = np.nan
        with pytest.raises(ValueError, match=r"X\[10, 2\] is nan.*row 140 of X is the first"):
            model.fit(da.from_array(bad, chunks=(BLOCK, 4)), y, loss="crossentropy",
                      client=client)
        with pytest.raises(ValueError, match="labels"):
            model.fit(da.from_array(X, chunks=(BLOCK, 4)), y + 1, loss="crossentropy",
                      client=client, verbose=0)
        dropout = xpnet.Sequential(xpnet.layers.Dense(4, 3), xpnet.layers.Dropout(0.5))
        with pytest.raises(ValueError, match="Dropout"):
            dropout.fit(da.from_array(X), y, loss="crossentropy", client=client)
    for key, value in before.items():
        np.testing.assert_array_equal(xpnet.to_numpy(model.params[key]), value)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_divergence_and_resume_behave_as_in_fit(backend, tmp_path):
    _numpy_session_only(backend)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 3)) * 1e3, rng.normal(size=64)
    on_cluster = (da.from_array(X, chunks=(20, 3)), da.from_array(y, chunks=20))

    def build():
        return xpnet.mlp([3, 8, 1], seed=0, backend=backend, dtype="float64")

    options = dict(loss="mse", epochs=50, batch_size=8, seed=0, metrics=(), verbose=0)
    single = build()
    with pytest.raises(xpnet.DivergenceError) as expected:
        single.fit(X, y, optimizer=xpnet.optim.SGD(lr=10.0), **options)
    with _cluster(2) as cluster, distributed.Client(cluster) as client:
        model = build()
        with pytest.raises(xpnet.DivergenceError) as got:
            model.fit(*on_cluster, optimizer=xpnet.optim.SGD(lr=10.0), client=client, **options)
        assert (got.value.epoch, got.value.step) == (expected.value.epoch, expected.value.step)
        for key, value in single.params.items():  # the last finite parameters, kept
            np.testing.assert_allclose(xpnet.to_numpy(model.params[key]), xpnet.to_numpy(value),
                                       rtol=1e-9)

        options = dict(loss="mse", batch_size=16, seed=1, metrics=(), verbose=0)
        path = tmp_path / "run.xpnet"
        build().fit(*on_cluster, epochs=2, client=client,
                    callbacks=[xpnet.train.ModelCheckpoint(path, monitor="loss")], **options)
        options.pop("loss"), options.pop("seed")
        resumed, history = xpnet.resume(path, *on_cluster, epochs=4, client=client, **options)
    straight = build()
    straight_history = straight.fit(X, y, loss="mse", epochs=4, **options, seed=1)
    assert len(history["loss"]) == 4
    np.testing.assert_allclose(history["loss"], straight_history["loss"], rtol=1e-10)
    for key, value in straight.params.items():
        np.testing.assert_allclose(xpnet.to_numpy(resumed.params[key]), xpnet.to_numpy(value),
                                   rtol=1e-10, atol=1e-12)
