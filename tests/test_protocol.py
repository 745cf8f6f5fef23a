"""The layer protocol: ``forward(X, training=False, *, input_grad=True) -> (Y, backward)`` on every
layer, so ``Sequential.forward`` is a chain (forwards in order, backwards in reverse) that calls
every layer the same way; custom layers written as the README does (no ``input_grad``) still work."""

import inspect

import array_api_compat
import numpy as np

import xpnet
from xpnet import Dense, Dropout, Layer, Sequential, Sigmoid, Standardize


class ReadmeSwish(Layer):
    """The README's custom layer, verbatim: ``forward(X, training=False)``, no ``input_grad``."""

    def forward(self, X, training=False):
        xp = array_api_compat.array_namespace(X)
        S = 1.0 / (1.0 + xp.exp(-X))
        Y = X * S

        def backward(dY):
            return dY * (S + Y * (1.0 - S)), {}

        return Y, backward


class Scale(Layer):
    """A custom layer with a parameter, again without ``input_grad``."""

    def __init__(self, n, backend):
        super().__init__()
        self.params["s"] = backend.asarray(np.linspace(0.5, 1.5, n), "float64")

    def forward(self, X, training=False):
        s = self.params["s"]
        xp = array_api_compat.array_namespace(X)
        return X * s, lambda dY: (dY * s, {"s": xp.sum(dY * X, axis=0)})


def _data(m=6, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, n)), rng.normal(size=(m, 1))


def test_sequential_forward_and_forward_for_grads_call_every_layer_alike():
    for function in (Sequential.forward, xpnet.grad.forward_for_grads):
        assert "isinstance" not in inspect.getsource(function)
    for cls in (Layer, Dense, Sigmoid, Dropout, Standardize, Sequential, ReadmeSwish, Scale):
        assert "input_grad" in inspect.signature(cls.forward).parameters, cls


def test_custom_layers_without_input_grad_first_middle_and_last(backend):
    X, y = _data()
    kw = {"backend": backend, "dtype": "float64"}
    for model in (Sequential(ReadmeSwish(), Dense(3, 4, seed=0, **kw), Dense(4, 1, seed=1, **kw)),
                  Sequential(Scale(3, backend), Dense(3, 1, seed=0, **kw)),  # trained, first
                  Sequential(Dense(3, 4, seed=0, **kw), ReadmeSwish(), Dense(4, 1, seed=1, **kw),
                             ReadmeSwish())):
        errors = xpnet.gradcheck(model, "mse", X, y)
        assert set(errors) == set(model.params) and max(errors.values()) < 1e-6, errors
        model.fit(X, y, loss="mse", optimizer="sgd", epochs=2, verbose=0, metrics=())
        assert all(np.isfinite(xpnet.to_numpy(v)).all() for v in model.params.values())


def test_no_input_gradient_up_to_the_first_trained_layer(backend):
    X, y = _data()
    kw = {"backend": backend, "dtype": "float64"}
    model = Sequential(Standardize([0.0] * 3, [2.0] * 3, **kw), Dropout(0.0),
                       Dense(3, 4, seed=0, **kw), Sigmoid(), Dense(4, 1, seed=1, **kw))
    Xb = backend.asarray(X, "float64")
    Y, backward = model.forward(Xb, True, input_grad=False)
    dX, grads = backward(backend.asarray(np.ones((6, 1)), "float64"))
    assert dX is None and set(grads) == set(model.params)
    Y_full, backward_full = model.forward(Xb, True)
    dX_full, grads_full = backward_full(backend.asarray(np.ones((6, 1)), "float64"))
    assert tuple(dX_full.shape) == (6, 3)
    for key, g in grads.items():  # skipping dX changes no parameter gradient
        np.testing.assert_array_equal(xpnet.to_numpy(g), xpnet.to_numpy(grads_full[key]))
