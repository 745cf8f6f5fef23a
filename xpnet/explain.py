"""Backpropagation that explains itself: a model's summary and every operation with its shapes.

:func:`summary` lists the layers, their output shapes and parameter counts. :func:`explain` lists
every forward and backward operation a training step performs, in order, with its equation and its
concrete shapes — where the batch mean enters (the loss) and, when the model ends in ``Sigmoid``
(``Softmax``) and the loss is binary cross-entropy (cross-entropy), the fused output gradient::

    >>> print(xpnet.explain(xpnet.mlp([2, 5, 5, 1], "sigmoid", "sigmoid")))   # doctest: +SKIP
    ...
    dW3 = A2.T @ dZ3                  (5, m) @ (m, 1) -> (5, 1)          grads['4.W']

Shapes are derived from the layers themselves (``Dense`` maps ``n_in`` to ``n_out``, activations
and ``Dropout`` keep the shape); equations are those each registered layer class declares
(:data:`xpnet.layers.LAYERS`, ``equations``); a custom layer gets a generic line, its output width found by
running it once on a two-row batch of zeros. Nothing here computes on the data: an explanation is
text about the code, and every step names the function that implements it.

Naming follows the textbooks: the ``l``-th ``Dense`` layer computes ``Zl``, the activation after
it ``Al`` (``Dl`` for a ``Dropout``, ``Hl`` for a custom layer), the input is ``X``, the target
``Y``; a ``d`` prefix is ``∂L/∂·``. ``Wl`` and ``bl`` are ``model.params["<index>.W"]`` and
``["<index>.b"]``, with the index shown next to each gradient.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from . import losses as _losses
from .grad import fuse
from .layers import LAYERS, Sequential, equation_lines
from .layers import kind as layer_kind

__all__ = ["Explanation", "Step", "explain", "summary"]

CONVENTIONS = ("row", "column", "both")

# layer_kind (xpnet.layers.kind): the registry name of a layer's class, "custom" for anything
# else (including a subclass that overrides forward).


def flat_layers(model, prefix: str = ""):
    """``[(index, layer), ...]`` in execution order, nested ``Sequential`` models flattened;
    ``index`` is the prefix of the layer's keys in ``model.params`` (``"4"``, ``"3.1"``)."""
    layers = model.layers if isinstance(model, Sequential) else [model]
    out = []
    for i, layer in enumerate(layers):
        key = f"{prefix}{i}" if isinstance(model, Sequential) else prefix.rstrip(".")
        if isinstance(layer, Sequential):
            out.extend(flat_layers(layer, key + "."))
        else:
            out.append((key, layer))
    return out


def _shape_text(shape) -> str:
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _widths(model, pairs):
    """The output width (features) after each layer of ``pairs``, from the layers' own sizes."""
    widths = []
    n = None
    for i, (key, layer) in enumerate(pairs):
        kind = layer_kind(layer)
        if kind == "dense":
            if n is not None and n != layer.n_in:
                raise ValueError(f"layer {key} is {layer!r} but the layer before it outputs {n} "
                                 "features: the model cannot run")
            n = layer.n_out
        elif kind == "custom":
            if n is None:
                raise ValueError(f"cannot tell the input width of the model: its first "
                                 f"parameterised layer ({key}: {type(layer).__name__}) is not a "
                                 "Dense layer")
            n = _probe(model, key, layer, n)
        elif n is None:  # an activation or dropout before the first Dense: find the input width
            n = _first_dense_width(pairs[i:], key)
        widths.append(n)
    return widths


def _first_dense_width(pairs, key):
    for _, layer in pairs:
        kind = layer_kind(layer)
        if kind == "dense":
            return layer.n_in
        if kind == "custom":
            break
    raise ValueError(f"cannot tell the input width of the model at layer {key}: no Dense layer "
                     "comes before a custom layer")


