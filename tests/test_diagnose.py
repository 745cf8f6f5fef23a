"""The doctor: the question's mistakes, made with xpnet's pieces, are each named; a healthy model
gets no findings; the statistics match a NumPy oracle; each rule fires on its case."""

import importlib
import math
import pathlib

import numpy as np
import pytest

import xpnet
from xpnet import Dense, Identity, LearningRateScheduler, ReLU, Sequential, Sigmoid, Softmax, datasets, optim
from xpnet.diagnose import RULES, Diagnostics, Finding, Report, curve_findings, diagnose


def _moons(n=400):
    X, y = datasets.two_moons(n=n, noise=0.15, seed=0)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def uniform_0_1(shape, *, random, backend, dtype):
    """The question's initialiser: every weight in U[0, 1), all positive."""
    return random.uniform(shape, 0.0, 1.0, backend=backend, dtype=dtype)


def _question_as_written(backend):
    # the question's 2-5-5-1 sigmoid network with its mistakes, written with xpnet's pieces:
    # all-positive U[0, 1) weights, and probabilities handed to a loss that cannot be fused
    # (the Identity after the output Sigmoid stands for "the loss applied to the probabilities")
    return Sequential(Dense(2, 5, init=uniform_0_1, seed=0, backend=backend), Sigmoid(),
                      Dense(5, 5, init=uniform_0_1, seed=1, backend=backend), Sigmoid(),
                      Dense(5, 1, init=uniform_0_1, seed=2, backend=backend), Sigmoid(), Identity())


def test_the_original_mistakes_caught(backend):
    X, y = _moons(n=200)
    model = _question_as_written(backend)
    doctor = Diagnostics(X, y)
    one_over_epoch = LearningRateScheduler(lambda epoch, lr: 1.0 / (epoch + 1))  # lr = 1/epoch
    model.fit(X, y, loss="binary_crossentropy", optimizer=optim.SGD(lr=1.0), epochs=30,
              batch_size=32, seed=0, verbose=0, metrics=(), callbacks=[one_over_epoch, doctor])
    report = doctor.report
    assert {"same_sign_weights", "unfused_loss", "lr_decays_too_fast"} <= report.rules, report

    init = report["same_sign_weights"]
    assert {f.layer for f in init} == {"0 Dense", "2 Dense"}  # 5 -> 1 has too few weights to judge
    assert all(f.severity == "warning" and "at initialisation" in f.evidence
               and "positive" in f.evidence and "glorot_uniform" in f.advice for f in init)
    (unfused,) = report["unfused_loss"]
    assert unfused.layer == "5 Sigmoid" and "6 Identity" in unfused.evidence
    assert "from_logits=True" in unfused.advice
    (decay,) = report["lr_decays_too_fast"]
    assert "lr = 1 / epoch" in decay.evidence and "from 1 to 0.0333 over 30 epochs" in decay.evidence

    text = str(report)
    for rule in ("same_sign_weights", "unfused_loss", "lr_decays_too_fast"):
        assert rule in text
    assert len(doctor.records) == 30 and doctor.records[-1]["lr"] == pytest.approx(1 / 30)


def test_labels_that_do_not_fit_a_sigmoid_are_a_finding_not_an_exception(backend):
    X, y = _moons(n=100)
    signs = np.where(y == 1, 1, -1)  # the question's {-1, 1} labels
    model = xpnet.mlp([2, 5, 5, 1], "sigmoid", "sigmoid", seed=0, backend=backend)
    with pytest.raises(ValueError, match=r"labels \{-1, 1\}"):  # what fit would say
        model.fit(X, signs, loss="binary_crossentropy", epochs=1, verbose=0)
    report = diagnose(model, X, signs, loss="binary_crossentropy")
    (labels,) = report["labels"]
    assert labels.severity == "error" and "{-1, 1}" in labels.evidence
    assert "(y + 1) / 2" in labels.advice
    assert report.layers and report.loss is None  # forward statistics only
    assert report.findings[0].severity == "error"


