"""The ``xpnet`` command: train, predict, explain, info.

    xpnet train                                  # the question's 2-5-5-1 sigmoid network on two moons
    xpnet train data.csv --target y --layers 16,16 --activation relu --epochs 200 --plot curves.png
    xpnet train --diagnose                       # ... and print the doctor's report after training
    xpnet predict model.xpnet data.csv           # CSV of predictions on stdout
    xpnet explain --layers 2,5,5,1 --activation sigmoid --convention both   # backprop, with shapes
    xpnet info                                   # backends usable here, devices, versions

Bad arguments and bad files print one line, ``xpnet: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import os
import sys

import numpy as np

from . import __version__, datasets, optim
from . import backend as _backend
from .io import load_checkpoint
from .layers import ACTIVATIONS, mlp, n_inputs
from .losses import LOSSES
from .onnx import export_onnx
from .train import DivergenceError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--layers must be comma-separated ints, e.g. 16,16; "
                                         f"got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--layers must be positive ints, e.g. 5,5; got {text!r}")
    return sizes


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {text!r}")
    return value


def _batch(text: str):
    if text == "m":
        return "m"
    return _positive_int(text)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="xpnet", description="Train and use multi-layer perceptrons with "
                     "hand-written backpropagation on NumPy, CuPy or PyTorch.")
    parser.add_argument("--version", action="version", version=f"xpnet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser(
        "train", help="train a model (default: the 2-5-5-1 sigmoid network on two moons)",
        description="Train an MLP on a CSV file, or with no file on the built-in two moons.")
    train.add_argument("data", nargs="?", help="CSV file with a header row (default: two moons)")
    train.add_argument("--target", help="the CSV's target column (default: the last)")
    train.add_argument("--layers", type=_sizes, default=[5, 5], help="hidden sizes (default 5,5)")
    train.add_argument("--activation", choices=sorted(ACTIVATIONS), default="sigmoid")
    train.add_argument("--optimizer", choices=sorted(optim.OPTIMIZERS), default="adam")
    train.add_argument("--lr", type=float, default=0.02, help="learning rate (default 0.02)")
    train.add_argument("--epochs", type=_positive_int, default=100)
    train.add_argument("--batch-size", type=_positive_int, default=32)
    train.add_argument("--validation-split", type=float, default=0.2)
    train.add_argument("--backend", default=None, help="numpy, cupy, torch, array_api_strict "
                       "or auto (default: $XPNET_BACKEND, else numpy)")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="model.xpnet", help="model file (default model.xpnet)")
    train.add_argument("--plot", default="training.png",
                       help="PNG of loss curves and decision boundary (needs matplotlib; "
                            "default training.png; '' for none)")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.add_argument("--diagnose", action="store_true",
                       help="record per-layer statistics while training and print the doctor's "
                            "report (xpnet.diagnose) at the end")

    predict = commands.add_parser("predict", help="predict with a saved model, CSV to stdout",
                                  description="Predict the rows of a CSV file with a saved model.")
    predict.add_argument("model", help="a model file written by 'xpnet train'")
    predict.add_argument("data", help="CSV with the same feature columns (a target column, if "
                                      "present, is ignored)")
    predict.add_argument("--backend", default=None)
    predict.add_argument("--out", default="-", help="output CSV ('-' for stdout)")

    export = commands.add_parser(
        "export", help="export a saved model to ONNX (needs xpnet[onnx])",
        description="Write a saved model's inference as an ONNX file, traced from its own forward "
                    "pass; a model from 'xpnet train' keeps its input standardisation and labels.")
    export.add_argument("model", help="a model file (from 'xpnet train' or model.save)")
    export.add_argument("out", help="the .onnx file to write")

    explain = commands.add_parser(
        "explain", help="print every forward and backward operation of a network, with shapes",
        description="Print every forward and backward operation of one training step of an MLP, "
                    "with its equation and concrete shapes (xpnet.explain).")
    explain.add_argument("--layers", type=_sizes, default=[2, 5, 5, 1],
                         help="all sizes, inputs to outputs (default 2,5,5,1)")
    explain.add_argument("--activation", choices=sorted(ACTIVATIONS), default="sigmoid")
    explain.add_argument("--output", choices=[*sorted(ACTIVATIONS), "none"], default=None,
                         help="output activation (default: sigmoid for one output, softmax for "
                              "more; 'none' for logits)")
    explain.add_argument("--loss", choices=sorted(LOSSES), default=None,
                         help="default: binary_crossentropy after sigmoid, crossentropy after "
                              "softmax, else mse")
    explain.add_argument("--batch-size", type=_batch, default="m",
                         help="an int, or m for a symbolic batch (default)")
    explain.add_argument("--convention", choices=["row", "column", "both"], default="row",
                         help="row: xpnet's batch-first X (m, n), W (n_in, n_out); column: the "
                              "textbooks' X (n, m), W (n_out, n_in); both: side by side")

    commands.add_parser("info", help="backends usable here, devices and versions",
                        description="Show which backends and devices xpnet can use here.")
    return parser


def _task(y: np.ndarray):
    """``(loss, output activation, classes or None)`` for a target column."""
    if y.dtype.kind in "iu":
        classes = np.unique(y)
        if len(classes) == 2:
            return "binary_crossentropy", "sigmoid", classes
        if 2 < len(classes) <= max(20, len(y) // 10):
            return "crossentropy", "softmax", classes
    return "mse", None, None


def _train(args) -> int:
    if args.data is None:
        X, y = datasets.two_moons(n=1000, noise=0.15, seed=args.seed)
        features, target = ["x1", "x2"], "label"
    else:
        X, y, features = datasets.load_csv(args.data, target=-1 if args.target is None
                                           else args.target)
        target = args.target or "target"
    loss, output, classes = _task(y)
    if classes is not None:
        y = np.searchsorted(classes, y)  # labels as 0..k-1
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[std == 0] = 1.0
    n_out = 1 if loss != "crossentropy" else len(classes)
    model = mlp([X.shape[1], *args.layers, n_out], activation=args.activation, output=output,
                seed=args.seed, backend=args.backend, dtype=args.dtype)
    print(f"xpnet {__version__} on {model.backend} ({model.dtype}): "
          f"{' -> '.join(map(str, [X.shape[1], *args.layers, n_out]))}, "
          f"{args.activation}, {output or 'linear'} output, {loss}, {len(X)} samples")
    metrics = ("accuracy",) if classes is not None else ("r2",)
    callbacks = []
    if args.diagnose:
        from .diagnose import Diagnostics

        n_train = len(X) - int(len(X) * args.validation_split)
        callbacks.append(Diagnostics(((X - mean) / std)[:n_train], y[:n_train]))
    try:
        history = model.fit((X - mean) / std, y, loss=loss,
                            optimizer=optim.get(args.optimizer, lr=args.lr), epochs=args.epochs,
                            batch_size=args.batch_size, validation_split=args.validation_split,
                            seed=args.seed, metrics=metrics, verbose=0 if args.quiet else 1,
                            callbacks=callbacks)
    except DivergenceError:
        if callbacks:
            print(callbacks[0].report)
        raise
    name = metrics[0]
    summary = f"train {name} {history[name][-1]:.4f}"
    if f"val_{name}" in history.history:
        summary += f", validation {name} {history['val_' + name][-1]:.4f}"
    print(summary)
    extra = {"features": features, "target": target, "mean": mean.tolist(), "std": std.tolist(),
             "classes": None if classes is None else classes.tolist(), "history": history.history}
    model.save(args.out, extra=extra)
    print(f"model written to {args.out}")
    if args.plot:
        try:
            from .plot import training_report
        except ImportError:
            print("matplotlib is not installed (pip install 'xpnet[plot]'): no plot written")
            return 0
        training_report(args.plot, history, model, (X - mean) / std, y,
                        callbacks[0] if callbacks else None)
        print(f"plot written to {args.plot}")
    if callbacks:
        print(callbacks[0].report)
    return 0


def _explain(args) -> int:
    from .explain import explain

    sizes = args.layers
    if len(sizes) < 2:
        raise ValueError(f"--layers needs at least two sizes (inputs, ..., outputs), e.g. 2,5,5,1; "
                         f"got {','.join(map(str, sizes))}")
    output = args.output or ("sigmoid" if sizes[-1] == 1 else "softmax")
    model = mlp(sizes, activation=args.activation, output=None if output == "none" else output,
                seed=0, backend="numpy")
    print(explain(model, batch_size=args.batch_size, loss=args.loss, convention=args.convention))
    return 0


def _predict(args) -> int:
    model, _, extra = load_checkpoint(args.model, args.backend)
    if not isinstance(extra, dict) or not {"features", "mean", "std", "classes"} <= set(extra):
        raise ValueError(f"{args.model} was not written by 'xpnet train' (no feature columns "
                         "recorded); use xpnet.load in Python")
    features = extra["features"]
    with open(args.data, newline="", encoding="utf-8-sig") as file:
        header = [c.strip() for c in next(csv.reader(file), [])]
    missing = [f for f in features if f not in header]
    if missing:
        raise ValueError(f"{args.data}: missing feature columns {missing} (the model was "
                         f"trained on {features})")
    others = [c for c in header if c not in features]
    if len(others) > 1:
        raise ValueError(f"{args.data}: unexpected columns {others}")
    X, _, names = datasets.load_csv(args.data, target=others[0] if others else None)
    X = X[:, [names.index(f) for f in features]]
    P = _backend.to_numpy(model.predict((X - np.asarray(extra["mean"])) / np.asarray(extra["std"])))
    classes = extra["classes"]
    out = sys.stdout if args.out == "-" else open(args.out, "w", newline="")  # noqa: SIM115
    try:
        writer = csv.writer(out)
        if classes is None:
            writer.writerow([extra.get("target", "prediction")])
            writer.writerows([[f"{v:.9g}"] for v in P[:, 0]])
        elif P.shape[1] == 1:
            writer.writerow(["prediction", f"p({classes[1]})"])
            writer.writerows([[classes[int(p > 0.5)], f"{p:.6f}"] for p in P[:, 0]])
        else:
            writer.writerow(["prediction", *(f"p({c})" for c in classes)])
            writer.writerows([[classes[int(row.argmax())], *(f"{p:.6f}" for p in row)]
                              for row in P])
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _info(args) -> int:
    print(f"xpnet {__version__}, Python {sys.version.split()[0]}")
    for name in _backend.NAMES:
        usable = name in _backend.available()
        module = {"array_api_strict": "array-api-strict", "cupy": "cupy"}.get(name, name)
        try:
            version = importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            version = None
        if name == "cupy" and version is None:
            version = next((importlib.metadata.version(d) for d in ("cupy-cuda12x", "cupy-cuda13x")
                            if _installed(d)), None)
        where = f"device {_backend.get(name).device}" if usable else (
            "no CUDA device answers" if name == "cupy" and version else "not installed")
        print(f"  {name:<17} {'yes' if usable else 'no ':<4} {version or '-':<12} {where}")
    print(f"default backend: {_backend.get()}  (XPNET_BACKEND={os.environ.get('XPNET_BACKEND', '')!r})")
    return 0


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _export(args) -> int:
    model, _, extra = load_checkpoint(args.model, "numpy")
    kwargs = {}
    if isinstance(extra, dict) and {"mean", "std", "classes"} <= set(extra):  # from 'xpnet train'
        kwargs = {"preprocessing": {"mean": extra["mean"], "std": extra["std"]},
                  "classes": extra["classes"]}
    export_onnx(model, args.out, **kwargs)
    inputs = f"X (N, {n_inputs(model)}) {model.dtype}"
    print(f"wrote {args.out}: input {inputs}, output Y" + (", label" if kwargs.get("classes") else ""))
    return 0


def main(argv=None) -> int:
    try:
        args = _parser().parse_args(argv)
        return {"train": _train, "predict": _predict, "explain": _explain, "export": _export,
                "info": _info}[args.command](args)
    except _UsageError as err:
        print(f"xpnet: error: {err} (see xpnet --help)", file=sys.stderr)
    except FileNotFoundError as err:
        print(f"xpnet: error: no such file: {err.filename}", file=sys.stderr)
    except (ValueError, TypeError, DivergenceError, OSError, ImportError) as err:
        print(f"xpnet: error: {err}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
