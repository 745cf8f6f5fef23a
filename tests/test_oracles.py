"""The oracles the suite leans on, shown able to fail, and one that shares no code with xpnet.

``xpnet.gradcheck`` stands behind most gradient tests: here it is handed layers and losses whose
backward is wrong by a factor, in one entry or in sign, and must name the parameter each one
breaks. Then every built-in layer and loss is compared, forward and backward, with a few lines of
plain NumPy float64 written here from the formulas: a bug shared by a layer's forward and backward,
or a gradcheck gone blind, is still caught on every backend.
"""

import numpy as np
import pytest

import xpnet
from xpnet import losses
from xpnet.backend import dtype_name
from xpnet.backend import of as backend_of
from xpnet.layers import (
    LAYERS,
    Dense,
    Dropout,
    Identity,
    LeakyReLU,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Standardize,
    Tanh,
)

TOLERANCE = 1e-6  # the bound test_gradients.py holds every gradcheck error to
WRONG = ("factor", "entry", "sign")


def _corrupt(kind, A):
    """``A`` (any backend) made wrong: 1% too large, one entry off by 1e-3 of the largest, or
    negated; on the same backend, in the same dtype."""
    a = xpnet.to_numpy(A).astype(np.float64, copy=True)
    if kind == "factor":
        a *= 1.01
    elif kind == "entry":
        a.reshape(-1)[0] += 1e-3 * max(np.abs(a).max(), 1.0)
    else:
        a = -a
    return backend_of(A).asarray(a, dtype_name(A.dtype))


def _wrong(cls, kind, target):
    """A subclass of the layer ``cls`` whose backward corrupts ``target`` ("X" for dX, else the
    gradient of that parameter)."""

    def forward(self, X, training=False, **kwargs):
        Y, backward = cls.forward(self, X, training, **kwargs)

        def wrong_backward(dY):
            dX, grads = backward(dY)
            if target == "X":
                return _corrupt(kind, dX), grads
            return dX, {**grads, target: _corrupt(kind, grads[target])}

        return Y, wrong_backward

    return type(f"Wrong{cls.__name__}", (cls,), {"forward": forward})


def _data(m=6, n_in=3, k=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, n_in)), rng.normal(size=(m, k))


