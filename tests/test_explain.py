"""explain and summary: every step's shape is the shape the code really computes; the text, the
conventions, custom layers, errors; the docs name only what exists."""

import importlib
import pathlib
import re

import array_api_compat
import numpy as np
import pytest

import xpnet
from xpnet import Dense, Dropout, Identity, Layer, Sequential, Sigmoid, Softmax
from xpnet import losses as L
from xpnet.explain import explain, flat_layers, summary

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def _question(**kw):
    return xpnet.mlp([2, 5, 5, 1], activation="sigmoid", output="sigmoid", seed=0, **kw)


def _architectures(backend):
    b = dict(backend=backend, dtype="float64")
    with_dropout = xpnet.mlp([5, 4, 1], "leaky_relu", "sigmoid", seed=2, **b)
    with_dropout.layers.insert(2, Dropout(0.5, seed=3))
    nested = Sequential(Sequential(Dense(3, 4, seed=0, **b), xpnet.Tanh()),
                        Dense(4, 2, bias=False, seed=1, **b), Softmax())
    return {
        "question": (xpnet.mlp([2, 5, 5, 1], "sigmoid", "sigmoid", seed=0, **b), None),
        "relu-softmax": (xpnet.mlp([4, 8, 3], "relu", "softmax", seed=1, **b), None),
        "tanh-linear-mse": (xpnet.mlp([3, 7, 2, 2], "tanh", None, seed=4, **b), "mse"),
        "leaky-dropout": (with_dropout, None),
        "nested-nobias": (nested, "crossentropy"),
        "unfused": (Sequential(Dense(2, 3, seed=0, **b), Sigmoid(), Dense(3, 1, seed=1, **b), Sigmoid(),
                               Identity()), "binary_crossentropy"),
        "logits": (xpnet.mlp([2, 6, 1], "relu", None, seed=5, **b), L.BinaryCrossEntropy(from_logits=True)),
    }


def _targets(model, loss, m, k, rng):
    loss = L.get(loss) if loss is not None else None
    if isinstance(loss, L.CrossEntropy) or (loss is None and isinstance(model.layers[-1], Softmax)):
        return rng.integers(0, k, size=m)
    if isinstance(loss, L.MeanSquaredError):
        return rng.normal(size=(m, k))
    return rng.integers(0, 2, size=(m, k)).astype(float)


def _real_shapes(model, loss, X, Y):
    """The shapes the code computes, layer by layer: forward outputs and, backwards, each layer's
    input gradient and parameter gradients (through the same fuse the fit loop uses)."""
    network, head = xpnet.grad.fuse(model, loss)
    pairs = flat_layers(model)
    fused_last = pairs[-1][0] if network is not model else None
    forward, backwards, H = {}, [], X
    for key, layer in pairs:
        out, back = layer.forward(H, training=True)
        forward[key] = tuple(out.shape)
        if key != fused_last:  # a fused output activation only runs in predict()
            H = out
            backwards.append((key, back))
    _, dH = head(H, Y)
    dinput, grads = {}, {}
    for key, back in reversed(backwards):
        dH, g = back(dH)
        dinput[key] = tuple(dH.shape)
        grads.update({f"{key}.{k}": tuple(v.shape) for k, v in g.items()})
    return forward, dinput, grads


@pytest.mark.parametrize("m", [1, 7, 32])
@pytest.mark.parametrize("name", ["question", "relu-softmax", "tanh-linear-mse", "leaky-dropout",
                                  "nested-nobias", "unfused", "logits"])
def test_every_shape_is_the_shape_the_code_computes(backend, name, m):
    model, loss = _architectures(backend)[name]
    rng = np.random.default_rng(m)
    n_in = xpnet.layers.n_inputs(model)
    k = model.forward(backend.asarray(np.zeros((1, n_in)), "float64"))[0].shape[1]
    X = backend.asarray(rng.normal(size=(m, n_in)), "float64")
    y = _targets(model, loss, m, k, rng)
    used = L.get(loss) if loss is not None else explain(model).loss
    with backend.context():  # layers called one by one run on the current device (CuPy)
        Y = used.prepare_target(backend.asarray(y, None if y.dtype.kind == "i" else "float64"), k)
        forward, dinput, grads = _real_shapes(model, used, X, Y)

    steps = explain(model, batch_size=m, loss=loss).steps
    for step in steps:
        if step.phase == "forward":
            assert step.shape == forward[step.layer], step
        elif step.param is not None:
            assert step.shape == grads[step.param], step
        elif step.layer is not None:
            assert step.shape == dinput[step.layer], step
        # the column convention is the transpose, a bias gradient a column
        expected = (step.shape[0], 1) if len(step.shape) == 1 else tuple(reversed(step.shape))
        assert step.column_shape == expected
    # every parameter gradient is explained exactly once, every forward layer too
    assert sorted(s.param for s in steps if s.param) == sorted(model.params)
    assert [s.layer for s in steps if s.phase == "forward"] == [k for k, _ in flat_layers(model)]
    # symbolic: the same steps with m in place of the number
    symbolic = explain(model, loss=loss).steps
    assert [s.name for s in symbolic] == [s.name for s in steps]
    for a, b in zip(symbolic, steps, strict=True):
        assert tuple(m if d == "m" else d for d in a.shape) == b.shape


