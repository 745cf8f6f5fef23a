"""Weight initialisers.

An initialiser is any callable ``init(shape, *, random, backend, dtype) -> array`` where ``shape`` is
``(n_in, n_out)``. Random draws come from :class:`xpnet.backend.Random` (on the host), so the same
seed gives the same weights on every backend.

Why not ``U[0, 1)``: with all-positive weights every pre-activation of a sigmoid layer grows with the
number of inputs, the units saturate at 1, ``σ'(z) = σ(1 − σ)`` is ~0 and the gradient vanishes —
the classic "my network does not learn". The Glorot and He schemes draw zero-mean weights whose
variance keeps activations (Glorot: ``2 / (n_in + n_out)``) or ReLU activations (He: ``2 / n_in``)
at a constant scale from layer to layer.
"""

from __future__ import annotations

import math


def glorot_uniform(shape, *, random, backend, dtype):
    """U(−a, a) with a = sqrt(6 / (n_in + n_out)) (Glorot & Bengio, 2010)."""
    n_in, n_out = shape
    limit = math.sqrt(6.0 / (n_in + n_out))
    return random.uniform(shape, -limit, limit, backend=backend, dtype=dtype)


def glorot_normal(shape, *, random, backend, dtype):
    """N(0, 2 / (n_in + n_out))."""
    n_in, n_out = shape
    return random.normal(shape, math.sqrt(2.0 / (n_in + n_out)), backend=backend, dtype=dtype)


def he_uniform(shape, *, random, backend, dtype):
    """U(−a, a) with a = sqrt(6 / n_in) (He et al., 2015), for ReLU layers."""
    limit = math.sqrt(6.0 / shape[0])
    return random.uniform(shape, -limit, limit, backend=backend, dtype=dtype)


def he_normal(shape, *, random, backend, dtype):
    """N(0, 2 / n_in), for ReLU layers."""
    return random.normal(shape, math.sqrt(2.0 / shape[0]), backend=backend, dtype=dtype)


def zeros(shape, *, random, backend, dtype):
    """All zeros (biases; never for every weight of a hidden layer: the units would stay identical)."""
    return backend.xp.zeros(shape, dtype=backend.dtype(dtype), device=backend.device)


INITIALIZERS = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal, zeros)}


def get(init):
    """An initialiser by name, or ``init`` itself when it is callable."""
    if callable(init):
        return init
    if init not in INITIALIZERS:
        raise ValueError(f"init must be a callable or one of {sorted(INITIALIZERS)}; got {init!r}")
    return INITIALIZERS[init]
