"""The ``xpnet`` command: train, predict, explain, info.

    xpnet train                                  # the question's 2-5-5-1 sigmoid network on two moons
    xpnet train data.csv --target y --layers 16,16 --activation relu --epochs 200 --plot curves.png
    xpnet train --diagnose                       # ... and print the doctor's report after training
    xpnet predict model.xpnet data.csv           # CSV of predictions on stdout
    xpnet explain --layers 5,5 --activation sigmoid --convention both   # backprop, with shapes
    xpnet info                                   # backends usable here, devices, versions
    xpnet info model.xpnet                       # what a model file holds

``--layers`` is the hidden sizes everywhere: ``train`` takes the input and output sizes from the
data, ``explain`` from ``--inputs`` and ``--outputs``.

Bad arguments and bad files print one line, ``xpnet: error: ...``, and exit with status 2. Ctrl-C
during ``train`` stops at a step boundary, saves the model and a resumable checkpoint, prints one
line and exits with status 130. A closed output pipe (``xpnet predict ... | head -1``) ends the
command quietly, as it does other Unix tools (status 141).
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import os
import sys
import warnings

import numpy as np

from . import __version__, datasets, optim
from . import backend as _backend
from .io import load_checkpoint
from .layers import ACTIVATIONS, Sequential, Standardize, mlp, n_inputs, n_outputs
from .losses import LOSSES
from .onnx import export_onnx
from .train import Callback, DivergenceError, EarlyStopping, ModelCheckpoint, save_checkpoint

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
MAX_AUTO_CLASSES = 20  # --task auto: an integer target with at most this many values is classes


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
    shown = argparse.ArgumentDefaultsHelpFormatter  # every option's default in --help

    train = commands.add_parser(
        "train", help="train a model (default: the 2-5-5-1 sigmoid network on two moons)",
        description="Train an MLP on a CSV file, or with no file on the built-in two moons. The "
                    "model file carries the feature scaling and the class labels, so "
                    "xpnet.load(...).predict takes raw features.", formatter_class=shown)
    train.add_argument("data", nargs="?", help="CSV file with a header row (none: two moons)")
    train.add_argument("--target", help="the CSV's target column (none: the last)")
    train.add_argument("--delimiter", default=None,
                       help="the CSV's field separator (none: sniffed from the header: , ; tab |)")
    train.add_argument("--task", choices=["auto", "classify", "regress"], default="auto",
                       help=f"auto: classify when the target holds text labels or integers with "
                            f"at most {MAX_AUTO_CLASSES} distinct values, else regress")
    train.add_argument("--layers", type=_sizes, default=[5, 5],
                       help="hidden sizes (inputs and outputs come from the data)")
    train.add_argument("--activation", choices=sorted(ACTIVATIONS), default="sigmoid",
                       help="between the Dense layers")
    train.add_argument("--optimizer", choices=sorted(optim.OPTIMIZERS), default="adam",
                       help="the optimizer")
    train.add_argument("--lr", type=float, default=0.02, help="learning rate")
    train.add_argument("--epochs", type=_positive_int, default=100, help="epochs in all")
    train.add_argument("--batch-size", type=_positive_int, default=32, help="rows per step")
    train.add_argument("--validation-split", type=float, default=0.2,
                       help="fraction of the rows held out, drawn at random (a CSV's rows are "
                            "shuffled with --seed first)")
    train.add_argument("--early-stopping", type=_positive_int, default=None, metavar="N",
                       help="stop when the validation loss has not improved for N epochs, and "
                            "keep the best weights")
    train.add_argument("--backend", default=None, help="numpy, cupy, torch, array_api_strict "
                       "or auto (none: $XPNET_BACKEND, else numpy)")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                       help="float dtype of the parameters")
    train.add_argument("--seed", type=int, default=0,
                       help="initial weights, the validation rows and the shuffles")
    train.add_argument("--out", default="model.xpnet", help="model file")
    train.add_argument("--plot", default="training.png",
                       help="PNG of loss curves and decision boundary (needs matplotlib; "
                            "'' for none)")
    train.add_argument("--checkpoint", default=None, metavar="PATH",
                       help="write a resumable checkpoint here after every epoch (on Ctrl-C one "
                            "is written in any case, to this path or OUT.ckpt)")
    train.add_argument("--resume", default=None, metavar="PATH",
                       help="continue the run saved in this checkpoint, on the same data, up to "
                            "--epochs (the architecture and optimizer are the checkpoint's)")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.add_argument("--diagnose", action="store_true",
                       help="record per-layer statistics while training and print the doctor's "
                            "report (xpnet.diagnose) at the end")

    predict = commands.add_parser("predict", help="predict with a saved model, CSV to stdout",
                                  description="Predict the rows of a CSV file with a saved model.",
                                  formatter_class=shown)
    predict.add_argument("model", help="a model file written by 'xpnet train'")
    predict.add_argument("data", help="CSV with the model's feature columns (other columns are "
                                      "reported on stderr and ignored)")
    predict.add_argument("--delimiter", default=None,
                         help="the CSV's field separator (none: sniffed from the header)")
    predict.add_argument("--backend", default=None, help="where to run (none: $XPNET_BACKEND, "
                                                         "else numpy)")
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
                    "with its equation and concrete shapes (xpnet.explain).", formatter_class=shown)
    explain.add_argument("--inputs", type=_positive_int, default=2, help="input features")
    explain.add_argument("--layers", type=_sizes, default=[5, 5],
                         help="hidden sizes, as in 'xpnet train'")
    explain.add_argument("--outputs", type=_positive_int, default=1, help="outputs")
    explain.add_argument("--activation", choices=sorted(ACTIVATIONS), default="sigmoid",
                         help="between the Dense layers")
    explain.add_argument("--output", choices=[*sorted(ACTIVATIONS), "none"], default=None,
                         help="output activation (none given: sigmoid for one output, softmax "
                              "for more; 'none' for logits)")
    explain.add_argument("--loss", choices=sorted(LOSSES), default=None,
                         help="none given: binary_crossentropy after sigmoid, crossentropy after "
                              "softmax, else mse")
    explain.add_argument("--batch-size", type=_batch, default="m",
                         help="an int, or m for a symbolic batch")
    explain.add_argument("--convention", choices=["row", "column", "both"], default="row",
                         help="row: xpnet's batch-first X (m, n), W (n_in, n_out); column: the "
                              "textbooks' X (n, m), W (n_out, n_in); both: side by side")

    info = commands.add_parser("info", help="backends usable here; or what a model file holds",
                               description="Show which backends and devices xpnet can use here; "
                                           "given a model file, show its layers, shapes, dtype, "
                                           "classes, preprocessing and the run that made it.")
    info.add_argument("model", nargs="?", help="a model file to inspect")
    return parser


# -- train ----------------------------------------------------------------------------------------


def _task(y: np.ndarray, task: str):
    """``(classify, why)``: whether the target holds classes, and the reason, for the user."""
    text = y.dtype.kind in "OUS"
    n = len(np.unique(y))
    if task == "regress":
        if text:
            raise ValueError(f"--task regress needs a numeric target; the target holds text "
                             f"labels such as {str(y[0])!r}")
        return False, "--task regress"
    if task == "classify":
        if y.dtype.kind == "f":
            bad = y[y != np.round(y)][0]
            raise ValueError(f"--task classify needs class labels (integers or text); the target "
                             f"holds numbers such as {bad:g}")
        why = "--task classify"
    elif text:
        why = "auto: the target holds text labels"
    elif y.dtype.kind in "iu" and n <= MAX_AUTO_CLASSES:
        why = f"auto: an integer target with {n} distinct values (at most {MAX_AUTO_CLASSES})"
    else:
        kind = f"an integer target with {n} distinct values (more than {MAX_AUTO_CLASSES})" \
            if y.dtype.kind in "iu" else "a target with non-integer values"
        return False, f"auto: {kind}; --task classify to treat them as classes"
    if n < 2:
        raise ValueError(f"the target holds a single class ({y[0]!r}): nothing to classify")
    return True, why


def _sniff(path, delimiter):
    """The delimiter given, else the one of , ; tab | that splits the header into most fields."""
    if delimiter is not None:
        if delimiter in ("\\t", "tab"):
            return "\t"
        if len(delimiter) != 1:
            raise ValueError(f"--delimiter must be one character (or 'tab'), got {delimiter!r}")
        return delimiter
    with open(path, newline="", encoding="utf-8-sig") as file:
        header = file.readline()
    return max(",;\t|", key=header.count)


def _last_column(path, delimiter) -> str:
    """The header's name of a CSV's last column (the target when --target is not given)."""
    with open(path, newline="", encoding="utf-8-sig") as file:
        header = next(csv.reader(file, delimiter=delimiter))
    return header[-1].strip() or "target"  # an unnamed column keeps the old name


def _writable(path, option) -> None:
    """Refuse, before training, a destination that cannot be written."""
    full = os.path.abspath(path)
    directory = os.path.dirname(full)
    if os.path.isdir(full):
        raise ValueError(f"{option} {path}: is a directory; give a file name")
    if not os.path.isdir(directory):
        raise ValueError(f"{option} {path}: the directory {os.path.dirname(path) or directory} "
                         "does not exist")
    if not os.access(directory, os.W_OK) or (os.path.exists(full)
                                             and not os.access(full, os.W_OK)):
        raise ValueError(f"{option} {path}: permission denied (cannot write there)")


class _Keep(Callback):
    """Holds on to the model being trained (``resume`` builds its own), for Ctrl-C."""


def _train(args) -> int:
    for option in ("out", "plot", "checkpoint"):
        if getattr(args, option):
            _writable(getattr(args, option), f"--{option}")
    if not 0.0 <= args.validation_split < 1.0:
        raise ValueError(f"--validation-split must be in [0, 1), got {args.validation_split}")
    saved = None
    if args.resume:
        saved = load_checkpoint(args.resume, "numpy")[2] or {}
        if "random_states" not in saved:
            raise ValueError(f"{args.resume} is not a training checkpoint (write one with "
                             "--checkpoint)")
    if args.data is None:
        seed = saved.get("cli", {}).get("seed", args.seed) if saved else args.seed
        X, y = datasets.two_moons(n=1000, noise=0.15, seed=seed)
        features, target = ["x1", "x2"], "label"
    else:
        delimiter = _sniff(args.data, args.delimiter)
        X, y, features = datasets.load_csv(
            args.data, target=-1 if args.target is None else args.target, delimiter=delimiter)
        target = _last_column(args.data, delimiter) if args.target is None else args.target
    seed = saved.get("cli", {}).get("seed", args.seed) if saved else args.seed
    classify, why = _task(y, args.task)
    classes = np.unique(y) if classify else None
    if classify:
        y = np.searchsorted(classes, y)  # labels as 0..k-1; the model keeps the originals
    if args.validation_split and args.data is not None:  # a file may be sorted by class
        order = np.random.default_rng(seed).permutation(len(X))
        X, y = X[order], y[order]
    loss = "mse" if not classify else "binary_crossentropy" if len(classes) == 2 else "crossentropy"
    n_out = 1 if loss != "crossentropy" else len(classes)
    cli = {"features": features, "target": target, "task": "classify" if classify else "regress",
           "seed": seed}
    if saved:
        if saved.get("cli", {}).get("features", features) != features:
            raise ValueError(f"{args.resume} was trained on columns {saved['cli']['features']}, "
                             f"the data has {features}")
        model = None
    else:
        mean, std = X.mean(axis=0), X.std(axis=0)
        std[std == 0] = 1.0  # a constant column: leave it as it is
        net = mlp([X.shape[1], *args.layers, n_out], activation=args.activation,
                  output={"binary_crossentropy": "sigmoid", "crossentropy": "softmax"}.get(loss),
                  seed=seed, backend=args.backend, dtype=args.dtype)
        model = Sequential(Standardize(mean, std, backend=net.backend, dtype=net.dtype),
                           *net.layers)
        model.classes = None if classes is None else classes.tolist()
        layers = args.layers
        if len(layers) >= 3 and layers[0] == X.shape[1] and layers[-1] == n_out:
            print(f"note: --layers is the hidden sizes, so --layers {','.join(map(str, layers))} "
                  f"builds {' -> '.join(map(str, [X.shape[1], *layers, n_out]))}; for the "
                  f"network {'-'.join(map(str, layers))} give --layers "
                  f"{','.join(map(str, layers[1:-1]))}")
        print(f"xpnet {__version__} on {model.backend} ({model.dtype}): "
              f"{' -> '.join(map(str, [X.shape[1], *args.layers, n_out]))}, "
              f"{args.activation}, {net.layers[-1].__class__.__name__.lower() if classify else 'linear'}"
              f" output, {loss}, {len(X)} samples")
    print(f"task: {'classification, ' + str(len(classes)) + ' classes' if classify else 'regression'}"
          f" ({why})")
    if args.validation_split:
        print(f"validation: a random {100 * args.validation_split:g}% of the rows "
              + (f"(shuffled with --seed {seed})" if args.data else "(two moons come shuffled)"))
    metrics = ("accuracy",) if classify else ("r2",)
    callbacks = [_Keep()]
    diagnostics = None
    if args.diagnose:
        from .diagnose import Diagnostics

        n_train = len(X) - int(len(X) * args.validation_split)
        diagnostics = Diagnostics(X[:n_train], y[:n_train])
        callbacks.append(diagnostics)
    if args.early_stopping:
        callbacks.append(EarlyStopping("val_loss" if args.validation_split else "loss",
                                       patience=args.early_stopping, restore_best_weights=True))
    if args.checkpoint:
        callbacks.append(ModelCheckpoint(args.checkpoint, extra={"cli": cli}))
    verbose = 0 if args.quiet else 1
    try:
        if saved:
            from .train import resume

            model, history = resume(args.resume, X, y, epochs=args.epochs, backend=args.backend,
                                    callbacks=callbacks, verbose=verbose)
        else:
            history = model.fit(X, y, loss=loss, optimizer=optim.get(args.optimizer, lr=args.lr),
                                epochs=args.epochs, batch_size=args.batch_size,
                                validation_split=args.validation_split, seed=seed,
                                metrics=metrics, verbose=verbose, callbacks=callbacks)
    except KeyboardInterrupt:
        return _interrupted(args, callbacks[0].model, cli)
    except DivergenceError:
        if diagnostics is not None:
            print(diagnostics.report)
        raise
    name = metrics[0]
    summary = f"train {name} {history[name][-1]:.4f}"
    if f"val_{name}" in history.history:
        summary += f", validation {name} {history['val_' + name][-1]:.4f}"
    print(summary)
    model.save(args.out, extra={**cli, "history": history.history})
    print(f"model written to {args.out}")
    if args.plot:
        try:
            import matplotlib  # noqa: F401  (xpnet.plot imports it only when it draws)
        except ImportError:
            print(f"no plot written: matplotlib is not installed (pip install 'xpnet[plot]' for "
                  f"{args.plot})")
        else:
            from .plot import training_report

            training_report(args.plot, history, model, X, y, diagnostics)
            print(f"plot written to {args.plot}")
    if diagnostics is not None:
        print(diagnostics.report)
    return 0


def _interrupted(args, model, cli) -> int:
    """Ctrl-C: save what training reached (it stopped at a step boundary), say so in one line."""
    if model is None or getattr(model, "fit_state", None) is None:
        print("xpnet: interrupted before training started; nothing saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    path = args.checkpoint or f"{args.out}.ckpt"
    done = model.fit_state.completed_epochs
    model.save(args.out, extra={**cli, "history": model.fit_state.history.history})
    save_checkpoint(model, path, extra={"cli": cli})
    print(f"xpnet: interrupted after {done} of {args.epochs} epochs: model written to {args.out}, "
          f"checkpoint to {path} (continue with --resume {path})", file=sys.stderr)
    return EXIT_INTERRUPTED


# -- explain, predict, info -----------------------------------------------------------------------


def _explain(args) -> int:
    from .explain import explain

    sizes = [args.inputs, *args.layers, args.outputs]
    output = args.output or ("sigmoid" if args.outputs == 1 else "softmax")
    model = mlp(sizes, activation=args.activation, output=None if output == "none" else output,
                seed=0, backend="numpy")
    print(explain(model, batch_size=args.batch_size, loss=args.loss, convention=args.convention))
    return 0


def _check_trained(name, model, extra) -> None:
    """What ``train`` recorded beside the network (features, standardisation, classes), checked
    against the network when the file is loaded: one ValueError naming the file and the field."""
    def bad(field, expected):
        return ValueError(f"{name}: {field} must be {expected}, got {extra[field]!r:.100}")

    n_in, n_out = n_inputs(model), n_outputs(model)
    features = extra["features"]
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features) \
            or len(set(features)) != len(features) or (n_in is not None and len(features) != n_in):
        raise bad("features", f"a list of {n_in} distinct column names")
    for field in ("mean", "std"):  # files of xpnet 0.1 kept the standardisation here
        values = extra.get(field, [1.0] * len(features))
        if not isinstance(values, list) or len(values) != len(features) or not all(
                _backend.is_finite_number(v) for v in values):
            raise bad(field, f"a list of {len(features)} finite numbers (one per feature)")
    if not all(v > 0 for v in extra.get("std", [1.0])):
        raise bad("std", "positive")
    if model.classes is not None:  # checked against the network here; io checked the rest
        extra = {**extra, "classes": list(model.classes)}
    classes = extra.get("classes")
    if classes is None:
        if n_out not in (1, None):
            raise bad("classes", f"a list of {n_out} class labels (the network has {n_out} "
                      "outputs)")
        return
    k = 2 if n_out == 1 else n_out
    if not isinstance(classes, list) or len(classes) != k or not all(
            isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in classes) \
            or len(set(classes)) != k:
        raise bad("classes", f"null or a list of {k} distinct labels (the network has {n_out} "
                  f"output{'s' if n_out != 1 else ''})")


def _read_features(path, features, delimiter):
    """The ``features`` columns of a CSV, in that order, as float64; and the other columns."""
    name = os.fspath(path)
    with open(name, newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file, delimiter=delimiter)
        header = [c.strip() for c in next(reader, [])]
        twice = sorted({f for f in features if header.count(f) > 1})
        if twice:  # which of the two is meant cannot be told: not the first silently
            raise ValueError(f"{name}: the feature column(s) {twice} appear more than once in "
                             "the header")
        missing = [f for f in features if f not in header]
        if missing:
            raise ValueError(f"{name}: missing feature columns {missing} (the model was trained "
                             f"on {features})")
        index = [header.index(f) for f in features]
        rows = []
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if len(fields) != len(header):
                raise ValueError(f"{name}, line {reader.line_num}: {len(fields)} fields, but the "
                                 f"header has {len(header)} columns")
            rows.append([datasets._parse_number(fields[i], f"{name}, line {reader.line_num}, "
                                                f"column {header[i]!r}") for i in index])
    if not rows:
        raise ValueError(f"{name}: no data rows after the header")
    return np.asarray(rows, dtype=np.float64), [c for c in header if c not in features]


def _predict(args) -> int:
    model, _, extra = load_checkpoint(args.model, args.backend)
    if not isinstance(extra, dict) or "features" not in extra:
        raise ValueError(f"{args.model} was not written by 'xpnet train' (no feature columns "
                         "recorded); use xpnet.load in Python")
    _check_trained(args.model, model, extra)
    if args.out != "-":
        _writable(args.out, "--out")
    features = extra["features"]
    X, others = _read_features(args.data, features, _sniff(args.data, args.delimiter))
    if others:
        print(f"xpnet: ignoring column{'s' if len(others) > 1 else ''} {others} of {args.data} "
              f"(not features of the model)", file=sys.stderr)
    if not isinstance(model.layers[0], Standardize) and "mean" in extra:  # a file of xpnet 0.1
        X = (X - np.asarray(extra["mean"])) / np.asarray(extra["std"])
    P = _backend.to_numpy(model.predict(X))
    classes = model.classes if model.classes is not None else extra.get("classes")
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
        out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _info(args) -> int:
    if args.model:
        return _info_model(args.model)
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
        where = f"device {_backend.get(name).device}" if usable else \
            _backend.unavailable_reason(name)
        print(f"  {name:<17} {'yes' if usable else 'no ':<4} {version or '-':<12} {where}")
    variable = os.environ.get("XPNET_BACKEND", "")
    try:
        default = str(_backend.get())
    except ValueError as err:  # exactly when one runs `xpnet info` to find out why
        default = f"none: {err}"
    print(f"default backend: {default}  (XPNET_BACKEND={variable!r})")
    return 0


def _info_model(path) -> int:
    from .explain import summary

    model, optimizer, extra = load_checkpoint(path, "numpy")
    extra = extra if isinstance(extra, dict) else {}
    cli = extra.get("cli", extra)
    print(f"{path}: xpnet model file, {model.dtype}")
    print(summary(model))
    first = model.layers[0] if model.layers else None
    print("preprocessing: " + (f"Standardize (mean and std of {first.n_in} features, saved in the "
                               "model)" if isinstance(first, Standardize) else "none"))
    if cli.get("features"):
        print(f"features: {', '.join(cli['features'])}; target: {cli.get('target')}"
              + (f"; task: {cli['task']}" if cli.get("task") else ""))
    history = extra.get("history") or {}
    if history.get("loss"):
        last = ", ".join(f"{k} {v[-1]:.4g}" for k, v in history.items() if v)
        print(f"trained for {len(history['loss'])} epochs: {last}"
              + (f" (seed {cli['seed']})" if "seed" in cli else ""))
    if optimizer is not None:
        print(f"checkpoint: optimizer {optimizer['name']} at step {optimizer.get('step', 0)}, "
              f"resumable from epoch {extra.get('epoch')}")
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
    if model.classes is not None:  # a classifier: its label output too
        kwargs["classes"] = list(model.classes)
    if isinstance(extra, dict) and {"mean", "std", "classes"} <= set(extra) \
            and not isinstance(model.layers[0], Standardize):  # a file of xpnet 0.1's command
        kwargs = {"preprocessing": {"mean": extra["mean"], "std": extra["std"]},
                  "classes": extra["classes"]}
    export_onnx(model, args.out, **kwargs)
    inputs = f"X (N, {n_inputs(model)}) {model.dtype}"
    print(f"wrote {args.out}: input {inputs}, output Y" + (", label" if kwargs.get("classes") else ""))
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"xpnet: warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    try:
        args = _parser().parse_args(argv)
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning  # one line, no source path
            return {"train": _train, "predict": _predict, "explain": _explain,
                    "export": _export, "info": _info}[args.command](args)
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as Unix tools do
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is silent
        except (OSError, ValueError):
            pass
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("xpnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _UsageError as err:
        print(f"xpnet: error: {err} (see xpnet --help)", file=sys.stderr)
    except FileNotFoundError as err:
        print(f"xpnet: error: no such file: {err.filename}", file=sys.stderr)
    except (ValueError, TypeError, DivergenceError, OSError, ImportError) as err:
        print(f"xpnet: error: {err}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
