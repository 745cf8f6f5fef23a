"""The layer registry is the one list of built-in layers: every registered layer is gradchecked on
every backend, saved and loaded, explained with its own equations, shown in docs/backprop.md and
exported from ``xpnet``; and a new built-in activation is one registered class, picked up by
``mlp``, the file format, ``explain``, ``diagnose`` and ``gradcheck`` with no other edit."""

import re
from pathlib import Path

import numpy as np
import pytest
from layer_examples import between

import xpnet
from xpnet import functional
from xpnet.explain import explain
from xpnet.layers import ACTIVATIONS, LAYERS, Dense, Layer, canonical, equation_lines

DOCS = Path(__file__).resolve().parent.parent / "docs" / "backprop.md"
NAMES = sorted(LAYERS)


def _data(m=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, 3)), rng.normal(size=(m, 2))


def _shape(equation: str) -> str:
    """An equation with every name replaced by ``·``: ``Z1 = X @ W1 + b1`` -> ``· = · @ · + ·``."""
    return re.sub(r"\b[A-Za-z_]\w*\b", "·", equation)


def _explained(model, name):
    """The forward and backward equations ``explain`` prints for layer 1 of ``model``."""
    steps = [s for s in explain(model, loss="mse").steps if s.layer == "1"]
    return ([s.equation for s in steps if s.phase == "forward"],
            [s.equation for s in steps if s.phase == "backward"])


