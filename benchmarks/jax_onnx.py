#!/usr/bin/env python
"""The jax backend (whole fit step compiled by jax.jit) beside NumPy, and ONNX Runtime's predict
beside ``model.predict``, on W2's network (784-512-512-10 ReLU + softmax cross-entropy, batch 256).

    python benchmarks/jax_onnx.py [--epochs 3] [--batches 100]

Needs jax (xpnet[jax]) and ndonnx + onnxruntime (xpnet[onnx]); a part whose library is missing is
skipped. Times are wall-clock medians, printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

import xpnet


def _median(fn, repeats):
    fn()  # warm-up: compilation, caches, optimizer state
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (median)")
    parser.add_argument("--batches", type=int, default=100, help="batches of 256 per epoch")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.random((256 * args.batches, 784), dtype=np.float32)
    y = rng.integers(0, 10, 256 * args.batches)
    print(f"W2: 784-512-512-10, batch 256, {args.batches} batches per epoch, float32, Adam")
    for name in ("numpy", "jax"):
        if name not in xpnet.backend.available():
            print(f"  {name}: not installed, skipped")
            continue
        model = xpnet.mlp([784, 512, 512, 10], activation="relu", output="softmax", seed=0,
                          backend=name)
        opt = xpnet.optim.Adam(lr=1e-3)

        def epoch(model=model, opt=opt):
            model.fit(X, y, loss="crossentropy", optimizer=opt, epochs=1, batch_size=256,
                      metrics=(), verbose=0, seed=0)

        print(f"  fit, {name:5s}: {_median(epoch, args.epochs):.3f} s per epoch")
    try:
        import onnxruntime as ort
    except ImportError:
        print("  onnxruntime: not installed, skipped")
        return 0
    model = xpnet.mlp([784, 512, 512, 10], activation="relu", output="softmax", seed=0)
    Xp = X[:10_000]
    with tempfile.TemporaryDirectory() as tmp:
        path = model.export_onnx(os.path.join(tmp, "w2.onnx"))
        session = ort.InferenceSession(path)
        t_ort = _median(lambda: session.run(None, {"X": Xp}), 5)
    t_xp = _median(lambda: model.predict(Xp), 5)
    print(f"  predict 10,000 rows: model.predict {len(Xp) / t_xp:,.0f} rows/s, "
          f"onnxruntime {len(Xp) / t_ort:,.0f} rows/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
