#!/usr/bin/env python
"""xpnet against hand-written NumPy, PyTorch, scikit-learn and the GEMM bound, in one run.

    python benchmarks/run.py                       # everything, ~10 minutes on 2 cores
    python benchmarks/run.py --quick --only W1     # fewer rounds, one workload
    python benchmarks/run.py --backend cupy --only W2,W3 --out /tmp/gpu   # xpnet on CuPy vs PyTorch CUDA

Workloads (``workloads.py``): W1, the 2-5-5-1 sigmoid network with binary cross-entropy, full-batch
gradient descent on N = 1,000 and N = 100,000 two-moons points (time per step); W2, 784-512-512-10
ReLU + softmax cross-entropy, batch 256, 100 batches per epoch, through ``model.fit`` with SGD and with
Adam (time per epoch); W3, 4096-4096-4096-1 ReLU + MSE, batch 1024 (time per step); and W2's network
for inference, ``model.predict`` beside ONNX Runtime on the file ``model.export_onnx`` writes.

Rows: xpnet (W1: ``loss_and_grads`` + ``step``, ``value_and_grad`` + ``step`` and ``model.fit``),
xpnet on the ``jax`` backend (the compiled fit step; W1 also through ``model.fit``), two hand-written
NumPy references (``reference.py``: the generic layer loop and the tight straight-line step; xpnet's
W1 time is divided by the faster of the two), PyTorch CPU, scikit-learn, and the GEMM bound (the
step's matrix products alone) on NumPy's OpenBLAS and on XLA. ``--skip jax`` (or torch, sklearn,
numpy, tight, onnxruntime) leaves rows out.

Method
------
* Timing: every implementation of a workload is built and warmed up (one untimed unit, which also
  creates optimizer state), then calibrated: one sample runs ``k`` units, ``k`` chosen so a sample
  lasts at least ``--sample-time`` seconds. Then, round after round, each implementation takes one
  sample, in an order rotated by one each round, after a pause (``--pause``, 0.2 s) that lets the
  previous library's BLAS/OpenMP worker threads stop spinning. A unit's time is the median over
  the rounds of sample time / ``k``; the spread shown is the interquartile range. A ratio of two
  implementations is the median over the rounds of the ratio of their samples in the same round,
  so that a change of machine load between rounds cancels out. GPU work is
  synchronised (``cupy.cuda.Device().synchronize()``, ``torch.cuda.synchronize()``) before a
  sample's timer stops.
* Threads: PyTorch gets ``torch.set_num_threads`` equal to NumPy's BLAS thread count (threadpoolctl,
  else the number of usable cores).
* Memory: each implementation trains again in a fresh Python process (``--_memory-worker``), run
  with ``MALLOC_MMAP_THRESHOLD_=65536`` so that every buffer of 64 KiB or more is its own mapping and
  goes back to the system when freed. That process builds a throw-away copy of the workload and
  trains it one unit (imports, kernel caches, BLAS buffers), frees it, builds the measured one,
  then resets the peak resident set (``/proc/self/clear_refs``) and trains it (W1: 10 steps, W2: one
  epoch, W3: 2 steps). Reported: the peak of ``tracemalloc`` (every NumPy buffer and Python object
  allocated while training, optimizer state included; not PyTorch's allocator) and the rise of the
  peak resident set above the resident set before training (``VmHWM − VmRSS``, any library).
  Both leave out the data and the initial parameters, which every implementation holds alike.

Results go to ``--out`` (default ``benchmarks/results/``) as ``results.json`` and ``results.md``; the
markdown is printed too. Progress goes to stderr. Times are never asserted anywhere.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:  # imported by path (tests) rather than run as a script
    sys.path.insert(0, str(HERE))

import workloads as W  # noqa: E402

# rounds (timed samples per implementation) per workload family, full / --quick / --tiny
ROUNDS = {"W1": (15, 5, 2), "W2": (7, 3, 2), "W3": (5, 2, 2)}
MEMORY_UNITS = {"W1": 10, "W2": 1, "W3": 2}
SAMPLE_TIME = (0.2, 0.1, 0.01)
PAUSE = (0.2, 0.2, 0.01)

# (issue, workload, row, limit): that row's time over the workload's baseline (W1: the faster of
# the two hand-written NumPy references, the tight floor as a rule; W2, W3: the NumPy GEMM bound)
TARGETS = [
    (5, "W1-1k", "xpnet-sgd", 1.15), (5, "W1-100k", "xpnet-sgd", 1.10), (5, "W2", "xpnet-sgd", 1.25),
    (5, "W2", "xpnet-adam", 1.45), (5, "W3", "xpnet-sgd", 1.12),
    (17, "W1-1k", "xpnet-vg-sgd", 1.10), (17, "W1-1k", "xpnet-fit-sgd", 1.10),
    (17, "W2", "xpnet-adam", 1.30),
    (17, "W1-1k", "jax-sgd", 0.75), (17, "W1-100k", "jax-sgd", 0.75), (17, "W2", "jax-sgd", 1.0),
    (17, "W2", "jax-adam", 1.0), (17, "W3", "jax-sgd", 1.0),
]
PEER_SPEEDUP = {"W1-1k": {"torch": 1.8, "sklearn": 1.8}, "W2": {"torch": 1.0, "numpy": 1.0, "sklearn": 2.0}}
MEMORY_LIMIT = 1.2  # issue 5: xpnet's peak training memory over the generic hand-written NumPy's
TIGHT_MEMORY_LIMIT = {"sgd": 1.0, "adam": 1.2}  # issue 17: over the tight floor's, on W2
GPU_LIMIT = 1.1  # on a GPU: xpnet-on-CuPy within 1.1x of PyTorch CUDA on W2 and W3


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


# -- the machine ----------------------------------------------------------------------------------


def machine() -> dict:
    """CPU, cores, library versions, BLAS, load: what the figures depend on."""
    import numpy

    info = {"cpu": platform.processor() or platform.machine(), "logical_cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "platform": platform.platform(), "python": platform.python_version(),
            "numpy": numpy.__version__, "load_average_start": _loadavg(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "openblas_env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                          "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
                             if k in os.environ}}
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            info["cpu"] = names[0]
    except OSError:
        pass
    for module in ("xpnet", "torch", "sklearn", "threadpoolctl", "cupy"):
        try:
            info[module] = __import__(module).__version__
        except Exception:
            info[module] = None
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [{k: p.get(k) for k in ("user_api", "internal_api", "version",
                                                      "architecture", "num_threads", "threading_layer")}
                               | {"library": Path(p["filepath"]).name} for p in threadpool_info()]
    except ImportError:
        info["threadpools"] = None
    info["blas_threads"] = W.blas_threads()
    info["gpu"] = _gpu_name()
    import xpnet

    source = Path(xpnet.__file__).resolve().parent.parent  # the measured xpnet (PYTHONPATH may pick one)
    info["xpnet_source"] = str(source)
    try:
        commit = subprocess.run(["git", "-C", str(source), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        info["xpnet_commit"] = commit or "not a git checkout"
    except (OSError, subprocess.SubprocessError):
        info["xpnet_commit"] = None
    return info


def _gpu_name():
    """The CUDA device's name, when CuPy or PyTorch sees one (no CUDA context is made otherwise)."""
    from xpnet import backend as B

    if "cupy" in B.available():
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _set_torch_threads(n: int) -> None:
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)


