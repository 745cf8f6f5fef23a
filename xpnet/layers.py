"""Layers: each one's forward pass returns its backward pass.

The protocol (after Thinc): ``Y, backward = layer.forward(X, training=False, *, input_grad=True)``,
then ``dX, grads = backward(dY)``, where ``dY = ∂L/∂Y`` has ``Y``'s shape, ``dX = ∂L/∂X`` has ``X``'s and
``grads`` has the keys and shapes of ``layer.params``. The closure keeps exactly what the backward
pass needs, so forward and backward of every layer sit side by side on one screen. With
``input_grad=False`` the caller wants no ``dX`` and ``backward`` may return ``None`` for it.

Data is batch-first: ``X`` is ``(m, n_in)`` with ``m`` the batch size. Layers never divide by ``m``:
the loss owns the batch mean. All math uses the array's own Array API namespace, so one
implementation runs on NumPy, CuPy, PyTorch and array-api-strict.

The registry :data:`LAYERS`: each built-in layer is one class that registers itself by name
(``class Swish(Layer, register="swish")``) and declares what every table needs — its config keys
(the file format), its equations (``explain`` and docs/backprop.md), whether ``mlp`` takes it as an
activation and initialises the Dense layers around it with He's rule, its default loss, and whether
it is the identity at inference or outputs probabilities (``diagnose``, ``grad.check_model``).
Adding a built-in layer is adding one such class.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import array_api_compat

from . import backend as _backend
from . import init as _init
from .functional import batch_sum, constant, sigmoid
from .functional import namespace as _namespace

if TYPE_CHECKING:  # names for the type hints only: never imported at run time
    from .backend import Backend
    from .losses import Loss
    from .optim import Optimizer
    # not Callback and History (xpnet.callbacks): that module sits above this one, and even a
    # type-checking import would close a cycle for static tools; the docstring names them


# The module behind Sequential's verbs (fit, predict, evaluate, save, summary, export_onnx):
# xpnet.model, which sits above this module (it imports train, io, explain) and installs itself here
# when imported (``import xpnet`` imports it). This hook is the only way up from ``layers``.
_model: Any = None


def _use_model(module) -> None:
    """Install ``module`` (:mod:`xpnet.model`) as the implementation of Sequential's verbs."""
    global _model
    _model = module


def _takes_input_grad(forward) -> bool:
    parameters = inspect.signature(forward).parameters
    return "input_grad" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _ignoring_input_grad(forward):
    """``forward(self, X, training=False)`` as the protocol's ``forward(..., input_grad=True)``."""

    def adapted(self, X, training=False, *, input_grad=True):
        return forward(self, X, training)

    for name in ("__module__", "__name__", "__qualname__", "__doc__"):  # not __wrapped__: the
        setattr(adapted, name, getattr(forward, name))  # signature shown is the one that runs
    return adapted


#: The registry of built-in layers: name -> class (filled by ``class X(Layer, register=name)``).
LAYERS: dict[str, type[Layer]] = {}


def _register(cls, name: str) -> None:
    """Check what ``cls`` declares and enter it in :data:`LAYERS` under ``name``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a layer's registry name must be an identifier, got {name!r}")
    if name in LAYERS:
        raise ValueError(f"a layer named {name!r} is registered already ({LAYERS[name].__name__}); "
                         "unregister it first")
    if not {"forward", "backward"} <= set(cls.equations):
        raise ValueError(f"{cls.__name__}.equations must give 'forward' and 'backward', got "
                         f"{sorted(cls.equations)}")
    accepted = inspect.signature(cls.__init__).parameters
    if not set(cls.config_keys) <= set(accepted):
        raise ValueError(f"{cls.__name__}.config_keys {sorted(set(cls.config_keys) - set(accepted))} "
                         "are not arguments of its constructor")
    cls.name = name
    LAYERS[name] = cls


def unregister(name: str) -> type[Layer]:
    """Remove a layer from :data:`LAYERS` (tests of the registry); returns its class."""
    return LAYERS.pop(name)


def kind(layer) -> str:
    """The registry name of ``layer``'s class (``"dense"``, ``"sigmoid"``, ...), or of the
    registered class it subclasses without changing ``forward``; ``"custom"`` for anything else."""
    for cls in type(layer).__mro__:
        if LAYERS.get(getattr(cls, "name", None)) is cls:
            return cls.name if cls.forward is type(layer).forward else "custom"
    return "custom"


def canonical(template: str) -> str:
    """An equation template with every ``{symbol}`` written as itself: ``"Y = sigmoid(X)"``."""
    return template.format_map(_Symbols())


class _Symbols(dict):
    def __missing__(self, key):
        return key


def equation_lines(cls, phase: str, column: bool = False) -> list[str]:
    """The ``phase`` (``"forward"`` or ``"backward"``) equation templates of a registered layer
    class, in xpnet's batch-first convention or (``column``) the column convention."""
    lines = cls.equations.get("column", {}).get(phase, cls.equations[phase]) if column \
        else cls.equations[phase]
    return [lines] if isinstance(lines, str) else list(lines)


