"""Loss and gradients of a model, and their proof by central differences."""

from __future__ import annotations

import weakref

from . import losses as _losses
from ._validation import check_X, check_y
from .backend import on_model_device, to_numpy
from .layers import Dense, Dropout, Sequential
from .layers import n_outputs as _n_outputs


def loss_and_grads(model, loss, X, y, *, training=False):
    """The training step's core, on already validated arrays: one forward, one backward.

    ``y`` is the target as ``loss.prepare_target`` returns it. When the model ends in the
    activation its loss can absorb, :func:`xpnet.losses.fuse` evaluates the loss on the logits.
    """
    network, loss = _losses.fuse(model, loss)
    return forward_and_backward(network, loss, X, y, training)[1:]


def forward_and_backward(network, loss, X, y, training):
    """``(pred, value, grads)``: one forward pass of ``network`` (as :func:`forward_for_grads`), the
    loss, one backward pass. Returning frees the backward closures, and with them the saved
    activations, before the caller's next step allocates its own."""
    pred, backward = forward_for_grads(network, X, training)
    value, dpred = loss(pred, y)
    return pred, value, backward(dpred)[1]


def forward_for_grads(network, X, training):
    """``network.forward`` for a training step: no gradient for the data when the network can
    skip it (xpnet's Dense and Sequential)."""
    if isinstance(network, (Dense, Sequential)):
        return network.forward(X, training, input_grad=False)
    return network.forward(X, training)


def _loss_value(model, loss, X, y):
    network, loss = _losses.fuse(model, loss)
    return loss(network.forward(X)[0], y)[0]


def _boundary(model, loss, X, y):
    loss = _losses.get(loss)
    X = check_X(model, X)
    n_outputs = _n_outputs(model) or model.forward(X[0:1, :])[0].shape[1]
    return loss, X, check_y(model, loss, y, X.shape[0], n_outputs)


@on_model_device
def value_and_grad(model, loss, X, y, *, training=False, jit=False):
    """The loss of ``model`` on ``(X, y)`` and its gradient with respect to every parameter.

    Parameters
    ----------
    model : Sequential
    loss : Loss or str
        ``"binary_crossentropy"``, ``"crossentropy"``, ``"mse"`` or a loss object.
    X : array-like, shape (m, n_in)
    y : array-like, shape (m,) or (m, n_out)
        Targets; integer class labels ``(m,)`` for cross-entropy.
    training : bool
        Run layers in training mode (dropout active).
    jit : bool
        On the ``jax`` backend: compile the forward pass, the loss and the hand-written backward
        pass into one XLA computation with ``jax.jit`` (traced once per model, loss and input
        shapes, then reused). Refused on other backends, and with ``training=True`` on a model
        with Dropout (its masks are drawn on the host, which a compiled function cannot redo).

    Returns
    -------
    value : 0-D array
        The loss, on the model's device (``float(value)`` for a number).
    grads : dict
        ``∂value/∂param`` with the keys and shapes of ``model.params``.
    """
    if not isinstance(jit, bool):
        raise ValueError(f"jit must be True or False, got {jit!r}")
    if jit and model.backend.name != "jax":
        raise ValueError(f"jit=True needs the jax backend (jax.jit); the model is on "
                         f"{model.backend.name}: model.to('jax'), or jit=False")
    loss, X, y = _boundary(model, loss, X, y)
    _losses.check_model(model, loss)
    if jit:
        if training and any(isinstance(layer, Dropout) and layer.rate for layer in _walk(model)):
            raise ValueError("jit=True with training=True cannot draw the Dropout masks (host "
                             "random numbers) inside a compiled function; use jit=False")
        return _compiled(model, loss, training)(dict(model.params), X, y)
    return loss_and_grads(model, loss, X, y, training=training)


def _walk(model):
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from _walk(layer)


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {key: function}


def _compiled(model, loss, training):
    """``jax.jit`` of ``(params, X, y) -> (value, grads)`` for this model and loss: the model's
    own forward and backward code, run once on tracers (parameters set for the trace, then put
    back), compiled by XLA; jax re-traces by itself for new shapes or dtypes."""
    import jax

    per_model = _COMPILED.setdefault(model, {})
    key = (repr(loss), type(loss), training)
    if key not in per_model:
        ref = weakref.ref(model)

        def pure(params, X, y):
            net = ref()
            saved = dict(net.params)
            net._assign(params)
            try:
                return loss_and_grads(net, loss, X, y, training=training)
            finally:
                net._assign(saved)

        per_model[key] = jax.jit(pure)
    return per_model[key]


@on_model_device
def gradcheck(model, loss, X, y, eps: float = 1e-6) -> dict[str, float]:
    """Compare backprop with central differences, in float64, for every parameter.

    The model is copied and cast to float64 (on its backend); each parameter entry ``θ`` is moved
    by ``±eps`` and ``(L(θ + eps) − L(θ − eps)) / (2 eps)`` is compared with the analytic gradient.

    Returns
    -------
    dict
        Per parameter, ``max|analytic − numeric| / max(max|analytic|, max|numeric|)`` (0 when both
        are exactly zero): below ~1e-7 means the backward pass is right.
    """
    if not (isinstance(eps, float) and 0.0 < eps < 1.0):
        raise ValueError(f"eps must be a float in (0, 1), got {eps!r}")
    model64 = model.copy()
    try:
        model64.to(dtype="float64")
    except Exception as err:
        raise ValueError(f"gradcheck needs float64, which backend {model.backend} refuses: "
                         f"{err}") from None
    loss, X, y = _boundary(model64, loss, X, y)
    _, analytic = loss_and_grads(model64, loss, X, y)
    backend = model64.backend
    errors = {}
    for key, param in model64.params.items():
        theta = to_numpy(param).copy()
        flat = theta.reshape(-1)
        numeric = flat.copy()
        for i in range(flat.size):
            original = flat[i]
            values = []
            for step in (eps, -eps):
                flat[i] = original + step
                model64._assign({key: backend.asarray(theta.copy())})
                values.append(float(_loss_value(model64, loss, X, y)))
            flat[i] = original
            numeric[i] = (values[0] - values[1]) / (2.0 * eps)
        model64._assign({key: backend.asarray(theta.copy())})
        exact = to_numpy(analytic[key]).reshape(-1)
        scale = max(abs(exact).max(initial=0.0), abs(numeric).max(initial=0.0))
        errors[key] = 0.0 if scale == 0.0 else float(abs(exact - numeric).max() / scale)
    return errors
