"""Losses: ``value, dpred = loss(pred, target)``.

``value`` is a 0-D array on the predictions' device (turn it into a float with ``float(value)`` when
you need one: on a GPU that waits for the device). ``dpred = ∂value/∂pred`` has ``pred``'s shape.
Each loss owns its mean: the ``1/m`` (or ``1/(m·k)``) is in its gradient, never in the layers.

From logits, every loss is computed in a stable form (softplus, log-sum-exp) that stays finite for
logits of ±1e4 in float32. When a model ends in ``Sigmoid`` (``Softmax``) and is trained with binary
cross-entropy (cross-entropy), :func:`xpnet.grad.fuse` moves the loss onto the logits, so the
gradient that flows back is the fused ``(p − y)/n``, and ``log(0)`` is never taken.

This module is math on arrays: it imports no layer and no model (model surgery such as ``fuse`` and
``check_model`` lives in :mod:`xpnet.grad`). :func:`default_for` reads only what a model declares:
the loss it was trained with, or its output layer's ``default_loss``.
"""

from __future__ import annotations

import array_api_compat

from .backend import on_device_of, to_numpy
from .functional import at_least, log_softmax, namespace, one_hot, softplus_and_sigmoid

# PyTorch's convention: log-probabilities are clamped at -100, so p = 0 costs 100, not inf.
_LOG_FLOOR = -100.0


def _check_shapes(pred, target, name):
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"{name}: pred has shape {tuple(pred.shape)} but target has shape "
                         f"{tuple(target.shape)}; they must match")


def _namespace(pred, target, name):
    xp = namespace(pred)
    if namespace(target) is not xp:
        raise TypeError(f"{name}: pred is a {type(pred).__name__} but target a "
                        f"{type(target).__name__}; both must come from one array library")
    return xp


def _safe_log(P, *, xp):
    return at_least(xp.log(at_least(P, xp.finfo(P.dtype).smallest_normal, xp=xp)), _LOG_FLOOR, xp=xp)


def _labels_found(values) -> str:
    found = sorted(set(to_numpy(values).ravel().tolist()))
    shown = ", ".join(f"{v:g}" for v in found[:10])
    return "{" + shown + (", ..." if len(found) > 10 else "") + "}"


class Loss:
    """Base class. ``name`` is the string :func:`get` knows it by."""

    name = ""
    accepts_labels = False  # True: a 1-D integer target holds class labels (kept as integers)

    def __call__(self, pred, target):
        raise NotImplementedError

    def prepare_target(self, y, n_outputs: int):
        """Check a target batch ``y`` (a backend array) and bring it to the shape this loss takes
        for a model with ``n_outputs`` outputs; ``ValueError`` naming what is wrong."""
        if y.ndim == 1 and n_outputs == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] != n_outputs:
            raise ValueError(f"y must have shape (m, {n_outputs})"
                             f"{' or (m,)' if n_outputs == 1 else ''} to match the model's "
                             f"{n_outputs} outputs; got shape {tuple(y.shape)}")
        return y

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BinaryCrossEntropy(Loss):
    r"""Binary cross-entropy, the mean over every element (as PyTorch and Keras).

    Parameters
    ----------
    from_logits : bool
        ``pred`` holds logits ``Z`` rather than probabilities ``P``.

    Notes
    -----
    ::

        from logits:  L  = mean(softplus(Z) − Y * Z)                 Z, Y (m, k),  n = m·k
                      dZ = (σ(Z) − Y) / n
        from P:       L  = −mean(Y * log P + (1 − Y) * log(1 − P))   (log clamped at −100)
                      dP = (P − Y) / (P * (1 − P)) / n
    """

    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    @on_device_of(1)
    def __call__(self, pred, target):
        _check_shapes(pred, target, "binary_crossentropy")
        xp = _namespace(pred, target, "binary_crossentropy")
        n = array_api_compat.size(pred)
        if self.from_logits:
            return _bce_from_logits(pred, target, n, xp=xp)
        P, Y = pred, target
        value = -xp.sum(Y * _safe_log(P, xp=xp) + (1.0 - Y) * _safe_log(1.0 - P, xp=xp)) / n
        curvature = at_least(P * (1.0 - P), xp.finfo(P.dtype).smallest_normal, xp=xp)
        return value, (P - Y) / curvature / n

    def prepare_target(self, y, n_outputs):
        y = super().prepare_target(y, n_outputs)
        xp = namespace(y)  # cached per array type: array_namespace costs ~3 µs a call
        if not bool(xp.all((y == 0) | (y == 1))):
            raise ValueError(f"y holds labels {_labels_found(y)} but binary cross-entropy needs "
                             "0/1 labels")
        return y

    def __repr__(self) -> str:
        return f"BinaryCrossEntropy(from_logits={self.from_logits})"


