#!/usr/bin/env python
"""xpnet.sklearn against scikit-learn's MLPs: test score and fit time on four bundled datasets.

    python benchmarks/sklearn_parity.py                     # scikit-learn's defaults, 5 seeds
    python benchmarks/sklearn_parity.py --backend torch --seeds 3
    python benchmarks/sklearn_parity.py --quick             # the parity test's settings (seconds)
    python benchmarks/sklearn_parity.py --threads 1         # one BLAS/OpenMP thread for both

For breast cancer, digits and wine (accuracy) and diabetes (R²), each seed makes a stratified 75/25
split, standardises the features (and the diabetes target) with the training part's mean and
standard deviation, and fits scikit-learn's estimator and xpnet's with the same hyperparameters and
``random_state`` — scikit-learn's defaults (``hidden_layer_sizes=(100,)``, Adam, ``max_iter=200``,
``tol=1e-4``) unless ``--quick``. The two fits of a seed run back to back, in an order that
alternates from seed to seed; a fit's time is wall-clock ``fit()``, the data already in memory.
Reported: the mean test score over the seeds, their difference in points, the median fit time and
the ratio of xpnet's to scikit-learn's (below 1: xpnet is faster). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
import sklearn
import threadpoolctl
from sklearn import datasets, neural_network
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

import xpnet
from xpnet import sklearn as xpnet_sklearn

DATASETS = {  # name: (loader, estimator, score)
    "breast_cancer": (datasets.load_breast_cancer, "MLPClassifier", "accuracy"),
    "digits": (datasets.load_digits, "MLPClassifier", "accuracy"),
    "wine": (datasets.load_wine, "MLPClassifier", "accuracy"),
    "diabetes": (datasets.load_diabetes, "MLPRegressor", "R²"),
}
QUICK = {"hidden_layer_sizes": (32,), "learning_rate_init": 0.01, "max_iter": 60}


def split(name, seed):
    """The standardised train/test split of ``name`` for ``seed`` (identical for both libraries)."""
    loader, estimator, _ = DATASETS[name]
    X, y = loader(return_X_y=True)
    classify = estimator == "MLPClassifier"
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y if classify else None)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 1e-12
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    if not classify:
        y_mean, y_std = y_train.mean(), y_train.std()
        y_train, y_test = (y_train - y_mean) / y_std, (y_test - y_mean) / y_std
    return X_train, X_test, y_train, y_test


def measure(name, seeds, params, backend, dtype):
    """Scores, fit times and epochs per library for one dataset."""
    estimator = DATASETS[name][1]
    makers = {"sklearn": lambda seed: getattr(neural_network, estimator)(**params, random_state=seed),
              "xpnet": lambda seed: getattr(xpnet_sklearn, estimator)(
                  **params, random_state=seed, backend=backend, dtype=dtype)}
    results = {library: {"score": [], "time": [], "n_iter": []} for library in makers}
    for seed in seeds:
        X_train, X_test, y_train, y_test = split(name, seed)
        order = list(makers) if seed % 2 == 0 else list(makers)[::-1]
        for library in order:
            model = makers[library](seed)
            start = time.perf_counter()
            model.fit(X_train, y_train)
            results[library]["time"].append(time.perf_counter() - start)
            results[library]["score"].append(model.score(X_test, y_test))
            results[library]["n_iter"].append(model.n_iter_)
    return results


def table(all_results, n_seeds):
    rows = ["| dataset | score | scikit-learn | xpnet | Δ (points) | epochs (sk / xp) | "
            "fit scikit-learn | fit xpnet | time ratio xpnet / sk |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, results in all_results.items():
        sk, xp = results["sklearn"], results["xpnet"]
        sk_score, xp_score = np.mean(sk["score"]), np.mean(xp["score"])
        sk_time, xp_time = statistics.median(sk["time"]), statistics.median(xp["time"])
        rows.append(f"| {name} | {DATASETS[name][2]} | {sk_score:.4f} | {xp_score:.4f} | "
                    f"{100 * (xp_score - sk_score):+.2f} | {np.mean(sk['n_iter']):.0f} / "
                    f"{np.mean(xp['n_iter']):.0f} | {sk_time:.3f} s | {xp_time:.3f} s | "
                    f"{xp_time / sk_time:.2f} |")
    return "\n".join(rows) + f"\n\nMeans over {n_seeds} seeds; fit times are medians."


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="auto", help="xpnet backend (default: auto)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help=f"the parity test's hyperparameters {QUICK} instead of the defaults")
    parser.add_argument("--only", help="comma-separated dataset names")
    parser.add_argument("--threads", type=int, help="limit BLAS/OpenMP (and torch) threads, both "
                        "libraries alike (on a busy machine, spinning worker threads distort times)")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(DATASETS)
    params = QUICK if args.quick else {}
    device = xpnet.backend.get(args.backend)
    print(f"xpnet {xpnet.__version__} on {device} ({args.dtype}) vs scikit-learn {sklearn.__version__} "
          f"(float64); numpy {np.__version__}; Python {platform.python_version()}; "
          f"{os.cpu_count()} CPUs, threads: {args.threads or 'default'}; "
          f"hyperparameters: {params or 'scikit-learn defaults'}\n",
          file=sys.stderr)
    all_results = {}
    if args.threads and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(args.threads)
    limits = threadpoolctl.threadpool_limits(args.threads) if args.threads else contextlib.nullcontext()
    with warnings.catch_warnings(), limits:
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name in names:
            print(f"{name} ...", file=sys.stderr, flush=True)
            all_results[name] = measure(name, range(args.seeds), params, args.backend, args.dtype)
    print(table(all_results, args.seeds))
    return all_results


if __name__ == "__main__":
    main()
