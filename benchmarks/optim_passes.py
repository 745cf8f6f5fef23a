"""One optimizer step on W2's parameters (784-512-512-10, float32): xpnet's SGD and Adam on NumPy
(row blocks on one thread and on the process's threads) against torch.optim.Adam (foreach and
single-tensor), with the array passes each makes per step.

    python benchmarks/optim_passes.py [--rounds 30]

Passes are elementwise sweeps over a parameter's elements (each a NumPy call or a torch kernel):
xpnet's Adam makes 12 (``Adam._update``); torch's Adam 7 fused kernels (lerp, mul, addcmul, sqrt,
div, add, addcdiv), per tensor or foreach over all; SGD 2 (``lr * g``, ``p -= ...``). Times are
medians over rounds in which every implementation takes one sample of 5 steps, in turn.
"""

import argparse
import os
import time

import numpy as np

from xpnet import optim

SHAPES = {"0.W": (784, 512), "0.b": (512,), "2.W": (512, 512), "2.b": (512,), "4.W": (512, 10),
          "4.b": (10,)}
PASSES = {"xpnet SGD": 2, "xpnet Adam, one thread": 12, "xpnet Adam, threads": 12,
          "torch Adam (foreach)": 7, "torch Adam (single tensor)": 7}


def _arrays(seed):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}


def _xpnet(cls, pool):
    params, grads, opt = _arrays(0), _arrays(1), cls(lr=1e-3)
    opt.step(params, grads)

    def run():
        saved = list(optim._POOL)
        optim._POOL[:] = [os.getpid(), pool]
        try:
            opt.step(params, grads)
        finally:
            optim._POOL[:] = saved
    return run


def _torch(foreach):
    import torch

    params = [torch.tensor(a, requires_grad=True) for a in _arrays(0).values()]
    for p, g in zip(params, _arrays(1).values(), strict=True):
        p.grad = torch.tensor(g)
    opt = torch.optim.Adam(params, lr=1e-3, foreach=foreach)
    opt.step()
    return opt.step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    optim._run(lambda block: None, [])  # the process's pool, as a fit makes it
    pool = optim._POOL[1]
    runs = {"xpnet SGD": _xpnet(optim.SGD, pool), "xpnet Adam, one thread": _xpnet(optim.Adam, None),
            "xpnet Adam, threads": _xpnet(optim.Adam, pool)}
    try:
        import torch

        torch.set_num_threads(len(os.sched_getaffinity(0)))
        runs["torch Adam (foreach)"], runs["torch Adam (single tensor)"] = _torch(True), _torch(False)
    except ImportError:
        pass
    times = {name: [] for name in runs}
    for r in range(args.rounds):
        names = list(runs)[r % len(runs):] + list(runs)[:r % len(runs)]
        for name in names:
            start = time.perf_counter()
            for _ in range(5):
                runs[name]()
            times[name].append((time.perf_counter() - start) / 5)
    threads = 1 if pool is None else pool._max_workers
    print(f"one step on W2's parameters ({sum(np.prod(s) for s in SHAPES.values()):,} float32), "
          f"{threads} thread(s) in xpnet's pool, load average {os.getloadavg()[0]:.2f}")
    for name, ts in times.items():
        print(f"  {name:28s} {np.median(ts) * 1e3:7.3f} ms   {PASSES[name]:2d} passes")


if __name__ == "__main__":
    main()
