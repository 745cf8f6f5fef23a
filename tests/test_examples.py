"""The examples run and reach what their docstrings promise."""

import importlib.util
from pathlib import Path

import pytest

import xpnet

EXAMPLES = Path(__file__).parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_network_solves_xor_and_two_moons(backend, capsys):
    results = _load("seed_network").main(["--backend", backend.name])
    assert results["XOR"] == 1.0
    assert results["two moons"] >= 0.97
    assert "accuracy 100.0%" in capsys.readouterr().out


def test_digits_example(backend):
    pytest.importorskip("sklearn")
    scores = _load("digits").main(backend=backend.name, epochs=15)
    assert scores["accuracy"] > 0.93


def test_gpu_example_falls_back_to_the_cpu(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(xpnet.backend, "_importable", lambda name: name != "cupy")
    history = _load("gpu").main(n=600, epochs=2, out=tmp_path / "s.xpnet")
    out = capsys.readouterr().out
    assert "training on numpy:cpu (CPU fallback" in out and len(history["loss"]) == 2
    assert xpnet.load(tmp_path / "s.xpnet", backend="numpy").backend.name == "numpy"