class Layer:
    """Base class: a layer has ``params`` (possibly empty) and ``forward``.

    Subclasses implement ``forward(X, training=False, *, input_grad=True) -> (Y, backward)``;
    parameterless layers need nothing else. ``layer(X)`` is ``layer.forward(X)[0]``. A subclass
    whose ``forward`` takes no ``input_grad`` (``forward(X, training=False)``, as DESIGN.md and the
    README write custom layers) is adapted when the class is made: ``input_grad`` is accepted and
    ignored, so ``Sequential`` calls every layer the same way.
    """

    params: dict

    # -- what a registered layer declares (class attributes; see the module docstring) --------
    #: Its name in :data:`LAYERS`: ``mlp``'s activation name, ``explain``'s and ``diagnose``'s kind.
    name: str = ""
    #: The constructor arguments :meth:`config` returns: the keys of its entry in a model file.
    config_keys: tuple[str, ...] = ()
    #: ``{"forward": str or lines, "backward": str or lines}``, optionally ``"column"`` (the same
    #: in the column convention) and ``"note"``: templates in which ``{X}``, ``{Y}``, ``{dX}``,
    #: ``{dY}`` (Dense: ``{Z}``, ``{dZ}``), parameters (``{W}``, ``{dW}``) and config keys
    #: (``{slope}``) stand for the names ``explain`` gives them; :func:`canonical` writes each
    #: symbol as itself, as docs/backprop.md shows them.
    equations: dict = {}
    #: ``mlp(activation=name)`` and ``output=name`` take it (built with no arguments).
    activation: bool = False
    #: ``mlp`` initialises the Dense layers of a network with this activation with He's rule
    #: (ReLU-like: half the inputs are zeroed), else with Glorot's.
    he_init: bool = False
    #: The loss a model ending in this layer is evaluated with by default (a name in
    #: :data:`xpnet.losses.LOSSES`), read by :func:`xpnet.losses.default_for`.
    default_loss: str | None = None
    #: The identity at inference (Identity, Dropout): checks of a model's output look through it.
    passthrough: bool = False
    #: Its outputs are probabilities, in (0, 1) (Sigmoid, Softmax).
    probabilities: bool = False

    def __init__(self):
        self.params = {}

    def __init_subclass__(cls, register: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        forward = cls.__dict__.get("forward")
        if forward is not None and not _takes_input_grad(forward):
            cls.forward = _ignoring_input_grad(forward)
        if register is not None:
            _register(cls, register)

    def forward(self, X, training=False, *, input_grad=True):
        """``(Y, backward)`` for the batch ``X``; ``backward(dY) -> (dX, grads)``.

        ``training`` turns on what only training does (dropout). ``input_grad=False``: the caller
        needs no ``dX`` (the first layer of a model being trained), and ``backward`` may return
        ``None`` for it, skipping its cost (``Dense`` does; elementwise layers compute it anyway).
        """
        raise NotImplementedError

    def __call__(self, X):
        return self.forward(X)[0]

    def config(self) -> dict:
        """Constructor arguments that rebuild this layer's architecture (JSON-serialisable): by
        default the attributes named by ``config_keys``."""
        return {key: getattr(self, key) for key in self.config_keys}

    def to(self, backend=None, dtype=None):
        """Move (and/or cast) the parameters to ``backend``; returns ``self``."""
        target = _backend.get(backend)
        self.params = {k: target.move(v, dtype) for k, v in self.params.items()}
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Dense(Layer, register="dense"):
    r"""Fully connected layer ``Z = X @ W + b``.

    Parameters
    ----------
    n_in, n_out : int
        Input and output features.
    init : str or callable
        Weight initialiser (see :mod:`xpnet.init`); the bias starts at zero.
    bias : bool
        Whether to learn ``b``.
    seed : int, numpy.random.Generator, xpnet.backend.Random or None
        Random source for the initial weights.
    backend, dtype
        Where the parameters live and their float dtype.

    Notes
    -----
    ::

        Forward:   Z  = X @ W + b         X (m, n_in)  W (n_in, n_out)  b (n_out,)  Z (m, n_out)
        Backward:  dW = X.T @ dZ          (n_in, m) @ (m, n_out) -> (n_in, n_out)
                   db = sum(dZ, axis=0)   (n_out,)   summed over the batch: b is shared by every row
                                          (computed as ones(m) @ dZ, see functional.batch_sum)
                   dX = dZ @ W.T          (m, n_out) @ (n_out, n_in) -> (m, n_in)

    ``forward(X, training, input_grad=False)`` skips ``dX`` (its backward returns ``None``): the
    first layer of a model being trained needs no gradient for the data, and for a wide input that
    product costs as much as ``dW``.
    """

    config_keys = ("n_in", "n_out", "bias")
    equations = {
        "forward": "{Z} = {X} @ {W} + {b}",
        "backward": ("{dW} = {X}.T @ {dZ}", "{db} = sum({dZ}, axis=0)", "{dX} = {dZ} @ {W}.T"),
        "column": {"forward": "{Z} = {W} @ {X} + {b}",
                   "backward": ("{dW} = {dZ} @ {X}.T", "{db} = sum({dZ}, axis=1, keepdims=True)",
                                "{dX} = {W}.T @ {dZ}")},
    }

    def __init__(self, n_in: int, n_out: int, *, init: str | Callable = "glorot_uniform",
                 bias: bool = True, seed: int | None = None, backend: str | Backend | None = None,
                 dtype: str = "float32", device: Any = None):
        super().__init__()
        # Python ints, whatever integral type came (np.int64): the config is written as JSON
        n_in, n_out = _backend.check_int("n_in", n_in, 1), _backend.check_int("n_out", n_out, 1)
        initializer = _init.get(init)
        target = _backend.get(backend, device)
        dtype = _backend.dtype_name(dtype)
        random = _backend.Random(seed)
        self.n_in, self.n_out = n_in, n_out
        with target.context():  # CuPy's zeros ignores device= and allocates on the current device
            self.params["W"] = initializer((n_in, n_out), random=random, backend=target, dtype=dtype)
            if bias:
                self.params["b"] = _init.zeros((n_out,), random=random, backend=target, dtype=dtype)

    def forward(self, X, training=False, *, input_grad=True):
        if X.shape[-1] != self.n_in:
            raise ValueError(f"Dense({self.n_in}, {self.n_out}) takes {self.n_in} input features, "
                             f"got X of shape {tuple(X.shape)}")
        xp = _namespace(X)
        W, b = self.params["W"], self.params.get("b")
        Z = X @ W
        if b is not None:
            Z += b  # in place: Z is ours, fresh from the product; saves an (m, n_out) array

        def backward(dZ):
            grads = {"W": X.T @ dZ}
            if b is not None:
                grads["b"] = batch_sum(dZ, xp=xp)
            return (dZ @ W.T if input_grad else None), grads

        return Z, backward

    def config(self) -> dict:
        return {"n_in": self.n_in, "n_out": self.n_out, "bias": "b" in self.params}

    def __repr__(self) -> str:
        return f"Dense({self.n_in}, {self.n_out}{'' if 'b' in self.params else ', bias=False'})"


class Sigmoid(Layer, register="sigmoid"):
    """Logistic sigmoid, computed without overflow.

    Notes
    -----
    ::

        Forward:   Y  = σ(X) = 1 / (1 + exp(−X))     X, Y (m, n)
        Backward:  dX = dY * Y * (1 − Y)             (m, n)   from the saved output Y

    As the last layer before binary cross-entropy, this backward is never run: the loss is taken
    from the logits and the fused gradient ``(Y − target) / n`` flows straight into the layer below
    (see :func:`xpnet.grad.fuse`).
    """

    equations = {"forward": "{Y} = sigmoid({X})", "backward": "{dX} = {dY} * {Y} * (1 - {Y})"}
    activation = probabilities = True
    default_loss = "binary_crossentropy"

    def forward(self, X, training=False, *, input_grad=True):
        Y = sigmoid(X, xp=_namespace(X))

        def backward(dY):
            dX = 1.0 - Y
            dX *= Y
            dX *= dY
            return dX, {}

        return Y, backward


class Tanh(Layer, register="tanh"):
    """Hyperbolic tangent.

    Notes
    -----
    ::

        Forward:   Y  = tanh(X)              X, Y (m, n)
        Backward:  dX = dY * (1 − Y²)        (m, n)   from the saved output Y
    """

    equations = {"forward": "{Y} = tanh({X})", "backward": "{dX} = {dY} * (1 - {Y}**2)"}
    activation = True

    def forward(self, X, training=False, *, input_grad=True):
        Y = _namespace(X).tanh(X)

        def backward(dY):
            dX = 1.0 - Y * Y
            dX *= dY
            return dX, {}

        return Y, backward


class ReLU(Layer, register="relu"):
    """Rectified linear unit.

    Notes
    -----
    ::

        Forward:   Y  = max(X, 0)                  X, Y (m, n)
        Backward:  dX = dY where Y > 0, else 0     (m, n)   (the subgradient at 0 is taken as 0)
    """

    equations = {"forward": "{Y} = maximum({X}, 0)", "backward": "{dX} = where({Y} > 0, {dY}, 0)"}
    activation = he_init = True

    def forward(self, X, training=False, *, input_grad=True):
        xp = _namespace(X)
        Y = xp.maximum(X, constant(0.0, (), X, xp=xp))  # a 0-D zero: clip's wrapper costs more

        def backward(dY):
            # a 0/1 multiply, not where(): several times faster on NumPy for large arrays
            dX = xp.astype(Y > 0, dY.dtype)
            dX *= dY
            return dX, {}

        return Y, backward


class LeakyReLU(Layer, register="leaky_relu"):
    """ReLU with a small slope for negative inputs, so no unit is ever dead.

    Notes
    -----
    ::

        Forward:   Y  = X * S     S (m, n) = 1 where X > 0, else slope     X, Y (m, n)
        Backward:  dX = dY * S                                             (m, n)
    """

    config_keys = ("slope",)
    equations = {"forward": "{Y} = where({X} > 0, {X}, {slope} * {X})",
                 "backward": "{dX} = where({X} > 0, {dY}, {slope} * {dY})"}
    activation = he_init = True

    def __init__(self, slope: float = 0.01):
        super().__init__()
        if not _backend.is_finite_number(slope) or not 0 <= slope <= 1:  # a larger slope
            # overflows outputs (a file with slope=1e308 gave inf) and is no longer "leaky"
            raise ValueError(f"slope must be a finite number in [0, 1], got {slope!r}")
        self.slope = float(slope)

    def forward(self, X, training=False, *, input_grad=True):
        xp = _namespace(X)
        S = xp.astype(X > 0, X.dtype) * (1.0 - self.slope) + self.slope
        Y = X * S

        def backward(dY):
            return dY * S, {}

        return Y, backward

    def __repr__(self) -> str:
        return f"LeakyReLU(slope={self.slope})"


class Softmax(Layer, register="softmax"):
    """Softmax over the features of each row (max-shifted, so it never overflows).

    Notes
    -----
    ::

        Forward:   Y  = exp(X − logsumexp(X, axis=1))             X, Y (m, k)
        Backward:  dX = Y * (dY − sum(dY * Y, axis=1, keepdims))  (m, k)   the Jacobian-vector
                                                                           product, row by row

    As the last layer before cross-entropy, this backward is never run: the loss is taken from
    the logits and the fused gradient ``(Y − onehot) / m`` flows into the layer below
    (see :func:`xpnet.grad.fuse`).
    """

    equations = {
        "forward": "{Y} = softmax({X}, axis=1)",
        "backward": "{dX} = {Y} * ({dY} - sum({dY} * {Y}, axis=1, keepdims=True))",
        "column": {"forward": "{Y} = softmax({X}, axis=0)",
                   "backward": "{dX} = {Y} * ({dY} - sum({dY} * {Y}, axis=0, keepdims=True))"},
        "note": "each row (sample) sums to 1",
    }
    activation = probabilities = True
    default_loss = "crossentropy"

    def forward(self, X, training=False, *, input_grad=True):
        xp = _namespace(X)
        S = xp.exp(X - xp.max(X, axis=1, keepdims=True))
        Y = S / xp.sum(S, axis=1, keepdims=True)

        def backward(dY):
            return Y * (dY - xp.sum(dY * Y, axis=1, keepdims=True)), {}

        return Y, backward


class Identity(Layer, register="identity"):
    """The identity (a linear output for regression).

    Notes
    -----
    ::

        Forward:   Y  = X        Backward:  dX = dY
    """

    equations = {"forward": "{Y} = {X}", "backward": "{dX} = {dY}"}
    activation = passthrough = True

    def forward(self, X, training=False, *, input_grad=True):
        return X, lambda dY: (dY, {})


class Dropout(Layer, register="dropout"):
    """Inverted dropout: while training, zero each input with probability ``rate`` and scale the
    survivors by ``1 / (1 − rate)``, so inference needs no rescaling. Inactive unless ``training``.

    Notes
    -----
    ::

        Forward:   Y  = X * M       M (m, n) = keep-mask / (1 − rate), drawn per call
        Backward:  dX = dY * M      (m, n)

    Masks are drawn on the host from ``seed`` (see :class:`xpnet.backend.Random`), so the same seed
    drops the same units on every backend.
    """

    config_keys = ("rate",)
    equations = {"forward": "{Y} = {X} * {M}", "backward": "{dX} = {dY} * {M}",
                 "note": "training only ({M} = keep-mask / (1 - {rate}), drawn per call); "
                         "{Y} = {X} in predict()"}
    passthrough = True

    def __init__(self, rate: float, *, seed=None):
        super().__init__()
        if not _backend.is_finite_number(rate) or not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.random = _backend.Random(seed)

    def forward(self, X, training=False, *, input_grad=True):
        if not training or self.rate == 0.0:
            return X, lambda dY: (dY, {})
        keep = self.random.bernoulli(tuple(X.shape), 1.0 - self.rate, backend=_backend.of(X),
                                     dtype=_backend.dtype_name(X.dtype))
        M = keep * (1.0 / (1.0 - self.rate))

        def backward(dY):
            return dY * M, {}

        return X * M, backward

    def __repr__(self) -> str:
        return f"Dropout({self.rate})"


class Standardize(Layer, register="standardize"):
    """Feature scaling fixed at construction: ``(X − mean) / std``, with no trainable parameters.

    Put at the front of a network, it carries the preprocessing with the model, so a saved model
    predicts on raw features (``xpnet train`` builds its models this way).

    Parameters
    ----------
    mean, std : array-like, shape (n,)
        Per-feature mean and standard deviation (finite; ``std > 0``). Non-trainable state: kept in
        the model file, moved by ``model.to``, absent from ``model.params``.
    backend, dtype
        Where the two vectors live and their float dtype.

    Notes
    -----
    ::

        Forward:   Y  = (X − mean) / std     X, Y (m, n)   mean, std (n,)
        Backward:  dX = dY / std             (m, n)
    """

    config_keys = ("mean", "std")
    equations = {"forward": "{Y} = ({X} - mean) / std", "backward": "{dX} = {dY} / std",
                 "note": "the preprocessing saved with the model (mean, std per feature; not "
                         "trained)"}

    def __init__(self, mean, std, *, backend=None, dtype="float32"):
        super().__init__()
        host = {}
        for name, value in (("mean", mean), ("std", std)):
            host[name] = _backend.to_numpy(_backend.host_array(value, name)).astype("float64")
            if host[name].ndim != 1 or host[name].size == 0:
                raise ValueError(f"{name} must be a non-empty 1-D vector (one value per feature), "
                                 f"got shape {host[name].shape}")
        if host["mean"].shape != host["std"].shape:
            raise ValueError(f"mean has {host['mean'].size} features but std has "
                             f"{host['std'].size}; they must match")
        if not all(math.isfinite(v) for v in [*host["mean"].tolist(), *host["std"].tolist()]) \
                or not (host["std"] > 0).all():
            raise ValueError("mean must be finite and std finite and > 0 (replace a zero std "
                             "of a constant column by 1)")
        self.n_in = int(host["mean"].size)
        self._host = host
        self.to(backend, dtype)

    def to(self, backend=None, dtype=None):
        target = _backend.get(backend)
        dtype = _backend.dtype_name(dtype) if dtype is not None else getattr(self, "_dtype",
                                                                                "float32")
        self.mean, self.std = (target.asarray(self._host[k], dtype) for k in ("mean", "std"))
        self._dtype = dtype
        return self

    def forward(self, X, training=False, *, input_grad=True):
        if X.shape[-1] != self.n_in:
            raise ValueError(f"Standardize takes {self.n_in} input features, got X of shape "
                             f"{tuple(X.shape)}")
        here = array_api_compat.device(X)  # None for a jax tracer (in jit): it stays put
        if _namespace(self.mean) is not _namespace(X) or self.mean.dtype != X.dtype \
                or (here is not None and array_api_compat.device(self.mean) != here):
            self.to(_backend.of(X), _backend.dtype_name(X.dtype))  # follow the data once
        mean, std = self.mean, self.std
        Y = (X - mean) / std

        def backward(dY):
            return (None if dY is None else dY / std), {}

        return Y, backward

    def config(self) -> dict:
        return {"mean": self._host["mean"].tolist(), "std": self._host["std"].tolist()}

    def __repr__(self) -> str:
        return f"Standardize({self.n_in})"


class _Activations(Mapping):
    """The registered layers ``mlp`` takes as activations, read from :data:`LAYERS` when used."""

    def __getitem__(self, name):
        cls = LAYERS[name]
        if not cls.activation:
            raise KeyError(name)
        return cls

    def __iter__(self):
        return (name for name, cls in LAYERS.items() if cls.activation)

    def __len__(self):
        return sum(1 for _ in self)


#: name -> class of the layers ``mlp`` takes as ``activation``/``output`` (a view of LAYERS).
ACTIVATIONS: Mapping[str, type[Layer]] = _Activations()


class _Params(dict):
    """A Sequential's flat parameter dict whose item assignment writes through to the layers."""

    def __init__(self, model, items):
        super().__init__(items)
        self._model = model

    def __setitem__(self, key, value):
        if key not in self:
            raise KeyError(f"{key!r} is not a parameter of the model (it has {list(self)})")
        old, model = self[key], self._model
        if type(value) is not type(old) or value.dtype != old.dtype:
            # a list, or float64 made by a NumPy-scalar learning rate (NumPy 2 keeps the scalar's
            # precision): converted as load_params converts, another library's array refused
            value = model._backend.asarray(value, model._dtype, name=f"params[{key!r}]")
        if tuple(value.shape) != tuple(old.shape):
            raise ValueError(f"params[{key!r}] has shape {tuple(value.shape)}, the model needs "
                             f"{tuple(old.shape)}")
        super().__setitem__(key, value)
        model._assign({key: value})


_NO_GRADS: dict = {}  # the gradients of a layer the backward pass does not reach (never mutated)


# The default ``metrics`` of fit and evaluate, told apart by identity: used where the loss
# classifies, left out with MSE (accuracy would score nothing there); metrics given explicitly
# are used as given (a classification one refused with MSE).
DEFAULT_METRICS = ("accuracy",)


class Sequential(Layer):
    """Layers applied in order; itself a layer, with the backward passes run in reverse.

    Parameters are exposed flat as ``"{index}.{name}"`` (``"0.W"``, ``"0.b"``, ``"2.W"``, ...), the
    index being the layer's position. All parameters live on one backend with one float dtype.

    ``classes`` (default ``None``) holds the class labels of a classifier, output ``j`` (or, for
    one sigmoid output, probability ``p`` > 0.5) meaning ``classes[j]``; it is saved with the model.
    """

    classes = None

    def __init__(self, *layers: Layer):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} must be an xpnet Layer, got {type(layer).__name__}")
        self.layers = list(layers)
        arrays = [v for layer in self.layers for v in layer.params.values()]
        places = {(_backend.of(v), _backend.dtype_name(v.dtype)) for v in arrays}
        if len(places) > 1:
            found = ", ".join(sorted(f"{b} {d}" for b, d in places))
            raise ValueError(f"all parameters must share one backend and dtype; found {found}: "
                             "build the layers with the same backend= and dtype=, or call .to()")
        self._backend, self._dtype = places.pop() if places else (_backend.get(), "float32")

    # -- the layer protocol -------------------------------------------------------------------

    @property
    def params(self) -> dict:
        """The parameters, flat; assigning a key (``params[key] = new``) sets the layer's array, so
        an update written as ``params[key] = params[key] - lr * g`` works on every backend, JAX's
        immutable arrays included (where ``p -= ...`` only rebinds a name)."""
        return _Params(self, ((f"{i}.{k}", v) for i, layer in enumerate(self.layers)
                              for k, v in layer.params.items()))

    @params.setter
    def params(self, value):  # Layer.__init__ assigns {}; Sequential's params are its layers'
        if value:
            raise AttributeError("use load_params() to set a Sequential's parameters")

    def forward(self, X, training=False, *, input_grad=True):
        """Thinc's ``chain``: the forwards in order, then the backwards in reverse.

        ``input_grad=False``: nothing before this model is trained, so no layer up to and
        including the first one with parameters computes its ``dX`` (the backward pass stops
        there and returns ``None`` for it).
        """
        backwards = []
        start = 0 if input_grad else len(self.layers)
        context = self._backend.context()  # the model's device is current for CuPy's kernels
        with context:
            for i, layer in enumerate(self.layers):
                X, backward = layer.forward(X, training, input_grad=input_grad)
                backwards.append(backward)
                if not input_grad and layer.params:  # the layers after it must send dX back
                    input_grad, start = True, i

        def backward(dY):
            per_layer = [_NO_GRADS] * len(backwards)
            with context:
                for i in range(len(backwards) - 1, start - 1, -1):
                    dY, per_layer[i] = backwards[i](dY)
            return (dY if start == 0 else None), {
                f"{i}.{k}": g for i, grads in enumerate(per_layer) for k, g in grads.items()}

        return X, backward

    # -- the model ----------------------------------------------------------------------------

    @property
    def backend(self) -> _backend.Backend:
        """Where the parameters live."""
        return self._backend

    @property
    def dtype(self) -> str:
        """The parameters' float dtype, ``"float32"`` or ``"float64"``."""
        return self._dtype

    def to(self, backend=None, dtype=None, *, device=None):
        """Move the model to ``backend`` (a name or Backend; ``device`` picks one of its devices)
        and/or cast it to ``dtype``; returns ``self``."""
        target = _backend.get(backend, device) if backend is not None or device is not None \
            else self._backend
        dtype = _backend.dtype_name(dtype) if dtype is not None else self._dtype
        for layer in self.layers:
            layer.to(target, dtype)
        self._backend, self._dtype = target, dtype
        return self

    def load_params(self, params) -> None:
        """Replace the parameters from a mapping with exactly the keys and shapes of ``params``.

        Values may be NumPy arrays, lists or arrays of this model's backend; they are copied to the
        model's backend and dtype. Everything is checked first: on a missing or extra key, a wrong
        shape or a non-finite value nothing changes and a ``ValueError`` names the key.
        """
        if not hasattr(params, "keys"):
            raise TypeError(f"params must be a mapping of name -> array, got {type(params).__name__}")
        current = self.params
        missing = [k for k in current if k not in params]
        extra = [k for k in params if k not in current]
        if missing or extra:
            raise ValueError(f"params keys do not match the model: missing {missing}, "
                             f"unexpected {extra} (expected {list(current)})")
        with self._backend.context():
            self._assign(self._staged(params, current))

    def _staged(self, params, current) -> dict:
        xp = self._backend.xp
        staged = {}
        for key, old in current.items():
            new = self._backend.move(params[key], self._dtype) \
                if array_api_compat.is_array_api_obj(params[key]) \
                else self._backend.asarray(params[key], self._dtype, name=f"params[{key!r}]")
            if tuple(new.shape) != tuple(old.shape):
                raise ValueError(f"params[{key!r}] has shape {tuple(new.shape)}, "
                                 f"the model needs {tuple(old.shape)}")
            if not bool(xp.all(xp.isfinite(new))):
                raise ValueError(f"params[{key!r}] holds NaN or infinite values")
            staged[key] = xp.asarray(new, copy=True)
        return staged

    def _assign(self, params: dict) -> None:
        """Set parameters from trusted, converted arrays (no checks)."""
        for key, value in params.items():
            index, _, name = key.partition(".")
            layer = self.layers[int(index)]
            if isinstance(layer, Sequential):
                layer._assign({name: value})
            else:
                layer.params[name] = value

    def config(self) -> dict:
        return {"layers": [{"type": type(layer).__name__, "config": layer.config()}
                           for layer in self.layers]}

    def summary(self) -> None:
        """Print the layers, output shapes, parameter counts, dtype, backend and device."""
        _model.summary(self)

    # -- the model's verbs: thin, implemented in xpnet.model (see _use_model) ----------------------

    def fit(self, X: Any, y: Any, *, loss: str | Loss, optimizer: str | Optimizer = "adam",
            epochs: int = 100, batch_size: int | None = 32, validation_data: tuple | None = None,
            validation_split: float = 0.0, shuffle: bool = True, seed: int | None = None,
            callbacks: Sequence[Any] = (), metrics: Sequence[str] = DEFAULT_METRICS,
            verbose: int = 1, initial_epoch: int = 0, client: Any = None,
            **cluster_options: Any) -> Any:
        """Train on ``(X, y)`` with mini-batch gradient descent; returns a ``History``.

        Parameters
        ----------
        X : array-like, shape (m, n_in)
            NumPy array, list, pandas object or array of this model's backend; moved to the device
            once. A NumPy memmap stays on the host and is streamed batch by batch.
        y : array-like, shape (m,) or (m, n_out)
            Targets: 0/1 labels (binary cross-entropy), integer labels or one-hot (cross-entropy).
        loss : str or Loss
        optimizer : str or Optimizer
            ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"`` (defaults) or an instance (its state
            carries over between calls).
        epochs, batch_size
            ``batch_size=None`` is full batch.
        validation_data : (X_val, y_val), optional
        validation_split : float
            Hold out the last fraction of the rows (before shuffling).
        shuffle, seed
            Each epoch's permutation is drawn on the host from ``seed``: same seed, same batches on
            every backend. ``seed`` may be an :class:`xpnet.backend.Random` to continue a stream.
        callbacks : sequence of Callback
        metrics : sequence of str or callable
            Names from :mod:`xpnet.metrics`; logged per epoch (and ``"val_"`` + name).
        verbose : 0, 1 or 2
            0 silent; 1 a progress bar on a terminal, else a line per epoch; 2 a line per epoch.
        initial_epoch : int
            The epoch to start from (resuming).
        client : distributed.Client, optional
            Train data-parallel on this Dask cluster, ``X`` and ``y`` dask arrays: the run is
            this one, step for step; see :func:`xpnet.distributed.fit` (``cluster_options``:
            ``timeout``, ``worker_backend``).

        Raises
        ------
        ValueError, TypeError
            For bad arguments or data, before anything changes.
        xpnet.DivergenceError
            When the loss or a gradient becomes non-finite; the model keeps its last finite
            parameters.
        """
        return _model.fit(self, X, y, loss=loss, optimizer=optimizer, epochs=epochs,
                          batch_size=batch_size, validation_data=validation_data,
                          validation_split=validation_split, shuffle=shuffle, seed=seed,
                          callbacks=callbacks, metrics=metrics, verbose=verbose,
                          initial_epoch=initial_epoch, client=client, **cluster_options)

    def predict(self, X: Any, batch_size: int | None = None) -> Any:
        """Outputs for ``X`` ``(m, n_in)`` on the model's backend, ``(m, n_out)``: probabilities
        when the model ends in Sigmoid/Softmax."""
        return _model.predict(self, X, batch_size)

    def evaluate(self, X: Any, y: Any, *, loss: str | Loss | None = None,
                 metrics: Sequence[str] = DEFAULT_METRICS,
                 batch_size: int | None = None) -> dict[str, float]:
        """``{"loss": float, metric: float, ...}`` on ``(X, y)`` (``loss`` defaults to the last
        fit's)."""
        return _model.evaluate(self, X, y, loss=loss, metrics=metrics, batch_size=batch_size)

    def save(self, path: str | os.PathLike, *, optimizer: Optimizer | None = None,
             extra: dict | None = None) -> None:
        """Write the model (architecture as JSON, parameters as arrays; optionally an optimizer's
        state) to exactly one file at ``path``, atomically. Never pickle."""
        _model.save(self, path, optimizer=optimizer, extra=extra)

    def export_onnx(self, path, **kwargs) -> str:
        """Write inference as an ONNX file, traced from this model's own forward pass (see
        :func:`xpnet.onnx.export_onnx`; needs ``xpnet[onnx]``)."""
        return _model.export_onnx(self, path, **kwargs)

    def copy(self) -> Sequential:
        """An independent copy (parameters included)."""
        return copy.deepcopy(self)

    def __getitem__(self, index):
        if isinstance(index, slice):  # a view sharing the layers (and so the parameters)
            view = Sequential.__new__(Sequential)
            view.layers, view._backend, view._dtype = self.layers[index], self._backend, self._dtype
            return view
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        inner = ",\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)  # {self._backend} {self._dtype}"


