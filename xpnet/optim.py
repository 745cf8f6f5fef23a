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
buffers, Adam's moments) is created on the first step, filled with each slot's initial value, in
the parameters' dtype and on their device, and nothing is ever copied to the host. ``opt.lr`` is a
plain Python float that a schedule may change between steps.

Each optimizer is one class: its hyperparameters, slots, whether its update is elementwise and its
registry name are declared on it (see :class:`Optimizer`); :data:`OPTIMIZERS` maps the names to the
classes. The learning-rate schedules live in :mod:`xpnet.schedules` and are importable from here.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import math
import os
from collections.abc import Mapping

import array_api_compat

from . import backend as _backend
from .functional import at_most, namespace
from .schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    ReduceLROnPlateau,
    Schedule,
    StepLR,
    _integer,
    _non_negative,
    _number,
    _positive,
)

# Elements per block of a large parameter's update (256 KiB of float32): see Optimizer.step.
BLOCK = 1 << 16
# Elements of blocked parameters from which their blocks run on threads: an update that streams
# from memory (W3: 33.5M, Adam 94 ms a step on two threads, 128 on one) gains a core's bandwidth;
# one that stays in the caches loses to the dispatch (W2: 0.67M, Adam 1.5 ms against 1.2).
PARALLEL = 1 << 22

# -- argument checks ------------------------------------------------------------------------------


def _unit(name, value):
    return _number(name, value, "a number in [0, 1)", lambda v: 0.0 <= v < 1.0)


def _clip_norm(name, value):
    return None if value is None else _positive(name, value)


