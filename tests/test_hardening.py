"""Issue 11's breaks, one regression test each: optimizer-state divergence, memmaps streamed
through every path, memory budget on load, temp-file hygiene, non-regular save targets, and
files (model, checkpoint, the command's) validated when loaded."""

import json
import math
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

import xpnet
from xpnet import backend as B
from xpnet import datasets, optim
from xpnet import io as xio
from xpnet.cli import main
from xpnet.layers import Dense, Sequential

NUMPY = B.get("numpy")
ONLY_NUMPY_SESSION = pytest.mark.skipif(
    os.environ.get("XPNET_BACKEND", "numpy") != "numpy",
    reason="NumPy-only measurement (tracemalloc sees NumPy's allocations): run in the numpy session")


def _run_python(code, *args, **kwargs):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=120, **kwargs)


# -- 1. optimizer state that overflows is a divergence -------------------------------------------

@pytest.mark.parametrize("make", [lambda: optim.Adam(lr=0.01), lambda: optim.RMSprop(lr=0.01)],
                         ids=["Adam", "RMSprop"])
def test_optimizer_state_overflow_is_a_divergence_error(backend, make, tmp_path):
    # gradients of ~1e21, finite, whose squares overflow float32 (issue 11 found it with a linear
    # output under binary cross-entropy, which fit now refuses; unscaled data does the same):
    # the loss (~1e36) and the parameters stay finite, and every update is 0
    X, y = datasets.two_moons(n=100, seed=0)
    X, y = X * 1e3, y * 1e18
    model = xpnet.mlp([2, 5, 1], seed=0, backend=backend)
    start = {k: xpnet.to_numpy(v).copy() for k, v in model.params.items()}
    optimizer = make()
    checkpoint = xpnet.ModelCheckpoint(tmp_path / "ckpt-{epoch}.xpnet", monitor="loss")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no NumPy overflow warning before the error
        with pytest.raises(xpnet.DivergenceError, match="optimizer state") as info:
            model.fit(X, y, loss="mse", optimizer=optimizer, epochs=5, callbacks=[checkpoint],
                      verbose=0, metrics=())
    assert (info.value.epoch, info.value.step) == (0, 0)
    for key, value in model.params.items():  # the last finite parameters: those before step 1
        np.testing.assert_array_equal(xpnet.to_numpy(value), start[key], err_msg=key)
    state = optimizer.state_dict()
    assert state["step"] == 0
    assert all(np.isfinite(xpnet.to_numpy(a)).all() for s in state["slots"].values()
               for a in s.values())
    assert list(tmp_path.iterdir()) == []  # no checkpoint of a frozen run


# -- 2-4. memmaps are streamed by every path -----------------------------------------------------

def _memmap(path, rows, cols=4, dtype=np.float32):
    X = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(rows, cols))
    X[:] = np.random.default_rng(0).normal(size=(rows, cols))
    X.flush()
    return np.load(path, mmap_mode="r")


@ONLY_NUMPY_SESSION
def test_memmap_fit_with_validation_split_predict_and_evaluate_stay_streamed(tmp_path):
    """Each call allocates (tracemalloc's peak: every NumPy array it makes) less than a tenth of
    the memmap it reads: the data is never made resident. On the old code each took 1.1x the file
    (validation_split dropped the memmap; predict and evaluate took it as one batch)."""
    child = r"""
        import sys, tracemalloc, numpy as np, xpnet
        path, rows, cols = sys.argv[1], 250_000, 256  # 244 MiB
        X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, cols))
        for s in range(0, rows, 50_000):
            X[s:s + 50_000] = np.random.default_rng(s).standard_normal((50_000, cols), np.float32)
        X.flush(); del X
        X = np.load(path, mmap_mode="r")
        y = (np.asarray(X[:, 0]) > 0).astype(np.int64)
        model = xpnet.mlp([cols, 4, 1], output="sigmoid", seed=0, backend="numpy")
        size = X.nbytes
        calls = {
            "fit": lambda: model.fit(X, y, loss="binary_crossentropy", epochs=1, batch_size=2048,
                                     validation_split=0.2, verbose=0),
            "predict": lambda: model.predict(X),
            "evaluate": lambda: model.evaluate(X, y, loss="binary_crossentropy"),
        }
        tracemalloc.start()
        for name, call in calls.items():
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            call()
            print(name, size / (tracemalloc.get_traced_memory()[1] - base))
    """
    done = _run_python(child, tmp_path / "X.npy")
    assert done.returncode == 0, done.stderr
    ratios = {name: float(r) for name, r in (line.split() for line in done.stdout.splitlines())}
    assert set(ratios) == {"fit", "predict", "evaluate"}
    assert all(r >= 10 for r in ratios.values()), ratios


