#!/usr/bin/env python
"""Where xpnet's time goes on the benchmark's workloads: cProfile of its hot paths.

    python benchmarks/profile_hot_path.py                  # W1-1k, W2 (SGD, Adam), W3
    python benchmarks/profile_hot_path.py --only W1-1k --top 30
    python benchmarks/profile_hot_path.py --count     # array operations of one W1 step vs the floor

For each workload, the xpnet implementation of ``run.py`` is built and warmed up, then trained under
cProfile (W1: 2,000 steps; W2: one epoch per optimizer; W3: 3 steps). Printed: the functions with
the most time of their own (``tottime``) and the most time including callees (``cumtime``), per unit
of work (step or epoch), with the share of the whole profile. cProfile adds a fixed cost to every
Python call, so it inflates the share of small-function overhead (W1) somewhat; the ranking holds.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import workloads as W  # noqa: E402

UNITS = {"W1-1k": 2000, "W1-100k": 50, "W2": 1, "W3": 3}


def profile(impl, units: int, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    impl.run(units)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    total = stats.total_tt
    lines = [f"#### {impl.w.key} — {impl.label}: {units} {impl.w.unit}(s) in {total:.3f} s under cProfile "
             f"({total / units * 1e3:.3f} ms per {impl.w.unit})", ""]
    for key, title in (("tottime", "own time"), ("cumulative", "including callees")):
        lines += [f"Top {top} by {title}:", "",
                  "| function | calls/unit | own ms/unit | cum ms/unit | own % |",
                  "|---|---:|---:|---:|---:|"]
        entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2 if key == "tottime" else 3],
                         reverse=True)[:top]
        for (filename, line, name), (_, ncalls, tottime, cumtime, _) in entries:
            where = _short_path(filename)
            lines.append(f"| `{where}:{line}({name})` | {ncalls / units:.1f} | {tottime / units * 1e3:.3f} | "
                         f"{cumtime / units * 1e3:.3f} | {100 * tottime / total:.1f} |")
        lines.append("")
    return "\n".join(lines)


def op_costs(sizes=(4096, 4096, 4096, 1), m=1024, repeats=5) -> str:
    """Time, one by one, the array operations of one training step of a ReLU MLP with SGD at one
    layer's shapes, each in the forms an implementation may write it (xpnet's before and after its
    hot-path work, the hand-written reference's); median of ``repeats`` runs each, interleaved.
    Where cProfile can only say "Dense backward", this says which operation costs what."""
    import statistics
    import time

    import numpy as np

    rng = np.random.default_rng(0)
    n0, n1 = sizes[0], sizes[1]
    X = rng.standard_normal((m, n0), dtype=np.float32)
    W = rng.standard_normal((n0, n1), dtype=np.float32) * 0.01
    b = np.zeros(n1, np.float32)
    Z = X @ W
    dZ = rng.standard_normal((m, n1), dtype=np.float32)
    G = rng.standard_normal((n0, n1), dtype=np.float32)
    lr = 1e-4

    def relu_fwd_xpnet():
        zero = np.zeros_like(Z)
        return np.maximum(Z, zero)

    def relu_bwd_where():
        return np.where(Z > 0, dZ, np.zeros_like(Z))

    def relu_bwd_multiply():
        return dZ * (Z > 0).astype(dZ.dtype)

    scratch_Z, scratch_G = Z.copy(), G.copy()  # fresh buffers a layer or optimizer may consume

    def relu_bwd_inplace():
        scratch_Z[Z <= 0] = 0.0
        return scratch_Z

    def sgd_xpnet():
        W[...] -= lr * G

    from xpnet import optim

    sgd = optim.SGD(lr=lr)
    ones = np.ones(m, np.float32)

    def sgd_blocks():
        sgd.step({"W": W}, {"W": G})

    def sgd_inplace():
        np.multiply(G, lr, out=scratch_G)  # as g *= lr on a gradient buffer the optimizer owns
        W[...] -= scratch_G

    ops = [
        ("Z = X @ W (forward GEMM)", lambda: X @ W, "in the bound"),
        ("dW = X.T @ dZ (weight gradient GEMM)", lambda: X.T @ dZ, "in the bound"),
        ("dX = dZ @ W.T (input gradient)", lambda: dZ @ W.T, "not needed for the first layer"),
        ("bias: Z + b (a new array)", lambda: Z + b, ""),
        ("bias: Z += b in place", lambda: np.add(scratch_Z, b, out=scratch_Z), ""),
        ("ReLU forward: maximum(Z, zeros_like(Z))", relu_fwd_xpnet, ""),
        ("ReLU forward: clip(Z, min=0)", lambda: np.clip(Z, 0.0, None), ""),
        ("ReLU backward: where(Y > 0, dY, zeros_like(Y))", relu_bwd_where, ""),
        ("ReLU backward: dY * astype(Y > 0)", relu_bwd_multiply, ""),
        ("ReLU backward: dY[Y <= 0] = 0 on the fresh dY", relu_bwd_inplace, ""),
        ("SGD: p -= lr * g (allocates lr * g)", sgd_xpnet, ""),
        ("SGD: g *= lr; p -= g (consumes g)", sgd_inplace, ""),
        (f"SGD: xpnet's SGD.step, blocks of {optim.BLOCK} elements", sgd_blocks, ""),
        ("db = sum(dZ, axis=0)", lambda: dZ.sum(axis=0), ""),
        ("db = ones @ dZ (xpnet.functional.batch_sum)", lambda: ones @ dZ, ""),
    ]
    times = {name: [] for name, _, _ in ops}
    for _, fn, _ in ops:  # first-call costs (xpnet's SGD finds its namespace) are not the op's
        fn()
    for _ in range(repeats):
        for name, fn, _ in ops:
            time.sleep(0.05)
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    lines = [f"#### One layer's array operations at X ({m}, {n0}), W ({n0}, {n1}): median of {repeats}",
             "", "| operation | ms | note |", "|---|---:|---|"]
    for name, _, note in ops:
        lines.append(f"| {name} | {statistics.median(times[name]) * 1e3:.2f} | {note} |")
    return "\n".join(lines) + "\n"


def op_count(n: int = 1000) -> str:
    """Count the array operations of one W1 step (N = ``n``), xpnet's and the tight floor's.

    Every array of the step is a view of an ndarray subclass whose ``__array_ufunc__`` and
    ``__array_function__`` count each call NumPy receives (a ufunc, its reduction, or an array
    function such as ``stack``), the outermost call only: the number of array passes and
    dispatches a step makes, which at N = 1,000 sets its time (each costs 1-3 µs however small).
    """
    import collections

    import numpy as np
    from reference import TightW1

    import xpnet
    from xpnet import losses, optim
    from xpnet.grad import loss_and_grads

    counts = collections.Counter()
    depth = [0]

    class Counted(np.ndarray):
        def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
            if depth[0] == 0:
                counts[ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"] += 1
            plain = [x.view(np.ndarray) if isinstance(x, Counted) else x for x in inputs]
            if out is not None:
                kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, Counted) else o for o in out)
            depth[0] += 1
            try:
                result = getattr(ufunc, method)(*plain, **kwargs)
            finally:
                depth[0] -= 1
            if out is not None:
                return out[0] if len(out) == 1 else out
            return result.view(Counted) if isinstance(result, np.ndarray) else result

        def __array_function__(self, func, types, args, kwargs):
            if depth[0] == 0:
                counts[func.__name__] += 1
            depth[0] += 1
            try:
                return super().__array_function__(func, types, args, kwargs)
            finally:
                depth[0] -= 1

    X, y = xpnet.datasets.two_moons(n, noise=0.15, seed=0)
    X32, Y32 = X.astype(np.float32), y.astype(np.float32)[:, None]
    model = xpnet.mlp([2, 5, 5, 1], activation="sigmoid", output="sigmoid", seed=0)
    loss = losses.get("binary_crossentropy")
    tight = TightW1([(xpnet.to_numpy(layer.params["W"]), xpnet.to_numpy(layer.params["b"]))
                     for layer in model.layers if layer.params], lr=0.5)
    for layer in (layer for layer in model.layers if layer.params):
        layer.params = {k: v.view(Counted) for k, v in layer.params.items()}
    tight.W1, tight.b1, tight.W2, tight.b2, tight.W3, tight.b3 = (
        a.view(Counted) for a in (tight.W1, tight.b1, tight.W2, tight.b2, tight.W3, tight.b3))
    Xc, Yc, opt = X32.view(Counted), Y32.view(Counted), optim.SGD(lr=0.5)
    results = {}
    for name, step in (("tight floor (reference.TightW1)", lambda: tight.step(Xc, Yc)),
                       ("xpnet: loss_and_grads + SGD.step",
                        lambda: opt.step(model.params, loss_and_grads(model, loss, Xc, Yc)[1]))):
        step()  # first-call work (constants, optimizer state) is not the step's
        counts.clear()
        with np.errstate(all="ignore"):
            step()
        results[name] = dict(counts)
    names = sorted(set().union(*results.values()))
    lines = [f"#### Array operations of one W1 step (N = {n:,}): calls NumPy receives", "",
             "| operation | " + " | ".join(results) + " |", "|---|" + "---:|" * len(results)]
    lines += [f"| `{op}` | " + " | ".join(str(r.get(op, 0)) for r in results.values()) + " |"
              for op in names]
    lines.append("| **total** | " + " | ".join(f"**{sum(r.values())}**" for r in results.values()) + " |")
    return "\n".join(lines) + "\n"


def _short_path(filename: str) -> str:
    if filename.startswith("~") or filename.startswith("<"):
        return filename
    parts = Path(filename).parts
    for anchor in ("xpnet", "array_api_compat", "numpy", "benchmarks"):
        if anchor in parts:
            i = len(parts) - 1 - parts[::-1].index(anchor)
            return "/".join(parts[i:])
    return Path(filename).name


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="W1-1k,W2,W3", help="workload keys (W1-1k, W1-100k, W2, W3)")
    p.add_argument("--backend", default=None)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--out", default=None, help="also write the report to this file")
    p.add_argument("--ops", action="store_true",
                   help="time W3's array operations one by one instead of profiling")
    p.add_argument("--count", action="store_true",
                   help="count the array operations of one W1 step, xpnet's and the tight floor's")
    args = p.parse_args(argv)
    wanted = [k.strip() for k in args.only.split(",") if k.strip()]
    reports = []
    if args.ops or args.count:
        reports.append(op_costs() if args.ops else op_count())
        print(reports[-1])
        wanted = []
    for w in W.workloads():
        if w.key not in wanted:
            continue
        for impl in W.implementations(w, args.backend):
            if impl.key not in (f"xpnet-{o}" for o in w.optimizers):
                continue
            impl.build()
            impl.run(1)
            reports.append(profile(impl, UNITS[w.key], args.top))
            print(reports[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(reports) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
