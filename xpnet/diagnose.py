"""Why isn't it learning? A doctor for models: per-layer statistics turned into findings.

:func:`diagnose` runs one forward and backward pass of ``model`` on ``(X, y)`` and measures, per
layer, the fraction of saturated sigmoid/tanh outputs, dead ReLU units, the gradient norm and (for a
given learning rate) the update-to-weight ratio; then rules turn the numbers into findings, each
with a severity, the layer, the evidence and plain advice::

    >>> report = xpnet.diagnose(model, X, y, loss="binary_crossentropy")   # doctest: +SKIP
    >>> print(report)                                                       # doctest: +SKIP
    >>> report.rules                                                         # doctest: +SKIP
    {'same_sign_weights', 'vanishing_gradients'}

:class:`Diagnostics` is the same doctor as a ``fit`` callback: it records per-epoch statistics and
the learning rate, and at the end of training puts a :class:`Report` in ``callback.report``, with
the rules that need a training curve (a learning rate that diverges, oscillates or decays too fast;
a loss stuck at ln 2).

Statistics are computed with the model's own Array API namespace, on its device; only the small
per-layer numbers are turned into Python floats.

Rules and thresholds (the constants below). Each row is one small function, registered in
:data:`RULES` under its name with the stage whose measurements it reads (:class:`Rule`,
:class:`Evidence`); a test checks that this table and the registry list the same rules:

=====================  ========  ===============================================================
rule                   severity  fires when
=====================  ========  ===============================================================
labels                 error     targets outside what the output activation / loss can produce
                                 ({-1, 1} with a sigmoid; labels outside [0, k) with softmax)
unscaled_inputs        warning   a column with |mean| or std > 5, or stds differing > 20x
unfused_loss           warning   probabilities (Sigmoid/Softmax) reach a loss on probabilities
                                 through another layer, so xpnet cannot fuse them; or a
                                 from_logits loss is given probabilities
one_unit_softmax       error     a Softmax over 1 unit: constant 1, so no gradient passes
same_sign_weights      warning   every weight of a Dense layer (>= 8 weights) has the same sign
                                 (Diagnostics: at initialisation only, the cause it names)
saturation             warning   > 50% of a hidden sigmoid/tanh layer's outputs have a slope
                                 below 5% of its maximum
vanishing_gradients    warning   the gradient reaching the first Dense layer is < 1/100 of the
                                 one at the last (RMS of dZ), through >= 2 sigmoid/tanh layers,
                                 > 25% of some such layer's outputs saturated
dead_relu              warning   > 50% of a ReLU layer's units are 0 for every sample (error: all)
constant_prediction    warning   the outputs vary by < 1e-4 over the samples
non_finite             error     the loss or a gradient is NaN or infinite
large_updates          warning   an update moves a Dense layer's weights by > 10% of their norm
lr_too_high            error     (Diagnostics) one step moved a Dense layer's weights by more
                                 than their own norm, or by > 10% while the loss ends above
                                 2x that of a constant prediction; findings that then appear
                                 only during training are named as its consequences
lr_diverges            error     (curve) the loss ends > 1.5x its minimum and above its start
lr_oscillates          warning   (curve) >= 40% of the last 20 epochs' changes are rises, and
                                 the changes average > 10% of the loss and > 5% of the first loss
lr_decays_too_fast     warning   (lr record) the mean lr is < 20% of the first and the last < 5%
loss_stuck             warning   (curve) the last 5 losses stay within 2% of the loss of a
                                 constant prediction (ln 2 for balanced 0/1 labels)
=====================  ========  ===============================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import array_api_compat

from . import losses as _losses
from ._validation import check_int, check_number, check_X, check_y
from .backend import on_model_device, to_numpy
from .explain import flat_layers, layer_kind
from .functional import one_hot
from .grad import fuse
from .layers import LAYERS, Sequential
from .train import Callback

__all__ = ["RULES", "Diagnostics", "Evidence", "Finding", "LayerStats", "Report", "Rule",
           "curve_findings", "diagnose"]

SEVERITIES = ("error", "warning", "info")

SATURATION_SLOPE = 0.05        # slope / max slope below which a sigmoid/tanh output is saturated
SATURATED_FRACTION = 0.5       # hidden layer: fraction of saturated outputs that makes a finding
DEAD_FRACTION = 0.5            # ReLU layer: fraction of units dead on every sample
VANISHING_RATIO = 1e-2         # RMS(dZ first Dense) / RMS(dZ last Dense)
VANISHING_SATURATED = 0.25     # ... with a layer between this saturated: the cause named is true
SAME_SIGN_MIN_WEIGHTS = 8      # Dense layers with fewer weights are not judged
INPUT_SCALE = 5.0              # |mean| or std of a column above this: unscaled
INPUT_SPREAD = 20.0            # ratio of the largest to the smallest column std
CONSTANT_SPREAD = 1e-4         # max - min of an output over the samples
LARGE_UPDATE = 0.1             # ||ΔW|| / ||W|| for one step
LR_STEP_MAX = 1.0              # ||ΔW|| / ||W|| of one step beyond which the lr is too high, alone
LR_WORSE = 2.0                 # final loss / constant-prediction loss that, with a large step, too
_CONSEQUENCES = {"saturation", "vanishing_gradients", "constant_prediction", "dead_relu",
                 "loss_stuck"}  # what too large a step leaves behind
DIVERGE_FACTOR = 1.5
OSCILLATE_RISES, OSCILLATE_AMPLITUDE, OSCILLATE_SCALE, OSCILLATE_WINDOW = 0.4, 0.1, 0.05, 20
DECAY_MEAN, DECAY_LAST, DECAY_MIN_EPOCHS = 0.2, 0.05, 10
STUCK_EPOCHS, STUCK_TOLERANCE = 5, 0.02


@dataclass(frozen=True)
class Finding:
    """One problem: ``rule`` (its name), ``severity`` (``"error"``, ``"warning"`` or ``"info"``),
    ``layer`` (``"1 Sigmoid"``, or ``None`` for the whole model), ``evidence`` (the numbers) and
    ``advice`` (what to do)."""

    rule: str
    severity: str
    layer: str | None
    evidence: str
    advice: str

    def __str__(self) -> str:
        where = f" [layer {self.layer}]" if self.layer else ""
        return f"{self.severity.upper()} {self.rule}{where}: {self.evidence}\n    -> {self.advice}"


@dataclass
class LayerStats:
    """Per-layer numbers (``None`` where they do not apply).

    Attributes
    ----------
    index, layer, kind : str
        The layer's index in the model (its ``params`` key prefix), ``repr`` and kind
        (``"dense"``, ``"sigmoid"``, ...).
    width : int
        Output features.
    saturated : float or None
        Sigmoid/Tanh: fraction of outputs (samples x units) whose slope is below 5% of its maximum.
    dead : float or None
        ReLU: fraction of units that are 0 for every sample.
    grad_norm : float or None
        Dense: the L2 norm of the layer's parameter gradients (``dW`` and ``db`` together).
    delta_rms : float or None
        Dense: the RMS of ``dZ``, the gradient reaching the layer's output.
    weight_norm : float or None
        Dense: the L2 norm of ``W``.
    update_ratio : float or None
        Dense: ``||ΔW|| / ||W||`` for one step (``lr * ||dW|| / ||W||`` for a given ``lr``, or
        measured by :class:`Diagnostics`).
    positive : float or None
        Dense: fraction of the weights that are > 0.
    """

    index: str
    layer: str
    kind: str
    width: int
    saturated: float | None = None
    dead: float | None = None
    grad_norm: float | None = None
    delta_rms: float | None = None
    weight_norm: float | None = None
    update_ratio: float | None = None
    positive: float | None = None


@dataclass
class Report:
    """What the doctor found: ``findings`` (most severe first), per-layer ``layers`` statistics,
    the ``loss`` and the ``baseline`` loss of the best constant prediction, and — from
    :class:`Diagnostics` — the per-epoch ``epochs`` records (``{"epoch", "loss", "lr", "layers":
    {index: {stat: value}}}``).

    ``str(report)`` prints it; ``report.rules`` is the set of rule names that fired; a report is
    ``ok`` when it has no findings.
    """

    findings: list[Finding] = field(default_factory=list)
    layers: list[LayerStats] = field(default_factory=list)
    loss: float | None = None
    baseline: float | None = None
    epochs: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rules(self) -> set[str]:
        return {f.rule for f in self.findings}

    @property
    def ok(self) -> bool:
        return not self.findings

    def __getitem__(self, rule: str) -> list[Finding]:
        """The findings of one rule."""
        return [f for f in self.findings if f.rule == rule]

    def __str__(self) -> str:
        lines = []
        head = "xpnet diagnose: "
        if self.ok:
            head += "no findings"
        else:
            counts = {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}
            head += ", ".join(f"{n} {s}{'s' if n > 1 else ''}" for s, n in counts.items() if n)
        if self.loss is not None:
            head += f"; loss {self.loss:.4g}"
            if self.baseline is not None:
                head += f" (a constant prediction scores {self.baseline:.4g})"
        if self.epochs:
            head += f"; {len(self.epochs)} epochs recorded"
        lines.append(head)
        lines.extend(f"  {f}" for f in self.findings)
        lines.extend(f"  note: {n}" for n in self.notes)
        if self.layers:
            lines.append("")
            lines.append(_layer_table(self.layers))
        return "\n".join(lines)


def _layer_table(layers) -> str:
    columns = (("layer", lambda s: s.index), ("type", lambda s: s.layer),
               ("width", lambda s: str(s.width)),
               ("saturated", lambda s: _pct(s.saturated)), ("dead", lambda s: _pct(s.dead)),
               ("|grad|", lambda s: _num(s.grad_norm)), ("rms dZ", lambda s: _num(s.delta_rms)),
               ("|W|", lambda s: _num(s.weight_norm)), ("update/W", lambda s: _num(s.update_ratio)),
               ("W > 0", lambda s: _pct(s.positive)))
    table = [[name for name, _ in columns]] + [[get(s) for _, get in columns] for s in layers]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in table)


def _pct(value):
    return "-" if value is None else f"{100 * value:.0f}%"


def _num(value):
    return "-" if value is None else f"{value:.3g}"


# -- the doctor ----------------------------------------------------------------------------------


def _name(index, layer):
    return f"{index} {type(layer).__name__}"


@on_model_device
def diagnose(model, X, y, loss=None, *, lr=None, history=None, lr_history=None) -> Report:
    """Examine ``model`` on ``(X, y)``: per-layer statistics and the findings they support.

    Parameters
    ----------
    model : Sequential
    X : array-like, shape (m, n_in)
        Inputs as you would give them to ``fit`` (not standardised by the doctor: unscaled inputs
        are one of the things it looks for).
    y : array-like, shape (m,) or (m, k)
        Targets, inspected raw, before xpnet's own validation would refuse them (labels {-1, 1}
        for a sigmoid output are a finding here, not an exception).
    loss : Loss or str, optional
        Default: the loss of the model's last ``fit``, else binary cross-entropy after a Sigmoid,
        cross-entropy after a Softmax, mean squared error otherwise.
    lr : float, optional
        A learning rate: adds the update-to-weight ratio ``lr * ||dW|| / ||W||`` of a plain SGD
        step to the statistics (and the ``large_updates`` rule).
    history : History or dict, optional
        A training curve (``{"loss": [...], "lr": [...]}``) for the rules on the learning rate and
        a stuck loss.
    lr_history : sequence of float, optional
        The learning rate of each epoch (default: ``history["lr"]`` when present).

    Returns
    -------
    Report
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"diagnose needs an xpnet Sequential model, got {type(model).__name__}")
    if lr is not None:
        lr = check_number("lr", lr)
    curve = _curve(history)
    loss = _losses.default_for(model) if loss is None else _losses.get(loss)
    ev = Evidence(model=model, loss=loss, X=check_X(model, X), y=y, lr=lr)
    try:
        ev.k = model.forward(ev.X[0:1, :])[0].shape[1]
    except Exception:  # noqa: BLE001 - the trace below reports a broken model
        pass
    report = Report()
    report.findings += _check("data", ev)
    if not report["labels"] and ev.k is not None:  # the labels rule has found them fitting
        ev.Y = check_y(model, loss, y, ev.X.shape[0], ev.k)
    _analyse(ev)
    report.layers = ev.stats
    if ev.value is not None:
        report.loss = ev.value
        ev.baseline = report.baseline = _baseline(loss, ev.Y, ev.stats[-1].width,
                                                  model.backend.dtype(model.dtype))
    if ev.Y is None:
        report.notes.append("gradient statistics skipped: the targets do not fit the loss")
    report.findings += _check("pass", ev)
    lrs = list(lr_history) if lr_history is not None else curve["lr"]
    report.findings += curve_findings(curve["loss"], lrs, report.baseline)
    report.findings = _sorted(report.findings)
    return report


