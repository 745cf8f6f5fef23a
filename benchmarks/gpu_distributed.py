"""Data-parallel ``fit`` with one GPU worker: its replica on CuPy, the run equal to single-process.

Starts ``dask_cuda.LocalCUDACluster(n_workers=1)`` (one worker per GPU; a plain LocalCluster of one
worker process when dask-cuda is not installed: that worker resolves ``worker_backend="auto"`` to
CuPy on the GPU all the same), trains W2's network on 4 096 random rows for 2 epochs with
``client=`` and without, in float64, and checks that the parameters agree to 1e-10 and that the
worker's replica ran on CuPy. Prints the per-step times. Exit status 1 on a mismatch.

    python benchmarks/gpu_distributed.py
"""

from __future__ import annotations

import sys
import time

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

import xpnet


def _cluster():
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError:
        print("dask-cuda is not installed: a LocalCluster of one worker process instead")
        return LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0")
    return LocalCUDACluster(n_workers=1, dashboard_address=":0")


def _replica_backend():
    import xpnet.backend

    return xpnet.backend.get("auto").name


def main():
    rng = np.random.default_rng(0)
    X = rng.random((4096, 784))
    y = rng.integers(0, 10, 4096)
    options = dict(loss="crossentropy", optimizer="sgd", epochs=2, batch_size=256, seed=0,
                   verbose=0, metrics=())
    single = xpnet.mlp([784, 512, 512, 10], activation="relu", output="softmax", seed=0,
                       backend="cupy", dtype="float64")
    t = time.perf_counter()
    single.fit(X, y, **options)
    t_single = time.perf_counter() - t
    with _cluster() as cluster, Client(cluster) as client:
        where = set(client.run(_replica_backend).values())
        model = xpnet.mlp([784, 512, 512, 10], activation="relu", output="softmax", seed=0,
                          backend="cupy", dtype="float64")
        t = time.perf_counter()
        model.fit(da.from_array(X, chunks=(1024, -1)), da.from_array(y, chunks=1024),
                  client=client, **options)
        t_cluster = time.perf_counter() - t
    gap = max(float(np.max(np.abs(xpnet.to_numpy(model.params[k]) - xpnet.to_numpy(v))))
              for k, v in single.params.items())
    steps = 2 * 4096 // 256
    print(f"worker replica backend: {sorted(where)}; max |difference| {gap:.2e}; per step: "
          f"single process {t_single / steps * 1e3:.1f} ms, one GPU worker "
          f"{t_cluster / steps * 1e3:.1f} ms (setup included)")
    return 0 if gap <= 1e-10 and where == {"cupy"} else 1


if __name__ == "__main__":
    sys.exit(main())