def _probe(model, key, layer, n_in) -> int:
    """A custom layer's output width: run it on a (2, n_in) batch of zeros."""
    backend = getattr(model, "backend", None)
    if backend is None:
        from . import backend as _backend

        backend = _backend.get()
    xp = backend.xp
    dtype = backend.dtype(getattr(model, "dtype", "float32"))
    try:
        with backend.context():  # CuPy's zeros ignores device=
            Y = layer.forward(xp.zeros((2, n_in), dtype=dtype, device=backend.device))[0]
        shape = tuple(Y.shape)
    except Exception as err:
        raise ValueError(f"cannot trace layer {key} ({type(layer).__name__}): it is not one of "
                         f"xpnet's layers and running it on a (2, {n_in}) batch failed: {err}") from None
    if len(shape) != 2 or shape[0] != 2:
        raise ValueError(f"cannot trace layer {key} ({type(layer).__name__}): on a (2, {n_in}) "
                         f"batch it returned shape {shape}; explain needs (2, n_out)")
    return int(shape[1])


# -- summary -------------------------------------------------------------------------------------


def summary(model) -> str:
    """A table of the model: layers, output shapes, parameter counts, dtype, backend and device.

    The batch dimension is written ``m``. ``print(summary(model))`` (or ``model.summary()``)::

        Sequential: 6 layers, 46 parameters, float32 on numpy (device cpu)
          layer  type          output shape  params  parameters
          0      Dense(2, 5)   (m, 5)        15      W (2, 5), b (5,)
          ...

    Raises
    ------
    ValueError
        When the layers' sizes do not chain, or a custom layer cannot be traced.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"summary needs an xpnet Sequential model, got {type(model).__name__}")
    pairs = flat_layers(model)
    widths = _widths(model, pairs)
    rows = []
    total = 0
    for (key, layer), n in zip(pairs, widths, strict=True):
        count = sum(math.prod(tuple(v.shape)) for v in layer.params.values())
        total += count
        shapes = ", ".join(f"{name} {_shape_text(tuple(v.shape))}" for name, v in layer.params.items())
        rows.append((key, repr(layer), _shape_text(("m", n)), str(count), shapes))
    header = ("layer", "type", "output shape", "params", "parameters")
    cols = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [f"Sequential: {len(pairs)} layers, {total} parameters, {model.dtype} on "
             f"{model.backend.name} (device {model.backend.device})"]
    for r in [header, *rows]:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r[:4], cols, strict=True))
                     + ("  " + r[4] if r[4] else "").rstrip())
    n_in = _first_dense_width(pairs, "0") if pairs and layer_kind(pairs[0][1]) != "custom" else None
    lines.append(f"  input {_shape_text(('m', n_in)) if n_in else '(m, ?)'} -> output "
                 f"{_shape_text(('m', widths[-1])) if widths else '(m, ?)'}; total parameters "
                 f"{total}; dtype {model.dtype}; backend {model.backend.name}; device "
                 f"{model.backend.device}")
    if model.classes is not None:
        lines.append(f"  classes: {', '.join(map(str, model.classes))}")
    return "\n".join(line.rstrip() for line in lines)


# -- explain -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One operation of a training step.

    Attributes
    ----------
    phase : str
        ``"forward"``, ``"loss"`` or ``"backward"``.
    name : str
        The quantity it computes: ``"Z1"``, ``"L"``, ``"dW3"``.
    equation, shapes : str
        In xpnet's batch-first convention: ``"dW3 = A2.T @ dZ3"``, ``"(5, m) @ (m, 1) -> (5, 1)"``.
    shape : tuple
        The result's shape (ints, and ``m`` — or the given batch size — for the batch).
    column_equation, column_shapes, column_shape
        The same in the column convention (``W (n_out, n_in)``, ``X (n_features, m)``).
    layer : str or None
        The layer's index in the model (the prefix of its keys in ``model.params``); ``None`` for
        the loss.
    implementation : str
        The function that performs it, e.g. ``"xpnet.layers.Dense.forward"``.
    param : str or None
        For a parameter gradient, its key in ``model.params`` (and in the ``grads`` dict).
    note : str
        Why it matters, when it does (the batch mean, the fused gradient, ...).
    """

    phase: str
    name: str
    equation: str
    shapes: str
    shape: tuple
    column_equation: str
    column_shapes: str
    column_shape: tuple
    layer: str | None
    implementation: str
    param: str | None = None
    note: str = ""