def _curve(history) -> dict:
    """``{"loss": [...], "lr": [...]}`` as floats (NaN and inf kept: a diverged run is evidence)
    from a History or its dict; ``TypeError``/``ValueError`` naming ``history`` otherwise."""
    curve = {} if history is None else getattr(history, "history", history)
    if not isinstance(curve, Mapping):
        raise TypeError(f"history must be a History or a dict of per-epoch lists (fit returns "
                        f"one), got {type(history).__name__}")
    out = {}
    for key in ("loss", "lr"):
        values = curve.get(key, [])
        try:
            out[key] = [float(v) for v in values]
        except (TypeError, ValueError):
            raise ValueError(f"history[{key!r}] must be a list of numbers, got "
                             f"{values!r:.80}") from None
    return out


def _sorted(findings):
    unique = {}
    for f in findings:
        unique.setdefault((f.rule, f.layer), f)
    return sorted(unique.values(), key=lambda f: SEVERITIES.index(f.severity))


# -- the measurements the rules read -------------------------------------------------------------


@dataclass
class Evidence:
    """What the rules read: the measurements of one :func:`diagnose` (or, for the ``"curve"`` and
    ``"training"`` rules, of a training run). Fields a run has not measured stay None / empty.

    Attributes
    ----------
    model, loss
        The model and the loss examined.
    X : array, shape (m, n_in)
        The checked inputs.
    y : array-like
        The targets as given (raw: the labels rule judges them).
    k : int or None
        The model's outputs (None when a forward pass fails).
    Y : array or None
        The targets validated for the loss (None when they do not fit it).
    lr : float or None
        The learning rate given to :func:`diagnose`.
    stats : list of LayerStats
        The per-layer statistics of the forward (and backward) pass.
    value : float or None
        The loss when finite; ``bad_loss`` holds a non-finite one.
    bad_loss : float or None
    bad_grads : list of (str, str)
        ``(layer index, parameter name)`` of the first non-finite gradient of each layer.
    spread : float or None
        The largest range of an output over the samples.
    baseline : float or None
        The loss of the best constant prediction.
    losses, lrs : list of float
        A training curve: the loss and the learning rate per epoch.
    records : list of dict
        :class:`Diagnostics`' per-epoch records.
    """

    model: Any = None
    loss: Any = None
    X: Any = None
    y: Any = None
    k: int | None = None
    Y: Any = None
    lr: float | None = None
    stats: list = field(default_factory=list)
    value: float | None = None
    bad_loss: float | None = None
    bad_grads: list = field(default_factory=list)
    spread: float | None = None
    baseline: float | None = None
    losses: list = field(default_factory=list)
    lrs: list = field(default_factory=list)
    records: list = field(default_factory=list)