def test_a_healthy_model_gets_no_findings(backend):
    X, y = _moons(n=300)
    model = xpnet.mlp([2, 5, 5, 1], activation="sigmoid", output="sigmoid", seed=0, backend=backend)
    assert diagnose(model, X, y, loss="binary_crossentropy").ok  # Glorot at initialisation
    doctor = Diagnostics(X, y)
    history = model.fit(X, y, loss="binary_crossentropy", optimizer=optim.Adam(lr=0.05), epochs=40,
                        batch_size=32, seed=0, verbose=0, callbacks=[doctor])
    assert history["accuracy"][-1] > 0.9
    assert doctor.report.ok, doctor.report
    assert "no findings" in str(doctor.report)
    after = diagnose(model, X, y, history=history, lr_history=[r["lr"] for r in doctor.records])
    assert after.ok, after
    assert after.loss < 0.5 * after.baseline


def test_statistics_match_a_numpy_oracle(backend):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)) * 3.0
    y = rng.integers(0, 2, size=64)
    model = Sequential(Dense(3, 6, seed=0, backend=backend, dtype="float64"), Sigmoid(),
                       Dense(6, 4, seed=1, backend=backend, dtype="float64"), ReLU(),
                       Dense(4, 1, seed=2, backend=backend, dtype="float64"), Sigmoid())
    p = {k: xpnet.to_numpy(v) for k, v in model.params.items()}
    report = diagnose(model, X, y, loss="binary_crossentropy", lr=0.1)
    stats = {s.index: s for s in report.layers}

    A1 = 1 / (1 + np.exp(-(X @ p["0.W"] + p["0.b"])))
    H = A1 @ p["2.W"] + p["2.b"]
    A3 = np.maximum(H, 0)
    Z = A3 @ p["4.W"] + p["4.b"]
    assert stats["1"].saturated == pytest.approx(np.mean(4 * A1 * (1 - A1) < 0.05))
    assert stats["3"].dead == pytest.approx(np.mean(np.all(A3 <= 0, axis=0)))
    _, grads = xpnet.value_and_grad(model, "binary_crossentropy", X, y)
    g = {k: xpnet.to_numpy(v) for k, v in grads.items()}
    for key in ("0", "2", "4"):
        norm = math.sqrt(np.sum(g[f"{key}.W"] ** 2) + np.sum(g[f"{key}.b"] ** 2))
        assert stats[key].grad_norm == pytest.approx(norm, rel=1e-9)
        assert stats[key].weight_norm == pytest.approx(np.linalg.norm(p[f"{key}.W"]), rel=1e-9)
        assert stats[key].update_ratio == pytest.approx(
            0.1 * np.linalg.norm(g[f"{key}.W"]) / np.linalg.norm(p[f"{key}.W"]), rel=1e-9)
        assert stats[key].positive == pytest.approx(np.mean(p[f"{key}.W"] > 0))
    dZ = (1 / (1 + np.exp(-Z)) - y[:, None]) / 64
    assert stats["4"].delta_rms == pytest.approx(np.sqrt(np.mean(dZ**2)), rel=1e-9)
    bce = np.mean(np.logaddexp(0, Z) - y[:, None] * Z)
    assert report.loss == pytest.approx(bce, rel=1e-9)
    q = y.mean()
    assert report.baseline == pytest.approx(-(q * np.log(q) + (1 - q) * np.log(1 - q)))


def test_unscaled_inputs_saturate_and_vanish(backend):
    X, y = datasets.two_moons(n=200, noise=0.15, seed=0)
    model = xpnet.mlp([2, 5, 5, 1], "sigmoid", "sigmoid", seed=0, backend=backend)
    report = diagnose(model, X * 100 + 50, y)
    assert {"unscaled_inputs", "saturation", "vanishing_gradients"} <= report.rules, report
    assert "column 0 has mean" in report["unscaled_inputs"][0].evidence
    (sat,) = report["saturation"]
    assert sat.layer == "1 Sigmoid"
    assert report["vanishing_gradients"][0].layer == "0 Dense"


