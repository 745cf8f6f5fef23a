"""Every layer and loss against central differences in float64, on every backend, and backends
against each other and against torch.autograd."""

import math

import numpy as np
import pytest

import xpnet
from xpnet import losses
from xpnet.layers import (
    Dense,
    Dropout,
    LeakyReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)

# (batch size m, input features n_in): batch of one and a single feature included.
SHAPES = [(1, 1), (1, 3), (5, 1), (7, 4)]
ACTIVATION_LAYERS = {  # every registered activation (xpnet.layers.ACTIVATIONS), and more
    **xpnet.layers.ACTIVATIONS,
    "leaky_relu_0.1": lambda: LeakyReLU(0.1),
    "dropout_inference": lambda: Dropout(0.5),
}
TOLERANCE = 1e-6


def _data(m, n_in, k, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, n_in)), rng.normal(size=(m, k))


@pytest.mark.parametrize("name", ACTIVATION_LAYERS)
@pytest.mark.parametrize("m, n_in", SHAPES)
def test_layer_gradients_match_central_differences(backend, name, m, n_in):
    # Dense -> activation -> Dense checks the activation's backward and both Dense backwards.
    k = 3
    model = Sequential(
        Dense(n_in, 4, seed=1, backend=backend, dtype="float64"),
        ACTIVATION_LAYERS[name](),
        Dense(4, k, seed=2, backend=backend, dtype="float64"),
    )
    X, Y = _data(m, n_in, k)
    errors = xpnet.gradcheck(model, "mse", X, Y)
    assert set(errors) == {"0.W", "0.b", "2.W", "2.b"}
    assert max(errors.values()) < TOLERANCE, errors


def test_dense_without_bias_has_only_W(backend):
    model = Sequential(Dense(3, 2, bias=False, seed=0, backend=backend, dtype="float64"))
    X, Y = _data(4, 3, 2)
    errors = xpnet.gradcheck(model, "mse", X, Y)
    assert list(errors) == ["0.W"] and errors["0.W"] < TOLERANCE


def _labels(loss, m, k, seed=3):
    rng = np.random.default_rng(seed)
    if isinstance(loss, losses.CrossEntropy):
        return rng.integers(0, k, size=m)
    if isinstance(loss, losses.BinaryCrossEntropy):
        return rng.integers(0, 2, size=(m, k))
    return rng.normal(size=(m, k))


# (loss, output activation, outputs k): the fused pairs, their unfused forms, and from-logits.
LOSS_CASES = {
    "bce_fused_sigmoid": (losses.BinaryCrossEntropy(), Sigmoid, 1),
    "bce_from_logits": (losses.BinaryCrossEntropy(from_logits=True), None, 2),
    "bce_unfused_probabilities": (losses.BinaryCrossEntropy(), lambda: Sequential(Sigmoid()), 2),
    "ce_fused_softmax": (losses.CrossEntropy(), Softmax, 3),
    "ce_from_logits": (losses.CrossEntropy(from_logits=True), None, 3),
    "ce_unfused_probabilities": (losses.CrossEntropy(), lambda: Sequential(Softmax()), 3),
    "mse": (losses.MeanSquaredError(), None, 2),
}


@pytest.mark.parametrize("case", LOSS_CASES)
@pytest.mark.parametrize("m, n_in", SHAPES)
def test_loss_gradients_match_central_differences(backend, case, m, n_in):
    loss, output, k = LOSS_CASES[case]
    layers = [Dense(n_in, 5, seed=1, backend=backend, dtype="float64"), Tanh(),
              Dense(5, k, seed=2, backend=backend, dtype="float64")]
    if output is not None:
        layers.append(output())
    model = Sequential(*layers)
    X, _ = _data(m, n_in, k)
    errors = xpnet.gradcheck(model, loss, X, _labels(loss, m, k))
    assert max(errors.values()) < TOLERANCE, errors


def _numeric_loss_grad(loss, P, T, backend, eps=1e-6):
    grad = np.zeros_like(P)
    for i in np.ndindex(P.shape):
        values = []
        for step in (eps, -eps):
            Q = P.copy()
            Q[i] += step
            values.append(float(loss(backend.asarray(Q), backend.asarray(T))[0]))
        grad[i] = (values[0] - values[1]) / (2 * eps)
    return grad