def _analyse(ev):
    """One forward (and, when ``ev.Y`` is set, backward) pass, layer by layer: fills ``ev.stats``,
    ``value``/``bad_loss``, ``bad_grads`` and ``spread``."""
    model, loss, X, Y, lr = ev.model, ev.loss, ev.X, ev.Y, ev.lr
    xp = model.backend.xp
    dtype = model.backend.dtype(model.dtype)
    network, head = fuse(model, loss)
    fused = network is not model
    pairs = flat_layers(model)
    run = pairs[:-1] if fused else pairs
    outputs, backwards = [], []
    H = X
    for _, layer in run:
        H, backward = layer.forward(H, training=False)
        outputs.append(H)
        backwards.append(backward)
    if fused:
        outputs.append(pairs[-1][1].forward(H)[0])
    stats = ev.stats = []
    for (key, layer), A in zip(pairs, outputs, strict=True):
        kind = layer_kind(layer)
        s = LayerStats(key, repr(layer), kind, int(A.shape[1]) if A.ndim == 2 else 0)
        if kind == "sigmoid":
            s.saturated = _frac(4.0 * A * (1.0 - A) < SATURATION_SLOPE, dtype, xp=xp)
        elif kind == "tanh":
            s.saturated = _frac(1.0 - A * A < SATURATION_SLOPE, dtype, xp=xp)
        elif kind == "relu":
            s.dead = _frac(xp.all(A <= 0, axis=0), dtype, xp=xp)
        if kind == "dense":
            W = layer.params["W"]
            s.weight_norm = _norm(W, xp=xp)
            s.positive = _frac(W > 0, dtype, xp=xp)
        stats.append(s)
    final = outputs[-1] if outputs else X
    if Y is None:
        return
    ev.spread = float(xp.max(xp.max(final, axis=0) - xp.min(final, axis=0)))
    value_array, dH = head(H, Y)
    value = float(value_array)
    if not math.isfinite(value):
        ev.bad_loss = value
        return
    ev.value = value
    for i in range(len(run) - 1, -1, -1):
        key, layer = run[i]
        s = stats[i]
        if s.kind == "dense":
            s.delta_rms = _norm(dH, xp=xp) / math.sqrt(max(1, _size(dH)))
        dH, grads = backwards[i](dH)
        if grads:
            norms = [_norm(g, xp=xp) for g in grads.values()]
            bad = [name for name, n in zip(grads, norms, strict=True) if not math.isfinite(n)]
            if bad:
                ev.bad_grads.append((key, bad[0]))
                continue
            s.grad_norm = math.sqrt(sum(n * n for n in norms))
            if lr is not None and s.weight_norm:
                s.update_ratio = lr * norms[list(grads).index("W")] / s.weight_norm \
                    if "W" in grads else None


def _labels_text(y) -> str:
    found = sorted(set(to_numpy(y).ravel().tolist()))
    shown = ", ".join(f"{v:g}" for v in found[:8])
    return "{" + shown + (", ..." if len(found) > 8 else "") + "}"


def _output_layer(pairs):
    """``(index, layer)`` of the layer that produces the outputs, looking through
    Identity/Dropout; None when every layer is looked through."""
    for key, layer in reversed(pairs):
        kind = layer_kind(layer)
        if kind == "custom" or not LAYERS[kind].passthrough:
            return key, layer
    return None


def _output_kind(model) -> str:
    """The kind of the layer that produces the outputs, looking through Identity/Dropout."""
    output = _output_layer(flat_layers(model))
    return "identity" if output is None else layer_kind(output[1])


