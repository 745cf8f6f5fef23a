#!/usr/bin/env python
"""Device→host synchronisations and kernel launches of xpnet's ``fit`` and ``predict`` on CuPy.

    python benchmarks/sync_count.py

Counted on the CuPy stand-in of ``tests/standin`` (NumPy underneath, CuPy's behaviour where xpnet
meets it, with counters), which runs xpnet's real ``"cupy"`` code path: CuPy itself has no such
counters. ``tests/test_cuda.py`` asserts the budget (0 syncs per step, 1 per epoch, 1 more per epoch
with validation, 0 for ``predict``); ``benchmarks/gpu_check.sh`` prints this table beside its GPU
timings. The model lives on device 1 while device 0 is current.
"""

import sys
from pathlib import Path

STANDIN = Path(__file__).resolve().parents[1] / "tests" / "standin"
sys.path.insert(0, str(STANDIN))
sys.modules.pop("cupy", None)

import cupy  # noqa: E402  (the stand-in: it must come first on sys.path)

import xpnet  # noqa: E402
from xpnet import datasets  # noqa: E402

assert getattr(cupy, "STANDIN", False), cupy.__file__


def count(run) -> tuple[int, int]:
    cupy.counters.reset()
    run()
    return cupy.counters.syncs, cupy.counters.launches


def main():
    X, y = datasets.two_moons(n=1024, seed=0)

    def fit(epochs, batch_size, optimizer, options):
        model = xpnet.mlp([2, 64, 64, 1], "relu", "sigmoid", seed=0, backend="cupy", device="cuda:1")
        return count(lambda: model.fit(X, y, loss="binary_crossentropy", optimizer=optimizer,
                                       epochs=epochs, batch_size=batch_size, verbose=0, **options))

    print("| run | syncs once per call | syncs per epoch | syncs per step | launches per step |")
    print("|---|---|---|---|---|")
    for label, options in (("fit", {}), ("fit with validation_split=0.2", {"validation_split": 0.2})):
        for optimizer in ("sgd", "adam"):
            one, three = fit(1, 32, optimizer, options), fit(3, 32, optimizer, options)
            finer = fit(3, 16, optimizer, options)  # twice the steps, the same epochs
            steps = len(X) * (1 - options.get("validation_split", 0)) // 32
            per_epoch = (three[0] - one[0]) / 2
            per_step = (finer[0] - three[0]) / (3 * steps)
            launches = (three[1] - one[1]) / 2 / steps
            print(f"| {label}, {optimizer} | {one[0] - per_epoch:g} | {per_epoch:g} | "
                  f"{per_step:g} | {launches:.0f} |")
    model = xpnet.mlp([2, 64, 64, 1], "relu", "sigmoid", seed=0, backend="cupy", device="cuda:1")
    syncs, launches = count(lambda: model.predict(X))
    print(f"| predict (host X, one call) | {syncs} | - | - | {launches} (the call) |")


if __name__ == "__main__":
    main()