def test_dead_relus(backend):
    X, y = _moons(n=100)
    model = xpnet.mlp([2, 8, 1], "relu", "sigmoid", seed=0, backend=backend)
    params = {k: xpnet.to_numpy(v) for k, v in model.params.items()}
    params["0.b"] = params["0.b"] - 100.0  # every unit below zero for every sample
    model.load_params(params)
    (dead,) = diagnose(model, X, y)["dead_relu"]
    assert dead.severity == "error" and dead.layer == "1 ReLU" and "100%" in dead.evidence


def test_constant_prediction_at_ln2(backend):
    X, y = _moons(n=100)
    model = Sequential(Dense(2, 5, init="zeros", backend=backend), Sigmoid(),
                       Dense(5, 1, init="zeros", backend=backend), Sigmoid())
    (flat,) = diagnose(model, X, y)["constant_prediction"]
    assert "ln 2" in flat.evidence and "the same value for every input" in flat.evidence


def test_large_updates_for_a_given_lr(backend):
    X, y = _moons(n=100)
    model = xpnet.mlp([2, 5, 1], "tanh", "sigmoid", seed=0, backend=backend)
    assert "large_updates" not in diagnose(model, X, y, lr=0.01).rules
    assert "large_updates" in diagnose(model, X, y, lr=1000.0).rules


def test_from_logits_on_probabilities_and_probabilities_on_logits(backend):
    X, y = _moons(n=50)
    model = xpnet.mlp([2, 4, 1], "tanh", "sigmoid", seed=0, backend=backend)
    twice = diagnose(model, X, y, loss=xpnet.losses.BinaryCrossEntropy(from_logits=True))
    assert "squashed a second time" in twice["unfused_loss"][0].evidence
    logits = xpnet.mlp([2, 4, 1], "tanh", None, seed=0, backend=backend)
    raw = diagnose(logits, X, y, loss="binary_crossentropy")["unfused_loss"]
    assert raw and raw[0].severity == "error" and "not in (0, 1)" in raw[0].evidence
    assert diagnose(model, X, y, loss="binary_crossentropy").ok  # fused: fine


@pytest.mark.parametrize("losses, lrs, rule", [
    ([0.7, 0.5, 0.4, 0.6, 0.9, 1.3], [], "lr_diverges"),
    ([0.7, 0.6, float("nan")], [], "lr_diverges"),
    ([0.5, 0.3, 0.45, 0.28, 0.5, 0.3, 0.47, 0.31, 0.5, 0.29, 0.46], [], "lr_oscillates"),
    ([0.6931, 0.6932, 0.6930, 0.6931, 0.6929, 0.6931], [], "loss_stuck"),
    ([], [1.0 / (e + 1) for e in range(30)], "lr_decays_too_fast"),
    ([], [0.1 * 0.7 ** e for e in range(20)], "lr_decays_too_fast"),
])
def test_curve_rules(losses, lrs, rule):
    assert rule in {f.rule for f in curve_findings(losses, lrs)}


@pytest.mark.parametrize("losses, lrs", [
    ([0.7, 0.5, 0.35, 0.3, 0.26, 0.24, 0.23, 0.22, 0.215, 0.21], [0.01] * 10),
    ([0.69 * 0.9 ** e for e in range(40)], [0.1 * (1 + math.cos(math.pi * e / 40)) / 2 for e in range(40)]),
    ([0.4, 0.41, 0.39, 0.4, 0.395, 0.4], [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]),  # a short StepLR
])
def test_healthy_curves_give_no_findings(losses, lrs):
    assert curve_findings(losses, lrs) == []


def test_report_prints_findings_and_the_layer_table():
    report = Report(findings=[Finding("saturation", "warning", "1 Sigmoid", "97% saturated", "fix it")],
                    loss=0.7, baseline=math.log(2))
    text = str(report)
    assert text.splitlines()[0] == ("xpnet diagnose: 1 warning; loss 0.7 (a constant prediction "
                                    "scores 0.6931)")
    assert "WARNING saturation [layer 1 Sigmoid]: 97% saturated" in text and "-> fix it" in text
    assert not report.ok and report.rules == {"saturation"}