def _frac(mask, dtype, *, xp) -> float:
    return float(xp.mean(xp.astype(mask, dtype)))


def _norm(A, *, xp) -> float:
    """The L2 norm, scaled first so that huge entries do not overflow (inf/NaN stay so)."""
    top = float(xp.max(xp.abs(A))) if _size(A) else 0.0
    if top == 0.0 or not math.isfinite(top):
        return top
    return top * float(xp.linalg.vector_norm(A / top))


def _size(A) -> int:
    return array_api_compat.size(A)


def _baseline(loss, Y, k, dtype) -> float | None:
    """The loss of the best constant prediction (ln 2 for balanced 0/1 labels)."""
    if Y is None:
        return None
    xp = array_api_compat.array_namespace(Y)
    if isinstance(loss, _losses.BinaryCrossEntropy):
        p = [min(max(v, 1e-12), 1 - 1e-12) for v in to_numpy(xp.mean(Y, axis=0)).tolist()]
        return sum(-(q * math.log(q) + (1 - q) * math.log(1 - q)) for q in p) / len(p)
    if isinstance(loss, _losses.CrossEntropy):
        if Y.ndim == 1:  # integer labels: class frequencies through a one-hot matrix
            Y = one_hot(Y, k, xp=xp, dtype=dtype)
        p = [v for v in to_numpy(xp.mean(Y, axis=0)).tolist() if v > 0]
        return -sum(q * math.log(q) for q in p)
    if isinstance(loss, _losses.MeanSquaredError):
        return float(xp.mean(xp.var(Y, axis=0)))
    return None


# -- the rules: one function each, in the order of the table above --------------------------------


@dataclass(frozen=True)
class Rule:
    """A rule of the doctor: its ``name`` and ``severity`` (the table's), the ``stage`` whose
    measurements it reads (``"data"``: the model, the loss, ``X`` and raw ``y``; ``"pass"``: the
    statistics of one forward and backward pass; ``"curve"``: a training curve; ``"training"``:
    :class:`Diagnostics`' per-epoch records) and ``check(evidence) -> list[Finding]``."""

    name: str
    severity: str
    stage: str
    check: Callable[[Evidence], list[Finding]]


RULES: dict[str, Rule] = {}


def _rule(name: str, severity: str, stage: str):
    """Register the decorated ``check(evidence) -> list[Finding]`` as rule ``name``."""
    def register(check):
        RULES[name] = Rule(name, severity, stage, check)
        return check
    return register


def _check(stage: str, ev: Evidence) -> list[Finding]:
    """The findings of every rule of ``stage`` on ``ev``, in the table's order."""
    return [f for r in RULES.values() if r.stage == stage for f in r.check(ev)]


@_rule("labels", "error", "data")
def _labels_rule(ev):
    """Targets outside what the output activation and the loss can produce."""
    model, loss, y, k = ev.model, ev.loss, ev.y, ev.k
    backend = model.backend
    raw = backend.asarray(y, name="y")
    xp = backend.xp
    out_kind = _output_kind(model)
    values = xp.astype(raw, backend.dtype(model.dtype))
    binary = isinstance(loss, _losses.BinaryCrossEntropy)
    if not bool(xp.all(xp.isfinite(values))):
        return [Finding("labels", "error", None, "y holds NaN or infinite values",
                        "remove or impute the rows with missing targets")]
    if binary and not bool(xp.all((values == 0) | (values == 1))):
        found = _labels_text(raw)
        if bool(xp.all((values == -1) | (values == 1))):
            advice = ("map the labels to 0/1, y = (y + 1) / 2: a sigmoid outputs a probability in "
                      "(0, 1), and binary cross-entropy needs 0/1 targets (for ±1 targets use a "
                      "Tanh output with mean squared error)")
        else:
            advice = ("give 0/1 targets (one output per class, or integer labels with a Softmax "
                      "output and cross-entropy for more than two classes)")
        return [Finding("labels", "error", None,
                        f"y holds labels {found} but the output is "
                        f"{'a sigmoid' if out_kind == 'sigmoid' else out_kind} with "
                        f"{type(loss).__name__}: it can only produce (0, 1)", advice)]
    if isinstance(loss, _losses.CrossEntropy) and raw.ndim == 1 and k is not None:
        bad = (values < 0) | (values >= k) | (values != xp.round(values))
        if bool(xp.any(bad)):
            return [Finding("labels", "error", None,
                            f"y holds labels {_labels_text(raw)} but the softmax has {k} "
                            f"outputs: cross-entropy needs integer labels in [0, {k})",
                            f"map the classes to 0..{k - 1} (e.g. numpy.unique(y, "
                            "return_inverse=True)[1]) or give the model one output per class")]
    elif isinstance(loss, _losses.MeanSquaredError) and out_kind in ("sigmoid", "tanh"):
        lo, hi = float(xp.min(values)), float(xp.max(values))
        low, high = (0.0, 1.0) if out_kind == "sigmoid" else (-1.0, 1.0)
        if lo < low or hi > high:
            return [Finding("labels", "error", None,
                            f"targets range over [{lo:.3g}, {hi:.3g}] but a {out_kind} "
                            f"output stays in ({low:g}, {high:g})",
                            "end the model in a Dense layer (a linear output) for "
                            "real-valued targets, or rescale the targets")]
    if k is None:
        return []
    try:
        check_y(model, loss, y, ev.X.shape[0], k)
    except ValueError as err:
        return [Finding("labels", "error", None, str(err),
                        "make the targets fit the loss (see the message)")]
    return []


@_rule("unscaled_inputs", "warning", "data")
def _unscaled_inputs(ev):
    """A column with |mean| or std > 5, or column stds differing > 20x (unless the model
    standardises its inputs itself)."""
    X, model = ev.X, ev.model
    if model.layers and layer_kind(model.layers[0]) == "standardize":  # the model scales X
        return []
    xp = array_api_compat.array_namespace(X)
    if X.shape[0] < 2:
        return []
    mean = to_numpy(xp.mean(X, axis=0)).tolist()
    std = to_numpy(xp.std(X, axis=0)).tolist()
    worst = max(range(len(mean)), key=lambda j: max(abs(mean[j]), std[j]))
    scale = max(abs(mean[worst]), std[worst])
    spread = [s for s in std if s > 0]
    ratio = max(spread) / min(spread) if spread else 1.0
    if scale <= INPUT_SCALE and ratio <= INPUT_SPREAD:
        return []
    evidence = (f"column {worst} has mean {mean[worst]:.3g} and std {std[worst]:.3g}"
                if scale > INPUT_SCALE else "")
    if ratio > INPUT_SPREAD:
        lo, hi = std.index(min(spread)), std.index(max(spread))
        evidence += ("; " if evidence else "") + (f"column stds range from {std[lo]:.3g} (column "
                                                  f"{lo}) to {std[hi]:.3g} (column {hi})")
    return [Finding("unscaled_inputs", "warning", None, evidence,
                    "standardise each column, X = (X - mean) / std with the training set's mean "
                    "and std (keep them for predictions; `xpnet train` does this): large inputs "
                    "saturate sigmoids and make the first layer's gradients dominate")]