@pytest.mark.parametrize("loss, kind", [
    (losses.BinaryCrossEntropy(), "probabilities"),
    (losses.BinaryCrossEntropy(from_logits=True), "logits"),
    (losses.CrossEntropy(), "rows"),
    (losses.CrossEntropy(from_logits=True), "logits"),
    (losses.MeanSquaredError(), "logits"),
])
def test_loss_gradient_with_respect_to_predictions(backend, loss, kind):
    rng = np.random.default_rng(0)
    m, k = 4, 3
    Z = rng.normal(size=(m, k))
    P = {"probabilities": 1 / (1 + np.exp(-Z)), "logits": Z,
         "rows": np.exp(Z) / np.exp(Z).sum(1, keepdims=True)}[kind]
    T = (np.eye(k)[rng.integers(0, k, m)] if isinstance(loss, losses.CrossEntropy)
         else rng.integers(0, 2, (m, k)).astype(float))
    value, dP = loss(backend.asarray(P), backend.asarray(T))
    assert value.shape == () and dP.shape == (m, k)
    numeric = _numeric_loss_grad(loss, P, T, backend)
    np.testing.assert_allclose(xpnet.to_numpy(dP), numeric, rtol=1e-6, atol=1e-9)


def test_losses_match_their_definitions(backend):
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(6, 3))
    labels = rng.integers(0, 3, 6)
    Y01 = rng.integers(0, 2, (6, 3)).astype(float)
    P = 1 / (1 + np.exp(-Z))
    log_softmax = Z - np.log(np.exp(Z).sum(1, keepdims=True))
    expected = {
        "bce": -np.mean(Y01 * np.log(P) + (1 - Y01) * np.log(1 - P)),
        "ce": -np.mean(log_softmax[np.arange(6), labels]),
        "mse": np.mean((Z - Y01) ** 2),
    }
    got = {
        "bce": losses.BinaryCrossEntropy(from_logits=True)(backend.asarray(Z), backend.asarray(Y01)),
        "ce": losses.CrossEntropy(from_logits=True)(backend.asarray(Z), backend.asarray(labels)),
        "mse": losses.MeanSquaredError()(backend.asarray(Z), backend.asarray(Y01)),
    }
    for name, (value, _) in got.items():
        assert float(value) == pytest.approx(expected[name], rel=1e-12), name


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_losses_finite_at_extreme_logits(backend, dtype, on_device):
    xp = backend.xp
    Z = backend.asarray(np.array([[-1e4], [-50.0], [-1.0], [0.0], [1.0], [50.0], [1e4]]), dtype)
    Y = backend.asarray(np.array([[1.0], [1.0], [0.0], [1.0], [0.0], [0.0], [0.0]]), dtype)
    value, dZ = losses.BinaryCrossEntropy(from_logits=True)(Z, Y)
    assert value.dtype == dZ.dtype == backend.dtype(dtype)
    assert math.isfinite(float(value)) and bool(xp.all(xp.isfinite(dZ)))
    # softplus(1e4) = 1e4 costs exactly the logit: mean over 7 of the per-element losses
    expected = (1e4 + (50 + np.log1p(np.exp(-50))) + np.log1p(np.exp(-1)) + np.log(2)
                + np.log1p(np.exp(-1)) + 1 + (50 + np.log1p(np.exp(-50))) + 1e4) / 7
    assert float(value) == pytest.approx(expected, rel=1e-5)

    Z3 = backend.asarray(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]]), dtype)
    value, dZ = losses.CrossEntropy(from_logits=True)(Z3, backend.asarray(np.array([1, 0])))
    assert math.isfinite(float(value)) and bool(xp.all(xp.isfinite(dZ)))
    assert float(value) == pytest.approx((2e4 + 2e4 + np.log(2)) / 2, rel=1e-5)


@pytest.mark.parametrize("loss, last", [(losses.BinaryCrossEntropy(), Sigmoid),
                                        (losses.CrossEntropy(), Softmax)])
