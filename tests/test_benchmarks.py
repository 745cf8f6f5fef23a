"""The benchmark's baselines are correct, its command runs, and its GPU script behaves without a GPU.

The hand-written NumPy references of ``benchmarks/reference.py`` must compute the same loss,
gradients and updates as xpnet (float64, same initial parameters): otherwise the benchmark would
compare xpnet with a wrong, and perhaps cheaper, computation. No test here looks at a time.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet import optim

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"xpnet_benchmarks_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _load("reference")
run = _load("run")

# The three workloads' networks at small sizes: hidden activation, output, fused head, loss name.
CASES = {
    "W1": ([2, 5, 5, 1], "sigmoid", "sigmoid", "bce", "binary_crossentropy"),
    "W2": ([12, 8, 8, 3], "relu", "softmax", "ce", "crossentropy"),
    "W3": ([10, 9, 9, 1], "relu", None, "mse", "mse"),
}


def _data(case, m=24):
    """Host data ``(X, y)`` as the benchmark feeds xpnet, and the target as the reference takes it."""
    sizes, _, _, head, _ = CASES[case]
    rng = np.random.default_rng(7)
    if head == "bce":
        X, y = xpnet.datasets.two_moons(m, noise=0.2, seed=1)
        return X, y, y.astype(np.float64)[:, None]
    if head == "ce":
        X = rng.random((m, sizes[0]))
        y = rng.integers(0, sizes[-1], m)
        return X, y, y
    X = rng.standard_normal((m, sizes[0]))
    y = rng.standard_normal(m)
    return X, y, y[:, None]


def _model(case, backend):
    sizes, hidden, output, _, _ = CASES[case]
    return xpnet.mlp(sizes, activation=hidden, output=output, seed=3, backend=backend, dtype="float64")


def _reference(case, model, optimizer="sgd", lr=0.1):
    _, hidden, _, head, _ = CASES[case]
    return reference.numpy_mlp_from_xpnet(model, hidden=hidden, head=head, optimizer=optimizer, lr=lr)


def _assert_params_equal(model, ref, rtol=1e-10, atol=1e-12):
    dense = [i for i, layer in enumerate(model.layers) if "W" in layer.params]
    for i, (W, b) in zip(dense, ref.params, strict=True):
        np.testing.assert_allclose(xpnet.to_numpy(model.params[f"{i}.W"]), W, rtol=rtol, atol=atol)
        np.testing.assert_allclose(xpnet.to_numpy(model.params[f"{i}.b"]), b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_gradients_equal_xpnet(case, backend):
    model = _model(case, backend)
    X, y, y_ref = _data(case)
    value, grads = xpnet.value_and_grad(model, CASES[case][4], X, y)
    ref_value, ref_grads = _reference(case, model).loss_and_grads(X.copy(), y_ref)
    np.testing.assert_allclose(float(value), ref_value, rtol=1e-12)
    _assert_grads_equal(model, grads, ref_grads)


def _assert_grads_equal(model, grads, ref_grads):
    dense = [i for i, layer in enumerate(model.layers) if "W" in layer.params]
    assert len(dense) == len(ref_grads)
    for i, (dW, db) in zip(dense, ref_grads, strict=True):
        np.testing.assert_allclose(xpnet.to_numpy(grads[f"{i}.W"]), dW, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(xpnet.to_numpy(grads[f"{i}.b"]), db, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_gradients_match_its_own_central_differences(case):
    """The reference is right on its own, with no xpnet code: its loss, differentiated
    numerically in float64, gives its gradients."""
    X, _, y_ref = _data(case)
    ref = _reference(case, _model(case, "numpy"))
    _, grads = ref.loss_and_grads(X.copy(), y_ref)
    for p, g in zip(ref.W + ref.b, [dW for dW, _ in grads] + [db for _, db in grads], strict=True):
        numeric = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            original, values = p[i], []
            for step in (1e-6, -1e-6):
                p[i] = original + step
                values.append(ref.loss_and_grads(X.copy(), y_ref)[0])
            p[i] = original
            numeric[i] = (values[0] - values[1]) / 2e-6
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-9)


def test_reference_comparison_sees_a_gradient_one_part_in_a_million_off():
    model = _model("W2", "numpy")
    X, y, y_ref = _data("W2")
    _, grads = xpnet.value_and_grad(model, "crossentropy", X, y)
    ref_grads = _reference("W2", model).loss_and_grads(X.copy(), y_ref)[1]
    _assert_grads_equal(model, grads, ref_grads)
    for key in grads:
        wrong = dict(grads)
        flat = xpnet.to_numpy(wrong[key]).copy()
        flat.reshape(-1)[np.abs(flat).argmax()] *= 1 + 1e-6
        wrong[key] = flat
        with pytest.raises(AssertionError):
            _assert_grads_equal(model, wrong, ref_grads)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_steps_equal_xpnet_updates(case, optimizer, backend):
    """Three full-batch steps (Adam's bias corrections change with the step number)."""
    model = _model(case, backend)
    X, y, y_ref = _data(case)
    ref = _reference(case, model, optimizer, lr=0.05)
    opt = optim.SGD(lr=0.05) if optimizer == "sgd" else optim.Adam(lr=0.05)
    for _ in range(3):
        value, grads = xpnet.value_and_grad(model, CASES[case][4], X, y)
        opt.step(model.params, grads)
        ref_value = ref.step(X, y_ref)
        np.testing.assert_allclose(float(value), ref_value, rtol=1e-10)
    _assert_params_equal(model, ref)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_reference_epoch_equals_fit(optimizer, backend):
    """W2's unit: one epoch of shuffled mini-batches, the same permutation as fit draws from its seed."""
    model = _model("W2", backend)
    X, y, y_ref = _data("W2", m=40)
    ref = _reference("W2", model, optimizer, lr=0.05)
    opt = optim.SGD(lr=0.05) if optimizer == "sgd" else optim.Adam(lr=0.05)
    history = model.fit(X, y, loss="crossentropy", optimizer=opt, epochs=1, batch_size=8, shuffle=True,
                        seed=5, metrics=(), verbose=0)
    ref_loss = ref.epoch(X, y_ref, 8, np.random.default_rng(5))
    np.testing.assert_allclose(history.history["loss"][0], ref_loss, rtol=1e-10)
    _assert_params_equal(model, ref)


# The tight floors (reference.TightW1, reference.TightMLP): same loss and parameters as xpnet after
# a few steps, so that a wrong, cheaper floor cannot flatter xpnet.
TIGHT = [("W1", "sgd"), ("W2", "sgd"), ("W2", "adam"), ("W3", "sgd"), ("W3", "adam")]


def _tight(case, model, optimizer, lr, block=5):
    options = {"lr": lr} if case == "W1" else {"optimizer": optimizer, "lr": lr, "block": block}
    return reference.tight_from_xpnet(model, head=CASES[case][3], **options)


@pytest.mark.parametrize(("case", "optimizer"), TIGHT)
def test_tight_steps_equal_xpnet_updates(case, optimizer, backend):
    """Three full-batch steps; Adam's update runs in blocks of 5 elements (several per parameter)."""
    model = _model(case, backend)
    X, y, y_ref = _data(case)
    tight = _tight(case, model, optimizer, lr=0.05)
    opt = optim.SGD(lr=0.05) if optimizer == "sgd" else optim.Adam(lr=0.05)
    for _ in range(3):
        value, grads = xpnet.value_and_grad(model, CASES[case][4], X, y)
        opt.step(model.params, grads)
        np.testing.assert_allclose(tight.step(X, y_ref), float(value), rtol=1e-10)
    _assert_params_equal(model, tight)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_tight_epoch_equals_fit(optimizer, backend):
    """W2's unit through the tight step: shuffled mini-batches gathered into reused buffers."""
    model = _model("W2", backend)
    X, y, y_ref = _data("W2", m=40)
    tight = _tight("W2", model, optimizer, lr=0.05)
    opt = optim.SGD(lr=0.05) if optimizer == "sgd" else optim.Adam(lr=0.05)
    history = model.fit(X, y, loss="crossentropy", optimizer=opt, epochs=2, batch_size=8, shuffle=True,
                        seed=5, metrics=(), verbose=0)
    rng = np.random.default_rng(5)
    losses = [tight.epoch(X, y_ref, 8, rng) for _ in range(2)]
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-10)
    _assert_params_equal(model, tight)