@_rule("unfused_loss", "warning", "data")
def _unfused_loss(ev):
    """Probabilities fed to a loss that xpnet cannot fuse, or logits expected but not given."""
    model = ev.model
    network, head = fuse(model, ev.loss)
    if network is not model:
        return []
    pairs = flat_layers(model)
    tail = []
    for key, layer in reversed(pairs):
        kind = layer_kind(layer)
        if kind != "custom" and LAYERS[kind].passthrough:
            tail.append(_name(key, layer))
            continue
        break
    else:
        return []
    squash = kind != "custom" and LAYERS[kind].probabilities
    probability_loss = isinstance(head, (_losses.BinaryCrossEntropy, _losses.CrossEntropy))
    if kind == "softmax" and ev.k == 1:
        return []  # constant 1 whatever the loss: one_unit_softmax names that cause
    if squash and probability_loss and not head.from_logits:
        through = f" through {', '.join(reversed(tail))}" if tail else ""
        pair = "Sigmoid" if isinstance(head, _losses.BinaryCrossEntropy) else "Softmax"
        if tail and kind == pair.lower():  # the pair fuses once the layers after it are gone
            fix = (f"end the model in the {type(layer).__name__} itself (drop "
                   f"{', '.join(reversed(tail))}) so the loss is fused")
        else:  # the activation is not the one this loss fuses with
            fix = (f"xpnet fuses {type(head).__name__} with {pair} only: end the model in "
                   f"{pair}, or keep the {type(layer).__name__} and use "
                   f"{'CrossEntropy' if pair == 'Sigmoid' else 'BinaryCrossEntropy'}")
        return [Finding("unfused_loss", "warning", _name(key, layer),
                        f"{type(head).__name__} gets probabilities from {type(layer).__name__} "
                        f"(layer {key}){through}: xpnet cannot fuse them, so the loss takes "
                        "log(p) (clamped at -100 when p reaches 0 or 1) and its gradient "
                        + ("(p - y) / (p (1 - p)) is multiplied back by the sigmoid's p (1 - p): "
                           "0 * inf once a unit saturates" if kind == "sigmoid" else
                           "-y / p goes back through the softmax's Jacobian: inf * 0 once a "
                           "probability reaches 0"),
                        f"{fix}, or end it in Dense and use {type(head).__name__}(from_logits=True); "
                        "never apply the loss to predict() outputs for training")]
    if squash and probability_loss and head.from_logits:
        return [Finding("unfused_loss", "warning", _name(key, layer),
                        f"{type(head).__name__}(from_logits=True) gets the outputs of "
                        f"{type(layer).__name__} (layer {key}): probabilities squashed a second "
                        "time", f"drop from_logits=True (xpnet then fuses the "
                        f"{type(layer).__name__} with the loss), or drop the "
                        f"{type(layer).__name__} layer")]
    if probability_loss and not head.from_logits and kind != "custom" and not squash:
        return [Finding("unfused_loss", "error", _name(key, layer),
                        f"{type(head).__name__} expects probabilities but the model ends in "
                        f"{type(layer).__name__}, whose outputs are not in (0, 1)",
                        f"use {type(head).__name__}(from_logits=True), or end the model in "
                        f"{'Sigmoid' if isinstance(head, _losses.BinaryCrossEntropy) else 'Softmax'}")]
    return []


@_rule("one_unit_softmax", "error", "pass")
def _one_unit_softmax(ev):
    """A Softmax over 1 unit: exp(z) / exp(z) = 1 for every input, so its gradient is zero and
    nothing before it learns, whatever the loss."""
    layers, pairs = _layers(ev)
    output = _output_layer(pairs)
    findings = []
    for s in ev.stats:
        if s.kind != "softmax" or s.width != 1:
            continue
        last = output is not None and s.index == output[0]
        findings.append(Finding(
            "one_unit_softmax", "error", _name(s.index, layers[s.index]),
            "this Softmax normalises over 1 unit: its output is constant 1 for every input, so "
            "its gradient is zero and no layer before it learns"
            + (" (the loss cannot move)" if last else ""),
            "for one output, end the model in Sigmoid and train with binary cross-entropy "
            "(mlp(..., output='sigmoid')); a softmax needs >= 2 outputs, one per class, with "
            "cross-entropy" if last else
            "give the layer before this Softmax >= 2 units, or use another activation"))
    return findings


def _layers(ev):
    """``({index: layer}, [(index, layer), ...])`` of the model's flattened layers."""
    pairs = flat_layers(ev.model)
    return dict(pairs), pairs


@_rule("same_sign_weights", "warning", "pass")
def _same_sign_weights(ev):
    """Every weight of a Dense layer (>= 8 weights) has the same sign."""
    layers, _ = _layers(ev)
    findings = []
    for s in ev.stats:
        if s.kind != "dense":
            continue
        W = layers[s.index].params["W"]
        if _size(W) >= SAME_SIGN_MIN_WEIGHTS and s.positive in (0.0, 1.0):
            xp = array_api_compat.array_namespace(W)
            lo, hi, mean = float(xp.min(W)), float(xp.max(W)), float(xp.mean(W))
            sign = "positive" if s.positive == 1.0 else "negative or zero"
            findings.append(Finding(
                "same_sign_weights", "warning", _name(s.index, layers[s.index]),
                f"all {_size(W)} weights of {s.index}.W are {sign} (min {lo:.3g}, mean {mean:.3g}, "
                f"max {hi:.3g}), as an all-positive initialiser such as U[0, 1) draws them",
                "initialise with zero-mean weights: Dense(..., init='glorot_uniform') (the "
                "default; 'he_uniform' before ReLU). Same-sign weights add every input with the "
                "same sign, so the pre-activations grow with n_in, the units move together and "
                "sigmoids saturate"))
    return findings