def _bce_from_logits(Z, Y, n, *, xp):
    """Value and gradient of binary cross-entropy from the logits (BinaryCrossEntropy's Notes)."""
    S, P = softplus_and_sigmoid(Z, xp=xp)
    S -= Y * Z
    P -= Y
    P /= n
    return xp.sum(S) / n, P


class CrossEntropy(Loss):
    r"""Categorical cross-entropy, the mean over the batch.

    Parameters
    ----------
    from_logits : bool
        ``pred`` holds logits ``Z`` rather than probabilities ``P``.

    Notes
    -----
    ``target`` is integer labels ``(m,)`` in ``[0, k)`` or a one-hot (or probability) matrix
    ``(m, k)`` whose rows sum to 1.

    ::

        from logits:  L  = −sum(Y * log_softmax(Z)) / m              Z, Y (m, k)
                      dZ = (softmax(Z) − Y) / m                      (rows of Y sum to 1)
        from P:       L  = −sum(Y * log P) / m                       (log clamped at −100)
                      dP = −Y / P / m
    """

    name = "crossentropy"
    accepts_labels = True

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    @on_device_of(1)
    def __call__(self, pred, target):
        xp = _namespace(pred, target, "crossentropy")
        if target.ndim == 1:
            target = one_hot(target, pred.shape[1], xp=xp, dtype=pred.dtype)
        _check_shapes(pred, target, "crossentropy")
        m = pred.shape[0]
        if self.from_logits:
            log_p = log_softmax(pred, xp=xp, axis=1)
            value = -xp.sum(target * log_p) / m
            G = xp.exp(log_p)
            G -= target
            G /= m
            return value, G
        P = at_least(pred, xp.finfo(pred.dtype).smallest_normal, xp=xp)
        return -xp.sum(target * _safe_log(P, xp=xp)) / m, -target / P / m

    def prepare_target(self, y, n_outputs):
        xp = namespace(y)
        if n_outputs < 2:
            raise ValueError("cross-entropy needs a model with k ≥ 2 outputs (a Softmax over k "
                             "classes); for one output use binary cross-entropy")
        if y.ndim == 1:
            bad = (y < 0) | (y >= n_outputs)
            if xp.isdtype(y.dtype, "real floating"):
                bad = bad | (y != xp.round(y))
            if bool(xp.any(bad)):
                raise ValueError(f"y holds labels {_labels_found(y)} but cross-entropy over "
                                 f"{n_outputs} classes needs integer labels in [0, {n_outputs})")
            return y if xp.isdtype(y.dtype, "integral") else xp.astype(y, xp.int64)
        y = super().prepare_target(y, n_outputs)
        rows = xp.sum(y, axis=1)
        if not bool(xp.all(y >= 0)) or not bool(xp.all(xp.abs(rows - 1.0) < 1e-4)):
            raise ValueError(f"y of shape {tuple(y.shape)} must be one-hot (or probabilities): "
                             "non-negative rows that sum to 1")
        return y

    def __repr__(self) -> str:
        return f"CrossEntropy(from_logits={self.from_logits})"


class MeanSquaredError(Loss):
    r"""Mean squared error, the mean over every element.

    Notes
    -----
    ::

        L  = mean((P − Y)²)          P, Y (m, k),  n = m·k
        dP = 2 (P − Y) / n
    """

    name = "mse"

    @on_device_of(1)
    def __call__(self, pred, target):
        _check_shapes(pred, target, "mse")
        xp = _namespace(pred, target, "mse")
        n = array_api_compat.size(pred)
        E = pred - target
        value = xp.sum(E * E) / n
        E *= 2.0 / n
        return value, E


LOSSES = {cls.name: cls for cls in (BinaryCrossEntropy, CrossEntropy, MeanSquaredError)}


def get(loss) -> Loss:
    """A loss object by name (``"binary_crossentropy"``, ``"crossentropy"``, ``"mse"``), or ``loss``
    itself when it is already one."""
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):  # an array or a list: said so, not "unhashable type"
        raise TypeError(f"loss must be a Loss or one of {sorted(LOSSES)}; got a "
                        f"{type(loss).__name__}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be a Loss or one of {sorted(LOSSES)}; got {loss!r}")
    return LOSSES[loss]()


def trained_loss(model) -> Loss | None:
    """The loss ``model`` was last trained with (by ``fit``, or as saved in its file), or None."""
    state = getattr(model, "fit_state", None)  # xpnet.callbacks.FitState
    return state.loss if state is not None else getattr(model, "_saved_loss", None)


def default_for(model) -> Loss:
    """The loss ``model`` is evaluated with when none is given.

    The loss it was last trained with (:func:`trained_loss`); else the one its output layer
    declares (its class's ``default_loss``: binary cross-entropy after ``Sigmoid``, cross-entropy
    after ``Softmax``), nested ``Sequential`` models looked into; else mean squared error.
    """
    trained = trained_loss(model)
    if trained is not None:
        return trained
    last = model
    while getattr(last, "layers", None):
        last = last.layers[-1]
    return get(getattr(type(last), "default_loss", None) or MeanSquaredError.name)
