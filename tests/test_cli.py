"""The ``xpnet`` command's main paths, and its one-line errors with exit status 2."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

import xpnet
from xpnet.cli import main


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_train_with_no_arguments_is_the_question_network_on_two_moons(backend, in_tmp, capsys):
    pytest.importorskip("matplotlib")
    assert main(["train", "--backend", backend.name, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "2 -> 5 -> 5 -> 1, sigmoid, sigmoid output, binary_crossentropy" in out
    train_acc = float(out.split("train accuracy ")[1].split(",")[0])
    val_acc = float(out.split("validation accuracy ")[1].split()[0])
    assert train_acc >= 0.97 and val_acc >= 0.97
    model = xpnet.load(in_tmp / "model.xpnet")
    assert [layer.n_out for layer in model.layers if hasattr(layer, "n_out")] == [5, 5, 1]
    png = (in_tmp / "training.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000


def _write_csv(path, X, y, names=("x1", "x2", "x3"), target="label"):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*names, target])
        writer.writerows([[*row, label] for row, label in zip(X, y, strict=True)])


def test_train_and_predict_a_csv(backend, in_tmp, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)) * [1.0, 100.0, 0.01] + [0.0, 500.0, 0.0]  # unscaled on purpose
    y = np.where(X[:, 0] + (X[:, 1] - 500) / 100 > 0, 7, 3)  # labels need not be 0/1
    _write_csv(in_tmp / "data.csv", X, y)
    args = ["train", "data.csv", "--target", "label", "--layers", "16,16", "--activation", "relu",
            "--optimizer", "adam", "--lr", "0.01", "--epochs", "30", "--batch-size", "32",
            "--backend", backend.name, "--seed", "0", "--out", "m.xpnet", "--plot", "", "--quiet"]
    assert main(args) == 0
    assert "validation accuracy" in capsys.readouterr().out
    assert not (in_tmp / "training.png").exists()

    _write_csv(in_tmp / "new.csv", X, y)
    assert main(["predict", "m.xpnet", "new.csv", "--backend", backend.name]) == 0
    rows = list(csv.reader(capsys.readouterr().out.splitlines()))
    assert rows[0] == ["prediction", "p(7)"] and len(rows) == 301
    predicted = np.array([int(r[0]) for r in rows[1:]])
    assert set(predicted) <= {3, 7} and (predicted == y).mean() > 0.95

    with open(in_tmp / "features.csv", "w") as file:  # no target column, columns reordered
        file.write("x3,x1,x2\n" + "".join(f"{c},{a},{b}\n" for a, b, c in X))
    assert main(["predict", "m.xpnet", "features.csv", "--out", "p.csv"]) == 0
    again = [int(r[0]) for r in list(csv.reader(open(in_tmp / "p.csv")))[1:]]
    np.testing.assert_array_equal(again, predicted)


def test_regression_and_multiclass_targets(in_tmp, capsys):
    X, y = xpnet.datasets.spirals(n=150, n_classes=3, seed=0)
    _write_csv(in_tmp / "three.csv", X, y, names=("a", "b"))
    assert main(["train", "three.csv", "--epochs", "2", "--plot", "", "--quiet"]) == 0
    assert "3, sigmoid, softmax output, crossentropy" in capsys.readouterr().out
    _write_csv(in_tmp / "reg.csv", X, X[:, 0] * 0.5 + 0.25, names=("a", "b"))
    assert main(["train", "reg.csv", "--epochs", "2", "--plot", "", "--quiet", "--out",
                 "r.xpnet"]) == 0
    out = capsys.readouterr().out
    assert "linear output, mse" in out and "train r2 " in out


def test_the_target_is_named_by_the_csv_header_when_not_given(in_tmp, capsys):
    X, _ = xpnet.datasets.spirals(n=100, n_classes=2, seed=0)
    _write_csv(in_tmp / "reg.csv", X, X[:, 0] * 0.5 + 0.25, names=("a", "b"), target="price")
    assert main(["train", "reg.csv", "--epochs", "2", "--plot", "", "--quiet", "--out",
                 "r.xpnet"]) == 0
    capsys.readouterr()
    assert main(["info", "r.xpnet"]) == 0
    assert "features: a, b; target: price; task: regress" in capsys.readouterr().out
    assert main(["predict", "r.xpnet", "reg.csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "price"


@pytest.mark.parametrize("args, message", [
    (["train", "missing.csv"], "no such file: missing.csv"),
    (["train", "--layers", "16,x"], "--layers must be comma-separated ints"),
    (["train", "--epochs", "0"], "argument --epochs: must be an int >= 1"),
    (["train", "--backend", "tpu", "--plot", ""], "backend must be 'auto' or one of"),
    (["train", "--lr", "-1", "--plot", ""], "lr must be a finite number >= 0"),
    (["train", "bad.csv", "--plot", ""], "bad.csv, line 3, column 'b': 'oops' is not a number"),
    (["train", "bad.csv", "--target", "zz"], "target 'zz' is not a column"),
    (["predict", "garbage.xpnet", "bad.csv"], "garbage.xpnet: not a valid zip archive"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: command"),
])
def test_bad_arguments_and_files_give_one_line_and_status_2(in_tmp, capsys, args, message):
    (in_tmp / "bad.csv").write_text("a,b,y\n1,2,0\n3,oops,1\n")
    (in_tmp / "garbage.xpnet").write_bytes(b"not a zip at all")
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xpnet: error: ") and message in lines[0]
    assert "Traceback" not in captured.err + captured.out


def test_info_lists_the_backends(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in xpnet.backend.NAMES:
        assert name in out
    assert "numpy             yes" in out


@pytest.mark.parametrize("module", ["xpnet", "xpnet.cli"])
def test_console_script_help_and_status(module, tmp_path):
    # cwd is tmp_path, so xpnet comes from PYTHONPATH (the repository first), not the cwd
    root = os.path.dirname(os.path.dirname(os.path.abspath(xpnet.__file__)))
    paths = [root, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in paths if p)}

    def run(*args):
        return subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                              text=True, cwd=tmp_path, env=env, timeout=600)

    done = run("--help")
    assert done.returncode == 0 and "train" in done.stdout and "predict" in done.stdout
    done = run("--version")
    assert done.returncode == 0 and done.stdout == f"xpnet {xpnet.__version__}\n"
    done = run("train", "--epochs", "x")
    assert done.returncode == 2 and done.stderr.count("\n") == 1


# -- explain and train --diagnose (issue 7) ----------------------------------------------------------


def test_explain_prints_the_question_network_by_default(capsys):
    assert main(["explain"]) == 0
    out = capsys.readouterr().out
    from xpnet.explain import explain

    assert out == str(explain(xpnet.mlp([2, 5, 5, 1], "sigmoid", "sigmoid"))) + "\n"
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("dW3 ="))
    assert "dW3 = A2.T @ dZ3" in line and "(5, m) @ (m, 1) -> (5, 1)" in line


def test_explain_options(capsys):
    args = ["explain", "--inputs", "4", "--layers", "8", "--outputs", "3", "--activation", "relu",
            "--batch-size", "16", "--convention", "both"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Softmax" in out and "cross-entropy" in out and "fused:" in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("dW2 ="))
    assert "(8, 16) @ (16, 3) -> (8, 3)" in line and "| dW2 = dZ2 @ A1.T" in line
    assert main(["explain", "--inputs", "3", "--layers", "4", "--outputs", "2", "--output", "none",
                 "--loss", "mse",
                 "--convention", "column"]) == 0
    out = capsys.readouterr().out
    assert "dZ2 = 2 * (Z2 - Y) / (m*2)" in out and "Z1 = W1 @ X + b1" in out


@pytest.mark.parametrize("args, message", [
    (["explain", "--layers", "0,3"], "--layers must be positive ints"),
    (["explain", "--outputs", "0"], "argument --outputs: must be an int >= 1"),
    (["explain", "--batch-size", "0"], "argument --batch-size: must be an int >= 1"),
    (["explain", "--convention", "diagonal"], "invalid choice: 'diagonal'"),
    (["explain", "--loss", "hinge"], "invalid choice: 'hinge'"),
])
def test_explain_errors_are_one_line(capsys, args, message):
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xpnet: error: ") and message in lines[0]


def test_train_with_diagnose_prints_the_report(in_tmp, capsys):
    assert main(["train", "--diagnose", "--quiet", "--epochs", "5", "--plot", "diag.png"]) == 0
    out = capsys.readouterr().out
    assert "xpnet diagnose: " in out and "5 epochs recorded" in out
    assert "Dense(2, 5)" in out.split("xpnet diagnose: ")[1]  # the per-layer table
    png = (in_tmp / "diag.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000


def test_train_without_matplotlib_keeps_the_model_and_says_how_to_get_the_plot(tmp_path):
    # matplotlib hidden (an import of it raises ImportError), in a subprocess so this one keeps it
    code = ("import sys; sys.modules['matplotlib'] = None; from xpnet.cli import main; "
            "sys.exit(main(['train', '--epochs', '2', '--quiet', '--diagnose']))")
    # cwd is tmp_path: a relative PYTHONPATH entry (tests/standin) must stay the same directory
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in paths if p)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stdout.splitlines() if "matplotlib" in line]
    assert lines == ["no plot written: matplotlib is not installed (pip install 'xpnet[plot]' for "
                     "training.png)"]
    assert "xpnet diagnose: " in done.stdout  # the rest of the command's output still comes
    assert not (tmp_path / "training.png").exists()
    assert len(xpnet.load(tmp_path / "model.xpnet").params) == 6