def test_validation_split_keeps_a_memmap_a_memmap(backend, tmp_path, monkeypatch):
    from xpnet import train

    X = _memmap(tmp_path / "X.npy", 64, 2)
    y = np.arange(64) % 2
    seen = []
    original = train._Data.__init__

    def spy(self, model, loss, X, *args, **kwargs):
        seen.append(type(X))
        original(self, model, loss, X, *args, **kwargs)

    monkeypatch.setattr(train._Data, "__init__", spy)
    model = xpnet.mlp([2, 3, 1], output="sigmoid", seed=0, backend=backend)
    model.fit(X, y, loss="binary_crossentropy", epochs=1, validation_split=0.25, verbose=0)
    assert seen == [np.memmap, np.memmap]


def test_memmap_results_equal_in_memory_results(backend, tmp_path):
    X = _memmap(tmp_path / "X.npy", 300, 2)
    y = (np.asarray(X[:, 0]) > 0).astype(int)
    runs = []
    for data in (X, np.array(X)):
        model = xpnet.mlp([2, 4, 1], output="sigmoid", seed=0, backend=backend)
        history = model.fit(data, y, loss="binary_crossentropy", epochs=2, validation_split=0.2,
                            seed=0, verbose=0)
        runs.append((history.history, xpnet.to_numpy(model.predict(data)),
                     model.evaluate(data, y)))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-6)
    assert runs[0][2] == pytest.approx(runs[1][2], rel=1e-6)


def test_empty_memmap_is_refused_before_any_callback(backend, tmp_path):
    X = _memmap(tmp_path / "X.npy", 0, 2)
    log = tmp_path / "log.csv"
    log.write_text("kept\n")
    model = xpnet.mlp([2, 3, 1], output="sigmoid", seed=0, backend=backend)
    with pytest.raises(ValueError, match="X is empty"):
        model.fit(X, np.zeros(0), loss="binary_crossentropy", epochs=1, verbose=0,
                  callbacks=[xpnet.CSVLogger(log)])
    assert log.read_text() == "kept\n"
    with pytest.raises(ValueError, match="X is empty"):
        model.predict(X)
    with pytest.raises(ValueError, match="X is empty"):
        model.evaluate(X, np.zeros(0), loss="binary_crossentropy")
    with pytest.raises(ValueError, match="X_val is empty"):
        model.fit(np.zeros((4, 2)), np.zeros(4), loss="binary_crossentropy", epochs=1,
                  validation_data=(X, np.zeros(0)), verbose=0)


def test_memmap_of_the_wrong_shape_is_refused(backend, tmp_path):
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=(8,))
    model = xpnet.mlp([2, 3, 1], output="sigmoid", seed=0, backend=backend)
    for call in (lambda: model.predict(X), lambda: model.evaluate(X, np.zeros(8), loss="mse"),
                 lambda: model.fit(X, np.zeros(8), loss="mse", epochs=1, verbose=0)):
        with pytest.raises(ValueError, match="X must be 2-D"):
            call()


# -- 5. a memory budget on load ------------------------------------------------------------------

def _deflated_zeros(path, n_in, n_out):
    """An honest model file of one Dense(n_in, n_out) of zeros, deflated to almost nothing."""
    model = Sequential(Dense(2, 1, backend=NUMPY))
    xio.save(model, path)
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("xpnet.json"))
    meta["architecture"]["config"]["layers"][0]["config"].update(n_in=n_in, n_out=n_out)
    meta["params"]["0.W"]["shape"], meta["params"]["0.b"]["shape"] = [n_in, n_out], [n_out]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xpnet.json", json.dumps(meta))
        for member, shape in (("params/0.W.npy", (n_in, n_out)), ("params/0.b.npy", (n_out,))):
            with archive.open(member, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.zeros(shape, np.float32))


