"""A CuPy stand-in for machines without a GPU: NumPy underneath, CuPy's behaviour where xpnet meets it.

Put ``tests/standin`` first on ``sys.path`` (the ``cupy-standin`` nox session does, through
PYTHONPATH) and ``import cupy`` finds this package: array-api-compat then wraps it exactly as it
wraps the real CuPy, so xpnet runs its real ``"cupy"`` code path. Each behaviour below is CuPy's,
with the place in CuPy's source that shows it:

- ``cuda.Device`` has an integer ``id``, is a context manager that switches the per-thread *current
  device*, compares by id and is **unhashable** (``cupy/cuda/device.pyx``: ``__richcmp__`` and no
  ``__hash__``).
- Arrays are allocated on the current device: the ``ndarray`` constructor, every creation function
  (none takes ``device=``), ``ndarray.copy()`` and ``asarray`` of another device's array
  (``cupy/_core/core.pyx``, ``cupy/_creation/from_data.py``).
- A kernel whose array arguments live on another device than the current one raises
  ``ValueError`` (``cupy/_core/_kernel.pyx``, ``_check_peer_access``, without peer access; with it
  CuPy warns and the read races the owning device's stream).
- NumPy arrays are not accepted as kernel arguments (``_kernel.pyx``, ``_preprocess_arg``:
  ``TypeError: Unsupported type``), and implicit conversion to NumPy is refused
  (``core.pyx``, ``__array__``: ``TypeError``); ``get()``/``asnumpy`` copy explicitly.
- Device→host synchronisations: ``get``, ``item``, ``tolist``, ``__bool__``/``__int__``/
  ``__float__``, printing, and boolean-mask indexing, which reads the number of true elements back
  (``cupy/_core/_routines_indexing.pyx``: ``int(mask_scanned[-1])``). Each is counted in
  :data:`counters`, as are kernel launches and host→device copies.
- Reductions return 0-D arrays, never host scalars (``_reduction.pyx``).

``counters.syncs``, ``counters.launches`` and ``counters.h2d`` are what the sync-budget tests read;
``CUPY_STANDIN_DEVICES`` sets the number of devices (2 by default).
"""

from __future__ import annotations

import builtins as _b
import sys
import types

import numpy as _np

from . import cuda
from .cuda import Device

__version__ = "14.0.0+standin"
STANDIN = True