@dataclass
class Explanation:
    """What :func:`explain` returns: the steps in order, and how to print them.

    ``str(explanation)`` prints every step in ``convention``; ``explanation["dW3"]`` is the step
    that computes ``dW3``; ``explanation.steps`` is the full list; :meth:`text` renders another
    convention.
    """

    steps: list[Step]
    batch_size: int | str
    loss: _losses.Loss
    fused: bool
    convention: str = "row"
    description: str = ""
    output: str = ""
    input_width: int = 0
    output_width: int = 0
    inferred_loss: bool = False
    _index: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self._index = {step.name: step for step in self.steps}

    def __getitem__(self, name: str) -> Step:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no step computes {name!r}; steps: {list(self._index)}") from None

    def __iter__(self):
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def forward(self) -> list[Step]:
        return [s for s in self.steps if s.phase == "forward"]

    @property
    def backward(self) -> list[Step]:
        return [s for s in self.steps if s.phase == "backward"]

    def __str__(self) -> str:
        return self.text(self.convention)

    def text(self, convention: str | None = None) -> str:
        """The explanation as text in ``convention`` (``"row"``, ``"column"`` or ``"both"``)."""
        convention = _check_convention(convention or self.convention)
        m = self.batch_size
        loss_name = {"binary_crossentropy": "binary cross-entropy", "crossentropy": "cross-entropy",
                     "mse": "mean squared error"}.get(self.loss.name, type(self.loss).__name__)
        how = "inferred from the output layer" if self.inferred_loss else ""
        batch = "a batch of m samples" if m == "m" else f"a batch of m = {m} samples"
        lines = [f"{self.description}",
                 f"one training step on {batch}; loss: {loss_name}{f' ({how})' if how else ''}"]
        if self.fused:
            lines.append(f"fused: the output {self.output} and {loss_name} (xpnet.grad.fuse): "
                         "the loss reads the logits and sends back (p - Y) / m")
        row_head = f"batch-first (xpnet): X (m, {self.input_width}), W (n_in, n_out), b (n_out,)"
        col_head = f"column (textbooks): X ({self.input_width}, m), W (n_out, n_in), b (n_out, 1)"
        if convention == "row":
            lines.append(f"convention: {row_head}")
        elif convention == "column":
            lines.append(f"convention: {col_head}; each array is the transpose of xpnet's "
                         "(W = params[...].T, X = X.T)")
        sections = (("forward", "forward"),
                    ("loss", "loss (the batch mean enters here, and only here: 1/m; layers "
                             "never divide by m)"),
                    ("backward", "backward (in reverse; every gradient below carries the 1/m "
                                 "from the loss)"))
        rows = {"row": [], "column": []}
        for step in self.steps:
            rows["row"].append((step.equation, step.shapes))
            rows["column"].append((step.column_equation, step.column_shapes))
        widths = {k: (max(len(e) for e, _ in v), max(len(s) for _, s in v)) for k, v in rows.items()}
        if convention == "both":
            lines.append(f"convention: {row_head}  |  {col_head}")
        for phase, title in sections:
            lines.append("")
            lines.append(title)
            for i, step in enumerate(self.steps):
                if step.phase != phase:
                    continue
                notes = " ".join(p for p in (f"grads[{step.param!r}]" if step.param else "",
                                             step.note) if p)
                if convention == "both":
                    (e1, s1), (e2, s2) = rows["row"][i], rows["column"][i]
                    (w1, w2), (w3, w4) = widths["row"], widths["column"]
                    text = f"  {e1:<{w1}}  {s1:<{w2}}  | {e2:<{w3}}  {s2:<{w4}}"
                else:
                    e, s = rows[convention][i]
                    w1, w2 = widths[convention]
                    text = f"  {e:<{w1}}  {s:<{w2}}"
                lines.append((text + ("  " + notes if notes else "")).rstrip())
        return "\n".join(lines)


def _check_convention(convention):
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {list(CONVENTIONS)}, got {convention!r}")
    return convention


def _check_batch(batch_size):
    if batch_size is None or (isinstance(batch_size, str) and batch_size == "m"):
        return "m"
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        # explain(model, X) passes the data here: its repr would be the whole array
        got = batch_size if isinstance(batch_size, (int, float, str)) else type(batch_size).__name__
        raise ValueError(f"batch_size must be 'm' or an int >= 1, got {got!r} (explain shows "
                         "the equations for a batch size, not for data)")
    return batch_size


