"""What a student, a data scientist and a command-line user hit in their first hour (issue 12),
each written from the user's side: the call or the command, and what the user sees."""

import csv

import numpy as np
import pytest

import xpnet


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
    model = xpnet.mlp(sizes, seed=0, backend=backend.name)
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
    logits = xpnet.mlp([2, 16, 1], seed=0, backend=backend.name)
    history = logits.fit(X, y, loss=xpnet.losses.BinaryCrossEntropy(from_logits=True), epochs=30,
                         seed=0, verbose=0)
    probs = xpnet.mlp([2, 16, 1], output="sigmoid", seed=0, backend=backend.name)
    history2 = probs.fit(X, y, loss="binary_crossentropy", epochs=30, seed=0, verbose=0)
    assert history["accuracy"][-1] > 0.85 and history2["accuracy"][-1] > 0.85
