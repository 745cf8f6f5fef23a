"""Checks at the API boundary: user data is validated and converted once, before any state changes.

Errors name the argument, what was expected and what came ("X has 3 columns but the model takes 2
inputs", "X[17, 1] is NaN"). The checks run on the model's backend; only the error path copies
anything back to the host.

The scalar checks (:func:`check_int`, :func:`check_flag`, :func:`check_number`) are the ones every
entry point uses for its options (``epochs``, ``batch_size``, ``shuffle``, ``lr``, ...), so that the
same mistake gets the same message everywhere. :func:`check_int` is defined in ``backend``, which
``layers`` (counting layer sizes with it) and this module both import, and is imported from there.
"""

from __future__ import annotations

import math

import numpy as np
from array_api_compat import is_numpy_array

from .backend import check_int as check_int  # re-exported: the entry points import it from here
from .backend import dtype_name, host_array, is_finite_number, to_numpy
from .functional import namespace
from .layers import n_inputs


def check_flag(name: str, value) -> bool:
    """Flags take bools only: ``shuffle="no"`` would otherwise read as true. TypeError otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_number(name: str, value, expected: str = "a finite number >= 0",
                 ok=lambda v: v >= 0.0) -> float:
    """``value`` as a Python float when it is a finite real number (not a bool) for which
    ``ok(float(value))`` holds; else ValueError saying it must be ``expected``."""
    if not is_finite_number(value) or not ok(float(value)):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def _first_non_finite(A, name: str, given=None, first_row: int = 0) -> str | None:
    """``"X[17, 1] is NaN"`` for the first non-finite entry of ``A``, or None when all are finite;
    ``given``: the data ``A`` was cast from (read only on a failure), whose finite values the
    cast may have overflowed; ``first_row``: the row of the whole data that is ``A``'s first (a
    block of a streamed array), for the message.

    Checked a block of rows at a time: the mask of a block is small, where the mask of a large
    ``X`` would be the largest array training allocates.
    """
    if type(A) is np.ndarray and A.size <= _BLOCK and np.isfinite(A).all():
        return None  # the common case on the host, in one pass and ~2 µs less than below
    xp = namespace(A)
    m, row = A.shape[0], math.prod(A.shape[1:])
    rows = max(1, _BLOCK // max(row, 1))
    for start in range(0, m, rows):
        block = A[start:min(start + rows, m), ...]
        finite = xp.isfinite(block)
        if bool(xp.all(finite)):  # the common case: two calls per block
            continue
        flat = start * row + int(xp.argmin(xp.astype(xp.reshape(finite, (-1,)), xp.int32)))
        index = []
        for size in reversed(tuple(A.shape)):
            flat, i = divmod(flat, size)
            index.append(i)
        index.reverse()
        shown = [index[0] + first_row, *index[1:]]
        value, where = float(to_numpy(A)[tuple(index)]), f"{name}[{', '.join(map(str, shown))}]"
        given = None if given is None else to_numpy(given)
        if given is not None and given.shape == tuple(A.shape) \
                and math.isfinite(float(given[tuple(index)])):
            return (f"{where} = {float(given[tuple(index)]):g} overflows {dtype_name(A.dtype)} "
                    f"(largest {float(np.finfo(dtype_name(A.dtype)).max):.4g}; scale {name}, or "
                    f"use a float64 model)")
        return f"{where} is {value}"
    return None


_BLOCK = 1 << 20  # elements checked at once


def check_finite(A, name: str, given=None, first_row: int = 0) -> None:
    problem = _first_non_finite(A, name, given, first_row)
    if problem:
        raise ValueError(f"{problem}: {name} must hold finite numbers (no NaN or inf)"
                         + (" in the model's dtype" if "overflows" in problem else ""))


def _on_host_first(backend, x, dtype, name):
    """Host data cast on the host (``dtype`` None keeps it), device arrays moved here as they are.

    Host data is checked where it is, before it is copied to the device: a check of a device
    array reads its answer back from the device (a synchronisation on a GPU), one of a NumPy
    array does not.
    """
    host = host_array(x, name)
    if type(host) is not np.ndarray and not is_numpy_array(host):
        return backend.asarray(host, dtype, name=name)
    if dtype is None:
        return host
    with np.errstate(over="ignore"):  # a value the cast overflows: named by check_finite, no warning
        return host.astype(dtype_name(dtype), copy=False)


def check_X(model, X, name: str = "X", first_row: int = 0):
    """``X`` as a finite ``(m, n_in)`` array of the model's backend and dtype; ``first_row``: the
    row of the whole data that is ``X``'s first, when ``X`` is a block of it."""
    return model.backend.asarray(checked_X(model, X, name, first_row), name=name)


def checked_X(model, X, name: str = "X", first_row: int = 0):
    """:func:`check_X`'s checks, leaving host data on the host, cast to the model's dtype (a
    memmap's blocks are validated so, with no copy to the device)."""
    backend, given = model.backend, X
    X = _on_host_first(backend, X, model.dtype, name)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D, (m samples, n features); got shape {tuple(X.shape)}"
                         + (f" (use {name}.reshape(-1, 1) for one feature)" if X.ndim == 1 else ""))
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    n_in = n_inputs(model)
    if n_in is not None and X.shape[1] != n_in:
        raise ValueError(f"{name} has {X.shape[1]} columns but the model takes {n_in} inputs")
    check_finite(X, name, given, first_row)
    return X


def check_y(model, loss, y, m: int, n_outputs: int, name: str = "y"):
    """``y`` as the target ``loss`` takes for ``m`` samples and ``n_outputs`` model outputs."""
    backend, given = model.backend, y
    y = _on_host_first(backend, y, None, name)
    if y.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (m,) or 2-D (m, outputs); got shape {tuple(y.shape)}")
    if y.shape[0] != m:
        raise ValueError(f"X has {m} samples but {name} has {y.shape[0]}")
    on_host = type(y) is np.ndarray or is_numpy_array(y)
    if y.dtype.kind == "f" if on_host else namespace(y).isdtype(y.dtype, "real floating"):
        y = _on_host_first(backend, y, model.dtype, name)  # checked in the dtype it trains in
        check_finite(y, name, given)
    y = backend.asarray(y, name=name)
    xp = backend.xp
    if not (loss.accepts_labels and y.ndim == 1 and xp.isdtype(y.dtype, "integral")):
        y = xp.astype(y, backend.dtype(model.dtype))
    return loss.prepare_target(y, n_outputs)