def test_tight_comparison_sees_a_wrong_floor():
    """The comparison above is sharp: a tight W1 step that forgets one bias update fails it."""
    model = _model("W1", "numpy")
    X, y, y_ref = _data("W1")
    tight = _tight("W1", model, "sgd", lr=0.05)
    opt = optim.SGD(lr=0.05)
    opt.step(model.params, xpnet.value_and_grad(model, "binary_crossentropy", X, y)[1])
    b3 = tight.b3.copy()
    tight.step(X, y_ref)
    _assert_params_equal(model, tight)
    tight.b3[...] = b3  # as if the last update were left out
    with pytest.raises(AssertionError):
        _assert_params_equal(model, tight)


def test_reference_float32_stays_float32():
    rng = np.random.default_rng(0)
    params = [(rng.standard_normal((4, 3), dtype=np.float32), np.zeros(3, np.float32)),
              (rng.standard_normal((3, 2), dtype=np.float32), np.zeros(2, np.float32))]
    for optimizer in ("sgd", "adam"):
        ref = reference.NumpyMLP(params, hidden="relu", head="ce", optimizer=optimizer)
        ref.step(rng.random((5, 4), dtype=np.float32), np.array([0, 1, 1, 0, 1]))
        assert all(W.dtype == np.float32 and b.dtype == np.float32 for W, b in ref.params)