def test_the_callback_without_data_records_the_curve_and_the_updates(backend):
    X, y = _moons(n=64)
    model = xpnet.mlp([2, 4, 1], "tanh", "sigmoid", seed=0, backend=backend)
    doctor = Diagnostics()
    model.fit(X, y, loss="binary_crossentropy", optimizer=optim.SGD(lr=0.1), epochs=3,
              batch_size=16, verbose=0, callbacks=[doctor])
    assert [r["epoch"] for r in doctor.records] == [0, 1, 2]
    assert all(r["lr"] == 0.1 and 0 < r["layers"]["0"]["update_ratio"] < 0.1 for r in doctor.records)
    assert doctor.initial is None and doctor.report.epochs is doctor.records
    with pytest.raises(ValueError, match="both X and y"):
        Diagnostics(X)


def test_the_doctor_computes_with_the_array_api_not_numpy():
    source = (pathlib.Path(xpnet.__file__).parent / "diagnose.py").read_text()
    assert "import numpy" not in source and "np." not in source


def test_multiclass_labels_and_baseline(backend):
    X, y = datasets.spirals(n=150, n_classes=3, seed=0)
    model = xpnet.mlp([2, 8, 3], "relu", "softmax", seed=0, backend=backend)
    report = diagnose(model, X, y)
    assert report.ok and report.baseline == pytest.approx(math.log(3), rel=1e-6)
    (labels,) = diagnose(model, X, y + 1)["labels"]
    assert "{1, 2, 3}" in labels.evidence and "[0, 3)" in labels.evidence
    unfused = Sequential(*model.layers, Identity())
    (finding,) = diagnose(unfused, X, y, loss="crossentropy")["unfused_loss"]
    assert finding.layer == "3 Softmax" and "softmax's Jacobian" in finding.evidence


def _softmax_over_one(backend):
    return Sequential(Dense(2, 5, seed=0, backend=backend), Sigmoid(),
                      Dense(5, 1, seed=1, backend=backend), Softmax())


def test_a_softmax_over_one_output_is_named_as_the_cause(backend):
    X, y = _moons(n=64)
    model = _softmax_over_one(backend)
    history = model.fit(X, y, loss="binary_crossentropy", epochs=3, verbose=0, metrics=())
    assert len(set(history["loss"])) == 1  # the loss never moves: every gradient is zero
    report = diagnose(model, X, y, loss="binary_crossentropy")
    (finding,) = report["one_unit_softmax"]
    assert finding.severity == "error" and finding.layer == "3 Softmax"
    assert "constant 1" in finding.evidence and "zero" in finding.evidence
    assert "Sigmoid" in finding.advice and "binary cross-entropy" in finding.advice
    assert "unfused_loss" not in report.rules, report  # the cause is the softmax, not the fusion
    assert all("drop what follows" not in f.advice for f in report.findings)
    # the same whatever the loss: cross-entropy over one class is fused, and as constant
    hidden = Sequential(Dense(2, 1, seed=0, backend=backend), Softmax(),
                        Dense(1, 2, seed=1, backend=backend), Softmax())
    (inner,) = diagnose(hidden, X, y, loss="crossentropy")["one_unit_softmax"]
    assert inner.layer == "1 Softmax" and "2 units" in inner.advice


def test_a_loss_after_the_other_activation_is_told_which_pairs_fuse(backend):
    X, y = _moons(n=64)
    model = Sequential(Dense(2, 2, seed=0, backend=backend), Softmax())
    (finding,) = diagnose(model, X, np.eye(2)[y.astype(int)], loss="binary_crossentropy")["unfused_loss"]
    assert "drop" not in finding.advice  # nothing follows the Softmax
    assert "CrossEntropy" in finding.advice and "Sigmoid" in finding.advice


# -- the rule registry: one function per row of the table, each with a case that fires it ----------