@_rule("saturation", "warning", "pass")
def _saturation(ev):
    """> 50% of a hidden sigmoid/tanh layer's outputs have a slope below 5% of its maximum (a
    confident output layer is fine)."""
    layers, pairs = _layers(ev)
    last = pairs[-1][0] if pairs else None
    return [Finding(
        "saturation", "warning", _name(s.index, layers[s.index]),
        f"{100 * s.saturated:.0f}% of the outputs of this {s.kind} layer are saturated "
        f"(slope below {100 * SATURATION_SLOPE:.0f}% of its maximum), so almost no "
        "gradient passes through them",
        "use zero-mean initial weights (glorot_uniform), standardise the inputs, lower "
        "the learning rate if it happened during training — or use ReLU hidden layers")
        for s in ev.stats
        if s.saturated is not None and s.index != last and s.saturated > SATURATED_FRACTION]


@_rule("vanishing_gradients", "warning", "pass")
def _vanishing_gradients(ev):
    """The gradient reaching the first Dense layer is < 1/100 of the one at the last (RMS of
    dZ), through >= 2 sigmoid/tanh layers, > 25% of some such layer's outputs saturated."""
    layers, pairs = _layers(ev)
    stats = ev.stats
    measured = [s for s in stats if s.kind == "dense" and s.delta_rms is not None]
    if len(measured) < 2:
        return []
    first, final = measured[0], measured[-1]
    between = [s for s in stats if s.kind in ("sigmoid", "tanh")
               and _position(s.index, pairs) > _position(first.index, pairs)
               and _position(s.index, pairs) < _position(final.index, pairs)]
    saturated = [s for s in between if (s.saturated or 0.0) > VANISHING_SATURATED]
    if not (final.delta_rms > 0 and len(between) >= 2 and saturated
            and first.delta_rms < VANISHING_RATIO * final.delta_rms):
        return []
    chain = ", ".join(f"{s.index}: {s.delta_rms:.2g}" for s in measured)
    return [Finding(
        "vanishing_gradients", "warning", _name(first.index, layers[first.index]),
        f"the gradient reaching layer {first.index} is "
        f"{first.delta_rms / final.delta_rms:.2g} times the one at layer {final.index} "
        f"(RMS of dZ per Dense layer: {chain}), through {len(between)} "
        f"{'/'.join(sorted({s.kind for s in between}))} layers whose slope is at most "
        "0.25 (sigmoid) each and near 0 once saturated (saturated outputs: "
        + ", ".join(f"layer {s.index} {100 * s.saturated:.0f}%" for s in saturated) + ")",
        "use zero-mean initial weights and standardised inputs so the sigmoids work "
        "near their steepest point; for deeper networks use ReLU/tanh hidden layers")]


@_rule("dead_relu", "warning", "pass")
def _dead_relu(ev):
    """> 50% of a ReLU layer's units are 0 for every sample (an error when all are)."""
    layers, _ = _layers(ev)
    return [Finding(
        "dead_relu", "error" if s.dead == 1.0 else "warning", _name(s.index, layers[s.index]),
        f"{100 * s.dead:.0f}% of the {s.width} units output 0 for every sample: they get "
        "no gradient and never recover",
        "use He initialisation (init='he_uniform'), a smaller learning rate, or LeakyReLU")
        for s in ev.stats if s.dead is not None and s.dead > DEAD_FRACTION]


@_rule("constant_prediction", "warning", "pass")
def _constant_prediction(ev):
    """The outputs vary by < 1e-4 over the samples."""
    m = ev.X.shape[0]
    if ev.value is None or m <= 1 or ev.spread is None or ev.spread >= CONSTANT_SPREAD:
        return []
    baseline = ev.baseline
    at = (f"; the loss {ev.value:.4g} is no better than a constant prediction "
          f"({baseline:.4g}{' = ln 2' if abs(baseline - math.log(2)) < 1e-3 else ''})"
          if baseline is not None and ev.value >= baseline * (1 - STUCK_TOLERANCE) else "")
    return [Finding(
        "constant_prediction", "warning", None,
        f"the outputs vary by only {ev.spread:.2g} over the {m} samples: the "
        f"model predicts (almost) the same value for every input{at}",
        "the network ignores its inputs: look at the other findings (saturated units, "
        "same-sign weights, a learning rate decaying too fast); check that X and y are "
        "aligned")]


@_rule("non_finite", "error", "pass")
def _non_finite(ev):
    """The loss or a gradient is NaN or infinite."""
    if ev.bad_loss is not None:
        return [Finding("non_finite", "error", None, f"the loss is {ev.bad_loss}",
                        "lower the learning rate (look at the weight norms |W| below), "
                        "standardise the inputs, check the labels fit the loss")]
    layers, _ = _layers(ev)
    return [Finding("non_finite", "error", _name(key, layers[key]),
                    f"the gradient of {key}.{name} is not finite",
                    "look for overflow: unscaled inputs, huge weights")
            for key, name in ev.bad_grads]


@_rule("large_updates", "warning", "pass")
def _large_updates(ev):
    """An update (for the given lr) moves a Dense layer's weights by > 10% of their norm."""
    layers, _ = _layers(ev)
    return [_large_update(s, layers) for s in ev.stats
            if s.kind == "dense" and s.update_ratio is not None and s.update_ratio > LARGE_UPDATE]


@_rule("lr_too_high", "error", "training")
def _lr_too_high(ev):
    """(Diagnostics) One step moved a Dense layer's weights by more than their own norm, or by
    > 10% while the loss ends above 2x that of a constant prediction."""
    records, losses, baseline = ev.records, ev.losses, ev.baseline
    steps = [(r["layers"][k]["update_ratio"], r["epoch"], k) for r in records
             for k in r["layers"] if r["layers"][k].get("update_ratio") is not None]
    if not steps:
        return []
    ratio, epoch, key = max(steps)
    worse = bool(losses) and baseline is not None and losses[-1] > LR_WORSE * baseline
    if not (ratio > LR_STEP_MAX or (ratio > LARGE_UPDATE and worse)):
        return []
    lr = next((r["lr"] for r in records if r["lr"] is not None), None)
    evidence = (f"one step moved {key}.W by {100 * ratio:.0f}% of its norm (epoch {epoch + 1}; "
                "healthy training: about 0.1-5%)")
    if losses and baseline is not None:
        evidence += (f"; the loss ends at {losses[-1]:.4g}, "
                     + (f"{losses[-1] / baseline:.1f}x" if worse else "against")
                     + f" the {baseline:.4g} of a constant prediction")
    val = [r["val_loss"] for r in records if r.get("val_loss") is not None]
    if len(val) > 1:
        evidence += f"; the validation loss ranged over {min(val):.3g}-{max(val):.3g}"
    return [Finding("lr_too_high", "error", None, evidence,
                    f"lower the learning rate{f' (lr={lr:g})' if lr is not None else ''} by "
                    "10-100x: SGD on standardised inputs works near 0.1-1, Adam near 1e-3-1e-2; "
                    "or clip gradients (clip_norm=)")]