class _Counters:
    """Device→host syncs, kernel launches and host→device copies since the last ``reset()``."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.syncs = self.launches = self.h2d = self.h2d_bytes = 0
        self.sync_reasons: dict[str, int] = {}

    def sync(self, reason):
        self.syncs += 1
        self.sync_reasons[reason] = self.sync_reasons.get(reason, 0) + 1


counters = _Counters()


def _current() -> int:
    return cuda.runtime.getDevice()


def _check_peer_access(dev: int) -> None:
    current = _current()
    if dev != current:
        raise ValueError(f"The device where the array resides ({dev}) is different from the current "
                         f"device ({current}). Peer access is unavailable between these devices.")


def _unwrap(value, *, host_ok=False):
    """Arguments of a kernel as NumPy objects; device and type checks as CuPy makes them."""
    if isinstance(value, ndarray):
        _check_peer_access(value._dev)
        return value._a
    if isinstance(value, _np.ndarray) and not host_ok:
        raise TypeError(f"Unsupported type {type(value)}")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, host_ok=host_ok) for v in value)
    return value


def _wrap(result, dev=None):
    if isinstance(result, _np.ndarray):
        return ndarray._from_numpy(result, _current() if dev is None else dev)
    if isinstance(result, _np.generic):  # CuPy returns 0-D arrays where NumPy returns scalars
        return ndarray._from_numpy(_np.asarray(result), _current() if dev is None else dev)
    if isinstance(result, tuple):
        return tuple(_wrap(r, dev) for r in result)
    if isinstance(result, list):
        return [_wrap(r, dev) for r in result]
    return result


def _kernel(fn, name):
    def launch(*args, **kwargs):
        args = _unwrap(args)
        kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
        counters.launches += 1
        return _wrap(fn(*args, **kwargs))

    launch.__name__ = launch.__qualname__ = name
    launch.__doc__ = getattr(fn, "__doc__", None)
    return launch


def _has_mask(key) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return _b.any(isinstance(k, ndarray) and k.dtype == _np.bool_ for k in keys)


class ndarray:  # noqa: N801  (CuPy's name)
    """A device array: a NumPy array and the id of the device that holds it."""

    __slots__ = ("_a", "_dev", "__weakref__")
    __hash__ = None  # defines __eq__ elementwise, like numpy.ndarray
    __array_priority__ = 100

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        self._a = _np.empty(shape, dtype=dtype, order=order)
        self._dev = _current()

    @classmethod
    def _from_numpy(cls, a, dev):
        self = object.__new__(cls)
        self._a, self._dev = a, dev
        return self

    # -- attributes ----------------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    device = property(lambda self: Device(self._dev))
    T = property(lambda self: ndarray._from_numpy(self._a.T, self._dev))
    mT = property(lambda self: ndarray._from_numpy(_np.swapaxes(self._a, -1, -2), self._dev))

    def __len__(self):
        return len(self._a)

    # -- what reaches the host -----------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` "
                        "to construct a NumPy array explicitly.")

    def get(self, stream=None, order="C", out=None, blocking=True):
        counters.sync("get")
        return self._a.copy()

    def item(self):
        counters.sync("item")
        return self._a.item()

    def tolist(self):
        counters.sync("tolist")
        return self._a.tolist()

    def __bool__(self):
        counters.sync("bool")
        return _b.bool(self._a)

    def __int__(self):
        counters.sync("int")
        return _b.int(self._a)

    def __float__(self):
        counters.sync("float")
        return _b.float(self._a)

    def __complex__(self):
        counters.sync("complex")
        return _b.complex(self._a)

    def __index__(self):
        counters.sync("index")
        return self._a.__index__()

    def __repr__(self):
        counters.sync("repr")
        return repr(self._a).replace("array(", "array(", 1)

    __str__ = __repr__

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __dlpack_device__(self):
        return (2, self._dev)  # kDLCUDA: no CPU library can import it without a copy

    # -- indexing ------------------------------------------------------------------------------
    def __getitem__(self, key):
        if _has_mask(key):
            counters.sync("boolean-mask getitem")
        key = _unwrap(key)
        counters.launches += isinstance(key, (_np.ndarray, tuple)) and _b.any(
            isinstance(k, _np.ndarray) for k in (key if isinstance(key, tuple) else (key,)))
        result = self._a[key]
        return ndarray._from_numpy(result if isinstance(result, _np.ndarray) else _np.asarray(result),
                                   self._dev)

    def __setitem__(self, key, value):
        _check_peer_access(self._dev)
        if _has_mask(key):
            counters.sync("boolean-mask setitem")
        counters.launches += 1
        self._a[_unwrap(key)] = _unwrap(value)

    # -- methods, as kernels ---------------------------------------------------------------------
    def copy(self, order="C"):
        """A copy on the *current* device (CuPy's ``ndarray.copy`` docstring says so)."""
        counters.launches += 1
        return ndarray._from_numpy(self._a.copy(order=order), _current())

    def __copy__(self):
        with Device(self._dev):  # core.pyx: __copy__/__deepcopy__ copy on the array's own device
            return self.copy()

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __reduce__(self):  # core.pyx: pickled through the host, restored on the current device
        return (array, (self.get(),))

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        _check_peer_access(self._dev)
        if not copy and self._a.dtype == dtype:
            return self
        counters.launches += 1
        return ndarray._from_numpy(self._a.astype(dtype, order=order), _current())

    def set(self, arr, stream=None):
        counters.h2d += 1
        self._a[...] = arr

    def __getattr__(self, name):
        method = getattr(self._a, name)
        if not callable(method):
            return _wrap(method, self._dev)

        def call(*args, **kwargs):
            _check_peer_access(self._dev)
            counters.launches += 1
            out = method(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
            if isinstance(out, _np.ndarray) and _np.shares_memory(out, self._a):
                return ndarray._from_numpy(out, self._dev)  # a view (reshape, transpose, ...)
            return _wrap(out)

        return call


def _binary(name):
    op = getattr(_np.ndarray, name)

    def method(self, other):
        if isinstance(other, _np.ndarray):
            return NotImplemented if name.startswith("__r") else _raise_unsupported(other)
        a = _unwrap(self)
        b = _unwrap(other)
        counters.launches += 1
        if name.startswith("__i"):
            op(a, b)
            return self
        result = op(a, b)
        return NotImplemented if result is NotImplemented else _wrap(result)

    method.__name__ = name
    return method


def _raise_unsupported(other):
    raise TypeError(f"Unsupported type {type(other)}")


def _unary(name):
    op = getattr(_np.ndarray, name)

    def method(self):
        counters.launches += 1
        return _wrap(op(_unwrap(self)))

    method.__name__ = name
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
              "xor", "lshift", "rshift"):
    for _form in ("__{}__", "__r{}__", "__i{}__"):
        _dunder = _form.format(_name)
        if hasattr(_np.ndarray, _dunder):
            setattr(ndarray, _dunder, _binary(_dunder))
for _dunder in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
    setattr(ndarray, _dunder, _binary(_dunder))
for _dunder in ("__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(ndarray, _dunder, _unary(_dunder))


# -- creation and transfer ------------------------------------------------------------------------


def asarray(a, dtype=None, order=None, *, blocking=False):
    """``a`` on the current device: a host value is copied there, another device's array too."""
    if isinstance(a, ndarray):
        if a._dev == _current():
            return a if dtype is None or a.dtype == dtype else a.astype(dtype)
        counters.launches += 1  # a peer copy onto the current device
        return ndarray._from_numpy(_np.array(a._a, dtype=dtype, order=order or "K"), _current())
    if hasattr(a, "__array__") and not isinstance(a, (_np.ndarray, _np.generic)) and \
            type(a).__module__.partition(".")[0] not in ("numpy", "builtins"):
        a = _np.asarray(a)  # CuPy takes objects that expose __array__ or the buffer protocol
    return _from_host(_np.array(_unwrap(a, host_ok=True), dtype=dtype, order=order or "K"))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if isinstance(obj, ndarray):
        if not copy and obj._dev == _current() and (dtype is None or obj.dtype == dtype):
            return obj
        counters.launches += 1
        return ndarray._from_numpy(_np.array(obj._a, dtype=dtype, order=order, ndmin=ndmin),
                                   _current())
    return _from_host(_np.array(_unwrap(obj, host_ok=True), dtype=dtype, order=order, ndmin=ndmin))


def _from_host(host):
    counters.h2d += 1
    counters.h2d_bytes += host.nbytes
    return ndarray._from_numpy(host, _current())


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    if isinstance(a, ndarray):
        return a.get()
    return _np.asarray(a, order=order)


def get_array_module(*args):
    return _module if _b.any(isinstance(a, ndarray) for a in args) else _np


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_pool = _MemoryPool()


def get_default_memory_pool():
    return _pool


def get_default_pinned_memory_pool():
    return _pool


# -- the rest of NumPy's namespace, as kernels on the current device --------------------------------

_NOT_KERNELS = {"issubdtype", "result_type", "can_cast", "promote_types", "finfo", "iinfo", "dtype",
                "broadcast_shapes", "isscalar", "ndim", "shape", "size", "isdtype", "min_scalar_type",
                "mintypecode", "typename", "format_float_positional", "format_float_scientific",
                "get_printoptions", "set_printoptions", "printoptions", "errstate", "seterr", "geterr"}
_module = sys.modules[__name__]
_namespace = globals()
__all__ = ["ndarray", "asarray", "array", "asnumpy", "get_array_module", "cuda", "counters",
           "get_default_memory_pool", "get_default_pinned_memory_pool"]
for _name in dir(_np):
    if _name.startswith("_") or _name in _namespace:
        continue
    _obj = getattr(_np, _name)
    if isinstance(_obj, types.ModuleType):
        continue
    if isinstance(_obj, type) or not callable(_obj) or _name in _NOT_KERNELS:
        _namespace[_name] = _obj  # dtypes (cupy.float32 is numpy.float32), constants, helpers
    else:
        _namespace[_name] = _kernel(_obj, _name)
    __all__.append(_name)

from . import fft, linalg  # noqa: E402, F401  (they wrap functions made above)

abs = _namespace["absolute"]  # noqa: A001
max = _namespace["amax"]  # noqa: A001
min = _namespace["amin"]  # noqa: A001
round = _namespace["round"]  # noqa: A001
bool_ = _np.bool_