# -- timing ---------------------------------------------------------------------------------------


LOAD_SEEN: list = []  # the 1-minute load average at each round, for the report


def time_group(w, impls, rounds, sample_time, pause) -> dict:
    """Median time per unit of each implementation, interleaved and rotated (see the docstring)."""
    for impl in impls:
        impl.build()
        impl.run(1)  # warm-up: first-call costs, optimizer state
    ks = {}
    for impl in impls:
        time.sleep(pause)
        t0 = time.perf_counter()
        impl.run(1)
        ks[impl.key] = max(1, math.ceil(sample_time / max(time.perf_counter() - t0, 1e-9)))
    samples = {impl.key: [] for impl in impls}
    for r in range(rounds):
        order = impls[r % len(impls):] + impls[:r % len(impls)]
        for impl in order:
            k = ks[impl.key]
            time.sleep(pause)
            t0 = time.perf_counter()
            impl.run(k)
            samples[impl.key].append((time.perf_counter() - t0) / k)
        LOAD_SEEN.append((_loadavg() or [None])[0])
        log(f"  {w.key} round {r + 1}/{rounds}: "
            + ", ".join(f"{key} {_fmt_time(v[-1])}" for key, v in samples.items()))
    out = {}
    for impl in impls:
        s = sorted(samples[impl.key])
        q = statistics.quantiles(s, n=4, method="inclusive") if len(s) > 1 else [s[0]] * 3
        out[impl.key] = {"label": impl.label, "kind": impl.kind, "optimizer": impl.optimizer,
                         "median_s": statistics.median(s), "q1_s": q[0], "q3_s": q[2],
                         "units_per_sample": ks[impl.key], "samples_s": samples[impl.key]}
    return out