def _default_loss(pairs) -> _losses.Loss:
    """The loss the output layer's class declares (``default_loss``), else mean squared error."""
    kind = layer_kind(pairs[-1][1]) if pairs else "custom"
    return _losses.get((LAYERS[kind].default_loss if kind in LAYERS else None) or "mse")


class _Tracer:
    """Builds the steps; ``m`` is the batch size (or ``"m"``)."""

    def __init__(self, m):
        self.m = m
        self.steps: list[Step] = []

    def add(self, phase, name, equation, column_equation, operands, result, *, op, layer,
            implementation, param=None, note="", column_op=None):
        """``operands`` and ``result`` are row-convention shapes; the column ones are their
        transposes (a 1-D bias becomes a column ``(n, 1)``)."""
        column_op = column_op or op

        def col(shape):
            return (shape[0], 1) if len(shape) == 1 else tuple(reversed(shape))

        def fmt(shapes, res, joiner):
            left = joiner.join(_shape_text(s) for s in shapes) if shapes else ""
            return f"{left} -> {_shape_text(res)}" if left else _shape_text(res)

        cols = [col(s) for s in operands]
        if op == "matmul_bias":  # Z = X @ W + b  vs  Z = W @ X + b
            row_text = f"{_shape_text(operands[0])} @ {_shape_text(operands[1])}" + (
                f" + {_shape_text(operands[2])}" if len(operands) > 2 else "")
            col_text = f"{_shape_text(cols[1])} @ {_shape_text(cols[0])}" + (
                f" + {_shape_text(cols[2])}" if len(cols) > 2 else "")
            shapes, column_shapes = (f"{row_text} -> {_shape_text(result)}",
                                     f"{col_text} -> {_shape_text(col(result))}")
        elif op == "matmul_swap":  # A.T @ dZ  vs  dZ @ A.T: the column form multiplies in reverse
            shapes = fmt(operands, result, " @ ")
            column_shapes = fmt(list(reversed(cols)), col(result), " @ ")
        else:
            shapes = fmt(operands, result, op)
            column_shapes = fmt(cols, col(result), column_op)
        self.steps.append(Step(phase, name, equation, shapes, tuple(result), column_equation,
                               column_shapes, col(result) if result else (), layer,
                               implementation, param, note))