def test_the_registry_holds_the_built_in_layers():
    assert {"dense", "sigmoid", "tanh", "relu", "leaky_relu", "softmax", "identity", "dropout",
            "standardize"} <= set(LAYERS)
    assert set(ACTIVATIONS) == {n for n, cls in LAYERS.items() if cls.activation}
    for name, cls in LAYERS.items():
        assert cls.name == name and issubclass(cls, Layer)


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_layer_is_gradchecked(backend, name):
    X, Y = _data()
    model = between(name, backend)
    errors = xpnet.gradcheck(model, "mse", X, Y)
    assert set(errors) == set(model.params) and max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_layer_is_saved_and_loaded(backend, name, tmp_path):
    model = between(name, backend)
    model.save(tmp_path / "m.xpnet")
    loaded = xpnet.load(tmp_path / "m.xpnet", backend=backend)
    assert type(loaded[1]) is LAYERS[name] and loaded[1].config() == model[1].config()
    X = backend.asarray(_data()[0], "float64")
    np.testing.assert_allclose(xpnet.to_numpy(loaded.predict(X)), xpnet.to_numpy(model.predict(X)),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_layer_is_explained_with_its_equations(name):
    # explain names the arrays its own way (Z1, A1, W2); the equations must be the declared ones
    model = between(name)
    forward, backward = _explained(model, name)
    config = model[1].config()

    def declared(phase):
        return [_shape(e.format_map({**{k: k for k in re.findall(r"\{(\w+)\}", e)}, **config}))
                for e in equation_lines(LAYERS[name], phase)]

    assert [_shape(e) for e in forward] == ["; ".join(declared("forward"))], forward
    assert [_shape(e) for e in backward] in (declared("backward"), ["; ".join(declared("backward"))])


@pytest.mark.parametrize("name", NAMES)
def test_docs_show_every_registered_layers_equations_verbatim(name):
    text = DOCS.read_text(encoding="utf-8")
    for phase in ("forward", "backward"):
        for equation in equation_lines(LAYERS[name], phase):
            assert canonical(equation) in text, (name, canonical(equation))
        assert f"xpnet.layers.{LAYERS[name].__name__}.forward" in text


def test_every_registered_layer_is_exported():
    for cls in LAYERS.values():
        assert getattr(xpnet, cls.__name__) is cls and cls.__name__ in xpnet.__all__


def test_mlp_initialises_by_the_activations_declaration():
    for name, cls in ACTIVATIONS.items():
        model = xpnet.mlp([200, 200, 1], activation=name, seed=0, dtype="float64")
        W = xpnet.to_numpy(model.params["0.W"])
        # He uniform: limit sqrt(6 / n_in); Glorot uniform: sqrt(6 / (n_in + n_out))
        limit = np.sqrt(6.0 / 200) if cls.he_init else np.sqrt(6.0 / 400)
        assert 0.95 * limit < np.abs(W).max() <= limit, name


# -- a new built-in activation: one class, nothing else --------------------------------------------


@pytest.fixture
def swish():
    """A Swish activation registered as a built-in would be, unregistered after the test."""

    class Swish(Layer, register="swish"):
        """``Y = X σ(X)``; ``dX = dY (σ + Y (1 − σ))``."""

        equations = {"forward": "{Y} = {X} * sigmoid({X})",
                     "backward": "{dX} = {dY} * (sigmoid({X}) + {Y} * (1 - sigmoid({X})))"}
        activation = True

        def forward(self, X, training=False, *, input_grad=True):
            xp = functional.namespace(X)
            S = functional.sigmoid(X, xp=xp)
            Y = X * S

            def backward(dY):
                return dY * (S + Y * (1.0 - S)), {}

            return Y, backward

    try:
        yield Swish
    finally:
        xpnet.layers.unregister("swish")


def test_a_new_activation_is_one_registered_class(swish, backend, tmp_path):
    model = xpnet.mlp([3, 4, 2], activation="swish", seed=0, backend=backend, dtype="float64")
    assert isinstance(model[1], swish)
    X, Y = _data()
    errors = xpnet.gradcheck(model, "mse", X, Y)  # gradcheck
    assert max(errors.values()) < 1e-6, errors
    model.save(tmp_path / "m.xpnet")  # the file format
    loaded = xpnet.load(tmp_path / "m.xpnet", backend=backend)
    assert type(loaded[1]) is swish
    Xb = backend.asarray(X, "float64")
    np.testing.assert_allclose(xpnet.to_numpy(loaded.predict(Xb)),
                               xpnet.to_numpy(model.predict(Xb)), rtol=1e-12)
    text = str(explain(model, loss="mse"))  # explain, with its equations
    assert "A1 = Z1 * sigmoid(Z1)" in text
    assert "dZ1 = dA1 * (sigmoid(Z1) + A1 * (1 - sigmoid(Z1)))" in text
    report = xpnet.diagnose(model, X, Y, loss="mse")  # diagnose's kind
    assert [s.kind for s in report.layers] == ["dense", "swish", "dense"]
    with pytest.raises(ValueError, match="is registered already"):
        type("Swish2", (Layer,), {"equations": swish.equations}, register="swish")


def test_unregistered_it_is_a_custom_layer_again(swish, tmp_path):
    model = xpnet.Sequential(Dense(3, 4, dtype="float64"), swish(), Dense(4, 2, dtype="float64"))
    assert xpnet.layers.kind(model[1]) == "swish"
    xpnet.layers.unregister("swish")
    try:
        assert xpnet.layers.kind(model[1]) == "custom" and "swish" not in ACTIVATIONS
        with pytest.raises(TypeError, match="not one of xpnet's layers"):
            model.save(tmp_path / "m.xpnet")
        with pytest.raises(ValueError, match="activation must be one of"):
            xpnet.mlp([2, 3, 1], activation="swish")
        assert "H1 = Swish(Z1)" in str(explain(model, loss="mse"))  # the generic custom line
    finally:
        LAYERS["swish"] = swish  # as the fixture left it, for its clean-up


def test_a_layer_must_declare_its_equations_and_real_config_keys():
    with pytest.raises(ValueError, match="equations must give 'forward' and 'backward'"):
        type("NoEquations", (Layer,), {}, register="no_equations")
    with pytest.raises(ValueError, match=r"config_keys \['alpha'\] are not arguments"):
        type("BadConfig", (Layer,), {"config_keys": ("alpha",), "equations": {
            "forward": "{Y} = {X}", "backward": "{dX} = {dY}"}}, register="bad_config")
    assert "no_equations" not in LAYERS and "bad_config" not in LAYERS