# -- memory, in a fresh process -------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def memory_worker(group_key, impl_key, tiny, backend, threads) -> dict:
    """Train one implementation in this (fresh) process and measure its peak training memory."""
    import tracemalloc

    if impl_key.startswith("torch"):
        _set_torch_threads(threads)
    w = next(w for w in W.workloads(tiny) if w.key == group_key)

    def make():
        return next(i for i in W.implementations(w, backend) if i.key == impl_key)

    units = MEMORY_UNITS[w.key.split("-")[0]]
    throwaway = make()
    throwaway.build()
    throwaway.warm_up()
    throwaway.run(1)
    del throwaway
    gc.collect()
    impl = make()
    impl.build()
    gc.collect()
    rss_before = _status_kb("VmRSS")
    reset = False
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current resident set
        reset = True
    except OSError:
        pass
    if not reset:
        import resource

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    impl.run(units)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if reset:
        rss_peak = _status_kb("VmHWM")
    else:
        import resource

        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"tracemalloc_peak_bytes": None if impl.kind in ("torch", "jax") else traced_peak,
            "rss_peak_delta_bytes": None if rss_peak is None or rss_before is None
            else max(0, rss_peak - rss_before) * 1024,
            "rss_method": "VmHWM - VmRSS after clear_refs" if reset else "ru_maxrss delta",
            "units": units}


