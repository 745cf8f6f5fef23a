"""What a student, a data scientist and a command-line user hit in their first hour (issue 12),
each written from the user's side: the call or the command, and what the user sees."""

import csv
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

import xpnet
from xpnet.cli import main
from xpnet.explain import summary


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write_csv(path, header, rows, delimiter=","):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)


# -- 1. a loss on probabilities after a model that outputs logits ------------------------------------

@pytest.mark.parametrize("loss, sizes, fix", [
    ("binary_crossentropy", [2, 16, 1], "output='sigmoid'"),
    ("crossentropy", [2, 16, 3], "output='softmax'"),
])
def test_probability_loss_on_a_logits_model_is_refused_before_training(backend, loss, sizes, fix):
    X, y = xpnet.datasets.two_moons(n=60, seed=0)
    if sizes[-1] == 3:
        y = np.arange(60) % 3
    model = xpnet.mlp(sizes, seed=0, backend=backend)
    before = {k: xpnet.to_numpy(v).copy() for k, v in model.params.items()}
    for call in (lambda: model.fit(X, y, loss=loss, epochs=1, verbose=0),
                 lambda: xpnet.value_and_grad(model, loss, X, y),
                 lambda: model.evaluate(X, y, loss=loss)):
        with pytest.raises(ValueError, match="expects probabilities") as err:
            call()
        assert fix in str(err.value) and "from_logits=True" in str(err.value)
    for key, value in model.params.items():
        np.testing.assert_array_equal(xpnet.to_numpy(value), before[key])


def test_the_fixes_the_message_names_train(backend):
    X, y = xpnet.datasets.two_moons(n=400, noise=0.1, seed=0)
    logits = xpnet.mlp([2, 16, 1], seed=0, backend=backend)
    history = logits.fit(X, y, loss=xpnet.losses.BinaryCrossEntropy(from_logits=True), epochs=30,
                         seed=0, verbose=0)
    probs = xpnet.mlp([2, 16, 1], output="sigmoid", seed=0, backend=backend)
    history2 = probs.fit(X, y, loss="binary_crossentropy", epochs=30, seed=0, verbose=0)
    assert history["accuracy"][-1] > 0.85 and history2["accuracy"][-1] > 0.85


def test_a_softmax_over_one_output_is_refused_with_the_fix():
    # a softmax over one unit is exp(z) / exp(z) = 1 whatever z: its gradient is zero, and a
    # 2-5-1 network trained so never moves its loss
    with pytest.raises(ValueError, match="softmax over 1 output is constant 1") as err:
        xpnet.mlp([2, 5, 1], activation="sigmoid", output="softmax")
    assert "output='sigmoid'" in str(err.value) and "binary cross-entropy" in str(err.value)
    assert "2 outputs" in str(err.value)
    hidden = r"activation='softmax' with sizes\[1\] = 1: a softmax over 1 unit is constant 1"
    with pytest.raises(ValueError, match=hidden):
        xpnet.mlp([2, 1, 3], activation="softmax", output="softmax")
    xpnet.mlp([2, 5, 2], activation="sigmoid", output="softmax")  # two classes: fine


# -- 2. a model trained by the command predicts the same in Python ---------------------------------

def _unscaled(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 100.0, 0.01] + [0.0, 500.0, 3.0]
    score = X[:, 0] + (X[:, 1] - 500) / 100
    return X, np.where(score > 0.8, 2, np.where(score > -0.8, 1, 0))