def _finite_curve(losses) -> bool:
    return all(math.isfinite(v) for v in losses)


@_rule("lr_diverges", "error", "curve")
def _lr_diverges(ev):
    """The loss became non-finite, or ends > 1.5x its minimum and above its start."""
    losses = ev.losses
    if not _finite_curve(losses):
        return [Finding("lr_diverges", "error", None,
                        "the loss became NaN or infinite during training",
                        "lower the learning rate (by 10x) and standardise the inputs")]
    n = len(losses)
    if n < 3:
        return []
    low = min(losses)
    if not (losses[-1] > DIVERGE_FACTOR * low and losses[-1] > losses[0]):
        return []
    where = losses.index(low)
    return [Finding(
        "lr_diverges", "error", None,
        f"the loss fell to {low:.4g} (epoch {where + 1}) and then rose to {losses[-1]:.4g} "
        f"(epoch {n}), above where it started ({losses[0]:.4g})",
        "lower the learning rate (by 10x), or decay it; clip gradients (clip_norm=)")]


@_rule("lr_oscillates", "warning", "curve")
def _lr_oscillates(ev):
    """>= 40% of the last 20 epochs' changes are rises, and the changes average > 10% of the
    loss and > 5% of the first loss."""
    losses = ev.losses
    if len(losses) < 3 or not _finite_curve(losses):
        return []
    window = losses[-(OSCILLATE_WINDOW + 1):]
    steps = [b - a for a, b in zip(window[:-1], window[1:], strict=True)]
    if len(steps) < 5:
        return []
    rises = sum(d > 0 for d in steps) / len(steps)
    mean_loss = sum(window) / len(window)
    mean_step = sum(abs(d) for d in steps) / len(steps)
    amplitude = mean_step / mean_loss if mean_loss else 0.0
    if not (rises >= OSCILLATE_RISES and amplitude > OSCILLATE_AMPLITUDE
            and mean_step > OSCILLATE_SCALE * abs(losses[0])):
        return []
    return [Finding(
        "lr_oscillates", "warning", None,
        f"over the last {len(steps)} epochs the loss rose {sum(d > 0 for d in steps)} "
        f"times, by {100 * amplitude:.0f}% of its value on average",
        "lower the learning rate (by 3-10x), use a larger batch, or a schedule that "
        "decays it (CosineAnnealingLR, ReduceLROnPlateau)")]


@_rule("lr_decays_too_fast", "warning", "curve")
def _lr_decays_too_fast(ev):
    """(lr record) The mean lr is < 20% of the first and the last < 5%."""
    losses, lrs = ev.losses, ev.lrs
    if not _finite_curve(losses) or len(lrs) < DECAY_MIN_EPOCHS or lrs[0] <= 0:
        return []
    mean_ratio = sum(lrs) / len(lrs) / lrs[0]
    last_ratio = lrs[-1] / lrs[0]
    if not (mean_ratio < DECAY_MEAN and last_ratio < DECAY_LAST):
        return []
    shape = ""
    products = [v * (i + 1) for i, v in enumerate(lrs)]
    if max(products) <= 1.05 * min(products):
        shape = f": lr = {lrs[0]:.3g} / epoch, whose steps add up only like ln(epochs)"
    return [Finding(
        "lr_decays_too_fast", "warning", None,
        f"the learning rate fell from {lrs[0]:.3g} to {lrs[-1]:.3g} over {len(lrs)} epochs "
        f"(mean {mean_ratio:.0%} of the first){shape}; "
        + (f"the loss went from {losses[0]:.4g} to {losses[-1]:.4g}" if losses else
           "the late epochs barely move the weights"),
        "keep the learning rate constant (Adam with lr=1e-3..1e-2 needs no schedule), or "
        "decay it slowly (StepLR, CosineAnnealingLR, ReduceLROnPlateau)")]


@_rule("loss_stuck", "warning", "curve")
def _loss_stuck(ev):
    """The last 5 losses stay within 2% of the loss of a constant prediction (ln 2 for balanced
    0/1 labels)."""
    losses = ev.losses
    base = math.log(2.0) if ev.baseline is None else ev.baseline
    if not _finite_curve(losses) or len(losses) < STUCK_EPOCHS or base <= 0:
        return []
    tail = losses[-STUCK_EPOCHS:]
    if not all(abs(v - base) <= STUCK_TOLERANCE * base for v in tail):
        return []
    name = " = ln 2" if abs(base - math.log(2)) < 1e-3 else ""
    return [Finding(
        "loss_stuck", "warning", None,
        f"the last {STUCK_EPOCHS} epochs' losses ({', '.join(f'{v:.4f}' for v in tail)}) "
        f"stay at {base:.4f}{name}, the loss of predicting the same value for every "
        "sample",
        "the model is not using its inputs: look at the initial weights (zero-mean), "
        "the input scale, saturated units and the learning rate")]


def _consequence(f):
    """A finding that appeared during training, attributed to the learning rate."""
    return Finding(f.rule, f.severity, f.layer, f.evidence,
                   "a consequence of the steps being too large (see lr_too_high): the initial "
                   "model did not have it; lower the learning rate first")


def _large_update(s, layers):
    return Finding("large_updates", "warning", _name(s.index, layers[s.index]),
                   f"one step moves {s.index}.W by {100 * s.update_ratio:.0f}% of its norm "
                   f"(healthy training: about 0.1%)",
                   "lower the learning rate (by 10x), or clip gradients (clip_norm=)")


def _position(index, pairs):
    return [k for k, _ in pairs].index(index)


# -- training curves -----------------------------------------------------------------------------


