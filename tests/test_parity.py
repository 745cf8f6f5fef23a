"""check_backends: the same SGD steps on every backend agree with NumPy to rounding in float64."""

import array_api_compat
import numpy as np
import pytest

import xpnet
from xpnet import Dense, Dropout, Layer, Sequential, Sigmoid, datasets
from xpnet import backend as B
from xpnet.parity import check_backends


def _moons(n=120):
    X, y = datasets.two_moons(n=n, noise=0.15, seed=0)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def test_every_available_backend_agrees_with_numpy_in_float64():
    X, y = _moons()
    model = xpnet.mlp([2, 5, 5, 1], activation="sigmoid", output="sigmoid", seed=0)
    before = {k: xpnet.to_numpy(v).copy() for k, v in model.params.items()}
    report = check_backends(model, X, y, loss="binary_crossentropy", steps=5, lr=0.5)
    # jax makes float64 only with jax_enable_x64 (the jax session's conftest sets it): without it,
    # skipped with the capability named, never compared in float32
    others = [name for name in B.available() if name != "numpy" and B.get(name).float64]
    assert sorted(b.split(":")[0] for b in report.backends) == sorted(others)
    assert {name.split(":")[0] for name in report.skipped} == \
        {name for name in B.available() if not B.get(name).float64}
    assert all("capability float64" in why for why in report.skipped.values())
    for name in report.backends:
        assert len(report.diffs[name]) == 5
        worst = report.worst(name)
        assert worst["loss"] < 1e-9 and worst["grads"] < 1e-9 and worst["params"] < 1e-9, report
    assert report.max_diff < 1e-9
    # the steps did train, and the model itself was not touched
    losses = report.losses["numpy:cpu"]
    assert losses[-1] < losses[0]
    for key, value in model.params.items():
        np.testing.assert_array_equal(xpnet.to_numpy(value), before[key])
    assert str(model.dtype) == "float32"


def test_the_backend_under_test_with_minibatches_and_dropout(backend):
    X, y = datasets.spirals(n=90, n_classes=3, seed=0)
    model = xpnet.mlp([2, 8, 8, 3], activation="tanh", output="softmax", seed=1, backend=backend)
    model.layers.insert(2, Dropout(0.25, seed=7))
    # compared with NumPy: on the numpy session, array_api_strict stands in (numpy against
    # itself would prove nothing)
    other = backend if backend.name != "numpy" else B.get("array_api_strict")
    report = check_backends(model, X, y, loss="crossentropy", steps=6, lr=0.3, batch_size=32,
                            backends=["numpy", other])
    assert len(report.backends) == 1 and report.backends[0].startswith(other.name)
    assert not report.skipped and len(report.diffs[report.backends[0]]) == 6
    assert report.max_diff < 1e-9, report
    text = str(report)
    assert "6 SGD steps (lr 0.3, batch 32) in float64" in text


class _NotTheSameEverywhere(Layer):
    """Adds 1e-6 off NumPy: a backend-dependent bug that check_backends must see."""

    def forward(self, X, training=False):
        xp = array_api_compat.array_namespace(X)
        shift = 0.0 if array_api_compat.is_numpy_namespace(xp) else 1e-6
        return X + shift, lambda dY: (dY, {})


def test_a_backend_dependent_difference_is_reported():
    X, y = _moons(n=40)
    model = Sequential(Dense(2, 4, seed=0), _NotTheSameEverywhere(), Sigmoid(), Dense(4, 1, seed=1),
                       Sigmoid())
    others = [name for name in B.available() if name != "numpy"]
    if not others:
        pytest.skip("only numpy here")
    report = check_backends(model, X, y, loss="binary_crossentropy", steps=2)
    assert report.max_diff > 1e-9
    assert all(report.worst(name)["loss"] > 1e-9 for name in report.backends)


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, "steps must be an int >= 1"),
    ({"lr": -1.0}, "lr must be a finite number >= 0"),
    ({"batch_size": 0}, "batch_size must be an int >= 1 or None"),
    ({"backends": ["tpu"]}, "backend must be 'auto' or one of"),
])
def test_bad_arguments(kwargs, message):
    X, y = _moons(n=20)
    with pytest.raises(ValueError, match=message):
        check_backends(xpnet.mlp([2, 3, 1], output="sigmoid"), X, y, **kwargs)