def test_the_question_network_line_by_line():
    text = str(explain(_question()))
    lines = text.splitlines()

    def line(start):
        found = [ln for ln in lines if ln.strip().startswith(start)]
        assert len(found) == 1, (start, text)
        return found[0]

    assert "(m, 2) @ (2, 5) + (5,) -> (m, 5)" in line("Z1 = X @ W1 + b1")
    assert "(5, m) @ (m, 1) -> (5, 1)" in line("dW3 = A2.T @ dZ3") and "grads['4.W']" in line("dW3 =")
    assert "(m, 1) -> (1,)" in line("db3 = sum(dZ3, axis=0)") and "summed over the batch" in line("db3")
    assert "(m, 1) @ (1, 5) -> (m, 5)" in line("dA2 = dZ3 @ W3.T")
    assert "(m, 5) * (m, 5) -> (m, 5)" in line("dZ2 = dA2 * A2 * (1 - A2)")
    assert "(2, m) @ (m, 5) -> (2, 5)" in line("dW1 = X.T @ dZ1")
    # where the batch mean enters, and the fused output gradient
    loss_at = next(i for i, ln in enumerate(lines) if ln.startswith("loss"))
    assert "batch mean enters here" in lines[loss_at]
    assert lines[loss_at + 1].strip().startswith("L = mean(softplus(Z3) - Y * Z3)")
    assert "fused: = (A3 - Y) / m (xpnet.grad.fuse)" in line("dZ3 = (sigmoid(Z3) - Y) / m")
    assert "predict() only" in line("A3 = sigmoid(Z3)")
    # order: forward, then loss, then backward from the output to the input
    names = [s.name for s in explain(_question()).steps]
    assert names == ["Z1", "A1", "Z2", "A2", "Z3", "A3", "L", "dZ3", "dW3", "db3", "dA2", "dZ2",
                     "dW2", "db2", "dA1", "dZ1", "dW1", "db1", "dX"]


def test_column_and_both_conventions():
    e = explain(_question(), batch_size=10, convention="column")
    text = str(e)
    assert re.search(r"dW3 = dZ3 @ A2\.T\s+\(1, 10\) @ \(10, 5\) -> \(1, 5\)", text)
    assert re.search(r"Z1 = W1 @ X \+ b1\s+\(5, 2\) @ \(2, 10\) \+ \(5, 1\) -> \(5, 10\)", text)
    assert re.search(r"db1 = sum\(dZ1, axis=1, keepdims=True\)\s+\(5, 10\) -> \(5, 1\)", text)
    assert e["dW3"].column_equation == "dW3 = dZ3 @ A2.T" and e["dW3"].equation == "dW3 = A2.T @ dZ3"
    both = e.text("both")
    row = next(ln for ln in both.splitlines() if ln.strip().startswith("dA2 ="))
    assert "dA2 = dZ3 @ W3.T" in row and "| dA2 = W3.T @ dZ3" in row
    assert "(10, 1) @ (1, 5) -> (10, 5)" in row and "(5, 1) @ (1, 10) -> (5, 10)" in row
    assert str(explain(_question(), convention="both")) == explain(_question()).text("both")


def test_unfused_and_other_losses_are_explained_as_computed():
    unfused = Sequential(Dense(2, 3), Sigmoid(), Dense(3, 1), Sigmoid(), Identity())
    e = explain(unfused, loss="binary_crossentropy")
    assert not e.fused and "\nfused:" not in str(e)
    assert e["dI2"].equation == "dI2 = (I2 - Y) / (I2 * (1 - I2)) / m" and "not fused" in e["dI2"].note
    assert e["dZ2"].equation == "dZ2 = dA2 * A2 * (1 - A2)"  # the sigmoid's backward does run
    three = explain(xpnet.mlp([2, 4, 3], "relu", "softmax"), batch_size=8)
    assert three.fused and three["L"].equation == "L = -sum(Y * log_softmax(Z2, axis=1)) / m"
    assert three["dZ2"].shape == (8, 3)
    mse = explain(xpnet.mlp([2, 4, 3], "tanh", None), loss="mse")
    assert mse["dZ2"].equation == "dZ2 = 2 * (Z2 - Y) / (m*3)"  # the mean over m*k elements
    assert mse["dZ1"].equation == "dZ1 = dA1 * (1 - A1**2)"


class Swish(Layer):
    def forward(self, X, training=False):
        xp = array_api_compat.array_namespace(X)
        S = 1.0 / (1.0 + xp.exp(-X))
        return X * S, lambda dY: (dY * (S + X * S * (1.0 - S)), {})


