"""Loss and gradients of a model, and their proof by central differences; the model surgery the
losses need (:func:`fuse`, :func:`check_model`), which :mod:`xpnet.losses` (pure math) cannot do."""

from __future__ import annotations

import weakref
from typing import Any

from . import losses as _losses
from ._validation import check_X, check_y
from .backend import on_model_device, to_numpy
from .layers import LAYERS, Dropout, Sequential, Sigmoid, Softmax
from .layers import kind as layer_kind
from .layers import n_outputs as _n_outputs


def fuse(model, loss: _losses.Loss):
    """The one place where an output activation and its loss are fused.

    When ``model`` ends in ``Sigmoid`` and ``loss`` is binary cross-entropy on probabilities (or in
    ``Softmax`` with cross-entropy), returns ``(model[:-1], same loss from logits)``: evaluating the
    loss on the logits is exact, never takes ``log(0)``, and its gradient ``(p − y)/n`` replaces the
    product of the loss gradient ``(p − y)/(p(1 − p))/n`` and the activation's ``p(1 − p)`` — a
    product that is 0 · ∞ when the sigmoid saturates. Otherwise returns ``(model, loss)``.
    """
    if isinstance(model, Sequential) and model.layers and not getattr(loss, "from_logits", True):
        last = model.layers[-1]
        if isinstance(last, Sigmoid) and type(loss) is _losses.BinaryCrossEntropy:
            return model[:-1], _losses.BinaryCrossEntropy(from_logits=True)
        if isinstance(last, Softmax) and type(loss) is _losses.CrossEntropy:
            return model[:-1], _losses.CrossEntropy(from_logits=True)
    return model, loss


def loss_and_grads(model, loss, X, y, *, training=False):
    """The training step's core, on already validated arrays: one forward, one backward.

    ``y`` is the target as ``loss.prepare_target`` returns it. When the model ends in the
    activation its loss can absorb, :func:`fuse` evaluates the loss on the logits.
    """
    network, loss = fuse(model, loss)
    return forward_and_backward(network, loss, X, y, training)[1:]


def forward_and_backward(network, loss, X, y, training):
    """``(pred, value, grads)``: one forward pass of ``network`` (as :func:`forward_for_grads`), the
    loss, one backward pass. Returning frees the backward closures, and with them the saved
    activations, before the caller's next step allocates its own."""
    pred, backward = forward_for_grads(network, X, training)
    value, dpred = loss(pred, y)
    return pred, value, backward(dpred)[1]


def forward_for_grads(network, X, training):
    """``network.forward`` for a training step: no gradient for the data (``input_grad=False``,
    part of the layer protocol)."""
    return network.forward(X, training, input_grad=False)


def _loss_value(model, loss, X, y):
    network, loss = fuse(model, loss)
    return loss(network.forward(X)[0], y)[0]


def _boundary(model, loss, X, y):
    loss = _losses.get(loss)
    X = check_X(model, X)
    n_outputs = _n_outputs(model) or model.forward(X[0:1, :])[0].shape[1]
    return loss, X, check_y(model, loss, y, X.shape[0], n_outputs)


@on_model_device
def value_and_grad(model: Sequential, loss: str | _losses.Loss, X: Any, y: Any, *,
                   training: bool = False, jit: bool = False) -> tuple[Any, dict[str, Any]]:
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
    check_model(model, loss)
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


# The relative rounding error of one float64 loss evaluation, in units of the unit roundoff
# u = 2**-53: a forward pass rounds each product, sum, exp and log once, and the layers' and the
# mean's sums grow that by log2(terms) each (pairwise summation): a few tens of u at most.
_LOSS_ROUNDING_ULPS = 64.0
_U64 = 2.0**-53


