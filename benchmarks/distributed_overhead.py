"""Per-step time of data-parallel ``fit`` on a LocalCluster against single-process ``fit``.

W2's network (784-512-512-10 ReLU + softmax cross-entropy, float32, SGD) at batch 256, 1024 and
4096 rows; the cluster has ``--workers`` worker processes of one thread each, the data ``4 x
workers`` row blocks. A step's wall time (between ``on_batch_end`` calls, median) is split with
Dask's task stream into

- compute: the blocks' forward + backward (``_block_step`` tasks), per worker, as they overlap;
- reduction: the tree's sums (``_add`` tasks) and the transfers their inputs waited for;
- scheduling: the rest (the client's submit, scheduler round trips, the result's trip back, the
  optimizer step here).

Each mechanism for the parameters is measured: sent inside every block's task ("inline") or once
as a task the blocks depend on ("task"). Prints a markdown table, and the cost model's constants.

    python benchmarks/distributed_overhead.py [--workers 2] [--steps 8]
"""

from __future__ import annotations

import argparse
import statistics
import time

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster, get_task_stream

import xpnet
import xpnet.distributed as xd
from xpnet.train import Callback

SIZES = (784, 512, 512, 10)


class _Clock(Callback):
    def on_train_begin(self, logs=None):
        self.times = [time.perf_counter()]

    def on_batch_end(self, step, logs=None):
        self.times.append(time.perf_counter())

    def steps(self):
        return np.diff(self.times[1:])  # the first step waits for the replicas: left out


def _data(rows):
    rng = np.random.default_rng(0)
    return rng.random((rows, SIZES[0]), dtype=np.float32), rng.integers(0, SIZES[-1], rows)


def _fit(X, y, batch, **options):
    model = xpnet.mlp(list(SIZES), activation="relu", output="softmax", seed=0)
    clock = _Clock()
    model.fit(X, y, loss="crossentropy", optimizer="sgd", epochs=1, batch_size=batch, seed=0,
              verbose=0, metrics=(), callbacks=[clock], **options)
    return clock.steps()


def _split(tasks, steps, workers):
    compute = sum(_seconds(t, "compute") for t in tasks if "_block_step" in t["key"]) / workers
    reduction = sum(_seconds(t, "compute") + _seconds(t, "transfer") for t in tasks
                    if "_add" in t["key"])
    return compute / steps, reduction / steps


def _seconds(task, action):
    return sum(s["stop"] - s["start"] for s in task["startstops"] if s["action"] == action)


# single-process fit's time per row on this machine (benchmarks/RESULTS.md, 2 BLAS threads):
# W2 600 ms per epoch of 100 x 256 rows, W3 931 ms per step of 1024 rows
PER_ROW = {"W2": 0.600 / 25600, "W3": 0.931 / 1024}
PARAM_BYTES = {"W2": 669_706 * 4, "W3": (4096 * 4096 * 2 + 4096 * 3 + 1) * 4}
BANDWIDTH = 10e9 / 8  # 10 Gbit/s


def cost_model(latency, batches=(4096, 65536), workers=(8, 64, 512)):
    """The markdown table of ``t(W) = c B / W + 2 P log2(W) / bandwidth + L`` and of the batch
    from which compute is at least the rest."""
    lines = ["| network | workers | step at B=" + " | step at B=".join(map(str, batches))
             + " | reduction | B for compute >= the rest |", "|---" * (4 + len(batches)) + "|"]
    for net in ("W2", "W3"):
        c, p = PER_ROW[net], PARAM_BYTES[net]
        for w in workers:
            comm = 2 * p * np.log2(w) / BANDWIDTH
            steps = " | ".join(f"{(c * b / w + comm + latency) * 1e3:,.0f} ms" for b in batches)
            lines.append(f"| {net} | {w} | {steps} | {comm * 1e3:,.0f} ms | "
                         f"{w * (comm + latency) / c:,.0f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batches", default="256,1024,4096")
    parser.add_argument("--model", type=float, default=None, metavar="L",
                        help="print only the cost model's table for a latency of L seconds")
    args = parser.parse_args(argv)
    if args.model is not None:
        print(cost_model(args.model))
        return
    param_bytes = sum(p.nbytes for p in xpnet.mlp(list(SIZES), seed=0).params.values())
    rows_max = max(int(b) for b in args.batches.split(","))
    print(f"W2, float32, {param_bytes / 2**20:.2f} MiB of parameters; LocalCluster of "
          f"{args.workers} processes x 1 thread; median of {args.steps - 1} steps\n")
    print("| batch | single process | cluster, params | step | compute | reduction | "
          "scheduling |\n|---|---|---|---|---|---|---|")
    with LocalCluster(n_workers=args.workers, processes=True, threads_per_worker=1,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        for batch in (int(b) for b in args.batches.split(",")):
            rows = batch * args.steps
            X, y = _data(rows)
            single = statistics.median(_fit(X, y, batch))
            block = -(-rows // (4 * args.workers))
            Xd = client.persist(da.from_array(X, chunks=(block, -1)))
            yd = client.persist(da.from_array(y, chunks=block))
            for mechanism, inline in (("inline", 1 << 40), ("task", 0)):
                xd._INLINE = inline
                with get_task_stream(client) as stream:
                    steps = _fit(Xd, yd, batch, client=client)
                compute, reduction = _split(stream.data, args.steps, args.workers)
                step = statistics.median(steps)
                print(f"| {batch} | {single * 1e3:.1f} ms | {mechanism} | {step * 1e3:.1f} ms | "
                      f"{compute * 1e3:.1f} ms | {reduction * 1e3:.1f} ms | "
                      f"{max(step - compute - reduction, 0) * 1e3:.1f} ms |", flush=True)
            del X, y, Xd, yd
    print(f"\nrows: up to {rows_max * args.steps}; the cost model for a latency L: --model L")


if __name__ == "__main__":
    main()