# -- gradcheck ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", WRONG)
@pytest.mark.parametrize("index, target", [(0, "W"), (0, "b"), (2, "W"), (2, "b")])
def test_gradcheck_names_the_parameter_a_wrong_dense_backward_breaks(backend, index, target, kind):
    kw = dict(backend=backend, dtype="float64")
    dense = [Dense(3, 4, seed=1, **kw), Dense(4, 2, seed=2, **kw)]
    wrong = _wrong(Dense, kind, target)(*((3, 4) if index == 0 else (4, 2)), seed=1 + index // 2,
                                        **kw)
    dense[index // 2] = wrong
    model = Sequential(dense[0], Tanh(), dense[1])
    X, Y = _data()
    errors = xpnet.gradcheck(model, "mse", X, Y)
    broken = f"{index}.{target}"
    assert errors[broken] > 100 * TOLERANCE, errors
    if kind != "entry":  # max|a − n| / max(|a|, |n|): 0.01 / 1.01 when 1% off, 2 when negated
        assert errors[broken] == pytest.approx(0.01 / 1.01 if kind == "factor" else 2.0, rel=1e-4)
    assert all(e < TOLERANCE for key, e in errors.items() if key != broken), errors


@pytest.mark.parametrize("kind", WRONG)
@pytest.mark.parametrize("activation", [Sigmoid, Tanh, ReLU, LeakyReLU, Softmax, Identity])
def test_gradcheck_sees_a_wrong_activation_backward_below_it(backend, activation, kind):
    kw = dict(backend=backend, dtype="float64")
    model = Sequential(Dense(3, 4, seed=1, **kw), _wrong(activation, kind, "X")(),
                       Dense(4, 2, seed=2, **kw))
    X, Y = _data()
    errors = xpnet.gradcheck(model, "mse", X, Y)
    # the layer above is untouched; the wrong dX reaches the Dense below
    assert errors["2.W"] < TOLERANCE and errors["2.b"] < TOLERANCE, errors
    assert max(errors["0.W"], errors["0.b"]) > 100 * TOLERANCE, errors


def _targets(loss, m, k, seed=3):
    rng = np.random.default_rng(seed)
    if isinstance(loss, losses.CrossEntropy):
        return rng.integers(0, k, size=m)
    if isinstance(loss, losses.BinaryCrossEntropy):
        return rng.integers(0, 2, size=(m, k))
    return rng.normal(size=(m, k))


# every loss, from logits and (through an output activation it does not fuse with) from outputs
LOSS_CASES = {
    "bce_from_logits": (losses.BinaryCrossEntropy, {"from_logits": True}, None),
    "bce_from_probabilities": (losses.BinaryCrossEntropy, {}, Sigmoid),
    "ce_from_logits": (losses.CrossEntropy, {"from_logits": True}, None),
    "ce_from_probabilities": (losses.CrossEntropy, {}, Softmax),
    "mse": (losses.MeanSquaredError, {}, None),
}


def test_every_loss_is_covered():
    assert {cls for cls, _, _ in LOSS_CASES.values()} == set(losses.LOSSES.values())


@pytest.mark.parametrize("kind", [None, *WRONG])
@pytest.mark.parametrize("case", LOSS_CASES)
def test_gradcheck_sees_a_wrong_loss_gradient(backend, case, kind):
    cls, options, output = LOSS_CASES[case]
    if kind is None:
        loss = cls(**options)
    else:
        class WrongLoss(cls):  # a subclass: fuse() leaves it alone, so its own gradient is used
            def __call__(self, pred, target):
                value, dpred = super().__call__(pred, target)
                return value, _corrupt(kind, dpred)

        loss = WrongLoss(**options)
    kw = dict(backend=backend, dtype="float64")
    layers = [Dense(3, 4, seed=1, **kw), Tanh(), Dense(4, 3, seed=2, **kw)]
    model = Sequential(*layers, *([output()] if output else []))
    X, _ = _data()
    errors = xpnet.gradcheck(model, loss, X, _targets(loss, 6, 3))
    assert set(errors) == {"0.W", "0.b", "2.W", "2.b"}
    if kind is None:
        assert max(errors.values()) < TOLERANCE, errors
    else:
        assert errors["2.W"] > 100 * TOLERANCE, errors


# -- an independent oracle: every layer in plain NumPy float64 ---------------------------------
#
# Each reference takes the layer (for its hyperparameters and parameters, as NumPy arrays), X, dY
# and xpnet's own output Y (used only by Dropout, whose mask is random) and returns
# (Y, dX, grads) from the textbook formulas.

def _ref_dense(layer, X, dY, Y):
    W = xpnet.to_numpy(layer.params["W"])
    b = xpnet.to_numpy(layer.params["b"]) if "b" in layer.params else np.zeros(W.shape[1])
    grads = {"W": np.einsum("mi,mo->io", X, dY)}  # sum over the batch of outer products
    if "b" in layer.params:
        grads["b"] = np.array([dY[:, j].sum() for j in range(dY.shape[1])])
    return np.einsum("mi,io->mo", X, W) + b, np.einsum("mo,io->mi", dY, W), grads


def _ref_sigmoid(layer, X, dY, Y):
    S = 1.0 / (1.0 + np.exp(-X))
    return S, dY * S * (1.0 - S), {}


def _ref_tanh(layer, X, dY, Y):
    T = (np.exp(X) - np.exp(-X)) / (np.exp(X) + np.exp(-X))
    return T, dY / np.cosh(X) ** 2, {}


def _ref_relu(layer, X, dY, Y):
    return np.where(X > 0, X, 0.0), np.where(X > 0, dY, 0.0), {}


def _ref_leaky_relu(layer, X, dY, Y):
    a = layer.slope
    return np.where(X > 0, X, a * X), np.where(X > 0, dY, a * dY), {}


def _ref_softmax(layer, X, dY, Y):
    E = np.exp(X)
    S = E / E.sum(axis=1, keepdims=True)
    # the full Jacobian of each row, J[r, i, j] = ∂S_i/∂X_j = S_i (δ_ij − S_j); dX = dY @ J
    J = np.einsum("ri,ij->rij", S, np.eye(X.shape[1])) - np.einsum("ri,rj->rij", S, S)
    return S, np.einsum("ri,rij->rj", dY, J), {}


def _ref_identity(layer, X, dY, Y):
    return X, dY, {}


def _ref_dropout(layer, X, dY, Y):
    # the mask is drawn at random: read it from xpnet's output, then check it is a dropout mask
    M = Y / X
    assert set(np.unique(np.round(M, 12))) <= {0.0, round(1 / (1 - layer.rate), 12)}
    return X * M, dY * M, {}


def _ref_standardize(layer, X, dY, Y):
    mean, std = np.asarray(layer.config()["mean"]), np.asarray(layer.config()["std"])
    return (X - mean) / std, dY / std, {}  # ∂((x − μ)/σ)/∂x = 1/σ; μ and σ are not trained


REFERENCES = {
    Dense: _ref_dense, Sigmoid: _ref_sigmoid, Tanh: _ref_tanh, ReLU: _ref_relu,
    LeakyReLU: _ref_leaky_relu, Softmax: _ref_softmax, Identity: _ref_identity,
    Dropout: _ref_dropout, Standardize: _ref_standardize,
}

# (layer built on a backend, training): every built-in layer, Dropout in both modes
LAYER_CASES = {
    "dense": (lambda kw: Dense(4, 3, seed=1, **kw), False),
    "dense_without_bias": (lambda kw: Dense(4, 3, bias=False, seed=1, **kw), False),
    "sigmoid": (lambda kw: Sigmoid(), False),
    "tanh": (lambda kw: Tanh(), False),
    "relu": (lambda kw: ReLU(), False),
    "leaky_relu": (lambda kw: LeakyReLU(0.2), False),
    "softmax": (lambda kw: Softmax(), False),
    "identity": (lambda kw: Identity(), False),
    "dropout_training": (lambda kw: Dropout(0.4, seed=0), True),
    "dropout_inference": (lambda kw: Dropout(0.4, seed=0), False),
    "standardize": (lambda kw: Standardize([1.0, -2.0, 0.0, 3.0], [0.5, 2.0, 1.0, 4.0], **kw),
                    False),
}


def test_every_built_in_layer_has_a_reference():
    missing = {cls.__name__ for cls in LAYERS.values()} - {cls.__name__ for cls in REFERENCES}
    assert not missing, f"no NumPy reference for {sorted(missing)}: add one to REFERENCES"


def _inputs(m, n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n)) * 2
    X[np.abs(X) < 0.05] = 0.5  # away from ReLU's kink, where the subgradient is a convention
    return X, rng.normal(size=X.shape)