def mlp(sizes: Sequence[int], activation: str = "relu", output: str | None = None, *,
        seed: int | None = None, backend: str | Backend | None = None, dtype: str = "float32",
        device: Any = None) -> Sequential:
    """A multi-layer perceptron: ``Dense`` layers with ``activation`` between them.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from inputs to outputs: ``[2, 5, 5, 1]`` is 2 inputs, two hidden layers of 5
        and 1 output. Any integral scalars (a NumPy array of ints too), not bools.
    activation : str
        Between Dense layers: a name in :data:`ACTIVATIONS` (the registered activations:
        ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"leaky_relu"``, ``"softmax"``, ``"identity"``).
    output : str or None
        The activation after the last Dense layer (``None``: none, the model outputs logits).
        ``"softmax"`` needs at least 2 outputs (over one it is constant 1); for one output use
        ``"sigmoid"``.
    seed : int or None
        Same seed, same initial weights, on every backend.
    backend : str or Backend, optional
        Where the parameters live (default: the current default backend).
    dtype : str
        Their dtype, ``"float32"`` or ``"float64"``.
    device : str, int or device object, optional
        One of the backend's devices (``"cuda:1"``, ``"gpu"``, ``1``; default: its default).

    Notes
    -----
    Weights use He initialisation after (leaky) ReLU layers and Glorot otherwise; biases start at 0.

    Examples
    --------
    >>> model = mlp([2, 5, 5, 1], activation="sigmoid", output="sigmoid", seed=0)
    >>> list(model.params)
    ['0.W', '0.b', '2.W', '2.b', '4.W', '4.b']
    """
    sizes = list(sizes) if not isinstance(sizes, (str, bytes)) and hasattr(sizes, "__iter__") \
        else sizes
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise ValueError(f"sizes must be a list of at least two positive ints (inputs, ..., "
                         f"outputs), got {sizes!r}")
    sizes = [_backend.check_int(f"sizes[{i}]", n, 1) for i, n in enumerate(sizes)]
    for name, value in (("activation", activation), ("output", output)):
        if value is None and name == "output":
            continue
        if value not in ACTIVATIONS:
            raise ValueError(f"{name} must be one of {sorted(ACTIVATIONS)}"
                             f"{' or None' if name == 'output' else ''}; got {value!r}")
    # a softmax over one unit is exp(z) / exp(z) = 1 for every input: its gradient is zero and
    # nothing before it learns, with no error anywhere else to say so
    if output == "softmax" and sizes[-1] == 1:
        raise ValueError("output='softmax' with sizes[-1] = 1: a softmax over 1 output is constant "
                         "1, so its gradient is zero and the loss never moves. For one output use "
                         "output='sigmoid' with binary cross-entropy; for softmax give >= 2 outputs "
                         "(one per class, sizes[-1] >= 2) with cross-entropy")
    if activation == "softmax" and 1 in sizes[1:-1]:
        i = sizes.index(1, 1)
        raise ValueError(f"activation='softmax' with sizes[{i}] = 1: a softmax over 1 unit is "
                         "constant 1, so nothing before it learns. Give that layer >= 2 units, or "
                         "use another activation")
    target = _backend.get(backend, device)
    dtype = _backend.dtype_name(dtype)
    random = _backend.Random(seed)
    init = "he_uniform" if ACTIVATIONS[activation].he_init else "glorot_uniform"
    layers: list[Layer] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if i:
            layers.append(ACTIVATIONS[activation]())
        layers.append(Dense(n_in, n_out, init=init, seed=random, backend=target, dtype=dtype))
    if output is not None:
        layers.append(ACTIVATIONS[output]())
    model = Sequential(*layers)
    model._backend = target  # a model with no parameters still knows its place
    model._dtype = dtype
    return model


def n_inputs(model) -> int | None:
    """The number of input features the model takes (from its first Dense layer)."""
    for layer in getattr(model, "layers", [model]):
        if isinstance(layer, (Dense, Standardize)):
            return layer.n_in
        if isinstance(layer, Sequential):
            return n_inputs(layer)
        if layer.params:
            return None
    return None



def n_outputs(model) -> int | None:
    """The number of outputs (from the last Dense layer, when no other parameterised layer follows)."""
    for layer in reversed(getattr(model, "layers", [model])):
        if isinstance(layer, Dense):
            return layer.n_out
        if isinstance(layer, Sequential):
            return n_outputs(layer)
        if layer.params:
            return None
    return None
