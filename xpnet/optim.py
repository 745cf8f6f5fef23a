"""Optimizers, gradient clipping and learning-rate schedules.

An optimizer updates a model's parameters from their gradients::

    opt = xpnet.optim.Adam(lr=1e-3)
    loss, grads = xpnet.value_and_grad(model, "binary_crossentropy", X, y)
    opt.step(model.params, grads)          # every array of model.params is updated

One code path serves both kinds of array library: the update is written with in-place operators
(``p -= lr * g``), which change the array on NumPy, CuPy and torch (no allocation for the result)
and only rebind a local name on libraries whose arrays cannot be written (JAX); the resulting array
is then written back into ``params`` (``params[key] = p``) whenever it is a new one, and likewise
into the optimizer's state.

``params`` and ``grads`` are dicts ``name -> array`` with the same keys, shapes and dtype. The
update formulas are PyTorch's (``torch.optim``), written once against the Array API:
hyperparameters are Python floats (weak scalars, so float32 stays float32), the state (momentum
buffers, Adam's moments) is created on the first step with ``zeros_like`` in the parameters' dtype
and on their device, and nothing is ever copied to the host. ``opt.lr`` is a plain Python float
that a schedule may change between steps.

Schedules are per-epoch functions of the epoch: ``lr = schedule(epoch, base_lr)``
(:class:`StepLR`, :class:`ExponentialLR`, :class:`CosineAnnealingLR`), or, for
:class:`ReduceLROnPlateau`, a small state machine fed one metric per epoch:
``lr = plateau.update(val_loss, lr)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral

import array_api_compat

from . import backend as _backend
from .functional import at_most, namespace

# Elements per block of a large parameter's update (256 KiB of float32): see Optimizer.step.
BLOCK = 1 << 16

# -- argument checks ------------------------------------------------------------------------------


def _number(name: str, value, expected: str, ok) -> float:
    """``value`` as a Python float when it is a finite number satisfying ``ok``; else ValueError."""
    if not _backend.is_finite_number(value) or not ok(float(value)):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def _integer(name: str, value, minimum: int) -> int:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _non_negative(name, value):
    return _number(name, value, "a finite number >= 0", lambda v: v >= 0.0)


def _positive(name, value):
    return _number(name, value, "a finite number > 0", lambda v: v > 0.0)


def _unit(name, value):
    return _number(name, value, "a number in [0, 1)", lambda v: 0.0 <= v < 1.0)


def _clip_norm(name, value):
    return None if value is None else _positive(name, value)


def _flag(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


_CHECKS = {
    "lr": _non_negative, "momentum": _non_negative, "eps": _non_negative,
    "weight_decay": _non_negative, "beta1": _unit, "beta2": _unit, "rho": _unit,
    "nesterov": _flag, "clip_norm": _clip_norm,
}


# -- gradient clipping ----------------------------------------------------------------------------


def clip_grad_norm(grads: Mapping, max_norm: float):
    """Scale all gradients together so that their global L2 norm is at most ``max_norm``.

    Parameters
    ----------
    grads : dict
        ``name -> array``, the gradients of one model (one backend, one dtype).
    max_norm : float
        The largest global norm let through, > 0.

    Returns
    -------
    clipped : dict
        New arrays ``g * scale`` with the keys and shapes of ``grads`` (``grads`` is not changed).
    total_norm : 0-D array
        The global norm before clipping, on the gradients' device.

    Notes
    -----
    ::

        norm  = sqrt(sum over all arrays g of sum(g²))     0-D
        scale = min(1, max_norm / (norm + 1e-6))           0-D, computed on the device
        g    ← g * scale                                   each g keeps its shape

    As ``torch.nn.utils.clip_grad_norm_``. The scale stays on the device (no ``float()``, hence no
    host synchronisation); below the threshold it is exactly 1 and the gradients are unchanged.
    """
    max_norm = _positive("max_norm", max_norm)
    if not isinstance(grads, Mapping) or not grads:
        raise ValueError(f"grads must be a non-empty dict of name -> array, got {grads!r}")
    xp = array_api_compat.array_namespace(*grads.values())
    with _backend.device_context(next(iter(grads.values()))):
        return _clip_grad_norm(grads, max_norm, xp=xp)


def _clip_grad_norm(grads, max_norm, *, xp):
    norms = xp.stack([xp.linalg.vector_norm(g) for g in grads.values()])
    total = xp.asarray(xp.linalg.vector_norm(norms))  # NumPy reductions give scalars: a 0-D array
    scale = at_most(max_norm / (total + 1e-6), 1.0, xp=xp)
    return {key: g * scale for key, g in grads.items()}, total


# -- optimizers -----------------------------------------------------------------------------------


def _copy(x):
    return array_api_compat.array_namespace(x).asarray(x, copy=True)


class Optimizer:
    """Base class: checks, gradient clipping, weight decay, lazily created state, state_dict.

    A subclass names its hyperparameters in ``super().__init__(**hyper)``, lists its per-parameter
    state arrays in ``slot_names`` and implements ``_update(p, g, state, xp=)``: the update of one
    parameter ``p`` from its gradient ``g`` (weight decay already applied, clipping too) and its
    ``state`` (``slot name -> array`` shaped like ``p``), returning the new ``p``. Written with
    in-place operators, it changes ``p`` and the state arrays where arrays are writeable; it must
    also store every state array back (``state["m"] = m``) and return ``p``, which is how the update
    reaches immutable arrays (JAX), where the operators rebind names.
    ``self.iterations`` is the step number ``t`` (1 on the first step).

    Attributes
    ----------
    lr : float
        The learning rate used by the next step (schedules set it; checked on assignment).
    iterations : int
        Steps taken so far.
    """

    decoupled_weight_decay = False  # True: p ← p·(1 − lr·wd) (AdamW); False: g ← g + wd·p (L2)

    def __init__(self, **hyper):
        for name, value in hyper.items():
            setattr(self, name, _CHECKS[name](name, value))
        self._hyper_names = tuple(hyper)
        self.iterations = 0
        self._state: dict[str, dict] = {}  # parameter name -> {slot name -> array}
        self._pending: dict | None = None  # loaded state, adopted on the next step

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _non_negative("lr", value)

    @property
    def hyper(self) -> dict:
        """The hyperparameters, as Python floats and bools (``None`` for no clipping)."""
        return {name: getattr(self, name) for name in self._hyper_names}

    @property
    def slot_names(self) -> tuple:
        """Names of the per-parameter state arrays (e.g. ``("m", "v")`` for Adam)."""
        return ()

    def _update(self, p, g, state, *, xp):
        raise NotImplementedError

    def _scalars(self) -> dict:
        """The coefficients of this step that change between steps (``self.iterations`` counts it
        already), as Python floats; ``_update`` reads them from ``self._k``. A compiled step
        (``jax.jit``, see ``xpnet.train``) passes them in as 0-D arrays instead, so that one
        compiled function serves every step and every learning rate."""
        k = {"lr": self.lr}
        if self.weight_decay and self.decoupled_weight_decay:
            k["decay"] = 1.0 - self.lr * self.weight_decay
        return k

    def step(self, params: Mapping, grads: Mapping) -> None:
        """Update every array of ``params`` from ``grads`` (same keys, shapes, dtype).

        Writeable arrays (NumPy, CuPy, torch) are updated in place; an immutable one (JAX) is
        replaced by the updated array in ``params`` (``params[key] = new``: a model's ``params``
        writes that through to its layers).

        Nothing changes when the arguments are inconsistent: a missing or extra key, a wrong
        shape or dtype raise ``ValueError`` naming the key before any update.

        On NumPy, a parameter larger than :data:`BLOCK` elements is updated a block of rows at a
        time, so the update's temporaries are small: a temporary as large as the parameter is a fresh
        mapping that the memory allocator faults in anew on every step (W2 with Adam: 1.6x the
        GEMM bound whole, 1.26x in blocks). Elementwise, so the result is the same to the bit.
        """
        if params.keys() != grads.keys():
            missing = [k for k in params if k not in grads]
            extra = [k for k in grads if k not in params]
            raise ValueError(f"grads must have the keys of params: missing {missing}, "
                             f"unexpected {extra}")
        for key, p in params.items():
            g = grads[key]
            if g.dtype != p.dtype or tuple(g.shape) != tuple(p.shape):
                raise ValueError(f"grads[{key!r}] is {tuple(g.shape)} {g.dtype} but "
                                 f"params[{key!r}] is {tuple(p.shape)} {p.dtype}; they must match")
        first = next(iter(params.values()), None)
        with _backend.device_context(first):  # CuPy allocates the state on the current device
            if self._pending is not None:
                self._adopt(params)
            self.iterations += 1
            if params:
                self._step(params, grads, namespace(first))

    def _step(self, params, grads, xp, k=None):
        self._k = self._scalars() if k is None else k
        if self.clip_norm is not None:
            grads = clip_grad_norm(grads, self.clip_norm)[0]
        # Row blocks pay on NumPy only (its temporaries are fresh pages from the allocator); on a
        # GPU each block is another ~10 kernel launches, so the whole parameter goes at once.
        blocked = array_api_compat.is_numpy_namespace(xp)
        for key, p in params.items():
            g = grads[key]
            state = self._state.get(key)
            if state is None:
                state = self._state[key] = {name: xp.zeros_like(p) for name in self.slot_names}
            size = math.prod(p.shape)
            if size <= BLOCK or not blocked:
                new = self._decay_and_update(p, g, state, xp)
                if new is not p:  # an immutable array: the update made a new one
                    params[key] = new
                continue
            n, rows = p.shape[0], max(1, BLOCK * p.shape[0] // size)
            for start in range(0, n, rows):
                block = slice(start, min(start + rows, n))  # the standard leaves stops past n open
                self._decay_and_update(p[block, ...], g[block, ...],
                                       {name: a[block, ...] for name, a in state.items()}, xp)

    def _decay_and_update(self, p, g, state, xp):
        wd = self.weight_decay
        if wd and self.decoupled_weight_decay:
            p *= self._k["decay"]
        elif wd:
            g = g + wd * p
        return self._update(p, g, state, xp=xp)

    # -- checkpoints -----------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """A snapshot of the optimizer: later steps do not change it.

        Returns
        -------
        dict
            ``{"name": "Adam", "hyper": {...}, "step": int, "slots": {"m": {key: array}, ...}}``:
            JSON-friendly apart from the arrays (copies, on the parameters' backend).
        """
        state = self._pending if self._pending is not None else self._state
        first = next((a for slots in state.values() for a in slots.values()), None)
        with _backend.device_context(first):  # CuPy copies onto the current device
            return self._state_dict(state)

    def _state_dict(self, state) -> dict:
        return {"name": type(self).__name__, "hyper": self.hyper, "step": self.iterations,
                "slots": {s: {k: _copy(v[s]) for k, v in state.items()} for s in self.slot_names}}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore hyperparameters, step count and state from :meth:`state_dict`'s output.

        Slot arrays may be NumPy arrays or arrays of any backend: on the next :meth:`step` they are
        copied to the parameters' backend, device and dtype, and their keys and shapes are checked
        against the parameters then (``ValueError`` naming the key, before any update). Parameters
        without saved state start from zeros. Everything else is checked here, before anything
        changes.
        """
        name = type(self).__name__
        if not isinstance(state, Mapping) or {"name", "hyper", "step", "slots"} - set(state):
            raise ValueError(f"state must be a dict with keys 'name', 'hyper', 'step' and 'slots' "
                             f"(from state_dict()), got {state!r:.200}")
        if state["name"] != name:
            raise ValueError(f"state is for optimizer {state['name']!r}, this one is {name!r} "
                             "(xpnet.optim.from_state_dict(state) builds the right one)")
        hyper = state["hyper"]
        if not isinstance(hyper, Mapping) or set(hyper) - set(self._hyper_names):
            raise ValueError(f"state['hyper'] must map names among {list(self._hyper_names)} "
                             f"to values, got {hyper!r}")
        checked = type(self)(**{**self.hyper, **hyper})  # validates, cross-checks included
        step = _integer("state['step']", state["step"], 0)
        slots = state["slots"]
        if not isinstance(slots, Mapping) or set(slots) != set(checked.slot_names) \
                or not all(isinstance(per_key, Mapping) for per_key in slots.values()):
            raise ValueError(f"state['slots'] must have the slots {list(checked.slot_names)} of "
                             f"{name}{checked.hyper}, got {slots!r:.200}")
        keys = {k for per_key in slots.values() for k in per_key}
        pending = {}
        for key in sorted(keys):
            pending[key] = {}
            for s in checked.slot_names:
                value = slots[s].get(key)
                if not array_api_compat.is_array_api_obj(value):
                    raise ValueError(f"state['slots'][{s!r}][{key!r}] must be an array, "
                                     f"got {type(value).__name__}")
                pending[key][s] = value
        for hyper_name, value in checked.hyper.items():
            setattr(self, hyper_name, value)
        self.iterations, self._state, self._pending = step, {}, pending

    def _adopt(self, params: Mapping) -> None:
        """Move loaded state to the parameters' backend and dtype; all or nothing."""
        adopted = {}
        for key, slots in self._pending.items():
            if key not in params:
                raise ValueError(f"the loaded optimizer state has parameter {key!r}, which is not "
                                 f"among the parameters {list(params)}")
            p = params[key]
            target, dtype = _backend.of(p), _backend.dtype_name(p.dtype)
            adopted[key] = {}
            for s, value in slots.items():
                moved = _copy(target.move(value, dtype))
                if tuple(moved.shape) != tuple(p.shape):
                    raise ValueError(f"the loaded optimizer state slots[{s!r}][{key!r}] has shape "
                                     f"{tuple(moved.shape)}, but parameter {key!r} has shape "
                                     f"{tuple(p.shape)}")
                adopted[key][s] = moved
        self._state, self._pending = adopted, None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    Parameters
    ----------
    lr : float
        Learning rate η ≥ 0.
    momentum : float
        Momentum factor μ ≥ 0 (0: plain SGD, no state).
    nesterov : bool
        Nesterov momentum (needs ``momentum > 0``).
    weight_decay : float
        L2 penalty λ ≥ 0, added to the gradient.
    clip_norm : float or None
        Clip the gradients to this global norm first (:func:`clip_grad_norm`).

    Notes
    -----
    For each parameter ``p`` with gradient ``g`` (any shape; ``b`` has ``p``'s shape, zeros at
    first)::

        g ← g + λ p                      (weight decay)
        b ← μ b + g                      (momentum buffer, when μ > 0)
        d = g + μ b  (Nesterov)  |  b  (momentum)  |  g  (μ = 0)
        p ← p − η d
    """

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, clip_norm=None):
        super().__init__(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                         clip_norm=clip_norm)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("nesterov needs momentum > 0, got nesterov=True with momentum=0.0")

    @property
    def slot_names(self):
        return ("b",) if self.momentum else ()

    def _update(self, p, g, state, *, xp):
        if self.momentum:
            b = state["b"]
            b *= self.momentum
            b += g
            state["b"] = b
            g = g + self.momentum * b if self.nesterov else b
        p -= self._k["lr"] * g
        return p


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), L2 weight decay added to the gradient, as ``torch.optim.Adam``.

    Parameters
    ----------
    lr : float
        Step size η ≥ 0.
    beta1, beta2 : float
        Decay rates β₁, β₂ in [0, 1) of the first and second moment estimates.
    eps : float
        ε ≥ 0, added to the denominator (outside the square root).
    weight_decay : float
        L2 penalty λ ≥ 0, added to the gradient (for decoupled decay use :class:`AdamW`).
    clip_norm : float or None
        Clip the gradients to this global norm first (:func:`clip_grad_norm`).

    Notes
    -----
    At step ``t = 1, 2, ...``, for each parameter ``p`` with gradient ``g`` (``m``, ``v`` have
    ``p``'s shape, zeros at first; the bias corrections are Python floats from the integer ``t``)::

        g ← g + λ p                                      (weight decay; AdamW: p ← p (1 − η λ))
        m ← β₁ m + (1 − β₁) g
        v ← β₂ v + (1 − β₂) g²
        p ← p − η / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 clip_norm=None):
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                         clip_norm=clip_norm)

    @property
    def slot_names(self):
        return ("m", "v")

    def _scalars(self):
        t = self.iterations
        return {**super()._scalars(), "c2": math.sqrt(1.0 - self.beta2 ** t),
                "c1": self.lr / (1.0 - self.beta1 ** t)}

    def _update(self, p, g, state, *, xp):
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        G = g * g  # the temporaries are reused in place: half the allocations, same rounding
        G *= 1.0 - self.beta2
        v *= self.beta2
        v += G
        state["m"], state["v"] = m, v
        denom = xp.sqrt(v)
        denom /= self._k["c2"]  # √(1 − β₂ᵗ)
        denom += self.eps
        update = m / denom
        update *= self._k["c1"]  # η / (1 − β₁ᵗ)
        p -= update
        return p


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    The parameters are those of :class:`Adam`; ``weight_decay`` (default 0.01) shrinks the
    parameters directly instead of entering the gradient, so it is not rescaled by Adam's
    per-coordinate step sizes.

    Notes
    -----
    At step ``t``, for each parameter ``p`` with gradient ``g``::

        p ← p (1 − η λ)                                  (decoupled weight decay)
        m ← β₁ m + (1 − β₁) g
        v ← β₂ v + (1 − β₂) g²
        p ← p − η / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
    """

    decoupled_weight_decay = True

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                 clip_norm=None):
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                         clip_norm=clip_norm)


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, 2012), as ``torch.optim.RMSprop`` (``alpha`` is ``rho`` here).

    Parameters
    ----------
    lr : float
        Learning rate η ≥ 0.
    rho : float
        Decay rate ρ in [0, 1) of the mean square.
    eps : float
        ε ≥ 0, added outside the square root.
    momentum : float
        Momentum factor μ ≥ 0 (0: no buffer).
    weight_decay : float
        L2 penalty λ ≥ 0, added to the gradient.
    clip_norm : float or None
        Clip the gradients to this global norm first (:func:`clip_grad_norm`).

    Notes
    -----
    For each parameter ``p`` with gradient ``g`` (``v``, ``b`` have ``p``'s shape, zeros at first)::

        g ← g + λ p
        v ← ρ v + (1 − ρ) g²
        b ← μ b + g / (√v + ε);  p ← p − η b            (μ > 0)
        p ← p − η g / (√v + ε)                          (μ = 0)
    """

    def __init__(self, lr=0.01, rho=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0,
                 clip_norm=None):
        super().__init__(lr=lr, rho=rho, eps=eps, momentum=momentum, weight_decay=weight_decay,
                         clip_norm=clip_norm)

    @property
    def slot_names(self):
        return ("v", "b") if self.momentum else ("v",)

    def _update(self, p, g, state, *, xp):
        v = state["v"]
        v *= self.rho
        v += (1.0 - self.rho) * (g * g)
        state["v"] = v
        avg = xp.sqrt(v) + self.eps
        if self.momentum:
            b = state["b"]
            b *= self.momentum
            b += g / avg
            state["b"] = b
            p -= self._k["lr"] * b
        else:
            p -= self._k["lr"] * (g / avg)
        return p


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def get(optimizer, **kwargs) -> Optimizer:
    """An optimizer from its name (``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``; any case)
    built with ``kwargs``, or ``optimizer`` itself when it already is one (then no kwargs)."""
    if isinstance(optimizer, Optimizer):
        if kwargs:
            raise ValueError(f"keyword arguments {sorted(kwargs)} apply only to an optimizer "
                             f"given by name, not to {optimizer!r}")
        return optimizer
    cls = OPTIMIZERS.get(optimizer.lower()) if isinstance(optimizer, str) else None
    if cls is None:
        raise ValueError(f"optimizer must be an Optimizer or one of {sorted(OPTIMIZERS)}; "
                         f"got {optimizer!r}")
    return cls(**kwargs)


def from_state_dict(state: Mapping) -> Optimizer:
    """A new optimizer of the class named in ``state`` (from :meth:`Optimizer.state_dict`),
    with its hyperparameters, step count and state."""
    classes = {cls.__name__: cls for cls in OPTIMIZERS.values()}
    name = state.get("name") if isinstance(state, Mapping) else None
    if name not in classes:
        raise ValueError(f"state['name'] must be one of {sorted(classes)}, got {name!r}")
    optimizer = classes[name]()
    optimizer.load_state_dict(state)
    return optimizer


# -- learning-rate schedules ----------------------------------------------------------------------


class Schedule:
    """Base class: ``schedule(epoch, base_lr) -> lr``, a pure function of the epoch (from 0)."""

    def __call__(self, epoch: int, base_lr: float) -> float:
        return self._lr(_integer("epoch", epoch, 0), _non_negative("base_lr", base_lr))

    def _lr(self, epoch: int, base_lr: float) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class StepLR(Schedule):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    ``lr(epoch) = base_lr · gamma ** (epoch // step_size)``, as ``torch.optim.lr_scheduler.StepLR``.
    """

    def __init__(self, step_size: int, gamma: float = 0.1):
        self.step_size = _integer("step_size", step_size, 1)
        self.gamma = _positive("gamma", gamma)

    def _lr(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(Schedule):
    """Multiply the learning rate by ``gamma`` every epoch.

    ``lr(epoch) = base_lr · gamma ** epoch``, as ``torch.optim.lr_scheduler.ExponentialLR``.
    """

    def __init__(self, gamma: float):
        self.gamma = _positive("gamma", gamma)

    def _lr(self, epoch, base_lr):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(Schedule):
    """Cosine annealing from ``base_lr`` at epoch 0 to ``eta_min`` at epoch ``T_max``.

    ``lr(epoch) = eta_min + (base_lr − eta_min) · (1 + cos(π · epoch / T_max)) / 2``, PyTorch's
    closed form; past ``T_max`` the cosine continues (back up to ``base_lr`` at ``2 · T_max``).
    """

    def __init__(self, T_max: int, eta_min: float = 0.0):  # noqa: N803 (PyTorch's name)
        self.T_max = _integer("T_max", T_max, 1)
        self.eta_min = _non_negative("eta_min", eta_min)

    def _lr(self, epoch, base_lr):
        cosine = (1.0 + math.cos(math.pi * epoch / self.T_max)) / 2.0
        return self.eta_min + (base_lr - self.eta_min) * cosine


class ReduceLROnPlateau:
    """Reduce the learning rate when a metric stops improving (PyTorch's rule, Keras' names).

    Parameters
    ----------
    factor : float
        Multiplier in (0, 1) applied to the learning rate on a plateau.
    patience : int
        Epochs without improvement tolerated: the rate is cut on the ``patience + 1``-th
        consecutive one (as PyTorch; Keras cuts one epoch earlier).
    min_delta : float
        An improvement must beat the best value so far by more than this (absolute) amount.
    cooldown : int
        Epochs after a cut during which bad epochs are not counted.
    min_lr : float
        The rate is never cut below this.
    mode : {"min", "max"}
        Whether the metric should decrease (a loss) or increase (an accuracy).

    Examples
    --------
    >>> plateau = ReduceLROnPlateau(factor=0.5, patience=1)
    >>> lr = 0.1
    >>> for val_loss in [1.0, 0.9, 0.95, 0.93, 0.8]:
    ...     lr = plateau.update(val_loss, lr)
    >>> lr
    0.05
    """

    def __init__(self, factor: float = 0.1, patience: int = 10, min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0, mode: str = "min"):
        self.factor = _number("factor", factor, "a number in (0, 1)", lambda v: 0.0 < v < 1.0)
        self.patience = _integer("patience", patience, 0)
        self.min_delta = _non_negative("min_delta", min_delta)
        self.cooldown = _integer("cooldown", cooldown, 0)
        self.min_lr = _non_negative("min_lr", min_lr)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.mode = mode
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def update(self, metric: float, lr: float) -> float:
        """Record this epoch's ``metric``; return the learning rate for the next epoch.

        A NaN metric counts as no improvement.
        """
        metric, lr = float(metric), _non_negative("lr", lr)
        if self.mode == "min":
            improved = metric < self.best - self.min_delta
        else:
            improved = metric > self.best + self.min_delta
        if improved:
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            lr = min(lr, max(lr * self.factor, self.min_lr))  # never raised to min_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return lr

    def __repr__(self) -> str:
        return (f"ReduceLROnPlateau(factor={self.factor}, patience={self.patience}, "
                f"min_delta={self.min_delta}, cooldown={self.cooldown}, min_lr={self.min_lr}, "
                f"mode={self.mode!r})")


__all__ = [
    "SGD", "Adam", "AdamW", "CosineAnnealingLR", "ExponentialLR", "OPTIMIZERS", "Optimizer",
    "RMSprop", "ReduceLROnPlateau", "Schedule", "StepLR", "clip_grad_norm", "from_state_dict",
    "get",
]