class Scale(Layer):
    def __init__(self, n):
        super().__init__()
        self.params["s"] = xpnet.backend.get().asarray(np.ones(n), "float32")

    def forward(self, X, training=False):
        s = self.params["s"]
        return X * s, lambda dY: (dY * s, {"s": array_api_compat.array_namespace(X).sum(dY * X, axis=0)})


class Broken(Layer):
    def forward(self, X, training=False):
        raise RuntimeError("boom")


def test_custom_layers_get_a_generic_line_or_a_clear_error():
    e = explain(Sequential(Dense(2, 6), Swish(), Dense(6, 1), Sigmoid()), batch_size=4)
    assert e["H1"].equation == "H1 = Swish(Z1)" and e["H1"].shape == (4, 6)
    assert e["dZ1"].equation == "dZ1 = backward(dH1)[0]" and e["dZ1"].shape == (4, 6)
    scaled = explain(Sequential(Dense(2, 3), Scale(3), Dense(3, 1)), loss="mse")
    step = next(s for s in scaled.steps if s.param == "1.s")
    assert step.shape == (3,)
    with pytest.raises(ValueError, match=r"cannot trace layer 1 \(Broken\).*boom"):
        explain(Sequential(Dense(2, 3), Broken(), Dense(3, 1)))
    with pytest.raises(ValueError, match="input width"):
        explain(Sequential(Scale(3), Dense(3, 1)))


@pytest.mark.parametrize("kwargs, message", [
    ({"convention": "diagonal"}, "convention must be one of"),
    ({"batch_size": 0}, "batch_size must be 'm' or an int >= 1"),
    ({"batch_size": "n"}, "batch_size must be 'm' or an int >= 1"),
    ({"loss": "hinge"}, "loss must be a Loss or one of"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        explain(_question(), **kwargs)
    with pytest.raises(TypeError, match="Sequential"):
        explain(Dense(2, 3))


def test_sizes_that_do_not_chain_are_refused():
    with pytest.raises(ValueError, match="outputs 5 features"):
        explain(Sequential(Dense(2, 5), Sigmoid(), Dense(4, 1)))


def test_every_step_names_a_function_that_exists():
    model = xpnet.mlp([4, 8, 3], "leaky_relu", "softmax")
    model.layers.insert(2, Dropout(0.1))
    for loss in (None, "mse", L.CrossEntropy(from_logits=True)):
        for step in explain(model, loss=loss):
            assert _resolve(step.implementation) is not None, step


def test_summary(backend):
    model = _question(backend=backend)
    text = summary(model)
    assert "Sequential: 6 layers, 51 parameters, float32 on " + backend.name in text
    rows = {ln.split()[0]: ln for ln in text.splitlines()[2:8]}
    assert "Dense(2, 5)" in rows["0"] and "(m, 5)" in rows["0"] and " 15 " in rows["0"]
    assert "W (2, 5), b (5,)" in rows["0"]
    assert "Dense(5, 5)" in rows["2"] and " 30 " in rows["2"]
    assert "Dense(5, 1)" in rows["4"] and "(m, 1)" in rows["4"] and " 6 " in rows["4"]
    assert "Sigmoid()" in rows["5"] and " 0" in rows["5"]
    assert f"device {backend.device}" in text and "dtype float32" in text
    assert "input (m, 2) -> output (m, 1)" in text
    assert sum(int(np.prod(v.shape)) for v in model.params.values()) == 51


# -- the docs ------------------------------------------------------------------------------------


def _resolve(dotted):
    """The object a dotted name refers to (module attributes, then attributes of those)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _named_in_docs():
    names = set()
    for path in DOCS.glob("*.md"):
        names |= set(re.findall(r"`(xpnet(?:\.\w+)+)", path.read_text(encoding="utf-8")))
    return sorted(names)


def test_docs_name_only_functions_that_exist():
    names = _named_in_docs()
    assert len(names) >= 20  # the derivation names the code of every formula
    missing = []
    for name in names:
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert not missing, f"docs name what does not exist: {missing}"


def test_backprop_doc_names_every_layer_and_loss():
    names = set(_named_in_docs())
    for cls in xpnet.layers.LAYERS.values():
        assert f"xpnet.layers.{cls.__name__}.forward" in names, cls
    for cls in ("BinaryCrossEntropy", "CrossEntropy", "MeanSquaredError"):
        assert f"xpnet.losses.{cls}.__call__" in names, cls
    assert "xpnet.grad.fuse" in names


def test_docs_show_the_real_explain_output():
    text = (DOCS / "explain.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```text\n(.*?)```", text, flags=re.S)
    expected = str(explain(xpnet.mlp([2, 5, 5, 1], activation="sigmoid", output="sigmoid")))
    assert expected.strip() in [b.strip() for b in blocks]
