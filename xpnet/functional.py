"""Numerically stable elementwise functions shared by layers and losses (Array API only).

Each takes the namespace as ``xp`` (resolved once by the caller) and keeps the input's dtype and
device: constants are Python floats, which every library treats as "weak" scalars, or shared 0-D
arrays of the input's dtype (:func:`constant`). None uses ``where``: NumPy's ``where`` over a mask of
mixed signs costs several times an ``exp``.
"""

from __future__ import annotations

import math

import array_api_compat

from .backend import device_context, device_id

_NAMESPACES: dict = {}


def namespace(x):
    """The array's Array API namespace, looked up once per array type (it depends on nothing else):
    ``array_api_compat.array_namespace`` costs more than a small array operation."""
    try:
        return _NAMESPACES[type(x)]
    except KeyError:
        xp = _NAMESPACES[type(x)] = array_api_compat.array_namespace(x)
        return xp


def sigmoid(Z, *, xp):
    """σ(z) = 1 / (1 + e^(−z)), to a few ulps wherever σ(z) is a normal number, without overflow.

    The exponent is capped at ``−log(tiny)`` (``tiny``: the dtype's smallest normal number, 87.3
    in float32): below z = log(tiny) the true σ(z) is subnormal and this returns about ``tiny``
    instead (or 0, where the library flushes subnormals), so ``e^(−z)`` never overflows (no inf,
    no NumPy warning). Unlike
    ``0.5 (1 + tanh(z/2))`` it keeps its relative accuracy for tiny probabilities (σ(−80) ≈
    1.8e-35 in float32, not 0); unlike ``e^min(z, 0) / (1 + e^(−|z|))`` it takes one exponential,
    not two (5 array operations instead of 7, about half the time on NumPy).
    """
    E = xp.minimum(-Z, constant(_log_huge(Z.dtype, xp), (), Z, xp=xp))
    E = xp.exp(E)
    E += 1.0
    return 1.0 / E


_LOG_HUGE: dict = {}


def _log_huge(dtype, xp) -> float:
    """``−log(tiny)`` of a float dtype, the largest exponent :func:`sigmoid` takes (cached; keyed
    with the dtype's type, as array-api-strict's dtypes warn when compared with NumPy's)."""
    key = (type(dtype), dtype)
    try:
        return _LOG_HUGE[key]
    except KeyError:
        bound = _LOG_HUGE[key] = -math.log(float(xp.finfo(dtype).smallest_normal))
        return bound


def softplus_and_sigmoid(Z, *, xp):
    """softplus(z) = log(1 + e^z) and σ(z) together, sharing ``E = e^(−|z|)``::

        softplus(z) = max(z, 0) + log1p(E)          σ(z) = e^min(z, 0) / (1 + E)

    with ``min(z, 0)``, ``max(z, 0)`` and ``−|z| = min(z, 0) − max(z, 0)``, each exact. Finite for
    every finite z; what binary cross-entropy from logits needs for its value and its gradient.
    """
    zero = constant(0.0, (), Z, xp=xp)
    N = xp.minimum(Z, zero)
    H = xp.maximum(Z, zero)
    E = xp.exp(N - H)
    S = xp.log1p(E)
    S += H
    P = xp.exp(N)
    E += 1.0
    P /= E
    return S, P


def log_softmax(Z, *, xp, axis=-1):
    """log(softmax(z)) along ``axis`` by the max-shifted log-sum-exp."""
    S = Z - xp.max(Z, axis=axis, keepdims=True)
    return S - xp.log(xp.sum(xp.exp(S), axis=axis, keepdims=True))


def one_hot(labels, k: int, *, xp, dtype):
    """Integer labels ``(m,)`` as a one-hot matrix ``(m, k)`` of ``dtype`` on the labels' device."""
    with device_context(labels):  # CuPy's arange ignores device=
        classes = xp.arange(k, dtype=labels.dtype, device=array_api_compat.device(labels))
    return xp.astype(labels[:, None] == classes[None, :], dtype)


_CONSTANTS: dict = {}


def constant(value: float, shape: tuple, like, *, xp):
    """A ``shape`` array of ``value`` in the library, dtype and device of the array ``like``, made
    once per (library, dtype, device, shape, value) and shared: never write into it."""
    if array_api_compat.is_numpy_namespace(xp):  # one device, the host: none of the ~3 µs of
        device, key = "cpu", ("numpy", like.dtype, shape, value)  # device lookups below, per call
    else:
        device = array_api_compat.device(like)  # not like.device: NumPy 1.26 arrays have none
        if array_api_compat.is_jax_array(like):  # may be a jit tracer: an array kept would leak it
            return xp.full(shape, value, dtype=like.dtype, device=device)
        key = (type(like), like.dtype, device_id(device), shape, value)  # CuPy's Device: no hash
    array = _CONSTANTS.get(key)
    if array is None:
        if len(_CONSTANTS) >= 32:  # batch sizes seen by one process are few; never grow unbounded
            _CONSTANTS.clear()
        with device_context(like):  # CuPy's full ignores device= and uses the current device
            array = _CONSTANTS[key] = xp.full(shape, value, dtype=like.dtype, device=device)
    return array


def at_least(X, bound: float, *, xp):
    """``max(X, bound)`` elementwise, in ``X``'s dtype and on its device.

    Not ``xp.clip(X, min=bound)``: array-api-compat's CuPy ``clip`` is the generic boolean-mask
    version, and each CuPy boolean-mask assignment reads the number of selected elements back to
    the host (two device synchronisations per bound). ``maximum`` against a shared 0-D constant is
    one kernel, and takes no Python scalar (which the 2023.12 standard does not allow there).
    """
    return xp.maximum(X, constant(bound, (), X, xp=xp))


def at_most(X, bound: float, *, xp):
    """``min(X, bound)`` elementwise (see :func:`at_least`)."""
    return xp.minimum(X, constant(bound, (), X, xp=xp))


def batch_sum(dZ, *, xp):
    """``sum(dZ, axis=0)`` ``(n,)`` of ``dZ`` ``(m, n)``, as the vector-matrix product ``1 @ dZ``.

    The product runs in BLAS and accumulates like ``dW = X.T @ dZ`` beside it; NumPy's axis-0
    reduction of a tall, narrow matrix is 2–12 times slower (and no more accurate).
    """
    return constant(1.0, (dZ.shape[0],), dZ, xp=xp) @ dZ