def explain(model, batch_size="m", loss=None, convention="row") -> Explanation:
    """Every forward and backward operation of one training step, with equations and shapes.

    Parameters
    ----------
    model : Sequential
        Any model built from xpnet's layers (``Dense``, the activations, ``Dropout``, nested
        ``Sequential``); a custom layer gets a generic line.
    batch_size : int or "m"
        The batch size to show in the shapes (``"m"``: symbolic).
    loss : Loss, str or None
        The loss the model is trained with. ``None`` infers it from the last layer: binary
        cross-entropy after ``Sigmoid``, cross-entropy after ``Softmax``, else mean squared error.
    convention : {"row", "column", "both"}
        How ``str()`` prints it: xpnet's batch-first convention (``Z = X @ W + b``, ``W (n_in,
        n_out)``), the column convention of many textbooks (``Z = W @ X + b``, ``W (n_out, n_in)``,
        ``X (n_features, m)``), or both side by side. Every step carries both.

    Returns
    -------
    Explanation
        ``.steps`` (a list of :class:`Step`), ``explanation["dW3"]``, and ``str()`` to print.

    Raises
    ------
    ValueError
        For a bad ``batch_size``/``convention``/``loss``, sizes that do not chain, or a custom
        layer that cannot be run on a small batch of zeros.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"explain needs an xpnet Sequential model, got {type(model).__name__}")
    m = _check_batch(batch_size)
    convention = _check_convention(convention)
    pairs = flat_layers(model)
    if not pairs:
        raise ValueError("explain needs a model with at least one layer")
    inferred = loss is None
    loss = _default_loss(pairs) if inferred else _losses.get(loss)
    network, head = fuse(model, loss)
    fused = network is not model
    widths = _widths(model, pairs)
    n_in = _first_dense_width(pairs, pairs[0][0]) if layer_kind(pairs[0][1]) != "custom" \
        else None
    if n_in is None:
        raise ValueError("cannot tell the input width of the model: it starts with a custom layer")
    tracer = _Tracer(m)
    t = tracer.add

    # -- forward --
    names = ["X"]  # the name of each layer's input, then the output
    level, used = 0, {"X"}
    trail = []  # what each traced layer needs for its backward
    width = n_in
    for (key, layer), n_out in zip(pairs, widths, strict=True):
        kind = layer_kind(layer)
        x = names[-1]
        if kind == "dense":
            level += 1
            y = _fresh(f"Z{level}", used)
            has_b = "b" in layer.params
            (row,), (col,) = (_equations(layer, "forward", c, x, y, level) for c in (False, True))
            t("forward", y, row, col,
              [(m, layer.n_in), (layer.n_in, layer.n_out), *([(layer.n_out,)] if has_b else [])],
              (m, layer.n_out), op="matmul_bias", layer=key,
              implementation=_implementation(layer))
        else:
            letter = {"dropout": "D", "custom": "H", "identity": "I", "standardize": "S"}.get(
                kind, "A")
            y = _fresh(f"{letter}{level}", used)
            row, col, note = _forward_text(kind, layer, x, y, level)
            is_output = fused and key == pairs[-1][0]
            if is_output:
                note = "predict() only: in training it is fused into the loss"
            t("forward", y, row, col, [(m, width)], (m, n_out), op=" -> ", layer=key,
              implementation=_implementation(layer), note=note)
        trail.append((key, layer, kind, x, y, width, n_out, level))
        names.append(y)
        width = n_out

    # -- loss --
    if fused:
        trail = trail[:-1]
    out = trail[-1][4] if trail else "X"
    k = trail[-1][6] if trail else n_in
    _loss_steps(tracer, head, out, m, k, names[-1] if fused else None)

    # -- backward --
    for key, layer, kind, x, y, n_in_l, n_out_l, lvl in reversed(trail):
        dx, dy = f"d{x}", f"d{y}"
        unused = " input gradient, unused" if x == "X" else ""
        if kind == "dense":
            rows = {e.split(" = ")[0]: e for e in _equations(layer, "backward", False, x, y, lvl)}
            cols = {e.split(" = ")[0]: e for e in _equations(layer, "backward", True, x, y, lvl)}
            t("backward", f"dW{lvl}", rows[f"dW{lvl}"], cols[f"dW{lvl}"],
              [(n_in_l, m), (m, n_out_l)], (n_in_l, n_out_l), op="matmul_swap", layer=key,
              implementation=_implementation(layer), param=f"{key}.W")
            if "b" in layer.params:
                t("backward", f"db{lvl}", rows[f"db{lvl}"], cols[f"db{lvl}"], [(m, n_out_l)],
                  (n_out_l,), op="reduce", layer=key, implementation=_implementation(layer),
                  param=f"{key}.b", note="summed over the batch (b is shared by every row)")
            t("backward", dx, rows[dx], cols[dx],
              [(m, n_out_l), (n_out_l, n_in_l)], (m, n_in_l), op="matmul_swap", layer=key,
              implementation=_implementation(layer), note=unused.strip())
        elif kind == "custom":
            for pname, value in layer.params.items():
                shape = tuple(value.shape)
                g = _fresh(f"d{pname}{lvl}", used)
                t("backward", g, f"{g} = backward({dy})[1][{pname!r}]",
                  f"{g} = backward({dy})[1][{pname!r}]", [], shape, op=" -> ", layer=key,
                  implementation=f"{type(layer).__module__}.{type(layer).__qualname__}.forward",
                  param=f"{key}.{pname}")
            t("backward", dx, f"{dx} = backward({dy})[0]", f"{dx} = backward({dy})[0]",
              [(m, n_out_l)], (m, n_in_l), op=" -> ", layer=key,
              implementation=f"{type(layer).__module__}.{type(layer).__qualname__}.forward",
              note=f"{type(layer).__name__}'s own backward{unused}")
        else:
            row, col, ops, joiner = _backward_text(layer, x, y, lvl)
            t("backward", dx, row, col, [(m, n_out_l)] * ops, (m, n_in_l), op=joiner, layer=key,
              implementation=_implementation(layer), note=unused.strip())
    description = ("explain: " + " -> ".join(
        [f"X (m, {n_in})"] + [_short(layer) for _, layer in pairs]) + f", {len(pairs)} layers")
    return Explanation(tracer.steps, m, loss, fused, convention, description,
                       type(pairs[-1][1]).__name__, n_in, widths[-1], inferred)


def _fresh(name, used):
    candidate, i = name, 2
    while candidate in used:
        candidate, i = f"{name}_{i}", i + 1
    used.add(candidate)
    return candidate


def _short(layer) -> str:
    kind = layer_kind(layer)
    if kind == "dense":
        return f"Dense({layer.n_in}, {layer.n_out})"
    if kind == "dropout":
        return f"Dropout({layer.rate})"
    if kind == "leaky_relu":
        return f"LeakyReLU({layer.slope})"
    if kind == "standardize":
        return f"Standardize({layer.n_in})"
    return type(layer).__name__


def _implementation(layer) -> str:
    return f"{type(layer).__module__}.{type(layer).__qualname__}.forward"


class _Names(dict):
    """Equation symbols -> the names explain gives them; any other ``{symbol}`` stays itself."""

    def __missing__(self, key):
        return key


def _equations(layer, phase, column, x, y, level) -> list[str]:
    """The registered layer's ``phase`` equations, its symbols named for this step: ``x`` its input,
    ``y`` its output, ``level`` the number of its parameters (``W1``), config keys their values.
    A parameter the layer does not have (a Dense without bias) drops out: its gradient's line and
    its ``+ {b}`` term."""
    cls = LAYERS[layer_kind(layer)]
    lines = equation_lines(cls, phase, column)
    for line in equation_lines(cls, "backward"):
        param = line.split(" = ")[0].strip("{}")[1:]  # "{dW} = ..." -> "W"
        if line.startswith("{d") and param != "X" and param not in layer.params:
            lines = [e.replace(f" + {{{param}}}", "") for e in lines
                     if not e.startswith(f"{{d{param}}}")]
    names = _Names(layer.config(), X=x, Y=y, Z=y, dX=f"d{x}", dY=f"d{y}", dZ=f"d{y}",
                   M=f"M{y[1:]}", **{p: f"{p}{level}" for p in layer.params},
                   **{f"d{p}": f"d{p}{level}" for p in layer.params})
    return [e.format_map(names) for e in lines]


def _forward_text(kind, layer, x, y, level):
    """Row and column equations (and a note) of a parameterless layer's forward pass."""
    if kind == "custom":
        return f"{y} = {type(layer).__name__}({x})", f"{y} = {type(layer).__name__}({x})", \
            "a custom layer: shapes found by running it once"
    (row,), (col,) = (["; ".join(_equations(layer, "forward", c, x, y, level))] for c in (False, True))
    note = LAYERS[kind].equations.get("note", "")
    return row, col, note.format_map(_Names(layer.config(), X=x, Y=y, M=f"M{y[1:]}"))