def test_fused_gradient_is_p_minus_y_over_m(backend, loss, last):
    k = 1 if last is Sigmoid else 3
    model = Sequential(Dense(2, k, seed=0, backend=backend, dtype="float32"), last())
    body, fused = xpnet.grad.fuse(model, loss)
    assert body.layers == model.layers[:-1] and fused.from_logits
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(5, k)) * np.array([1e4, 1.0, 1e-3][:k])  # saturated and gentle logits
    Z[0] = -1e4
    Y = rng.integers(0, 2, (5, 1)) if k == 1 else np.eye(k)[rng.integers(0, k, 5)]
    _, dZ = fused(backend.asarray(Z, "float32"), backend.asarray(Y, "float32"))
    P = 0.5 * (1 + np.tanh(Z / 2)) if k == 1 else \
        np.exp(Z - Z.max(1, keepdims=True)) / np.exp(Z - Z.max(1, keepdims=True)).sum(1, keepdims=True)
    n = Y.size if k == 1 else len(Y)
    np.testing.assert_allclose(xpnet.to_numpy(dZ), (P - Y) / n, rtol=1e-5, atol=1e-7)


def test_saturated_sigmoid_network_still_has_gradients(backend):
    # Logits of ±1e4: the unfused chain would be 0 * inf; the fused one is (p - y)/m.
    model = Sequential(Dense(1, 1, seed=0, backend=backend), Sigmoid())
    model.load_params({"0.W": np.array([[1e4]]), "0.b": np.array([0.0])})
    value, grads = xpnet.value_and_grad(model, "binary_crossentropy", [[1.0], [-1.0]], [0, 1])
    assert float(value) == pytest.approx(1e4, rel=1e-6)
    dW = float(xpnet.to_numpy(grads["0.W"])[0, 0])
    assert dW == pytest.approx((1 * (1 - 0) + -1 * (0 - 1)) / 2)


def test_dropout_backward_uses_the_forward_mask(backend, on_device):
    layer = Dropout(0.4, seed=0)
    X = backend.asarray(np.random.default_rng(0).uniform(1, 2, (50, 20)), "float64")
    Y, backward = layer.forward(X, training=True)
    dY = backend.asarray(np.random.default_rng(1).normal(size=(50, 20)), "float64")
    dX, grads = backward(dY)
    Yn, Xn, dYn, dXn = (xpnet.to_numpy(a) for a in (Y, X, dY, dX))
    mask = Yn / Xn  # 0 or 1 / (1 - rate)
    assert set(np.round(np.unique(mask), 12)) <= {0.0, round(1 / 0.6, 12)}
    assert 0.5 < (mask > 0).mean() < 0.7 and grads == {}
    np.testing.assert_allclose(dXn, dYn * mask)
    assert layer.forward(X)[0] is X  # inactive when not training


def test_same_seed_same_initial_parameters_on_every_backend(backend):
    for dtype in ("float32", "float64"):
        reference = xpnet.mlp([3, 7, 5, 2], "relu", "softmax", seed=42, backend="numpy", dtype=dtype)
        model = xpnet.mlp([3, 7, 5, 2], "relu", "softmax", seed=42, backend=backend, dtype=dtype)
        assert list(model.params) == list(reference.params)
        for key, value in model.params.items():
            assert value.dtype == backend.dtype(dtype)
            np.testing.assert_array_equal(xpnet.to_numpy(value),
                                          xpnet.to_numpy(reference.params[key]))


def _fifty_sgd_steps(backend, X, y):
    model = xpnet.mlp([2, 5, 5, 1], "sigmoid", "sigmoid", seed=7, backend=backend, dtype="float64")
    curve = []
    for _ in range(50):
        value, grads = xpnet.value_and_grad(model, "binary_crossentropy", X, y)
        with model.backend.context():  # the hand-written step runs on the model's device (CuPy)
            params = model.params  # assignment writes through: immutable arrays (JAX) too
            for key in params:
                params[key] = params[key] - 0.5 * grads[key]
        curve.append(float(value))
    return np.array(curve), {k: xpnet.to_numpy(v) for k, v in model.params.items()}


def _fifty_numpy_steps(params, X, y):
    """The same fifty steps in plain NumPy float64: sigmoid layers, binary cross-entropy's mean."""
    W = [params[f"{i}.W"].copy() for i in (0, 2, 4)]
    b = [params[f"{i}.b"].copy() for i in (0, 2, 4)]
    Y, curve = y[:, None].astype(float), []
    for _ in range(50):
        A = [X]
        for Wl, bl in zip(W, b, strict=True):
            A.append(1 / (1 + np.exp(-(A[-1] @ Wl + bl))))
        P = A[-1]
        curve.append(-np.mean(Y * np.log(P) + (1 - Y) * np.log(1 - P)))
        dZ = (P - Y) / Y.size
        for layer in (2, 1, 0):
            dW, db = A[layer].T @ dZ, dZ.sum(axis=0)
            dZ = (dZ @ W[layer].T) * A[layer] * (1 - A[layer])
            W[layer] -= 0.5 * dW
            b[layer] -= 0.5 * db
    return np.array(curve), {f"{i}.{k}": v[j] for k, v in (("W", W), ("b", b))
                             for j, i in enumerate((0, 2, 4))}