@on_model_device
def gradcheck(model: Sequential, loss: str | _losses.Loss, X: Any, y: Any,
              eps: float = 1e-6) -> dict[str, float]:
    """Compare backprop with central differences, in float64, for every parameter.

    The model is copied and cast to float64 (on its backend); each parameter entry ``θ`` is moved
    by ``±eps`` and ``D(eps) = (L(θ + eps) − L(θ − eps)) / (2 eps)`` is compared with the analytic
    gradient ``g``.

    Central differences have an error of their own, in two parts, both bounded per entry:

    - truncation, ``D(h) − g = a hᵖ`` for small ``h``: ``p = 2`` on a smooth loss (``a`` is
      ``L'''(θ) / 6``), ``p = 1`` where ``L''`` jumps at ``θ`` (a ReLU unit at 0 feeding a curved
      loss). ``D(2 eps) − D(eps) = (2ᵖ − 1) a epsᵖ``, so ``|D(2 eps) − D(eps)|`` bounds it for
      any ``p ≥ 1`` (Richardson's step: two more loss evaluations per entry);
    - rounding: each float64 loss value carries a relative error of at most ``c u`` (``u = 2**-53``,
      ``c = 64`` roundings: the forward pass and the sums of the mean), so the quotient is off by up
      to ``c u max|L(θ ± eps)| / eps`` (about ``1.4e-8 |L|`` at ``eps = 1e-6``).

    Their sum ``ν`` is what central differences cannot resolve. Where the loss has a kink within
    ``2 eps`` of ``θ`` (a ReLU unit at exactly 0: a dead unit's zero bias), the second differences
    at ``eps`` and ``2 eps`` disagree by more than their rounding (``5 c u |L| / eps²``): there
    ``g`` must lie between the one-sided differences ``(L(θ + eps) − L(θ)) / eps`` and
    ``(L(θ) − L(θ − eps)) / eps`` (a subgradient), up to their rounding ``2 c u |L| / eps`` and
    their truncation (``p = 1``, bounded by the one-sided differences at ``2 eps`` as above).

    Held to a plain relative bound instead, a correct gradient that is small next to
    ``u |L| / eps`` (a saturated sigmoid, a 1-unit bottleneck) fails: a sigmoid ``[1, 3, 1, 1]``
    network's first layer, with gradients of 3e-5 and a loss of 0.8, showed a relative error of
    2e-6, all of it rounding; and a kink makes ``D(eps)`` the mean of two slopes.

    Returns
    -------
    dict
        Per parameter, ``max(0, |g − D(eps)| − ν)`` over its entries (at a kink, ``g``'s
        distance from the one-sided interval, less its rounding), divided by ``max|g|`` or
        ``max|D(eps)|``, whichever is larger: the relative error that is not numerical noise
        (0 when both are exactly zero). A correct backward gives 0, or close to it where the
        estimate of ``ν`` is itself rounded; a backward 1% off gives about 1e-2.
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
    center = float(_loss_value(model64, loss, X, y))
    backend = model64.backend
    errors = {}
    for key, param in model64.params.items():
        theta = to_numpy(param).copy()
        flat = theta.reshape(-1)
        numeric, noise, low, high = flat.copy(), flat.copy(), flat.copy(), flat.copy()
        for i in range(flat.size):
            original = flat[i]
            values = []
            for step in (eps, -eps, 2.0 * eps, -2.0 * eps):
                flat[i] = original + step
                model64._assign({key: backend.asarray(theta.copy())})
                values.append(float(_loss_value(model64, loss, X, y)))
            flat[i] = original
            numeric[i] = (values[0] - values[1]) / (2.0 * eps)
            wide = (values[2] - values[3]) / (4.0 * eps)
            rounding = _LOSS_ROUNDING_ULPS * _U64 * max(abs(v) for v in (center, *values)) / eps
            noise[i] = abs(wide - numeric[i]) + rounding
            low[i] = high[i] = numeric[i]
            # second differences at eps and 2 eps agree on a smooth loss; 5 c u |L| / eps² bounds
            # their rounding, so a larger gap is a kink within 2 eps (ReLU at 0)
            curvature = (values[0] - 2.0 * center + values[1]) / eps**2
            curvature_wide = (values[2] - 2.0 * center + values[3]) / (4.0 * eps**2)
            if abs(curvature - curvature_wide) > 5.0 * rounding / eps:
                right, left = (values[0] - center) / eps, (center - values[1]) / eps
                low[i], high[i] = min(right, left), max(right, left)
                # each one-sided difference is off by O(eps): bounded as D(2 eps) - D(eps) above
                noise[i] = 2.0 * rounding + max(abs((values[2] - center) / (2.0 * eps) - right),
                                                abs((center - values[3]) / (2.0 * eps) - left))
        model64._assign({key: backend.asarray(theta.copy())})
        exact = to_numpy(analytic[key]).reshape(-1)
        scale = max(abs(exact).max(initial=0.0), abs(numeric).max(initial=0.0))
        outside = ((low - exact).clip(min=0.0) + (exact - high).clip(min=0.0))
        unexplained = (outside - noise).clip(min=0.0)
        errors[key] = 0.0 if scale == 0.0 else float(unexplained.max(initial=0.0) / scale)
    return errors


def _passthrough(layer) -> bool:
    kind = layer_kind(layer)
    return kind != "custom" and LAYERS[kind].passthrough


def check_model(model, loss: _losses.Loss) -> None:
    """Refuse a loss on probabilities for a model whose outputs cannot be probabilities.

    Binary cross-entropy or cross-entropy with ``from_logits=False`` after a model that ends in a
    registered layer whose outputs are not probabilities (``Dense``, ReLU, Tanh, ...; those that
    are the identity at inference, Identity and Dropout, looked through) takes ``log`` of logits:
    training runs, and ends at garbage. ``ValueError`` with the two fixes. Custom last layers are
    trusted.
    """
    if type(loss) not in (_losses.BinaryCrossEntropy, _losses.CrossEntropy) or loss.from_logits:
        return
    last = model
    while isinstance(last, Sequential):  # the last layer that is not looked through, from the end
        last = next((layer for layer in reversed(last.layers) if not _passthrough(layer)), None)
        if last is None:
            return
    kind = layer_kind(last)
    if kind == "custom" or LAYERS[kind].probabilities:
        return
    binary = type(loss) is _losses.BinaryCrossEntropy
    output, cls = ("sigmoid", "BinaryCrossEntropy") if binary else ("softmax", "CrossEntropy")
    raise ValueError(
        f"loss={loss.name!r} expects probabilities but the model ends in {type(last).__name__}, "
        f"whose outputs are not in (0, 1): training would take the log of logits. End the model "
        f"in {output.capitalize()} (mlp(..., output={output!r})), or pass the logits to "
        f"loss=xpnet.losses.{cls}(from_logits=True)")