def _flag(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


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


OPTIMIZERS: dict[str, type] = {}  # registry name -> class, filled by Optimizer.__init_subclass__


_POOL: list = []  # [pid, ThreadPoolExecutor or None], made on first use in each process


def _run(update, blocks, parallel: bool) -> None:
    """``update(block)`` for every block; with ``parallel``, on up to 4 threads where the process
    has the cores.

    The blocks are disjoint rows of elementwise updates, so the order and the thread do not change
    a bit of the result; NumPy's elementwise loops release the GIL, so two cores update two blocks
    at once (PyTorch's CPU kernels are multi-threaded likewise)."""
    if not _POOL or _POOL[0] != os.getpid():  # a forked child has none of its parent's threads
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        threads = min(4, cores or 1)
        _POOL[:] = [os.getpid(), concurrent.futures.ThreadPoolExecutor(threads, "xpnet-optim")
                    if threads > 1 else None]
    if not parallel or _POOL[1] is None or len(blocks) < 2:
        for block in blocks:
            update(block)
    else:
        for _ in _POOL[1].map(update, blocks):  # waits for every block; re-raises their errors
            pass


def _check_state(key, a, p) -> None:
    """``ValueError`` unless the state array ``a`` of parameter ``key`` fits ``p``."""
    if type(a) is not type(p) or a.dtype != p.dtype or tuple(a.shape) != tuple(p.shape):
        raise ValueError(
            f"the optimizer's state for {key!r} is a {tuple(a.shape)} {a.dtype} "
            f"{type(a).__name__} but params[{key!r}] is a {tuple(p.shape)} {p.dtype} "
            f"{type(p).__name__}: the state was made for other parameters (another model, or "
            f"this one before model.to(...)); use a new optimizer, or carry the state over with "
            f"optimizer.load_state_dict(optimizer.state_dict())")


class Optimizer:
    """Base class: declared and checked hyperparameters, clipping, weight decay, lazily created
    state, state_dict.

    A subclass declares, on the class:

    * ``hyperparameters``: ``{name: (default, check)}`` in signature order, where
      ``check(name, value)`` returns the value as stored or raises ``ValueError`` naming it. The
      constructor's signature is made from it (``inspect.signature(SGD)`` shows it), and an
      unknown name is a ``TypeError`` listing the declared ones.
    * ``slots(self) -> {slot name: initial value}``: the per-parameter state arrays, each created
      shaped like its parameter and filled with its initial value on the first step.
    * ``elementwise``: True when element ``i`` of the update depends only on element ``i`` of the
      parameter, gradient and state. Only then may a large parameter be updated a block of rows at
      a time (see :meth:`step`); a per-tensor rule (a norm of ``g``, as LARS or LAMB) leaves it
      False, the default.
    * ``name``: a lower-case name registers the class in :data:`OPTIMIZERS` (``get(name)``,
      ``xpnet train --optimizer``, the file format and the tests read that registry).

    and implements ``_update(p, g, state, xp=)``: the update of one parameter ``p`` from its
    gradient ``g`` (weight decay already applied, clipping too) and its ``state`` (``slot name ->
    array`` shaped like ``p``), returning the new ``p``. Written with in-place operators, it
    changes ``p`` and the state arrays where arrays are writeable; it must also store every state
    array back (``state["m"] = m``) and return ``p``, which is how the update reaches immutable
    arrays (JAX), where the operators rebind names. Coefficients that change between steps come
    from ``_scalars()`` through ``self._k``. ``self.iterations`` is the step number ``t`` (1 on
    the first step). A cross-check between hyperparameters goes in ``_check_hyper()``.

    Attributes
    ----------
    lr : float
        The learning rate used by the next step (schedules set it; checked on assignment).
    iterations : int
        Steps taken so far.
    """

    hyperparameters: dict = {}
    elementwise = False
    name: str | None = None
    decoupled_weight_decay = False  # True: p ← p·(1 − lr·wd) (AdamW); False: g ← g + wd·p (L2)
    weight_decay = 0.0  # for optimizers that declare no weight_decay (or clip_norm)
    clip_norm = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        declared = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)
                    for name, (default, _) in cls.hyperparameters.items()]
        cls.__signature__ = inspect.Signature(declared)
        if "__init__" not in cls.__dict__:  # its own, so that help() and the docs show the names

            def __init__(self, *args, **kwargs):
                Optimizer.__init__(self, *args, **kwargs)

            self_ = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
            __init__.__signature__ = inspect.Signature([self_, *declared])
            __init__.__qualname__ = f"{cls.__qualname__}.__init__"
            __init__.__doc__ = f"Check and store the hyperparameters of {cls.__name__}."
            cls.__init__ = __init__
        if cls.__dict__.get("name"):
            OPTIMIZERS[cls.name] = cls

    def __init__(self, *args, **kwargs):
        cls, declared = type(self), type(self).hyperparameters
        try:
            given = inspect.signature(cls).bind(*args, **kwargs).arguments
        except TypeError as error:  # Python's own message, plus what the class takes
            raise TypeError(f"{cls.__name__}(): {error}; its hyperparameters are "
                            f"{', '.join(declared) or 'none'}") from None
        for name, (default, check) in declared.items():
            setattr(self, name, check(name, given.get(name, default)))
        self._check_hyper()
        self.iterations = 0
        self._state: dict[str, dict] = {}  # parameter name -> {slot name -> array}
        self._pending: dict | None = None  # loaded state, adopted on the next step

    def _check_hyper(self) -> None:
        """Checks across hyperparameters (each one alone is checked by its declared check)."""

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _non_negative("lr", value)

    @property
    def hyper(self) -> dict:
        """The hyperparameters, as Python floats and bools (``None`` for no clipping)."""
        return {name: getattr(self, name) for name in type(self).hyperparameters}

    def slots(self) -> dict:
        """``{slot name: initial value}`` of the per-parameter state arrays (Adam:
        ``{"m": 0.0, "v": 0.0}``); may depend on the hyperparameters."""
        return {}

    @property
    def slot_names(self) -> tuple:
        """Names of the per-parameter state arrays (e.g. ``("m", "v")`` for Adam)."""
        return tuple(self.slots())

    def _new_state(self, p, *, xp) -> dict:
        """The state of parameter ``p`` before its first step: each slot filled with its initial
        value, in ``p``'s dtype and on its device."""
        return {name: xp.zeros_like(p) if value == 0.0 else xp.full_like(p, value)
                for name, value in self.slots().items()}

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

        On NumPy, a parameter larger than :data:`BLOCK` elements of an optimizer whose update is
        ``elementwise`` is updated a block of rows at a time, so the update's temporaries are
        small: a temporary as large as the parameter is a fresh mapping that the memory allocator
        faults in anew on every step. Elementwise, so the result is the same to the bit; a
        per-tensor rule (``elementwise = False``) gets the whole parameter at once.
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
        self._check_fits(params)
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
        blocked = self.elementwise and array_api_compat.is_numpy_namespace(xp)
        blocks, blocked_size = [], 0  # (p, g, state) row blocks of the large parameters
        for key, p in params.items():
            g = grads[key]
            state = self._state.get(key)
            if state is None:
                state = self._state[key] = self._new_state(p, xp=xp)
            size = math.prod(p.shape)
            if size <= BLOCK or not blocked:
                new = self._decay_and_update(p, g, state, xp)
                if new is not p:  # an immutable array: the update made a new one
                    params[key] = new
                continue
            n, rows = p.shape[0], max(1, BLOCK * p.shape[0] // size)
            blocked_size += size
            for start in range(0, n, rows):
                block = slice(start, min(start + rows, n))  # the standard leaves stops past n open
                blocks.append((p[block, ...], g[block, ...],
                               {name: a[block, ...] for name, a in state.items()}))
        _run(lambda job: self._decay_and_update(*job, xp), blocks, blocked_size >= PARALLEL)

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
            return self._state_dict(_copy)

    def _state_dict(self, keep) -> dict:
        """:meth:`state_dict` with each slot array replaced by ``keep(array)`` (a copy there; the
        fit loop's epoch snapshot may write it to a file instead)."""
        state = self._pending if self._pending is not None else self._state
        return {"name": type(self).__name__, "hyper": self.hyper, "step": self.iterations,
                "slots": {s: {k: keep(v[s]) for k, v in state.items()} for s in self.slot_names}}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore hyperparameters, step count and state from :meth:`state_dict`'s output.

        Slot arrays may be NumPy arrays or arrays of any backend: on the next :meth:`step` they are
        copied to the parameters' backend, device and dtype, and their keys and shapes are checked
        against the parameters then (``ValueError`` naming the key, before any update). Parameters
        without saved state start from their slots' initial values. Everything else is checked
        here, before anything changes.
        """
        name = type(self).__name__
        if not isinstance(state, Mapping) or {"name", "hyper", "step", "slots"} - set(state):
            raise ValueError(f"state must be a dict with keys 'name', 'hyper', 'step' and 'slots' "
                             f"(from state_dict()), got {state!r:.200}")
        if state["name"] != name:
            raise ValueError(f"state is for optimizer {state['name']!r}, this one is {name!r} "
                             "(xpnet.optim.from_state_dict(state) builds the right one)")
        hyper = state["hyper"]
        if not isinstance(hyper, Mapping) or set(hyper) - set(self.hyper):
            raise ValueError(f"state['hyper'] must map names among {list(self.hyper)} "
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

    def _check_fits(self, params: Mapping) -> None:
        """``ValueError`` unless the live state (if any) was made for ``params``: an optimizer
        reused on another model, or after ``model.to``, would half-update them and fail inside
        NumPy (a compiled step would broadcast the stale state silently)."""
        if self._pending is not None:
            return  # loaded state: _adopt checks it
        for key, p in params.items():
            state = self._state.get(key)
            if state:  # one slot stands for all: they are made together, like p
                _check_state(key, next(iter(state.values())), p)

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

    name = "sgd"
    hyperparameters = {"lr": (0.01, _non_negative), "momentum": (0.0, _non_negative),
                       "nesterov": (False, _flag), "weight_decay": (0.0, _non_negative),
                       "clip_norm": (None, _clip_norm)}
    elementwise = True

    def _check_hyper(self):
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("nesterov needs momentum > 0, got nesterov=True with momentum=0.0")

    def slots(self):
        return {"b": 0.0} if self.momentum else {}

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
          = p − η √(1 − β₂ᵗ) / (1 − β₁ᵗ) · m / (√v + ε √(1 − β₂ᵗ))    (as computed)

    torch.optim's form, computed as the second line (the same up to rounding; one array pass less).
    """

    name = "adam"
    hyperparameters = {"lr": (0.001, _non_negative), "beta1": (0.9, _unit), "beta2": (0.999, _unit),
                       "eps": (1e-8, _non_negative), "weight_decay": (0.0, _non_negative),
                       "clip_norm": (None, _clip_norm)}
    elementwise = True

    def slots(self):
        return {"m": 0.0, "v": 0.0}

    def _scalars(self):
        t = self.iterations
        c2 = math.sqrt(1.0 - self.beta2 ** t)
        return {**super()._scalars(), "eps_hat": self.eps * c2,
                "step_size": self.lr * c2 / (1.0 - self.beta1 ** t)}

    def _update(self, p, g, state, *, xp):
        # 12 passes over the parameter's elements (8 writes), each a NumPy call: torch.optim's
        # foreach Adam makes 7 (lerp, mul, addcmul, sqrt, div, add, addcdiv), fusing what NumPy
        # cannot. Dividing √v by √(1 − β₂ᵗ) is folded into ε̂ and the step size (one pass less);
        # on NumPy, the row blocks of parameters larger than the caches run on two threads
        # (see Optimizer.step and PARALLEL).
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        G = g * g  # the temporaries are reused in place: half the allocations, same rounding
        G *= 1.0 - self.beta2
        v *= self.beta2
        v += G
        state["m"], state["v"] = m, v
        denom = xp.sqrt(v)
        denom += self._k["eps_hat"]  # ε √(1 − β₂ᵗ)
        update = m / denom
        update *= self._k["step_size"]  # η √(1 − β₂ᵗ) / (1 − β₁ᵗ)
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

    name = "adamw"
    hyperparameters = {**Adam.hyperparameters, "weight_decay": (0.01, _non_negative)}
    decoupled_weight_decay = True


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

    name = "rmsprop"
    hyperparameters = {"lr": (0.01, _non_negative), "rho": (0.99, _unit),
                       "eps": (1e-8, _non_negative), "momentum": (0.0, _non_negative),
                       "weight_decay": (0.0, _non_negative), "clip_norm": (None, _clip_norm)}
    elementwise = True

    def slots(self):
        return {"v": 0.0, "b": 0.0} if self.momentum else {"v": 0.0}

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


class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan & Singer, 2011), as ``torch.optim.Adagrad``.

    Parameters
    ----------
    lr : float
        Learning rate η ≥ 0.
    lr_decay : float
        Decay δ ≥ 0 of the learning rate with the step number.
    weight_decay : float
        L2 penalty λ ≥ 0, added to the gradient.
    initial_accumulator_value : float
        Starting value s₀ ≥ 0 of every element of the sum of squared gradients.
    eps : float
        ε ≥ 0, added outside the square root.
    clip_norm : float or None
        Clip the gradients to this global norm first (:func:`clip_grad_norm`).

    Notes
    -----
    At step ``t = 1, 2, ...``, for each parameter ``p`` with gradient ``g`` (``s`` has ``p``'s
    shape, filled with s₀ at first)::

        g ← g + λ p
        s ← s + g²
        p ← p − η / (1 + (t − 1) δ) · g / (√s + ε)
    """

    name = "adagrad"
    hyperparameters = {"lr": (0.01, _non_negative), "lr_decay": (0.0, _non_negative),
                       "weight_decay": (0.0, _non_negative),
                       "initial_accumulator_value": (0.0, _non_negative),
                       "eps": (1e-10, _non_negative), "clip_norm": (None, _clip_norm)}
    elementwise = True

    def slots(self):
        return {"sum": self.initial_accumulator_value}

    def _scalars(self):
        return {**super()._scalars(),
                "clr": self.lr / (1.0 + (self.iterations - 1) * self.lr_decay)}

    def _update(self, p, g, state, *, xp):
        s = state["sum"]
        s += g * g
        state["sum"] = s
        std = xp.sqrt(s)
        std += self.eps
        p -= self._k["clr"] * (g / std)
        return p


def get(optimizer, **kwargs) -> Optimizer:
    """An optimizer from its name in :data:`OPTIMIZERS` (``"sgd"``, ``"adam"``, ``"adamw"``,
    ``"rmsprop"``, ``"adagrad"``; any case) built with ``kwargs``, or ``optimizer`` itself when it
    already is one (then no kwargs)."""
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


__all__ = [
    "SGD", "Adagrad", "Adam", "AdamW", "CosineAnnealingLR", "ExponentialLR", "OPTIMIZERS",
    "Optimizer", "RMSprop", "ReduceLROnPlateau", "Schedule", "StepLR", "clip_grad_norm",
    "from_state_dict", "get",
]