@pytest.mark.parametrize("names", [(7, 3, 5), ("red", "white", "rose")])
def test_a_cli_trained_model_predicts_the_same_in_python(backend, in_tmp, capsys, names):
    X, y = _unscaled()
    labels = np.asarray(names)[y]
    _write_csv(in_tmp / "wine.csv", ["a", "b", "c", "kind"],
               [[*row, label] for row, label in zip(X, labels, strict=True)])
    assert main(["train", "wine.csv", "--layers", "16", "--activation", "relu", "--epochs", "40",
                 "--lr", "0.01", "--plot", "", "--quiet", "--backend", backend.name]) == 0
    assert "task: classification, 3 classes" in capsys.readouterr().out
    assert main(["predict", "model.xpnet", "wine.csv"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.reader(captured.out.splitlines()))
    cli_labels = [row[0] for row in rows[1:]]
    assert "ignoring column ['kind']" in captured.err  # reported, not silent

    model = xpnet.load("model.xpnet")  # what a data scientist does next, on the raw features
    P = xpnet.to_numpy(model.predict(X))
    python_labels = np.asarray(model.classes)[P.argmax(axis=1)]
    assert [str(v) for v in python_labels] == cli_labels
    assert (python_labels == labels).mean() > 0.9
    assert sorted(map(str, model.classes)) == sorted(map(str, names))
    assert isinstance(model.layers[0], xpnet.Standardize)
    table = summary(model)
    assert "Standardize(3)" in table and f"classes: {', '.join(map(str, model.classes))}" in table
    assert "S0 = (X - mean) / std" in str(xpnet.explain(model))


def test_standardize_is_a_layer_gradcheck_passes_through(backend):
    X, y = _unscaled(n=12)
    y = (y > 0).astype(int)
    model = xpnet.Sequential(xpnet.Standardize(X.mean(axis=0), X.std(axis=0), backend=backend),
                             *xpnet.mlp([3, 4, 1], "tanh", "sigmoid", seed=0,
                                        backend=backend).layers)
    assert list(model.params) == ["1.W", "1.b", "3.W", "3.b"]  # mean and std are not trained
    errors = xpnet.gradcheck(model, "binary_crossentropy", X, y)
    assert max(errors.values()) < 1e-6
    # forward and dX = dY / std against plain NumPy: test_oracles.py's "standardize" case
    with pytest.raises(ValueError, match="std"):
        xpnet.Standardize([0.0, 1.0], [1.0, 0.0])


# -- 3. an integer regression target ----------------------------------------------------------------

def test_an_integer_target_with_many_values_is_regression_and_says_why(in_tmp, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 2))
    y = np.round(X[:, 0] * 5 + X[:, 1] * 3).astype(int)  # ~33 distinct integers, like diabetes's
    _write_csv(in_tmp / "d.csv", ["a", "b", "y"], [[*r, v] for r, v in zip(X, y, strict=True)])
    assert main(["train", "d.csv", "--epochs", "2", "--plot", "", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"task: regression (auto: an integer target with {len(set(y))} distinct values" in out
    assert "linear output, mse" in out
    assert main(["train", "d.csv", "--epochs", "2", "--plot", "", "--quiet", "--task",
                 "classify"]) == 0
    out = capsys.readouterr().out
    assert f"task: classification, {len(set(y))} classes (--task classify)" in out
    assert "softmax output, crossentropy" in out
    assert main(["train", "d.csv", "--task", "maybe"]) == 2


# -- 4. a CSV sorted by class -----------------------------------------------------------------------

def test_a_validation_split_of_one_class_is_warned_about(backend):
    X, y = xpnet.datasets.two_moons(n=200, seed=0)
    order = np.argsort(y, kind="stable")  # sorted by class: the last 20% are all class 1
    model = xpnet.mlp([2, 4, 1], output="sigmoid", seed=0, backend=backend)
    with pytest.warns(UserWarning, match="hold only class 1: are the rows sorted by class"):
        model.fit(X[order], y[order], loss="binary_crossentropy", epochs=1, verbose=0,
                  validation_split=0.2)


def test_the_command_shuffles_a_sorted_csv_before_the_split(in_tmp, capsys):
    X, y = xpnet.datasets.two_moons(n=300, seed=0)
    order = np.argsort(y, kind="stable")
    _write_csv(in_tmp / "sorted.csv", ["a", "b", "y"],
               [[*r, v] for r, v in zip(X[order], y[order], strict=True)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert main(["train", "sorted.csv", "--epochs", "3", "--plot", "", "--quiet"]) == 0
    assert "validation: a random 20% of the rows (shuffled with --seed 0)" in \
        capsys.readouterr().out


# -- 5. resume() without the original options ------------------------------------------------------

def test_resume_reuses_the_options_the_checkpoint_was_written_under(backend, tmp_path):
    X, y = xpnet.datasets.two_moons(n=120, seed=0)
    options = dict(loss="binary_crossentropy", batch_size=16, validation_split=0.2,
                   metrics=("accuracy", "f1"), verbose=0)
    full = xpnet.mlp([2, 8, 1], "relu", "sigmoid", seed=0, backend=backend)
    expected = full.fit(X, y, optimizer=xpnet.optim.SGD(lr=0.1, momentum=0.9), epochs=6, seed=1,
                        **options)
    first = xpnet.mlp([2, 8, 1], "relu", "sigmoid", seed=0, backend=backend)
    first.fit(X, y, optimizer=xpnet.optim.SGD(lr=0.1, momentum=0.9), epochs=3, seed=1,
              callbacks=[xpnet.ModelCheckpoint(tmp_path / "ckpt.xpnet")], **options)
    model, history = xpnet.resume(tmp_path / "ckpt.xpnet", X, y, epochs=6, verbose=0)
    assert sorted(history.history) == sorted(expected.history)  # val_* and f1 included
    for key, values in expected.history.items():
        np.testing.assert_allclose(history[key], values, rtol=1e-5)

    for wrong in ({"loss": "mse"}, {"optimizer": "adam"}, {"seed": 3}):
        with pytest.raises(ValueError, match="cannot be given: the checkpoint"):
            xpnet.resume(tmp_path / "ckpt.xpnet", X, y, epochs=6, **wrong)
    with pytest.raises(ValueError, match="already holds 3 epochs"):
        xpnet.resume(tmp_path / "ckpt.xpnet", X, y, epochs=3)


def test_resume_keeps_a_logits_loss_and_needs_validation_data_again(backend, tmp_path):
    X, y = xpnet.datasets.two_moons(n=80, seed=0)
    model = xpnet.mlp([2, 8, 1], seed=0, backend=backend)  # logits
    loss = xpnet.losses.BinaryCrossEntropy(from_logits=True)
    model.fit(X[:60], y[:60], loss=loss, epochs=2, verbose=0, validation_data=(X[60:], y[60:]),
              callbacks=[xpnet.ModelCheckpoint(tmp_path / "c.xpnet")])
    with pytest.raises(ValueError, match="pass the same validation_data"):
        xpnet.resume(tmp_path / "c.xpnet", X[:60], y[:60], epochs=4)
    resumed, history = xpnet.resume(tmp_path / "c.xpnet", X[:60], y[:60], epochs=4, verbose=0,
                                    validation_data=(X[60:], y[60:]),
                                    callbacks=[xpnet.ModelCheckpoint(tmp_path / "d.xpnet")])
    assert len(history["val_loss"]) == 4
    # a checkpoint written by the resumed run holds all four epochs, and resumes again
    again, history = xpnet.resume(tmp_path / "d.xpnet", X[:60], y[:60], epochs=5, verbose=0,
                                  validation_data=(X[60:], y[60:]))
    assert len(history["loss"]) == 5


# -- 8. Ctrl-C during xpnet train ------------------------------------------------------------------

def _command(*args, **kwargs):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, "-m", "xpnet.cli", *args], env=env, text=True,
                            **kwargs)


def test_ctrl_c_saves_the_model_and_a_checkpoint_that_resumes(in_tmp):
    run = _command("train", "--epochs", "100000", "--plot", "", "--seed", "1",
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in run.stdout:  # wait for real training progress, then press Ctrl-C
        if line.startswith("epoch") and line.split()[1].startswith("3/"):
            break
    run.send_signal(signal.SIGINT)
    out, err = run.communicate()
    assert run.returncode == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("xpnet: interrupted after ") and "of 100000 epochs" in lines[0]
    assert "model written to model.xpnet, checkpoint to model.xpnet.ckpt" in lines[0]
    done = int(lines[0].split("after ")[1].split()[0])
    assert done >= 3
    assert xpnet.load("model.xpnet").classes == [0, 1]

    assert main(["train", "--resume", "model.xpnet.ckpt", "--epochs", str(done + 2), "--plot", "",
                 "--quiet"]) == 0
    history = xpnet.load_checkpoint("model.xpnet")[2]["history"]
    assert len(history["loss"]) == done + 2 and len(history["val_loss"]) == done + 2


def test_checkpoint_and_early_stopping_options(in_tmp, capsys):
    assert main(["train", "--epochs", "60", "--plot", "", "--quiet", "--checkpoint", "c.xpnet",
                 "--early-stopping", "2", "--lr", "0.2"]) == 0
    history = xpnet.load_checkpoint("model.xpnet")[2]["history"]
    assert len(history["loss"]) < 60  # stopped early
    extra = xpnet.load_checkpoint("c.xpnet")[2]
    assert extra["epoch"] == len(history["loss"]) and extra["cli"]["features"] == ["x1", "x2"]


# -- 9. bad destinations are found before training --------------------------------------------------

@pytest.mark.parametrize("option, value, message", [
    ("--out", "nodir/m.xpnet", "--out nodir/m.xpnet: the directory nodir does not exist"),
    ("--plot", "nodir/p.png", "--plot nodir/p.png: the directory nodir does not exist"),
    ("--checkpoint", "nodir/c.xpnet", "--checkpoint nodir/c.xpnet: the directory nodir"),
    ("--out", ".", "--out .: is a directory"),
])
def test_a_bad_destination_stops_the_command_before_the_first_step(in_tmp, capsys, option,
                                                                    value, message):
    assert main(["train", "--epochs", "3", option, value]) == 2
    captured = capsys.readouterr()
    assert "epoch" not in captured.out and "accuracy" not in captured.out  # nothing trained
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"xpnet: error: {message}")
    assert ".tmp" not in captured.err


@pytest.mark.parametrize("where, error, message", [
    ("nodir/c.xpnet", FileNotFoundError, "the folder .*nodir does not exist"),
    ("nodir/c-{epoch}.xpnet", FileNotFoundError, "the folder .*nodir does not exist"),
    (".", ValueError, "it is not a regular file"),
])
def test_a_bad_checkpoint_path_is_refused_before_the_first_step(backend, in_tmp, where, error,
                                                                 message):
    X, y = xpnet.datasets.two_moons(n=40, seed=0)
    model = xpnet.mlp([2, 4, 1], "tanh", "sigmoid", seed=0, backend=backend)
    before = {k: xpnet.to_numpy(v).copy() for k, v in model.params.items()}
    (in_tmp / "log.csv").write_text("kept\n")
    with pytest.raises(error, match=f"ModelCheckpoint path: cannot save to .*: {message}"):
        model.fit(X, y, loss="binary_crossentropy", epochs=2, verbose=0,
                  callbacks=[xpnet.CSVLogger("log.csv"), xpnet.ModelCheckpoint(where)])
    assert (in_tmp / "log.csv").read_text() == "kept\n"  # no callback has started either
    for key, value in model.params.items():
        np.testing.assert_array_equal(xpnet.to_numpy(value), before[key])


# -- 10. xpnet predict | head -1 ------------------------------------------------------------------

def test_predict_into_a_closed_pipe_exits_quietly(in_tmp):
    X, y = xpnet.datasets.two_moons(n=200, seed=0)
    assert main(["train", "--epochs", "1", "--plot", "", "--quiet"]) == 0
    many = np.tile(X, (40, 1))  # 8000 rows: more than a pipe buffer holds
    _write_csv(in_tmp / "many.csv", ["x1", "x2"], many.tolist())
    run = _command("predict", "model.xpnet", "many.csv", stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
    assert run.stdout.readline().startswith("prediction")
    run.stdout.close()  # what `| head -1` does
    err = run.stderr.read()
    run.wait()
    assert err == "" and run.returncode == 141


# -- 11. examples without what they need -------------------------------------------------------------

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _example(name, *args, block=()):
    """Run an example as a user does, with the modules in ``block`` not importable."""
    code = (f"import sys, runpy; sys.modules.update(dict.fromkeys({list(block)!r})); "
            f"sys.argv = [{name!r}, *{list(args)!r}]; "
            f"runpy.run_path({os.path.join(EXAMPLES, name)!r}, run_name='__main__')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("name", ["seed_network.py", "digits.py"])
def test_an_example_given_an_unavailable_backend_says_so_in_one_line(name):
    missing = [n for n in xpnet.backend.NAMES if n not in xpnet.backend.available()]
    if not missing:
        pytest.skip("every backend is available here")
    args = ["--backend", missing[0]] if name == "seed_network.py" else [missing[0]]
    done = _example(name, *args)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"backend {missing[0]!r} is not available here" in lines[0]


@pytest.mark.parametrize("name, block, install", [
    ("digits.py", ["sklearn"], "pip install 'xpnet[sklearn]'"),
    ("dask_grid_search.py", ["joblib", "distributed"], "pip install 'xpnet[sklearn,dask]'"),
])
def test_an_example_without_its_extras_says_what_to_install(name, block, install):
    done = _example(name, block=block)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and install in lines[0]


# -- 6. the doctor names the learning rate -----------------------------------------------------------

def test_the_doctor_blames_the_learning_rate_not_the_initialiser(in_tmp, capsys):
    assert main(["train", "--diagnose", "--lr", "100", "--optimizer", "sgd", "--plot", "",
                 "--quiet"]) == 0
    report = capsys.readouterr().out.split("xpnet diagnose: ")[1]
    first = report.splitlines()[1]
    assert first.startswith("  ERROR lr_too_high: one step moved") and "lr=100" in report
    assert "initialiser such as U[0, 1)" not in report  # the model never had one
    for line in report.splitlines():
        if line.startswith("  WARNING") and "after training" in line:
            advice = report.splitlines()[report.splitlines().index(line) + 1]
            assert "see lr_too_high" in advice


def test_the_doctor_is_quiet_on_healthy_models():
    """False positives over 100 seeds of a healthy model: the question's 2-5-5-1 sigmoid network,
    zero-mean initialisation, standardised two moons, Adam at the command's default lr 0.02.
    Measured: 0 of 100 runs with any finding (at 100 epochs on 1000 samples, the command's
    default, also 0 of 100; see the commit message)."""
    flagged = []
    for seed in range(100):
        X, y = xpnet.datasets.two_moons(n=200, noise=0.15, seed=seed)
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        model = xpnet.mlp([2, 5, 5, 1], "sigmoid", "sigmoid", seed=seed, backend="numpy")
        doctor = xpnet.Diagnostics(X, y, every=10)
        model.fit(X, y, loss="binary_crossentropy", optimizer=xpnet.optim.Adam(lr=0.02),
                  epochs=20, seed=seed, verbose=0, callbacks=[doctor], metrics=())
        if doctor.report.rules:
            flagged.append((seed, sorted(doctor.report.rules)))
    assert flagged == [], f"false-positive rate {len(flagged)}/100: {flagged}"


# -- friction -----------------------------------------------------------------------------------------

def test_info_on_a_model_file(in_tmp, capsys):
    assert main(["train", "--epochs", "2", "--plot", "", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", "model.xpnet"]) == 0
    out = capsys.readouterr().out
    for text in ("model.xpnet: xpnet model file, float32", "Standardize(2)", "Dense(2, 5)",
                 "classes: 0, 1", "preprocessing: Standardize", "features: x1, x2; target: label",
                 "trained for 2 epochs"):
        assert text in out, text


def test_info_reports_a_bad_xpnet_backend_and_exits_0():
    env = {**os.environ, "XPNET_BACKEND": "nonsense", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "xpnet.cli", "info"], capture_output=True,
                          text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "numpy             yes" in done.stdout
    assert "default backend: none: XPNET_BACKEND='nonsense'" in done.stdout


def test_cupy_reads_the_same_in_the_error_and_in_info(capsys):
    if "cupy" in xpnet.backend.available():
        pytest.skip("cupy is usable here")
    with pytest.raises(ValueError) as err:
        xpnet.backend.get("cupy")
    assert main(["info"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("cupy"))
    reason = line.split(None, 3)[3]
    assert reason in str(err.value)


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 0.02)", "(default: 100)", "(default: 32)", "(default: 0.2)",
                    "(default: model.xpnet)", "(default: auto)", "(default: adam)"):
        assert default in out, default


def test_semicolon_and_tab_csvs_with_text_labels(in_tmp, capsys):
    X, y = xpnet.datasets.two_moons(n=120, seed=0)
    labels = np.array(["no", "yes"])[y]
    for name, delimiter in (("semi.csv", ";"), ("tab.tsv", "\t")):
        _write_csv(in_tmp / name, ["a", "b", "answer"],
                   [[*r, v] for r, v in zip(X, labels, strict=True)], delimiter=delimiter)
        assert main(["train", name, "--epochs", "2", "--plot", "", "--quiet"]) == 0
        assert "task: classification, 2 classes (auto: the target holds text labels)" in \
            capsys.readouterr().out
        assert xpnet.load("model.xpnet").classes == ["no", "yes"]
    X2, y2, names = xpnet.datasets.load_csv(in_tmp / "semi.csv", delimiter=";")
    assert names == ["a", "b"] and y2.tolist() == labels.tolist()
    (in_tmp / "mixed.csv").write_text("a,y\n1,2\n2,x\n")
    with pytest.raises(ValueError, match="mixed.csv, line 3, column 'y': 'x' is not a number"):
        xpnet.datasets.load_csv(in_tmp / "mixed.csv")


def test_evaluate_on_a_loaded_model_uses_the_loss_it_was_trained_with(backend, tmp_path):
    X, y = xpnet.datasets.two_moons(n=100, seed=0)
    model = xpnet.mlp([2, 8, 1], seed=0, backend=backend)  # logits
    loss = xpnet.losses.BinaryCrossEntropy(from_logits=True)
    model.fit(X, y, loss=loss, epochs=3, verbose=0)
    model.save(tmp_path / "m.xpnet")
    loaded = xpnet.load(tmp_path / "m.xpnet", backend=backend)
    assert loaded.evaluate(X, y)["loss"] == pytest.approx(model.evaluate(X, y, loss=loss)["loss"])


def test_layers_means_hidden_sizes_everywhere_and_says_so(in_tmp, capsys):
    assert main(["train", "--layers", "2,5,5,1", "--epochs", "1", "--plot", "", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "2 -> 2 -> 5 -> 5 -> 1 -> 1" in out
    assert "note: --layers is the hidden sizes" in out and "give --layers 5,5" in out
    assert main(["explain", "--layers", "5,5"]) == 0
    assert "X (m, 2) -> Dense(2, 5) -> Sigmoid -> Dense(5, 5) -> Sigmoid -> Dense(5, 1)" in \
        capsys.readouterr().out