def _assert_matches(got, expected, backend, what):
    assert backend_of(got) == backend, what
    assert got.dtype == backend.dtype("float64") and tuple(got.shape) == expected.shape, what
    np.testing.assert_allclose(xpnet.to_numpy(got), expected, rtol=1e-10, atol=1e-12, err_msg=what)


@pytest.mark.parametrize("m", [1, 7])
@pytest.mark.parametrize("case", LAYER_CASES)
def test_layer_matches_the_numpy_reference(backend, case, m, on_device):
    build, training = LAYER_CASES[case]
    layer = build(dict(backend=backend, dtype="float64"))
    n = layer.n_in if isinstance(layer, Dense) else 4
    X, dY = _inputs(m, n, seed=m)
    if isinstance(layer, Dense):
        dY = dY[:, :layer.n_out]
    Y, backward = layer.forward(backend.asarray(X, "float64"), training=training)
    dX, grads = backward(backend.asarray(dY, "float64"))
    reference = REFERENCES[type(layer)]
    if isinstance(layer, Dropout) and not training:
        reference = _ref_identity  # inverted dropout: nothing to undo at inference
    Y_ref, dX_ref, grads_ref = reference(layer, X, dY, xpnet.to_numpy(Y))
    _assert_matches(Y, Y_ref, backend, "Y")
    _assert_matches(dX, dX_ref, backend, "dX")
    assert set(grads) == set(grads_ref) == set(layer.params)
    for key, value in grads.items():
        _assert_matches(value, grads_ref[key], backend, f"d{key}")