def _backward_text(layer, x, y, level):
    """Row and column equations of a parameterless layer's backward, how many ``(m, n)`` arrays
    enter it (those its equation reads), and how to join their shapes."""
    row, col = ("; ".join(_equations(layer, "backward", c, x, y, level)) for c in (False, True))
    template = " ".join(equation_lines(LAYERS[layer_kind(layer)], "backward"))
    right = template.split(" = ", 1)[1]
    ops = len({s for s in re.findall(r"\{(\w+)\}", right) if s in ("X", "Y", "dY", "M")})
    joiner = " -> " if ops < 2 else ", " if re.search(r"\w\(", right) else " * "
    return row, col, max(ops, 1), joiner


def _loss_steps(tracer, loss, out, m, k, fused_output):
    """The loss value (where the batch mean enters) and the gradient it sends back."""
    t = tracer.add
    n = "m" if k == 1 else f"(m*{k})"
    common = dict(layer=None)
    shapes = [(m, k), (m, k)]
    name = type(loss).__name__
    impl = f"xpnet.losses.{name}.__call__"
    mean_note = f"the mean over all m*{k} elements: 1/{n}" if k > 1 else "the mean over the batch: 1/m"
    if isinstance(loss, _losses.BinaryCrossEntropy) and loss.from_logits:
        t("loss", "L", f"L = mean(softplus({out}) - Y * {out})",
          f"L = mean(softplus({out}) - Y * {out})", shapes, (), op=", ", implementation=impl,
          note=f"{mean_note}; from logits, never log(0)", **common)
        note = (f"fused: = ({fused_output} - Y) / {n} (xpnet.grad.fuse)" if fused_output
                else f"carries the 1/{n}")
        t("backward", f"d{out}", f"d{out} = (sigmoid({out}) - Y) / {n}",
          f"d{out} = (sigmoid({out}) - Y) / {n}", shapes, (m, k), op=", ", implementation=impl,
          note=note, **common)
    elif isinstance(loss, _losses.BinaryCrossEntropy):
        t("loss", "L", f"L = -mean(Y * log({out}) + (1 - Y) * log(1 - {out}))",
          f"L = -mean(Y * log({out}) + (1 - Y) * log(1 - {out}))", shapes, (), op=", ",
          implementation=impl, note=f"on probabilities, not fused: log clamped at -100; {mean_note}",
          **common)
        t("backward", f"d{out}", f"d{out} = ({out} - Y) / ({out} * (1 - {out})) / {n}",
          f"d{out} = ({out} - Y) / ({out} * (1 - {out})) / {n}", shapes, (m, k), op=", ",
          implementation=impl, note="not fused: divides by p(1 - p), which a saturated sigmoid's "
          "backward multiplies back (0 * inf)", **common)
    elif isinstance(loss, _losses.CrossEntropy) and loss.from_logits:
        t("loss", "L", f"L = -sum(Y * log_softmax({out}, axis=1)) / m",
          f"L = -sum(Y * log_softmax({out}, axis=0)) / m", shapes, (), op=", ",
          implementation=impl, note="Y one-hot (integer labels (m,) are one-hot encoded); "
          "the mean over the batch: 1/m", **common)
        note = (f"fused: = ({fused_output} - Y) / m (xpnet.grad.fuse)" if fused_output
                else "carries the 1/m")
        t("backward", f"d{out}", f"d{out} = (softmax({out}, axis=1) - Y) / m",
          f"d{out} = (softmax({out}, axis=0) - Y) / m", shapes, (m, k), op=", ",
          implementation=impl, note=note, **common)
    elif isinstance(loss, _losses.CrossEntropy):
        t("loss", "L", f"L = -sum(Y * log({out})) / m", f"L = -sum(Y * log({out})) / m", shapes, (),
          op=", ", implementation=impl, note="on probabilities, not fused: log clamped at -100; "
          "the mean over the batch: 1/m", **common)
        t("backward", f"d{out}", f"d{out} = -Y / {out} / m", f"d{out} = -Y / {out} / m", shapes,
          (m, k), op=", ", implementation=impl, note="not fused: divides by p", **common)
    elif isinstance(loss, _losses.MeanSquaredError):
        t("loss", "L", f"L = mean(({out} - Y)**2)", f"L = mean(({out} - Y)**2)", shapes, (),
          op=", ", implementation=impl, note=mean_note, **common)
        t("backward", f"d{out}", f"d{out} = 2 * ({out} - Y) / {n}", f"d{out} = 2 * ({out} - Y) / {n}",
          shapes, (m, k), op=", ", implementation=impl, note=f"carries the 1/{n}", **common)
    else:
        impl = f"{type(loss).__module__}.{type(loss).__qualname__}.__call__"
        t("loss", "L", f"L, d{out} = {name}()({out}, Y)", f"L, d{out} = {name}()({out}, Y)", shapes,
          (), op=", ", implementation=impl, note="a custom loss: it owns the batch mean", **common)
        t("backward", f"d{out}", f"d{out} from {name}", f"d{out} from {name}", shapes, (m, k),
          op=", ", implementation=impl, **common)