def measure_memory(w, impl_keys, args, threads) -> dict:
    out = {}
    for key in impl_keys:
        if key.startswith("gemm"):
            continue
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_memory-worker", w.key, key,
               "--torch-threads", str(threads)]
        if args.tiny:
            cmd.append("--tiny")
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        if args.backend:
            cmd += ["--backend", args.backend]
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if proc.returncode != 0:
            log(f"  memory of {w.key}/{key} failed:\n{proc.stderr[-2000:]}")
            out[key] = {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
            continue
        out[key] = json.loads(proc.stdout.strip().splitlines()[-1])
        log(f"  memory {w.key}/{key}: tracemalloc {_fmt_bytes(out[key]['tracemalloc_peak_bytes'])}, "
            f"RSS rise {_fmt_bytes(out[key]['rss_peak_delta_bytes'])}")
    return out


# -- ratios, targets, report ----------------------------------------------------------------------


def _xpnet_key(optimizer):
    return f"xpnet-{optimizer}"


def _baseline_key(baseline, optimizer, rows):
    """The row xpnet is divided by: the GEMM bound, a named row, or for ``"numpy"`` the faster
    (smaller median) of the generic and the tight hand-written NumPy references."""
    if baseline != "numpy":
        return baseline
    found = [k for k in (f"numpy-{optimizer}", f"tight-{optimizer}") if k in rows]
    return min(found, key=lambda k: rows[k]["median_s"]) if found else None


def ratio(a: dict, b: dict) -> float:
    """Time of row ``a`` over time of row ``b``: the median over rounds of the ratio of their samples
    in the same round (taken seconds apart, so a change of load between rounds cancels out)."""
    sa, sb = a.get("samples_s") or [], b.get("samples_s") or []
    if sa and len(sa) == len(sb):
        return statistics.median(x / y for x, y in zip(sa, sb, strict=True))
    return a["median_s"] / b["median_s"]


def add_ratios(baseline: str, optimizers, rows: dict) -> None:
    """Each row's time over the workload's baseline, and xpnet's time over each row's."""
    for row in rows.values():
        optimizer = row["optimizer"]
        base = rows.get(_baseline_key(baseline, optimizer or (optimizers or [None])[0], rows))
        row["ratio_to_baseline"] = ratio(row, base) if base else None
        mine = rows.get(_xpnet_key(optimizer)) if optimizer else None
        row["xpnet_over_this"] = ratio(mine, row) if mine and row["kind"] != "xpnet" else None


def _memory_figure(entry):
    if not entry or "error" in entry:
        return None
    return entry.get("tracemalloc_peak_bytes") or entry.get("rss_peak_delta_bytes")


_BASELINE_NAMES = {"numpy": "the tight hand-written NumPy floor", "gemm": "the NumPy GEMM bound"}


def targets(groups: list, gpu: bool = False) -> list:
    """Issues 5's and 17's targets, each with the measured figure and whether it holds."""
    found = []
    for g in groups:
        key, rows = g["key"], g["rows"]
        if not gpu:
            for issue, workload, row_key, limit in TARGETS:
                row = rows.get(row_key)
                base_key = _baseline_key(g["baseline"], row and row["optimizer"], rows)
                if workload != key or row is None or base_key not in rows:
                    continue
                r = ratio(row, rows[base_key])
                name = rows[base_key]["label"] if g["baseline"] == "numpy" else \
                    _BASELINE_NAMES[g["baseline"]]
                found.append({"target": f"{key}, {row['label']}: ≤ {limit}× {name} (issue {issue})",
                              "measured": f"{r:.3f}×", "holds": r <= limit})
        for optimizer in g["optimizers"]:
            xp_row = rows.get(_xpnet_key(optimizer))
            if xp_row is None:
                continue
            opt = optimizer.upper() if optimizer == "sgd" else optimizer.capitalize()
            if gpu:
                peer = rows.get(f"torch-{optimizer}")
                if peer is not None and key in ("W2", "W3"):
                    r = ratio(xp_row, peer)
                    found.append({"target": f"{key} {opt}: xpnet ≤ {GPU_LIMIT}× PyTorch CUDA",
                                  "measured": f"{r:.3f}×", "holds": r <= GPU_LIMIT})
                continue
            for kind, speedup in PEER_SPEEDUP.get(key, {}).items():
                peer = rows.get(f"{kind}-{optimizer}")
                if peer is None:
                    continue
                r = ratio(peer, xp_row)
                what = "faster than" if speedup == 1.0 else f"≥ {speedup}× faster than"
                found.append({"target": f"{key} {opt}: xpnet {what} {_PEER_NAMES[kind]}",
                              "measured": f"{r:.3f}× ({_PEER_NAMES[kind]} ÷ xpnet)",
                              "holds": r >= speedup if speedup > 1.0 else r > 1.0})
            mine = _memory_figure(g["memory"].get(_xpnet_key(optimizer)))
            ref = _memory_figure(g["memory"].get(f"numpy-{optimizer}"))
            if mine and ref:
                r = mine / ref
                found.append({"target": f"{key} {opt}: xpnet peak training memory ≤ {MEMORY_LIMIT}× "
                              "hand-written NumPy (issue 5)", "measured": f"{r:.3f}×",
                              "holds": r <= MEMORY_LIMIT})
            tight = _memory_figure(g["memory"].get(f"tight-{optimizer}"))
            if mine and tight and key == "W2":
                r, limit = mine / tight, TIGHT_MEMORY_LIMIT[optimizer]
                found.append({"target": f"{key} {opt}: xpnet peak training memory ≤ {limit}× the "
                              "tight NumPy floor's (issue 17)", "measured": f"{r:.3f}×",
                              "holds": r <= limit})
    return found


_PEER_NAMES = {"torch": "PyTorch", "numpy": "hand-written NumPy", "sklearn": "scikit-learn"}


def _fmt_time(s):
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1.0:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.3f} s"


def _fmt_bytes(b):
    if b is None:
        return "—"
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if b >= size:
            return f"{b / size:.1f} {unit}"
    return f"{b} B"


def _fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}×"