def test_dropout_in_training_drops_at_its_rate(backend, on_device):
    layer = Dropout(0.4, seed=0)
    X = backend.asarray(np.ones((100, 50)), "float64")
    Y = xpnet.to_numpy(layer.forward(X, training=True)[0])
    assert 0.55 < (Y > 0).mean() < 0.65  # 5000 draws: 0.6 ± 0.007 (one sd)


def test_network_matches_the_numpy_reference_chained_by_hand(backend):
    """Sequential runs the backward passes in reverse and names each gradient by its layer."""
    kw = dict(backend=backend, dtype="float64")
    layers = [Dense(3, 5, seed=1, **kw), LeakyReLU(0.1), Dense(5, 4, seed=2, **kw), Sigmoid(),
              Dense(4, 3, seed=3, **kw), Softmax()]
    model = Sequential(*layers)
    X, dY = _inputs(6, 3, seed=0)  # the network maps 3 features to 3: dY has X's shape
    Y, backward = model.forward(backend.asarray(X, "float64"))
    dX, grads = backward(backend.asarray(dY, "float64"))
    outputs, expected = [X], {}
    for layer in layers:
        width = layer.n_out if isinstance(layer, Dense) else outputs[-1].shape[1]
        zeros = np.zeros((len(X), width))  # forward only: no gradient wanted yet
        outputs.append(REFERENCES[type(layer)](layer, outputs[-1], zeros, None)[0])
    dA = dY
    for i in range(len(layers) - 1, -1, -1):
        _, dA, layer_grads = REFERENCES[type(layers[i])](layers[i], outputs[i], dA, None)
        expected.update({f"{i}.{k}": v for k, v in layer_grads.items()})
    _assert_matches(Y, outputs[-1], backend, "Y")
    _assert_matches(dX, dA, backend, "dX")
    assert list(grads) == list(model.params) and set(grads) == set(expected)
    for key, value in grads.items():
        _assert_matches(value, expected[key], backend, f"d{key}")


# -- and every loss, from its definition --------------------------------------------------------

def _ref_loss(case, P, T):
    """Value and ∂value/∂P of each loss as the DESIGN defines it: BCE and MSE are means over every
    element, cross-entropy the mean over the batch; T one-hot for cross-entropy."""
    m, n = P.shape[0], P.size
    if case == "bce_from_logits":
        S = 1.0 / (1.0 + np.exp(-P))
        return -np.sum(T * np.log(S) + (1 - T) * np.log(1 - S)) / n, (S - T) / n
    if case == "bce_from_probabilities":
        return (-np.sum(T * np.log(P) + (1 - T) * np.log(1 - P)) / n,
                (-T / P + (1 - T) / (1 - P)) / n)
    if case == "ce_from_logits":
        S = np.exp(P) / np.exp(P).sum(axis=1, keepdims=True)
        return -np.sum(T * np.log(S)) / m, (S - T) / m
    if case == "ce_from_probabilities":
        return -np.sum(T * np.log(P)) / m, -T / P / m
    return np.sum((P - T) ** 2) / n, 2 * (P - T) / n


@pytest.mark.parametrize("case", LOSS_CASES)
def test_loss_matches_its_definition_value_and_gradient(backend, case):
    cls, options, output = LOSS_CASES[case]
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(5, 3))
    P = {None: Z, Sigmoid: 1 / (1 + np.exp(-Z)),
         Softmax: np.exp(Z) / np.exp(Z).sum(1, keepdims=True)}[output]
    labels = rng.integers(0, 3, 5)
    T = np.eye(3)[labels] if cls is losses.CrossEntropy else \
        rng.integers(0, 2, (5, 3)).astype(float) if cls is losses.BinaryCrossEntropy else \
        rng.normal(size=(5, 3))
    targets = [T] + ([labels] if cls is losses.CrossEntropy else [])  # one-hot and integer labels
    value_ref, grad_ref = _ref_loss(case, P, T)
    for target in targets:
        value, dP = cls(**options)(backend.asarray(P, "float64"), backend.asarray(target))
        assert float(value) == pytest.approx(value_ref, rel=1e-12)
        _assert_matches(dP, grad_ref, backend, "dpred")