def curve_findings(losses, lrs, baseline=None) -> list[Finding]:
    """Findings from a training curve: per-epoch ``losses`` and learning rates ``lrs`` (either may
    be empty); ``baseline`` is the loss of a constant prediction (default ln 2)."""
    return _check("curve", Evidence(losses=[float(v) for v in losses],
                                    lrs=[float(v) for v in lrs], baseline=baseline))


# -- the callback --------------------------------------------------------------------------------


class Diagnostics(Callback):
    """The doctor during ``fit``: per-epoch statistics and learning rate, findings at the end.

    Parameters
    ----------
    X, y : array-like, optional
        Data to measure the layers on (the first ``max_samples`` rows), at the start of training,
        every ``every`` epochs and at the end. Without them only the loss, the learning rate and
        the measured update-to-weight ratios are recorded.
    every : int
        Measure the layers every this many epochs.
    max_samples : int
        Rows of ``X`` used for the per-layer statistics.

    Attributes
    ----------
    records : list of dict
        Per epoch: ``{"epoch", "loss", "lr", "layers": {index: {"update_ratio", "saturated",
        "dead", "grad_norm", "delta_rms"}}}``.
    initial, final : Report or None
        :func:`diagnose` before the first and after the last epoch (with ``X, y``).
    report : Report
        Set at the end of training: every finding (those at initialisation marked so), the final
        per-layer statistics and the per-epoch records.
    """

    def __init__(self, X=None, y=None, *, every: int = 1, max_samples: int = 1024):
        if (X is None) != (y is None):
            raise ValueError("give both X and y, or neither")
        every, max_samples = check_int("every", every, 1), check_int("max_samples", max_samples, 1)
        self.X, self.y, self.every, self.max_samples = X, y, every, max_samples
        self.records: list[dict] = []
        self.initial = self.final = None
        self.report = Report()

    def _sample(self):
        X, y = self.X, self.y
        if hasattr(X, "shape") and X.shape[0] > self.max_samples:
            X, y = X[:self.max_samples], y[:self.max_samples]
        elif not hasattr(X, "shape"):
            X, y = list(X)[:self.max_samples], list(y)[:self.max_samples]
        return X, y

    def _loss(self):
        return self.state.loss if self.state is not None else None

    def on_train_begin(self, logs=None):
        self.records, self._weights, self._ratios, self._lr = [], {}, {}, None
        self.report = Report()
        if self.X is not None:
            self.initial = diagnose(self.model, *self._sample(), loss=self._loss())

    def _dense(self):
        return [(key, layer) for key, layer in flat_layers(self.model)
                if layer_kind(layer) == "dense"]

    def on_epoch_begin(self, epoch, logs=None):
        xp = self.model.backend.xp
        self._weights = {key: xp.asarray(layer.params["W"], copy=True) for key, layer in self._dense()}
        self._ratios, self._lr = {}, None

    def on_batch_end(self, step, logs=None):
        if step != 0:
            return
        self._lr = getattr(self.optimizer, "lr", None)
        for key, layer in self._dense():  # one step's update, measured at the epoch's end
            before = self._weights.get(key)
            if before is not None:
                self._ratios[key] = (layer.params["W"] - before, before)

    def on_epoch_end(self, epoch, logs=None):
        layers = {}
        xp = self.model.backend.xp
        for key, (delta, before) in self._ratios.items():
            norm = _norm(before, xp=xp)
            layers[key] = {"update_ratio": _norm(delta, xp=xp) / norm if norm else None}
        if self.X is not None and (epoch + 1) % self.every == 0:
            snapshot = diagnose(self.model, *self._sample(), loss=self._loss())
            for s in snapshot.layers:
                entry = layers.setdefault(s.index, {})
                entry.update(saturated=s.saturated, dead=s.dead, grad_norm=s.grad_norm,
                             delta_rms=s.delta_rms)
        self.records.append({"epoch": epoch, "loss": (logs or {}).get("loss"), "lr": self._lr,
                             "val_loss": (logs or {}).get("val_loss"), "layers": layers})

    def on_train_end(self, logs=None):
        findings = []
        report = Report(epochs=self.records)
        if self.initial is not None:
            for f in self.initial.findings:
                findings.append(Finding(f.rule, f.severity, f.layer,
                                        f"at initialisation: {f.evidence}", f.advice))
        seen = {(f.rule, f.layer) for f in findings}
        if self.X is not None:
            self.final = diagnose(self.model, *self._sample(), loss=self._loss())
            # same-sign weights are a defect of an initialiser; a trained network may have them
            findings += [Finding(f.rule, f.severity, f.layer, f"after training: {f.evidence}",
                                 f.advice) for f in self.final.findings
                         if (f.rule, f.layer) not in seen and f.rule != "same_sign_weights"]
            report.layers, report.loss, report.baseline = (self.final.layers, self.final.loss,
                                                           self.final.baseline)
            last = self.records[-1]["layers"] if self.records else {}
            for s in report.layers:  # the update measured in the last epoch
                s.update_ratio = last.get(s.index, {}).get("update_ratio", s.update_ratio)
        losses = [r["loss"] for r in self.records if r["loss"] is not None]
        lrs = [r["lr"] for r in self.records if r["lr"] is not None]
        baseline = self.initial.baseline if self.initial is not None else None
        findings += curve_findings(losses, lrs, baseline)
        pairs = dict(flat_layers(self.model))
        for key in pairs:
            ratios = sorted(r["layers"][key]["update_ratio"] for r in self.records
                            if r["layers"].get(key, {}).get("update_ratio") is not None)
            if ratios and ratios[len(ratios) // 2] > LARGE_UPDATE:
                s = LayerStats(key, repr(pairs[key]), "dense", 0,
                               update_ratio=ratios[len(ratios) // 2])
                f = _large_update(s, pairs)
                findings.append(Finding(f.rule, f.severity, f.layer,
                                        f"median over the epochs: {f.evidence}", f.advice))
        lr_finding = RULES["lr_too_high"].check(Evidence(
            records=self.records, losses=losses, baseline=baseline if baseline is not None else (
                self.final.baseline if self.final is not None else None)))
        if lr_finding:  # what appeared only during training is its consequence
            findings = [*lr_finding, *(_consequence(f) if f.rule in _CONSEQUENCES
                                       and (f.rule, f.layer) not in seen else f for f in findings)]
        report.findings = _sorted(findings)
        self.report = report
