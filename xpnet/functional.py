"""Numerically stable elementwise functions shared by layers and losses (Array API only).

Each takes the namespace as ``xp`` (resolved once by the caller) and keeps the input's dtype and
device: constants are Python floats, which every library treats as "weak" scalars.
"""

from __future__ import annotations

import array_api_compat


def sigmoid(Z, *, xp):
    """σ(z) = 1 / (1 + e^(−z)), without overflow.

    With e = exp(−|z|) ∈ (0, 1], σ(z) = 1/(1+e) for z ≥ 0 and e/(1+e) for z < 0. ``where``
    evaluates both branches, so both must be finite for every z: neither ever computes exp(+|z|).
    """
    E = xp.exp(-xp.abs(Z))
    R = 1.0 / (1.0 + E)
    return xp.where(Z >= 0, R, E * R)


def softplus(Z, *, xp):
    """log(1 + e^z) = max(z, 0) + log1p(e^(−|z|)), finite for every finite z."""
    return xp.clip(Z, min=0.0) + xp.log1p(xp.exp(-xp.abs(Z)))


def log_softmax(Z, *, xp, axis=-1):
    """log(softmax(z)) along ``axis`` by the max-shifted log-sum-exp."""
    S = Z - xp.max(Z, axis=axis, keepdims=True)
    return S - xp.log(xp.sum(xp.exp(S), axis=axis, keepdims=True))


def one_hot(labels, k: int, *, xp, dtype):
    """Integer labels ``(m,)`` as a one-hot matrix ``(m, k)`` of ``dtype`` on the labels' device."""
    classes = xp.arange(k, dtype=labels.dtype, device=array_api_compat.device(labels))
    return xp.astype(labels[:, None] == classes[None, :], dtype)