def markdown(result: dict) -> str:
    m = result["machine"]
    blas = ", ".join(f"{p['internal_api']} {p['version']} ({p.get('architecture') or p['user_api']}, "
                     f"{p['num_threads']} threads, {p['library']})"
                     for p in (m.get("threadpools") or []) if p["user_api"] == "blas")
    lines = [
        "## Machine",
        "",
        f"- CPU: {m['cpu']}; {m['logical_cores']} logical cores ({m['usable_cores']} usable)",
        f"- Python {m['python']}, NumPy {m['numpy']}, PyTorch {m['torch']}, scikit-learn {m['sklearn']}, "
        f"xpnet {m['xpnet']} (from {m.get('xpnet_source')}: {m['xpnet_commit']}), CuPy {m['cupy']}; "
        f"GPU: {m['gpu']}",
        f"- BLAS: {blas or 'unknown'}; PyTorch threads: {result['settings']['torch_threads']}",
        f"- xpnet backend: {result['settings']['backend']}; load average (1, 5, 15 min) at start "
        f"{m['load_average_start']}, at end {m.get('load_average_end')}; {m['date']}",
    ]
    during = m.get("load_1min_during_rounds")
    if during:
        lines.append(f"- 1-minute load average seen after each round: min {during['min']}, median "
                     f"{during['median']}, max {during['max']} (on {m['usable_cores']} cores; above "
                     "the benchmark's own threads it means other processes competed for the cores)")
    if m["openblas_env"]:
        lines.append(f"- environment: {m['openblas_env']}")
    s = result["settings"]
    rounds = ", ".join(f"{k} {v}" for k, v in s["rounds"].items())
    lines += ["", f"Mode: {s['mode']}. Medians over rounds of samples ({rounds}), implementations "
              f"interleaved in an order rotated each round, {s['pause_s']} s pause before each sample; "
              f"the whole run took {s['total_s']:.0f} s. Ratios are medians of the per-round ratios "
              "(\"× baseline\": this row's time over the baseline's; \"xpnet ÷ this\": xpnet's time, same "
              "optimizer, over this row's, below 1 when xpnet is faster).", ""]
    for g in result["groups"]:
        base = {"numpy": "NumPy floor", "gemm": "GEMM bound"}.get(g["baseline"]) or \
            g["rows"].get(g["baseline"], {}).get("label", g["baseline"])
        unit = f"predict of {g['rows_of_data']:,} rows" if g["unit"] == "predict" else g["unit"]
        note = (" \"× NumPy floor\": over the faster of the two hand-written NumPy references "
                "(the tight straight-line step as a rule)." if g["baseline"] == "numpy" else "")
        if g["unit"] == "predict":
            note = " Throughput: " + ", ".join(
                f"{row['label']} {g['rows_of_data'] / row['median_s']:,.0f} rows/s"
                for row in g["rows"].values()) + "."
        lines += [f"### {g['title']}", "", f"Time per {unit}.{note}", "",
                  f"| implementation | time / {g['unit']} (median) | IQR | × {base} | xpnet ÷ this | "
                  "peak training memory: tracemalloc / RSS rise |",
                  "|---|---:|---:|---:|---:|---:|"]
        for key, row in g["rows"].items():
            mem = g["memory"].get(key)
            if mem and "error" not in mem:
                mem_text = (f"{_fmt_bytes(mem['tracemalloc_peak_bytes'])} / "
                            f"{_fmt_bytes(mem['rss_peak_delta_bytes'])}")
            else:
                mem_text = "—" if key.startswith("gemm") or not mem else "failed"
            name = f"**{row['label']}**" if row["kind"].startswith(("xpnet", "jax")) else row["label"]
            lines.append(f"| {name} | {_fmt_time(row['median_s'])} | "
                         f"{_fmt_time(row['q1_s'])}–{_fmt_time(row['q3_s'])} | "
                         f"{_fmt_ratio(row['ratio_to_baseline'])} | {_fmt_ratio(row['xpnet_over_this'])} | "
                         f"{mem_text} |")
        lines.append("")
    if result["targets"]:
        lines += ["### Targets (issues 5 and 17)", "", "| target | measured | holds |", "|---|---:|:---:|"]
        lines += [f"| {t['target']} | {t['measured']} | {'yes' if t['holds'] else '**no**'} |"
                  for t in result["targets"]]
        lines.append("")
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer rounds (a few minutes)")
    p.add_argument("--only", default="", help="comma-separated workloads: W1, W2, W3 or W1-1k, W1-100k")
    p.add_argument("--backend", default=None,
                   help="xpnet's backend: numpy (default), torch, cupy, array_api_strict")
    p.add_argument("--out", default=str(HERE / "results"), help="folder for results.json and results.md")
    p.add_argument("--skip", default="", help="comma-separated implementations to leave out: "
                   "torch, sklearn, numpy, gemm")
    p.add_argument("--no-memory", action="store_true", help="do not measure peak memory")
    p.add_argument("--rounds", type=int, default=None, help="override the number of rounds")
    p.add_argument("--pause", type=float, default=None, help="seconds to pause before each sample")
    p.add_argument("--sample-time", type=float, default=None, help="minimum seconds per sample")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads for NumPy (threadpoolctl) and PyTorch (default: NumPy's BLAS default)")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # tests: tiny sizes
    p.add_argument("--_memory-worker", nargs=2, metavar=("WORKLOAD", "IMPL"), dest="memory_worker",
                   help=argparse.SUPPRESS)
    p.add_argument("--torch-threads", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--render", metavar="RESULTS_JSON", default=None,
                   help="print the markdown of an earlier run's results.json (targets recomputed)")
    return p.parse_args(argv)


def select(only: str, tiny: bool):
    chosen = [x.strip() for x in only.split(",") if x.strip()]
    all_w = W.workloads(tiny)
    if not chosen:
        return all_w
    picked = [w for w in all_w if any(w.key == c or w.key.split("-")[0] == c for c in chosen)]
    unknown = [c for c in chosen if not any(w.key == c or w.key.split("-")[0] == c for w in all_w)]
    if unknown:
        raise SystemExit(f"run.py: error: unknown workload(s) {unknown}; choose among "
                         f"{sorted({w.key.split('-')[0] for w in all_w} | {w.key for w in all_w})}")
    return picked


def _limit_blas_threads(n):
    """Limit NumPy's BLAS to ``n`` threads for the rest of the process (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise SystemExit("run.py: error: --threads needs threadpoolctl (pip install threadpoolctl)") from None
    return threadpool_limits(limits=n, user_api="blas")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:  # load every BLAS first: threadpoolctl limits the libraries loaded so far
        for module in ("sklearn.neural_network", "torch"):
            if W._importable(module.split(".")[0]):
                __import__(module)
    limiter = _limit_blas_threads(args.threads) if args.threads else None  # noqa: F841 (kept alive)
    threads = args.threads or args.torch_threads or W.blas_threads()
    if args.render:
        result = json.loads(Path(args.render).read_text())
        for g in result["groups"]:
            add_ratios(g["baseline"], g["optimizers"], g["rows"])
        result["targets"] = targets(result["groups"], result["settings"].get("gpu", False))
        print(markdown(result))
        return 0
    if args.memory_worker:
        print(json.dumps(memory_worker(*args.memory_worker, args.tiny, args.backend, threads)))
        return 0
    mode_index = 2 if args.tiny else 1 if args.quick else 0
    mode = ("full", "quick", "tiny")[mode_index]
    chosen = select(args.only, args.tiny)
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}
    if os.environ.get("OPENBLAS_CORETYPE"):
        log("run.py: warning: OPENBLAS_CORETYPE is set, which slows current NumPy builds; for "
            "representative figures run `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python "
            "benchmarks/run.py`")
    _set_torch_threads(threads)
    start = time.perf_counter()
    info = machine()
    sample_time = args.sample_time if args.sample_time is not None else SAMPLE_TIME[mode_index]
    pause = args.pause if args.pause is not None else PAUSE[mode_index]
    gpu = W.on_gpu(args.backend)
    groups, rounds_used = [], {}
    for w in chosen:
        family = w.key.split("-")[0]
        rounds = args.rounds or ROUNDS[family][mode_index]
        rounds_used[w.key] = rounds
        impls = W.implementations(w, args.backend, skip=skip)
        log(f"{w.key}: {', '.join(i.key for i in impls)}; {rounds} rounds")
        rows = time_group(w, impls, rounds, sample_time, pause)
        del impls
        gc.collect()
        add_ratios(w.baseline, w.optimizers, rows)
        memory = {} if args.no_memory or gpu or w.unit == "predict" else \
            measure_memory(w, list(rows), args, threads)
        groups.append({"key": w.key, "title": w.title, "unit": w.unit, "baseline": w.baseline,
                       "optimizers": list(w.optimizers), "sizes": list(w.sizes), "batch": w.batch,
                       "rows_of_data": w.rows, "rows": rows, "memory": memory})
    info["load_average_end"] = _loadavg()
    seen = [x for x in LOAD_SEEN if x is not None]
    info["load_1min_during_rounds"] = ({"min": min(seen), "median": round(statistics.median(seen), 2),
                                        "max": max(seen)}
                                       if seen else None)
    result = {"machine": info, "groups": groups,
              "settings": {"mode": mode, "backend": args.backend or "numpy (default)", "gpu": gpu,
                           "torch_threads": threads, "rounds": rounds_used, "pause_s": pause,
                           "sample_time_s": sample_time, "memory": not (args.no_memory or gpu),
                           "total_s": time.perf_counter() - start}}
    result["targets"] = targets(groups, gpu)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    text = markdown(result)
    (out / "results.md").write_text(text + "\n")
    print(text)
    log(f"wrote {out / 'results.json'} and {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