def test_gemm_bound_has_the_steps_products():
    shapes = reference.gemm_shapes([2, 5, 5, 1], 7)
    # forward: one product per layer; backward: a weight gradient per layer, an input gradient for
    # every layer but the first
    assert [s[2] for s in shapes] == ["", "", "", "a", "b", "a", "b", "a"]
    assert shapes[0] == ((7, 2), (2, 5), "")
    assert shapes[-1] == ((7, 2), (7, 5), "a")  # dW of the first layer: X.T @ dZ
    assert reference.gemm_flops([2, 5, 5, 1], 7) == 2 * 7 * (10 + 25 + 5) * 2 + 2 * 7 * (25 + 5)
    bound = reference.GemmBound([2, 5, 5, 1], 7)
    with np.errstate(invalid="ignore"):  # OpenBLAS may raise a spurious FP flag on tiny products
        bound.step()
    assert [out.shape for _, _, out in bound.products] == [
        (7, 5), (7, 5), (7, 1), (5, 1), (7, 5), (5, 5), (7, 5), (2, 5)]
    assert all(np.isfinite(out).all() for _, _, out in bound.products)


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("XPNET_BACKEND", "XPNET_DEVICE")}
    return {**env, **extra}


def test_run_quick_tiny_writes_json_and_markdown(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--quick", "--tiny", "--only", "W1",
                           "--skip", "jax,torch,sklearn", "--out", str(out)], capture_output=True, text=True,
                          timeout=900, cwd=tmp_path, env=_clean_env())  # a guard against a hang only
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "results.json").read_text())
    assert [g["key"] for g in result["groups"]] == ["W1-200", "W1-2k"]
    for group in result["groups"]:
        rows = group["rows"]
        assert {"gemm", "xpnet-sgd", "xpnet-vg-sgd", "xpnet-fit-sgd", "numpy-sgd", "tight-sgd"} <= set(rows)
        assert not any(key.startswith(("jax", "torch", "sklearn")) for key in rows)  # --skip
        # xpnet is divided by the faster of the two NumPy references
        floor = min(("numpy-sgd", "tight-sgd"), key=lambda key: rows[key]["median_s"])
        assert rows[floor]["ratio_to_baseline"] == pytest.approx(1.0)
        assert rows["xpnet-sgd"]["ratio_to_baseline"] == pytest.approx(
            run.ratio(rows["xpnet-sgd"], rows[floor]))
        assert all(row["median_s"] > 0 for row in rows.values())
        memory = group["memory"]["xpnet-sgd"]
        assert memory["tracemalloc_peak_bytes"] > 0 and memory["rss_peak_delta_bytes"] >= 0
    assert result["machine"]["cpu"] and result["machine"]["numpy"] == np.__version__
    assert {t["target"].split(":")[0] for t in result["targets"]} >= {"W1-200 SGD", "W1-2k SGD"}
    text = (out / "results.md").read_text()
    assert "## Machine" in text and "| **xpnet: loss_and_grads + SGD.step** |" in text
    assert "hand-written NumPy, SGD" in text
    assert text.strip() in proc.stdout


def test_run_rejects_an_unknown_workload(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--tiny", "--only", "W9",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=60,
                          env=_clean_env())
    assert proc.returncode != 0 and "unknown workload" in proc.stderr


# -- benchmarks/gpu_check.sh, the parts that run without a GPU ------------------------------------

BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def _bin_dir(tmp_path, stubs=()):
    """A folder to be the whole PATH: ``mkdir`` (all the script needs before it decides to skip)
    and the given ``(name, shell body)`` stand-ins."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mkdir").symlink_to(shutil.which("mkdir"))
    for name, body in stubs:
        (bin_dir / name).write_text(f"#!{BASH}\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


@needs_bash
def test_gpu_check_without_an_argument_is_a_usage_error():
    proc = subprocess.run([BASH, str(BENCH / "gpu_check.sh")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr and "OUTPUT_DIR" in proc.stderr


@needs_bash
def test_gpu_check_skips_without_nvidia_smi(tmp_path):
    out = tmp_path / "gpu"
    env = _clean_env(PATH=str(_bin_dir(tmp_path)))
    proc = subprocess.run([BASH, str(BENCH / "gpu_check.sh"), str(out)], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "skipped" in proc.stdout and "nvidia-smi" in proc.stdout
    assert "skipped" in (out / "gpu_check.log").read_text()


@needs_bash
def test_gpu_check_skips_when_cupy_finds_no_device(tmp_path):
    """An nvidia-smi on the PATH but no usable CuPy (a stand-in python that fails every check)."""
    bin_dir = _bin_dir(tmp_path, [("nvidia-smi", "echo 'NVIDIA-SMI stand-in'"), ("python-no-cupy", "exit 1")])
    env = _clean_env(PATH=str(bin_dir), PYTHON=str(bin_dir / "python-no-cupy"))
    proc = subprocess.run([BASH, str(BENCH / "gpu_check.sh"), str(tmp_path / "gpu")], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "skipped" in proc.stdout and "CuPy" in proc.stdout