def _fired_by_diagnose(backend, rule):
    """``diagnose``'s rules on the case made for ``rule``."""
    X, y = _moons(n=100)
    if rule == "labels":
        return diagnose(xpnet.mlp([2, 5, 1], "sigmoid", "sigmoid", seed=0, backend=backend),
                        X, np.where(y == 1, 1, -1)).rules
    if rule in ("unscaled_inputs", "saturation", "vanishing_gradients"):
        model = xpnet.mlp([2, 5, 5, 1], "sigmoid", "sigmoid", seed=0, backend=backend)
        return diagnose(model, X * 100 + 50, y).rules
    if rule == "unfused_loss":
        model = xpnet.mlp([2, 4, 1], "tanh", None, seed=0, backend=backend)
        return diagnose(model, X, y, loss="binary_crossentropy").rules
    if rule == "same_sign_weights":
        return diagnose(_question_as_written(backend), X, y, loss="binary_crossentropy").rules
    if rule in ("dead_relu", "non_finite"):
        model = xpnet.mlp([2, 8, 1], "relu", "sigmoid", seed=0, backend=backend)
        params = {k: xpnet.to_numpy(v) for k, v in model.params.items()}
        if rule == "dead_relu":
            params["0.b"] = params["0.b"] - 100.0  # every unit below zero for every sample
        else:
            params = {k: v * 1e20 for k, v in params.items()}  # float32 overflows: inf - inf
        model.load_params(params)
        with np.errstate(all="ignore"):
            return diagnose(model, X, y).rules
    if rule == "constant_prediction":
        model = Sequential(Dense(2, 5, init="zeros", backend=backend), Sigmoid(),
                           Dense(5, 1, init="zeros", backend=backend), Sigmoid())
        return diagnose(model, X, y).rules
    if rule == "one_unit_softmax":
        return diagnose(_softmax_over_one(backend), X, y, loss="binary_crossentropy").rules
    if rule == "large_updates":
        model = xpnet.mlp([2, 5, 1], "tanh", "sigmoid", seed=0, backend=backend)
        return diagnose(model, X, y, lr=1000.0).rules
    if rule == "lr_too_high":
        model = xpnet.mlp([2, 5, 5, 1], "sigmoid", "sigmoid", seed=0, backend=backend)
        doctor = Diagnostics(X, y)
        model.fit(X, y, loss="binary_crossentropy", optimizer=optim.SGD(lr=10.0), epochs=5,
                  verbose=0, metrics=(), callbacks=[doctor], seed=0)  # seeded: the shuffle decides
        return doctor.report.rules
    curves = {  # rule: (losses, lrs)
        "lr_diverges": ([0.7, 0.5, 0.4, 0.6, 0.9, 1.3], []),
        "lr_oscillates": ([0.5, 0.3, 0.45, 0.28, 0.5, 0.3, 0.47, 0.31, 0.5, 0.29, 0.46], []),
        "lr_decays_too_fast": ([], [1.0 / (e + 1) for e in range(30)]),
        "loss_stuck": ([0.6931, 0.6932, 0.6930, 0.6931, 0.6929, 0.6931], []),
    }
    return {f.rule for f in curve_findings(*curves[rule])}


_CASES = ("labels", "unscaled_inputs", "unfused_loss", "one_unit_softmax", "same_sign_weights",
          "saturation", "vanishing_gradients", "dead_relu", "constant_prediction", "non_finite",
          "large_updates", "lr_too_high", "lr_diverges", "lr_oscillates", "lr_decays_too_fast",
          "loss_stuck")


def test_the_docstring_table_and_the_rule_registry_list_the_same_rules():
    doc = importlib.import_module("xpnet.diagnose").__doc__  # xpnet.diagnose is the function
    body = doc.split("=====================  ========")[2]  # the rows, between the rules
    rows = {line.split()[0]: line.split()[1] for line in body.splitlines()[1:]
            if line and not line.startswith(" ")}
    assert rows == {name: rule.severity for name, rule in RULES.items()}
    for rule in RULES.values():
        assert rule.check.__doc__, f"rule {rule.name} has no docstring"


def test_every_registered_rule_has_a_case_here():
    assert set(_CASES) == set(RULES), "a new rule needs its case in _fired_by_diagnose"


@pytest.mark.parametrize("rule", _CASES)
def test_each_rule_fires_on_its_case(backend, rule):
    assert rule in _fired_by_diagnose(backend, rule)