def test_fifty_steps_agree_with_numpy_and_across_backends(backend):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    here, params_here = _fifty_sgd_steps(backend, X, y)
    assert here[-1] < here[0]  # it learns
    start = xpnet.mlp([2, 5, 5, 1], "sigmoid", "sigmoid", seed=7, backend="numpy", dtype="float64")
    oracles = {"plain NumPy": _fifty_numpy_steps(
        {k: xpnet.to_numpy(v) for k, v in start.params.items()}, X, y)}
    for other in ("numpy", "array_api_strict", "torch"):
        if other != backend.name and other in xpnet.backend.available():
            oracles[other] = _fifty_sgd_steps(xpnet.backend.get(other), X, y)
    for name, (there, params_there) in oracles.items():
        np.testing.assert_allclose(here, there, rtol=1e-9, atol=0, err_msg=name)
        for key in params_here:
            np.testing.assert_allclose(params_here[key], params_there[key], rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name}: {key}")


def test_gradients_match_torch_autograd(backend):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(9, 2))
    y = rng.integers(0, 3, 9)
    model = xpnet.mlp([2, 6, 4, 3], "tanh", "softmax", seed=3, backend=backend, dtype="float64")
    value, grads = xpnet.value_and_grad(model, "crossentropy", X, y)

    params = {k: torch.tensor(xpnet.to_numpy(v), requires_grad=True)
              for k, v in model.params.items()}
    A = torch.tensor(X)
    for i in (0, 2, 4):
        A = A @ params[f"{i}.W"] + params[f"{i}.b"]
        A = torch.tanh(A) if i < 4 else A
    expected = torch.nn.functional.cross_entropy(A, torch.tensor(y))
    expected.backward()
    assert float(value) == pytest.approx(expected.item(), rel=1e-12)
    for key, param in params.items():
        np.testing.assert_allclose(xpnet.to_numpy(grads[key]), param.grad.numpy(),
                                   rtol=1e-10, atol=1e-13)


def test_training_skips_the_gradient_for_the_data_and_nothing_else(backend):
    model = xpnet.mlp([3, 4, 2], "relu", seed=0, backend=backend, dtype="float64")
    X = backend.asarray(np.random.default_rng(0).normal(size=(5, 3)), "float64")
    dY = backend.asarray(np.ones((5, 2)), "float64")
    dX, grads = model.forward(X)[1](dY)
    skipped, same = model.forward(X, input_grad=False)[1](dY)
    assert tuple(dX.shape) == (5, 3) and skipped is None
    for key in grads:
        np.testing.assert_array_equal(xpnet.to_numpy(same[key]), xpnet.to_numpy(grads[key]))


@pytest.mark.parametrize("loss", ["binary_crossentropy", "mse"])
def test_value_and_grad_jit_equals_the_eager_step(backend, loss):
    """``jit=True`` (jax only): the same hand-written forward and backward, compiled by XLA."""
    model = xpnet.mlp([3, 6, 1], activation="tanh", output="sigmoid", seed=0, backend=backend,
                      dtype="float64")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(10, 3)), (rng.random(10) > 0.5).astype(float)
    if backend.name != "jax":
        with pytest.raises(ValueError, match="jit=True needs the jax backend"):
            xpnet.value_and_grad(model, loss, X, y, jit=True)
        return
    for m in (10, 4):  # a new batch size: traced again, by jax itself
        value, grads = xpnet.value_and_grad(model, loss, X[:m], y[:m])
        fast, fast_grads = xpnet.value_and_grad(model, loss, X[:m], y[:m], jit=True)
        np.testing.assert_allclose(float(fast), float(value), rtol=1e-12)
        for key, g in grads.items():
            np.testing.assert_allclose(xpnet.to_numpy(fast_grads[key]), xpnet.to_numpy(g),
                                       rtol=1e-10, atol=1e-14)
    assert all(not type(p).__name__.endswith("Tracer") for p in model.params.values())