def test_load_holds_each_array_once(tmp_path):
    """Old code: the model's own zero-initialised weights beside the file's (2.0x the arrays)."""
    _deflated_zeros(tmp_path / "big.xpnet", 2048, 4096)  # 32 MiB of weights, 33 KiB of file
    size = 2048 * 4096 * 4
    assert os.path.getsize(tmp_path / "big.xpnet") < size / 100
    tracemalloc.start()
    try:
        model = xio.load(tmp_path / "big.xpnet", backend="numpy")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert model.params["0.W"].shape == (2048, 4096)
    assert peak < 1.2 * size, peak / size


def test_max_bytes_refuses_a_file_before_reading_its_arrays(tmp_path, monkeypatch):
    _deflated_zeros(tmp_path / "big.xpnet", 2048, 4096)
    monkeypatch.setattr(xio, "_read_npy", lambda *a: pytest.fail("an array was read"))
    with pytest.raises(ValueError, match=r"big.xpnet: .* more than max_bytes=1000000"):
        xio.load(tmp_path / "big.xpnet", max_bytes=1_000_000)
    with pytest.raises(ValueError, match="max_bytes must be an int"):
        xio.load(tmp_path / "big.xpnet", max_bytes=-1)


def test_default_max_bytes_is_documented():
    assert xio.MAX_ARRAY_BYTES == 2 * 1024**3
    assert "max_bytes" in xio.load.__doc__ and "2 GiB" in xio.load.__doc__


# -- 6. temporary files never pile up ------------------------------------------------------------

def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_save_removes_temp_files_of_dead_processes_only(tmp_path):
    path = tmp_path / "model.xpnet"
    stale = tmp_path / f".model.xpnet.{_dead_pid()}.abcd_123.tmp"  # left by a SIGKILL
    live = tmp_path / f".model.xpnet.{os.getppid()}.abcd_123.tmp"  # a save still running
    other = tmp_path / f".other.xpnet.{_dead_pid()}.abcd_123.tmp"  # not this file's
    for file in (stale, live, other):
        file.write_bytes(b"partial")
    xio.save(Sequential(Dense(2, 1, backend=NUMPY)), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [path.name, live.name, other.name])


def test_sigterm_during_a_save_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "model.xpnet"
    xio.save(Sequential(Dense(2, 1, backend=NUMPY)), path)
    before = path.read_bytes()
    child = r"""
        import os, signal, sys, numpy as np, xpnet
        from xpnet import io as xio
        write = np.lib.format.write_array
        def killed(*args, **kwargs):
            write(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGTERM)  # mid-save, after the first array
        np.lib.format.write_array = killed
        xio.save(xpnet.mlp([2, 30, 1], seed=0, backend="numpy"), sys.argv[1])
        print("survived")
    """
    done = _run_python(child, path)
    assert done.returncode == -signal.SIGTERM, (done.returncode, done.stderr)
    assert "survived" not in done.stdout
    assert os.listdir(tmp_path) == ["model.xpnet"]
    assert path.read_bytes() == before


# -- 7. save refuses what it should not replace --------------------------------------------------

