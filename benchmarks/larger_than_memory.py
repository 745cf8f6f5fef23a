"""A data-parallel fit on a dask array ten times larger than one worker's memory limit.

Writes ``--gib`` GiB of float32 rows as a stack of ``.npy`` files (``dask.array.to_npy_stack``'s
layout, under ``--dir``), opens them with ``from_npy_stack(mmap_mode="r")`` (each block a memory
map: a worker reads only the rows of its batches), and trains one epoch on a LocalCluster of
2 worker processes, each limited to ``--limit`` MB (spilling off: a memory map has nothing to
spill, and spilling it would read it whole), with ``model.fit(..., client=client)``. Prints
the sizes, the time, the loss and each worker's peak resident memory.

    python benchmarks/larger_than_memory.py                # 2.5 GiB, workers limited to 256 MB
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

import xpnet


def write_stack(path: Path, rows: int, features: int, block: int) -> None:
    """``X`` (normal floats) and ``y`` (0/1 from a linear rule) as npy stacks, block by block."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=features)
    chunks = tuple(min(block, rows - s) for s in range(0, rows, block))
    for name, shape in (("X", (features,)), ("y", ())):
        (path / name).mkdir(parents=True)
        (path / name / "info").write_bytes(__import__("pickle").dumps(
            {"chunks": (chunks, *((s,) for s in shape)), "dtype": np.dtype(np.float32), "axis": 0}))
    for i, n in enumerate(chunks):
        X = rng.standard_normal((n, features), dtype=np.float32)
        np.save(path / "X" / f"{i}.npy", X)
        np.save(path / "y" / f"{i}.npy", (X @ w > 0).astype(np.float32))


def _peak_rss():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=2.5)
    parser.add_argument("--limit", type=int, default=256, help="MB per worker")
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--block", type=int, default=250_000, help="rows per .npy file")
    parser.add_argument("--batch", type=int, default=65536)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args(argv)
    rows = int(args.gib * 2**30 / (4 * args.features))
    root = Path(args.dir or tempfile.mkdtemp(prefix="xpnet-ltm-"))
    try:
        t = time.perf_counter()
        if not (root / "X" / "info").exists():  # --dir of an earlier run: its data is reused
            write_stack(root, rows, args.features, args.block)
        X = da.from_npy_stack(str(root / "X"), mmap_mode="r")
        y = da.from_npy_stack(str(root / "y"), mmap_mode="r")
        print(f"data: X {X.shape} float32 = {X.nbytes / 2**30:.2f} GiB in {X.numblocks[0]} blocks "
              f"(written in {time.perf_counter() - t:.0f} s); worker limit {args.limit} MB: "
              f"{X.nbytes / (args.limit * 2**20):.1f}x", flush=True)
        # spilling a memory-mapped block to disk would read it whole: nothing worth spilling here
        no_spill = dask.config.set({"distributed.worker.memory.spill": False})
        with no_spill, LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                    memory_limit=f"{args.limit}MB",
                                    dashboard_address=":0") as cluster, Client(cluster) as client:
            model = xpnet.mlp([args.features, 32, 1], output="sigmoid", seed=0)
            t = time.perf_counter()
            history = model.fit(X, y, loss="binary_crossentropy", epochs=1,
                                batch_size=args.batch, seed=0, verbose=0, client=client)
            seconds = time.perf_counter() - t
            peaks = client.run(_peak_rss)
            print(f"one epoch, {-(-rows // args.batch)} steps of {args.batch} rows: {seconds:.0f} s;"
                  f" loss {history['loss'][0]:.4f}, accuracy {history['accuracy'][0]:.4f}")
            print("worker peak RSS: " + ", ".join(f"{p / 2**20:.0f} MB" for p in peaks.values())
                  + f" (limit {args.limit} MB); workers alive: {len(peaks)}")
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