def test_save_through_a_symlink_writes_the_target_and_keeps_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    target, link = tmp_path / "real" / "model.xpnet", tmp_path / "link.xpnet"
    target.write_bytes(b"old")
    link.symlink_to(target)
    xio.save(Sequential(Dense(2, 1, backend=NUMPY)), link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert xio.load(target).params["0.W"].shape == (2, 1)
    assert sorted(os.listdir(tmp_path / "real")) == ["model.xpnet"]


def test_save_refuses_a_read_only_file_and_keeps_it(tmp_path):
    path = tmp_path / "model.xpnet"
    path.write_bytes(b"precious")
    path.chmod(0o444)
    with pytest.raises(PermissionError, match=f"{path}: the file is read-only"):
        xio.save(Sequential(Dense(2, 1, backend=NUMPY)), path)
    assert path.read_bytes() == b"precious" and (path.stat().st_mode & 0o777) == 0o444
    assert os.listdir(tmp_path) == ["model.xpnet"]


@pytest.mark.parametrize("kind", ["fifo", "directory", "socket"])
def test_save_refuses_a_target_that_is_not_a_regular_file(tmp_path, kind):
    # (never a real device here: the old code, run as root, replaced /dev/null with a file)
    path = tmp_path / "target"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
    with pytest.raises(ValueError, match="it is not a regular file"):
        xio.save(Sequential(Dense(2, 1, backend=NUMPY)), path)
    assert not os.path.isfile(path) and os.listdir(tmp_path) == ["target"]
    if kind == "socket":
        server.close()


def test_save_into_a_missing_folder_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "model.xpnet"
    with pytest.raises(FileNotFoundError, match=f"cannot save to {path}") as info:
        xio.save(Sequential(Dense(2, 1, backend=NUMPY)), path)
    assert ".tmp" not in str(info.value) and info.value.filename == str(path)


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_load_of_a_directory_or_pipe_is_a_value_error(tmp_path, kind):
    path = tmp_path / "thing"
    path.mkdir() if kind == "directory" else os.mkfifo(path)
    writer = threading.Thread(target=path.write_bytes, args=(b"junk",))
    if kind == "fifo":  # a writer, so that opening the pipe (as the old code did) cannot hang
        writer.start()
    try:
        with pytest.raises(ValueError, match="thing is (a directory|not a regular file)"):
            xio.load(path)
    finally:
        if kind == "fifo":  # release the writer if load never opened the pipe
            reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            writer.join()
            os.close(reader)


def test_a_file_whose_layer_config_overflows_is_refused(tmp_path):
    path = tmp_path / "m.xpnet"
    xio.save(Sequential(Dense(2, 2, backend=NUMPY), xpnet.LeakyReLU(0.1)), path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    meta = json.loads(members["xpnet.json"])
    meta["architecture"]["config"]["layers"][1]["config"]["slope"] = 1e308
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in {**members, "xpnet.json": json.dumps(meta).encode()}.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match=r"m.xpnet: layer 1 \(LeakyReLU\): slope must be"):
        xio.load(path)


# -- 8. the command validates what `train` recorded ----------------------------------------------

def _trained_file(path, n_out=1, **changes):
    model = xpnet.mlp([2, 3, n_out], output="sigmoid" if n_out == 1 else "softmax", seed=0,
                      backend=NUMPY)
    extra = {"features": ["a", "b"], "target": "t", "mean": [0.0, 0.0], "std": [1.0, 1.0],
             "classes": [3, 7] if n_out == 1 else list(range(n_out)), "history": {}}
    xio.save(model, path, extra={**extra, **changes})


@pytest.mark.parametrize("changes, field", [
    ({"classes": []}, "classes"), ({"classes": [7]}, "classes"), ({"classes": {"a": 1}}, "classes"),
    ({"classes": [1, 1]}, "classes"), ({"classes": [[1], 2]}, "classes"),
    ({"mean": [0.0]}, "mean"), ({"std": [1.0, 1.0, 1.0]}, "std"), ({"std": [1.0, 0.0]}, "std"),
    ({"mean": ["x", 1]}, "mean"), ({"features": ["a"]}, "features"),
    ({"features": "ab"}, "features"),
])
def test_predict_refuses_a_file_whose_records_do_not_match_the_network(tmp_path, capsys, changes,
                                                                       field):
    _trained_file(tmp_path / "m.xpnet", **changes)
    (tmp_path / "new.csv").write_text("a,b\n1,2\n3,4\n")
    assert main(["predict", str(tmp_path / "m.xpnet"), str(tmp_path / "new.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"xpnet: error: {tmp_path / 'm.xpnet'}: {field} must be"), err
    assert len(err.splitlines()) == 1


def test_predict_accepts_a_consistent_file(tmp_path, capsys):
    _trained_file(tmp_path / "m.xpnet", n_out=3)
    (tmp_path / "new.csv").write_text("a,b\n1,2\n3,4\n")
    assert main(["predict", str(tmp_path / "m.xpnet"), str(tmp_path / "new.csv")]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "prediction,p(0),p(1),p(2)"


# -- 9. a damaged checkpoint is a ValueError naming the file -------------------------------------

def _checkpoint(tmp_path, backend, epochs=2):
    X, y = datasets.two_moons(n=32, seed=0)
    model = Sequential(Dense(2, 4, seed=0, backend=backend), xpnet.Dropout(0.2, seed=1),
                       Dense(4, 1, seed=2, backend=backend), xpnet.layers.Sigmoid())
    model.fit(X, y, loss="binary_crossentropy", epochs=epochs, batch_size=8, verbose=0, seed=0,
              callbacks=[xpnet.ModelCheckpoint(tmp_path / "ckpt.xpnet", monitor="loss")])
    return tmp_path / "ckpt.xpnet", X, y


def _edit_extra(path, **changes):
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    meta = json.loads(members["xpnet.json"])
    meta["extra"].update(changes)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in {**members, "xpnet.json": json.dumps(meta).encode()}.items():
            archive.writestr(name, data)


@pytest.mark.parametrize("changes, field", [
    ({"random_states": "x"}, "random_states"), ({"random_states": []}, "random_states"),
    ({"random_states": [{"bit_generator": "PCG64"}, {}]}, r"random_states\[0\]"),
    ({"history": [1, 2]}, "history"), ({"history": {"loss": "abc"}}, "history"),
    ({"history": {"loss": [1.0]}}, "history"), ({"epoch": "2"}, "epoch"), ({"epoch": 0}, "epoch"),
    ({"loss": "nope"}, "loss"), ({"loss": 3}, "loss"),
])
def test_resume_refuses_a_damaged_checkpoint(backend, tmp_path, changes, field):
    path, X, y = _checkpoint(tmp_path, backend)
    _edit_extra(path, **changes)
    with pytest.raises(ValueError, match=f"ckpt.xpnet: damaged checkpoint: {field}"):
        xpnet.resume(path, X, y, epochs=4, batch_size=8, verbose=0, backend=backend)


def test_resume_from_the_final_checkpoint_says_the_run_is_complete(backend, tmp_path):
    path, X, y = _checkpoint(tmp_path, backend)
    with pytest.raises(ValueError, match="the run is already complete: .*ckpt.xpnet already "
                                         "holds 2 epochs, and epochs=2"):
        xpnet.resume(path, X, y, epochs=2, verbose=0, backend=backend)


def _resumes_or_value_error(path, X, y):
    try:
        xpnet.resume(path, X, y, epochs=3, batch_size=8, verbose=0, backend="numpy")
    except ValueError as err:
        return str(err)
    return None


def test_damaged_checkpoints_give_only_value_errors(tmp_path):
    """400 checkpoints with random JSON edits of their training state and 300 with random byte
    flips: loading and resuming gives a clean ValueError or a sane run, never another error."""
    from test_io import _POOL, _nodes

    path, X, y = _checkpoint(tmp_path, NUMPY)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    nodes = [n for n in _nodes(json.loads(members["xpnet.json"]))
             if n[:1] in (("extra",), ("optimizer",)) and len(n) > 1]
    rng = np.random.default_rng(11)
    mutant, refused = tmp_path / "mutant.xpnet", 0
    for _ in range(400):
        meta = json.loads(members["xpnet.json"])
        where = nodes[rng.integers(len(nodes))]
        parent = meta
        for step in where[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and rng.random() < 0.2:
            del parent[where[-1]]
        else:
            parent[where[-1]] = _POOL[rng.integers(len(_POOL))]
        with zipfile.ZipFile(mutant, "w") as archive:
            for name, data in {**members, "xpnet.json": json.dumps(meta).encode()}.items():
                archive.writestr(name, data)
        refused += _resumes_or_value_error(mutant, X, y) is not None
    data = path.read_bytes()
    for _ in range(300):
        flipped = bytearray(data)
        for i in rng.integers(0, len(data), size=rng.integers(1, 4)):
            flipped[i] = int(rng.integers(0, 256))
        mutant.write_bytes(bytes(flipped))
        refused += _resumes_or_value_error(mutant, X, y) is not None
    assert refused > 350  # most edits are caught, not silently accepted


# -- also: integral scalars and flags ------------------------------------------------------------

def test_numpy_integers_are_accepted_and_bools_refused_as_counts(backend):
    X, y = datasets.two_moons(n=32, seed=0)
    model = xpnet.mlp([2, 3, 1], output="sigmoid", seed=0, backend=backend)
    history = model.fit(X, y, loss="binary_crossentropy", epochs=np.int64(2),
                        batch_size=np.int32(8), verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.predict(X, batch_size=np.int64(5)).shape == (32, 1)
    xpnet.EarlyStopping(patience=np.int64(3))
    with pytest.raises(ValueError, match="epochs must be an int >= 1, got True"):
        model.fit(X, y, loss="binary_crossentropy", epochs=True, verbose=0)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        model.fit(X, y, loss="binary_crossentropy", epochs=1, batch_size=8.0, verbose=0)


@pytest.mark.parametrize("make", [
    lambda m, X, y: m.fit(X, y, loss="binary_crossentropy", epochs=1, shuffle="no", verbose=0),
    lambda m, X, y: xpnet.EarlyStopping(restore_best_weights="yes"),
    lambda m, X, y: xpnet.ModelCheckpoint("x", save_best_only=1),
    lambda m, X, y: xpnet.CSVLogger("x", append="no"),
], ids=["shuffle", "restore_best_weights", "save_best_only", "append"])
def test_flags_take_bools_only(make):
    X, y = datasets.two_moons(n=16, seed=0)
    model = xpnet.mlp([2, 3, 1], output="sigmoid", seed=0, backend=NUMPY)
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(TypeError, match="must be True or False"):
        make(model, X, y)
    assert all((model.params[k] == v).all() for k, v in before.items())


def test_a_monitor_that_is_not_measured_is_refused_before_anything_changes(backend, tmp_path):
    X, y = datasets.two_moons(n=16, seed=0)
    model = xpnet.mlp([2, 3, 1], output="sigmoid", seed=0, backend=backend)
    before = {k: xpnet.to_numpy(v).copy() for k, v in model.params.items()}
    log = tmp_path / "log.csv"
    log.write_text("kept\n")
    for callback in (xpnet.EarlyStopping(), xpnet.ModelCheckpoint(tmp_path / "m", save_best_only=True),
                     xpnet.LearningRateScheduler(optim.ReduceLROnPlateau(), monitor="val_f1")):
        with pytest.raises(ValueError, match="is not measured; available: "
                                             r"\['accuracy', 'loss'(, 'lr')?\]"):
            model.fit(X, y, loss="binary_crossentropy", epochs=2, verbose=0,
                      callbacks=[xpnet.CSVLogger(log), callback])
    assert log.read_text() == "kept\n" and os.listdir(tmp_path) == ["log.csv"]
    for key, value in model.params.items():
        np.testing.assert_array_equal(xpnet.to_numpy(value), before[key])


@pytest.mark.parametrize("pattern", ["ckpt-{step}.xpnet", "ckpt-{0}.xpnet", "ckpt-{epoch.xpnet"])
def test_a_checkpoint_pattern_with_other_fields_is_refused_when_built(pattern):
    with pytest.raises(ValueError, match="path may contain only {epoch}"):
        xpnet.ModelCheckpoint(pattern)


def test_values_the_cast_to_the_models_dtype_overflows_are_named_before_training(backend):
    """Finite float64 data beyond float32's range became inf in the cast: y was checked before
    it (fit then blamed the learning rate in a DivergenceError, evaluate returned inf,
    value_and_grad inf gradients), and X's cast printed NumPy's overflow warning."""
    X, y = datasets.two_moons(n=64, noise=0.15, seed=0)
    target = X[:, 0].copy()
    target[4] = 1e40
    model = xpnet.mlp([2, 4, 1], activation="tanh", seed=0, backend=backend)
    before = {k: xpnet.to_numpy(v).copy() for k, v in model.params.items()}
    calls = [lambda: model.fit(X, target, loss="mse", epochs=1, verbose=0),
             lambda: model.evaluate(X, target, loss="mse"),
             lambda: xpnet.value_and_grad(model, "mse", X, target)]
    for call in calls:
        with pytest.raises(ValueError, match=r"^y\[4\] = 1e\+40 overflows float32"):
            call()
    for key, value in model.params.items():
        np.testing.assert_array_equal(xpnet.to_numpy(value), before[key], err_msg=key)
    X[3, 1] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning: the error explains it
        with pytest.raises(ValueError, match=r"^X\[3, 1\] = 1e\+300 overflows float32"):
            model.predict(X)
    X[3, 1] = np.inf
    with pytest.raises(ValueError, match=r"^X\[3, 1\] is inf: "):
        model.predict(X)


def test_a_bad_value_in_streamed_data_is_named_by_its_row_of_the_whole(backend, tmp_path,
                                                                       monkeypatch):
    """A memmap is checked a block of rows at a time; a NaN was named by its row within its
    block (X[2, 1] for row 50 in blocks of 16) by fit, evaluate and predict."""
    from xpnet import train as _train

    monkeypatch.setattr(_train, "_STREAM_BYTES", 16 * 2 * 8)  # blocks of 16 rows of 2 float64
    X, y = datasets.two_moons(n=64, noise=0.1, seed=0)
    X[50, 1] = np.nan
    mapped = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    mapped[:] = X
    model = xpnet.mlp([2, 4, 1], output="sigmoid", seed=0, backend=backend)
    calls = [lambda: model.fit(mapped, y, loss="binary_crossentropy", epochs=1, verbose=0),
             lambda: model.evaluate(mapped, y, loss="binary_crossentropy"),
             lambda: model.predict(mapped)]
    for call in calls:
        with pytest.raises(ValueError, match=r"^X\[50, 1\] is nan"):
            call()


def test_predict_refuses_a_feature_column_given_twice(tmp_path, capsys):
    """Which of two 'a' columns is meant cannot be told: the first was taken silently."""
    _trained_file(tmp_path / "m.xpnet")
    (tmp_path / "new.csv").write_text("a,b,a\n1,2,9\n")
    assert main(["predict", str(tmp_path / "m.xpnet"), str(tmp_path / "new.csv")]) == 2
    err = capsys.readouterr().err
    assert "the feature column(s) ['a'] appear more than once in the header" in err


def test_arguments_of_the_tools_are_named_when_wrong(tmp_path):
    """Found by trying them: each failed later, or with a message that named nothing."""
    X, y = datasets.two_moons(n=32, noise=0.1, seed=0)
    model = xpnet.mlp([2, 4, 1], output="sigmoid", seed=0, backend=NUMPY)
    with pytest.raises(TypeError, match=r"^extra\['a'\]: cannot save a object"):
        xpnet.ModelCheckpoint(str(tmp_path / "c.xpnet"), extra={"a": object()})  # after epoch 1
    with pytest.raises(TypeError, match="^extra must be a dict, got list"):
        xpnet.ModelCheckpoint(str(tmp_path / "c.xpnet"), extra=[1, 2])
    with pytest.raises(ValueError, match="path may contain only {epoch} as a field"):
        xpnet.ModelCheckpoint(str(tmp_path / "c_{epoch[0]}.xpnet"))  # 'int' not subscriptable
    with pytest.raises(TypeError, match=r"^loss must be a Loss or one of .*; got a ndarray"):
        xpnet.gradcheck(model, X[:4], X[:4], y[:4])  # (model, X, y, loss): "unhashable type"
    with pytest.raises(TypeError, match="^history must be a History or a dict"):
        xpnet.diagnose(model, X, y, history=5)  # 'int' object has no attribute 'get'
    with pytest.raises(ValueError, match=r"^history\['loss'\] must be a list of numbers"):
        xpnet.diagnose(model, X, y, history={"loss": [1.0, "a"]})
    with pytest.raises(ValueError, match="^batch_size must be 'm' or an int >= 1, got 'ndarray'"):
        xpnet.explain(model, X)  # "truth value of an array ... is ambiguous"
    path = os.fsencode(tmp_path / "m.xpnet")  # a bytes path, as load takes: save failed on it
    model.save(path)
    assert xpnet.load(path).dtype == "float32"


def test_a_custom_loss_gets_no_default_accuracy():
    """The default accuracy only where the loss is known to classify: a custom regression loss
    recorded a silent 0.0 (as MSE did)."""
    import array_api_compat

    class MeanAbsoluteError(xpnet.losses.Loss):
        def __call__(self, pred, target):
            xp = array_api_compat.array_namespace(pred)
            diff = pred - xp.reshape(target, pred.shape)
            return xp.mean(xp.abs(diff)), xp.sign(diff) / math.prod(diff.shape)

    X = np.random.default_rng(0).normal(size=(16, 3))
    model = xpnet.mlp([3, 4, 1], seed=0, dtype="float64", backend=NUMPY)
    assert set(model.evaluate(X, X[:, 0], loss=MeanAbsoluteError())) == {"loss"}
    history = model.fit(X, X[:, 0], loss=MeanAbsoluteError(), epochs=1, verbose=0)
    assert set(history.history) == {"loss"}
