"""Backend selection: which array library (and device) xpnet computes on.

Everything that crosses a library or device boundary lives here: choosing a backend, turning user
data into backend arrays (once, at the API boundary), copying arrays back to NumPy, and seeded random
numbers that are drawn on the host so that the same seed gives the same numbers on every backend.
The rest of xpnet only ever sees a backend's ``xp`` namespace.

>>> from xpnet import backend
>>> backend.available()                      # doctest: +SKIP
['numpy', 'torch', 'array_api_strict']
>>> with backend.use("torch"):               # doctest: +SKIP
...     model = xpnet.mlp([2, 5, 1])         # built on torch tensors
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import math
import operator
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import array_api_compat
import numpy as np

NAMES = ("numpy", "cupy", "torch", "jax", "dask", "array_api_strict")  # built in, in preference order
FLOAT_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Library:
    """An array library xpnet can compute on: how to get its namespace and what its arrays can do.

    Attributes
    ----------
    name : str
        The backend name (``backend.get(name)``).
    load : callable
        ``load() -> namespace``: imports the library's Array API namespace; raises when unavailable.
    writeable : bool
        Whether its arrays can be updated in place (``p -= g`` changes ``p``). False for JAX:
        xpnet then writes every new array back into its dict, on the same code path.
    float64 : callable
        ``float64() -> bool``: whether float64 arrays can be made now (JAX: ``jax_enable_x64``).
    how : str
        What to do when the library is missing or lacks float64 (shown in refusals).
    to_numpy : callable or None
        ``to_numpy(x) -> numpy.ndarray`` when ``numpy.asarray``/DLPack cannot read its arrays.
    builtin : bool
        True for the libraries xpnet knows by name.
    """

    name: str
    load: Callable[[], Any] = field(repr=False)
    writeable: bool = True
    float64: Callable[[], bool] = field(default=lambda: True, repr=False)
    how: str = ""
    to_numpy: Callable | None = field(default=None, repr=False)
    builtin: bool = False

    def owns(self, xp) -> bool:
        """True when ``xp`` (what ``array_namespace`` returns for an array) is this library's."""
        if self.builtin:
            return getattr(array_api_compat, f"is_{self.name}_namespace")(xp)
        try:
            return xp is self.load()
        except Exception:
            return False


def _import(module: str) -> Callable[[], Any]:
    return lambda: importlib.import_module(module)


def _jax_float64() -> bool:
    import jax

    return bool(jax.config.read("jax_enable_x64"))


_LIBRARIES: dict[str, Library] = {
    "numpy": Library("numpy", _import("array_api_compat.numpy"), builtin=True),
    "cupy": Library("cupy", _import("array_api_compat.cupy"), builtin=True,
                    how="install xpnet[cuda] on a machine with an NVIDIA GPU"),
    "torch": Library("torch", _import("array_api_compat.torch"), builtin=True,
                     how="install xpnet[torch]"),
    "jax": Library("jax", _import("jax.numpy"), writeable=False, float64=_jax_float64, builtin=True,
                   how="install jax; for float64 call jax.config.update('jax_enable_x64', True) "
                       "before any JAX array is made"),
    # Dask arrays support __setitem__ but not in-place operators (``p -= g`` rebinds): not writeable.
    "dask": Library("dask", _import("array_api_compat.dask.array"), writeable=False, builtin=True,
                    how="install xpnet[dask]"),
    "array_api_strict": Library("array_api_strict", _import("array_api_strict"), builtin=True,
                                how="install xpnet[strict]"),
}


def register(name: str, namespace, *, writeable: bool = True, float64=True, to_numpy=None) -> Library:
    """Admit another array library as backend ``name``.

    Parameters
    ----------
    name : str
        The backend name to use with :func:`get`, :func:`use`, ``model.to(name)``; a built-in name
        (see :data:`NAMES`) cannot be taken.
    namespace : module, str or callable
        The library's Array API namespace: the module itself, its import name, or a function
        returning it (called when the backend is first used). It must be the object that
        ``array_api_compat.array_namespace`` returns for the library's arrays.
    writeable : bool
        Whether its arrays can be updated in place. ``False`` (immutable arrays, as JAX's) makes
        optimizers and the fit loop write each new array back instead.
    float64 : bool or callable
        Whether float64 arrays can be made (a callable is asked each time).
    to_numpy : callable, optional
        ``to_numpy(x)`` for arrays that ``numpy.from_dlpack`` and ``numpy.asarray`` cannot read.

    Returns
    -------
    Library
        The registration. A library registered later wins over an earlier one, a built-in
        included, when they share a namespace: ``backend.of(x)`` names it.

    Examples
    --------
    >>> import array_api_strict
    >>> backend.register("strict2", array_api_strict)          # doctest: +SKIP
    >>> xpnet.mlp([2, 5, 1], backend="strict2")                # doctest: +SKIP
    """
    if not isinstance(name, str) or not name.isidentifier() or name == "auto":
        raise ValueError(f"name must be a Python identifier other than 'auto', got {name!r}")
    if name in NAMES:
        raise ValueError(f"name {name!r} is a built-in backend; pick another name")
    if isinstance(namespace, str):
        load = _import(namespace)
    elif callable(namespace) and not hasattr(namespace, "asarray"):
        load = namespace
    elif hasattr(namespace, "asarray"):
        load = lambda: namespace  # noqa: E731
    else:
        raise TypeError(f"namespace must be a module, an import name or a function returning one, "
                        f"got {type(namespace).__name__}")
    for flag, value in (("writeable", writeable),):
        if not isinstance(value, bool):
            raise ValueError(f"{flag} must be True or False, got {value!r}")
    has64 = float64 if callable(float64) else (lambda: bool(float64))
    library = _LIBRARIES[name] = Library(name, load, writeable=writeable, float64=has64,
                                         to_numpy=to_numpy, how=f"check that {name}'s namespace loads")
    _importable.cache_clear()
    _cached_backend.cache_clear()
    return library


def library(name: str) -> Library:
    """The registration of backend ``name`` (its capabilities); ``ValueError`` if unknown."""
    if name not in _LIBRARIES:
        raise ValueError(f"backend must be 'auto' or one of {list(_LIBRARIES)}; got {name!r} "
                         f"(available here: {available()})")
    return _LIBRARIES[name]


@functools.cache
def _cuda_available() -> bool:
    """True when CuPy imports *and* a CUDA device answers (cached: detection can take seconds)."""
    try:
        import cupy
    except Exception:  # not installed, or broken without a driver
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # cudaErrorNoDevice, cudaErrorInsufficientDriver, ...
        return False


def unavailable_reason(name: str) -> str:
    """Why backend ``name`` is not usable, in the words ``xpnet info`` uses too."""
    import importlib.util

    if name == "cupy" and importlib.util.find_spec("cupy") is not None:
        return "cupy is installed, but no CUDA device answers"
    return f"{name} is not installed"


@functools.cache
def _importable(name: str) -> bool:
    if name == "cupy":
        return _cuda_available()
    try:
        _LIBRARIES[name].load()
    except Exception:
        return False
    return True


def available() -> list[str]:
    """Names of the backends usable on this machine, in preference order."""
    return [name for name in _LIBRARIES if _importable(name)]


def _default_device(name: str, xp) -> Any:
    if name == "numpy":
        return "cpu"
    if name == "cupy":
        import cupy

        return cupy.cuda.Device()  # the current device
    if name == "torch":
        import torch

        return _torch_device(torch, "cuda" if torch.cuda.is_available() else "cpu")
    if name == "jax":
        import jax

        return jax.devices()[0]  # JAX's default: a GPU when jaxlib has one, else the CPU
    if name == "dask":
        return "cpu"
    if name == "array_api_strict":
        return xp.Device()  # CPU_DEVICE
    found = _info(xp, "default_device")  # a registered library: the standard's inspection API
    return found if found is not None else array_api_compat.device(xp.zeros(1))


def _info(xp, what: str):
    """``xp.__array_namespace_info__().<what>()`` (2023.12), or None where the library lacks it."""
    try:
        with warnings.catch_warnings():  # torch's probe of every device type warns about some
            warnings.simplefilter("ignore")
            return getattr(xp.__array_namespace_info__(), what)()
    except Exception:
        return None


def _torch_devices(torch) -> list[str]:
    """The torch devices xpnet offers here: the CPU, each CUDA device, and MPS where it answers."""
    cuda = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return ["cpu", *cuda, *(["mps"] if torch.backends.mps.is_available() else [])]


def _torch_device(torch, device):
    """``torch.device(device)`` with an index on CUDA: ``cuda`` means the current CUDA device.

    ``torch.device("cuda")`` has index ``None`` and compares unequal to ``cuda:0``, the device of
    every tensor made with it; normalised, a backend and its arrays' devices compare equal.
    A device this machine lacks is a ``ValueError`` here: torch names ``"cuda:0"`` or ``"mps"``
    anywhere and fails only at the first tensor, deep inside building a model.
    """
    offered = _torch_devices(torch)
    refusal = f"device: the torch backend has devices {offered} here; got {device!r}"
    try:
        device = torch.device("cuda" if device == "gpu" else device)
    except (RuntimeError, TypeError):  # not a device name; a number with no accelerator present
        raise ValueError(refusal) from None
    if device.type == "cuda" and device.index is None and torch.cuda.device_count():
        device = torch.device("cuda", torch.cuda.current_device())
    if (device.type if device.type in ("cpu", "mps") else str(device)) not in offered:
        raise ValueError(refusal)
    return device


def _cuda_index(text: str):
    """The device number in ``"cuda"``, ``"gpu"``, ``"cuda:1"``, ``"gpu:1"`` or ``"1"`` (``None``:
    the current device); anything else is ``ValueError``."""
    kind, colon, number = text.partition(":")
    if not colon and kind.isdigit():
        return int(kind)
    if kind in ("cuda", "gpu") and (not colon or number.isdigit()):
        return int(number) if colon else None
    raise ValueError(f"device: a CUDA device is written 'cuda', 'gpu', 'cuda:N' or N; got {text!r}")


def _parse_device(name: str, xp, device) -> Any:
    """A device given by name (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"gpu"``, ``"device1"``) or
    number, or the library's own object, as the library's own object."""
    if device is None or device == "":
        return _default_device(name, xp)
    if name == "cupy":
        import cupy

        if isinstance(device, cupy.cuda.Device):
            return device
        index = device if isinstance(device, int) and not isinstance(device, bool) \
            else _cuda_index(device) if isinstance(device, str) else "?"
        count = cupy.cuda.runtime.getDeviceCount()
        if index == "?" or (index is not None and not 0 <= index < count):
            raise ValueError(f"device: the cupy backend has CUDA devices 0..{count - 1} "
                             f"('cuda:N'); got {device!r}")
        return cupy.cuda.Device(index)
    if name == "torch":
        import torch

        return _torch_device(torch, device)
    if name == "jax":
        return _jax_device(device)
    if not isinstance(device, str):
        return device
    if name in ("numpy", "dask"):
        if device != "cpu":
            raise ValueError(f"device: the {name} backend has only device 'cpu', got {device!r}")
        return "cpu"
    if hasattr(xp, "Device"):  # array_api_strict (and libraries like it): devices by name
        return xp.Device(device)
    devices = [d for d in _info(xp, "devices") or () if d is not None]
    for d in devices:
        if device_id(d) == device:
            return d
    raise ValueError(f"device: the {name} backend has devices {[device_id(d) for d in devices]}; "
                     f"got {device!r}")


def _jax_device(device):
    """A JAX device: a ``jax.Device``, an index into ``jax.devices()``, or a name: ``"cpu"``,
    ``"cpu:N"``, ``"cuda"``/``"gpu"``/``"cuda:N"``/``"gpu:N"``; anything else is ``ValueError``
    (jax itself would take a number for a sharding and fail at the first array)."""
    import jax

    if isinstance(device, jax.Device):
        return device
    everywhere = jax.devices()
    refusal = (f"device: the jax backend has devices {[device_id(d) for d in everywhere]} "
               f"(by name, or by index 0..{len(everywhere) - 1}); got {device!r}")
    if isinstance(device, int) and not isinstance(device, bool):
        if not 0 <= device < len(everywhere):
            raise ValueError(refusal)
        return everywhere[device]
    if not isinstance(device, str):
        raise ValueError(refusal)
    kind, colon, number = device.partition(":")
    platform = {"cuda": "gpu"}.get(kind, kind)
    try:
        devices = jax.devices(platform)
    except RuntimeError:
        devices = []
    if not devices or (colon and not number.isdigit()) or (colon and int(number) >= len(devices)):
        raise ValueError(refusal)
    return devices[int(number) if colon else 0]


def device_id(device) -> str:
    """A stable, hashable name of any library's device object: ``"cuda:1"`` for CuPy's ``Device``
    (which defines ``==`` but no ``__hash__``: hashing it raises ``TypeError``), ``str(device)``
    for the others. Key caches and sets by this, never by the device object."""
    if isinstance(device, str):
        return device
    if type(device).__module__.startswith("cupy"):
        return f"cuda:{device.id}"
    return str(device)


class _NoContext:
    """A reusable do-nothing context manager (the device context of every backend but CuPy)."""

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


_NO_CONTEXT = _NoContext()


def on_model_device(fn):
    """Decorator for ``fn(model, ...)``: runs with the model's device current (CuPy only)."""

    @functools.wraps(fn)
    def wrapper(model, *args, **kwargs):
        with model.backend.context():
            return fn(model, *args, **kwargs)

    return wrapper


def on_device_of(position: int):
    """Decorator: run the function with the device of its argument at ``position`` current (see
    :func:`device_context`), so that called on a CuPy array of device 1 it computes on device 1."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with device_context(args[position]) if len(args) > position else _NO_CONTEXT:
                return fn(*args, **kwargs)

        return wrapper

    return decorate


def device_context(x):
    """The context in which work on the array ``x`` must run: CuPy's ``with Device(n):`` for a
    CuPy array on device ``n`` (CuPy allocates new arrays, and runs kernels, on the *current*
    device), nothing for every other library."""
    if array_api_compat.is_cupy_array(x):
        return type(x.device)(x.device.id)
    return _NO_CONTEXT


@dataclass(frozen=True, eq=False)
class Backend:
    """An array library and a device: the place where a model's arrays live.

    Attributes
    ----------
    name : str
        ``"numpy"``, ``"cupy"``, ``"torch"``, ``"jax"``, ``"dask"``, ``"array_api_strict"`` or a
        name given to :func:`register`.
    xp : module
        The library's Array API namespace (from array-api-compat).
    device : object
        The library's device object; every array xpnet creates on this backend lives there.
    """

    name: str
    device: Any = None
    xp: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        xp = library(self.name).load()
        object.__setattr__(self, "xp", xp)
        object.__setattr__(self, "device", _parse_device(self.name, xp, self.device))

    def __str__(self) -> str:
        return f"{self.name}:{device_id(self.device)}"

    # Equal and hashed by library and device id: CuPy's Device objects cannot be hashed.
    def __eq__(self, other) -> bool:
        return isinstance(other, Backend) and self.name == other.name \
            and device_id(self.device) == device_id(other.device)

    def __hash__(self) -> int:
        return hash((self.name, device_id(self.device)))

    def __reduce__(self):  # pickle and deepcopy by name and device, never the module
        portable = self.name in ("cupy", "jax")  # their device objects do not pickle: by name
        return (Backend, (self.name, device_id(self.device) if portable else self.device))

    @property
    def writeable(self) -> bool:
        """Whether arrays here can be updated in place (False on JAX: new arrays are written back)."""
        return _LIBRARIES[self.name].writeable

    @property
    def float64(self) -> bool:
        """Whether float64 arrays can be made here now (JAX: only with ``jax_enable_x64``)."""
        return bool(_LIBRARIES[self.name].float64())

    @property
    def capabilities(self) -> dict:
        """What this backend can do: ``{"writeable": bool, "float64": bool, "devices": [str]}``."""
        devices = [device_id(d) for d in _info(self.xp, "devices") or () if d is not None]
        return {"writeable": self.writeable, "float64": self.float64,
                "devices": devices or [device_id(self.device)]}

    def _require(self, dtype) -> str:
        """``dtype``'s name, refused with the way out when this backend cannot make it."""
        name = dtype_name(dtype)
        if name == "float64" and not self.float64:
            raise ValueError(f"dtype: the {self.name} backend cannot make float64 arrays now "
                             f"(capability float64 is missing): {_LIBRARIES[self.name].how}")
        return name

    def context(self):
        """``with backend.context():`` makes this backend's device current for CuPy (whose creation
        functions ignore ``device=`` and allocate on the current device); nothing elsewhere."""
        if self.name == "cupy":
            return type(self.device)(self.device.id)
        return _NO_CONTEXT

    def dtype(self, dtype) -> Any:
        """The namespace's float dtype for ``"float32"``/``"float64"`` (or a dtype object)."""
        return getattr(self.xp, self._require(dtype))

    def asarray(self, x, dtype=None, *, name: str = "x"):
        """Copy or move ``x`` (NumPy array, list, pandas object, or this library's array) here.

        Floating and integer data are cast to ``dtype`` when given; casting happens on the host for
        host data, so nothing depends on a library's own rounding. An array of another array library
        is refused with a ``TypeError``: xpnet never moves data between libraries behind your back.
        ``name`` is the argument name used in error messages.
        """
        with self.context():  # a CuPy cast or copy lands on the current device
            return self._asarray(x, dtype, name)

    def _asarray(self, x, dtype, name):
        xp = self.xp
        if dtype is not None:
            self._require(dtype)
        if self.name == "numpy" and type(x) is np.ndarray and x.dtype.kind in "biuf" \
                and x.flags.writeable:  # already here: what the general path returns, ~5 µs sooner
            return x if dtype is None else x.astype(dtype_name(dtype), copy=False)
        if array_api_compat.is_array_api_obj(x) and not array_api_compat.is_numpy_array(x):
            if array_api_compat.array_namespace(x) is not xp:
                raise TypeError(
                    f"{name} is a {_library(x)} array but the model is on the {self.name} backend; "
                    f"pass a NumPy array (xpnet.to_numpy({name})) or move the model with "
                    f"model.to({_library(x)!r})"
                )
            if not xp.isdtype(x.dtype, ("bool", "integral", "real floating")):
                raise ValueError(f"{name} must hold numbers (int, float or bool); got dtype "
                                 f"{x.dtype}")  # as host data: complex is not cast silently
            if array_api_compat.is_torch_array(x) and x.requires_grad:
                x = x.detach()  # xpnet's backprop is its own: torch's graph must not grow from it
            if array_api_compat.device(x) != self.device:
                x = array_api_compat.to_device(x, self.device)
            if dtype is not None and x.dtype != self.dtype(dtype):
                x = xp.astype(x, self.dtype(dtype))
            return x
        host = host_array(x, name)
        if dtype is not None:
            host = host.astype(dtype_name(dtype), copy=False)
        if not host.flags.writeable:  # read-only views (pandas, memmaps): torch would alias them
            host = host.copy()
        return xp.asarray(host, device=self.device)

    def move(self, x, dtype=None):
        """Any library's array copied here (through the host when the library differs)."""
        if _library(x) not in ("numpy", self.name):
            x = to_numpy(x)
        return self.asarray(x, dtype)

    def to_numpy(self, x) -> np.ndarray:
        """This backend's array as a NumPy array on the host."""
        return to_numpy(x)

    def random(self, seed=None) -> Random:
        """A seeded random-number source for this backend (see :class:`Random`)."""
        return Random(seed)


def _library(x) -> str:
    """The backend name of the array library ``x`` belongs to (its module's name when xpnet
    knows no backend for it), for messages and dispatch."""
    if array_api_compat.is_numpy_array(x):
        return "numpy"
    found = _owner(x)
    return found.name if found is not None else type(x).__module__.partition(".")[0]


def _owner(x) -> Library | None:
    """The registered library of the array ``x`` (a later registration first), or None."""
    try:
        xp = array_api_compat.array_namespace(x)
    except TypeError:
        return None
    return next((lib for lib in reversed(_LIBRARIES.values()) if lib.owns(xp)), None)


def is_memmap(x) -> bool:
    """True for a NumPy memmap (or :class:`LazyRows`): data that stays where it is and is streamed
    batch by batch."""
    return isinstance(x, (np.memmap, LazyRows))


class LazyRows:
    """A dask array read like a memmap: ``rows[index]`` computes only the rows asked for, as a
    NumPy array, so a fit streams its batches (shuffled across blocks by the host permutation)
    without ever computing the whole array."""

    def __init__(self, x):
        self.x = x

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def shape(self):
        return tuple(self.x.shape)

    @property
    def ndim(self) -> int:
        return len(self.x.shape)

    @property
    def dtype(self):
        return np.dtype(self.x.dtype)

    def __getitem__(self, index):
        return np.asarray(self.x[index].compute())


def check_known_rows(X, name: str = "X") -> None:
    """A dask array after boolean indexing has no row count (NaN block sizes): ``ValueError``
    saying how to get one, before anything counts its rows."""
    if any(math.isnan(n) for n in X.shape):
        raise ValueError(f"{name} has unknown block sizes; call {name}.compute_chunk_sizes()")


def streamed(backend: Backend, X, y):
    """``(X, y)`` for ``fit``/``evaluate``: a dask ``X`` (on any backend but dask's own) as
    :class:`LazyRows`, streamed like a memmap, and its ``y`` on the host (labels are small);
    anything else as it is."""
    if array_api_compat.is_dask_array(X) and backend.name != "dask":
        check_known_rows(X)
        return LazyRows(X), to_numpy(y)
    return X, y


def host_array(x, name: str, *, numeric: bool = True) -> np.ndarray:
    """User data (list, NumPy array, pandas object) as a NumPy array; ``numeric`` requires numbers.

    Arrays of another array library are left to :meth:`Backend.asarray`'s checks.
    """
    if type(x) is np.ndarray:  # the common case, without the library checks below (~2 µs)
        host = x
    elif array_api_compat.is_array_api_obj(x) and not array_api_compat.is_numpy_array(x):
        return x
    else:
        if hasattr(x, "to_numpy") and not isinstance(x, np.ndarray):  # pandas DataFrame/Series
            x = x.to_numpy()
        try:
            host = np.asarray(x)
        except (ValueError, TypeError) as err:  # ragged lists, unconvertible objects
            raise ValueError(f"{name} could not be read as a numeric array: {err}") from None
    if numeric and host.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must hold numbers (int, float or bool); got dtype {host.dtype} "
            f"(first value {host.ravel()[0]!r})" if host.size else
            f"{name} must hold numbers; got an empty array of dtype {host.dtype}"
        )
    return host


def dtype_name(dtype) -> str:
    """``"float32"`` or ``"float64"`` for a name or any library's float dtype; else ``ValueError``."""
    if isinstance(dtype, type):  # numpy scalar types: np.float32
        dtype = np.dtype(dtype).name
    text = dtype if isinstance(dtype, str) else str(dtype).rpartition(".")[2]
    if text not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be one of {list(FLOAT_DTYPES)}, got {dtype!r}")
    return text


def to_numpy(x) -> np.ndarray:
    """Any backend's array (or a Python/NumPy value) as a NumPy array on the host."""
    if type(x) is np.ndarray:  # itself, as np.asarray below returns it, without ~5 µs of lookups
        return x
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if type(x).__module__.startswith("array_api_strict"):
        import array_api_strict

        return np.asarray(x.to_device(array_api_strict.Device("CPU_DEVICE")))
    owner = _owner(x) if array_api_compat.is_array_api_obj(x) else None
    if owner is not None and owner.to_numpy is not None:
        return np.asarray(owner.to_numpy(x))
    return np.asarray(x)  # NumPy, JAX, Dask (computed), Python values


def of(x) -> Backend:
    """The backend an array lives on: its library and its device."""
    owner = _owner(x)
    if owner is None:
        module = type(x).__module__.partition(".")[0]
        raise TypeError(f"arrays of {module} are not supported: use one of {list(_LIBRARIES)}, or "
                        f"admit its Array API namespace with xpnet.backend.register(name, namespace)")
    return Backend(owner.name, array_api_compat.device(x))


class Random:
    """Seeded random numbers drawn on the host and moved to a backend.

    Drawing on the host from one :func:`numpy.random.default_rng` stream (then casting there and
    moving the result) makes the same seed give the same initial weights, shuffles and dropout masks
    on every backend, at the cost of one host-to-device copy per draw.

    Parameters
    ----------
    seed : int, numpy.random.Generator, Random or None
        ``None`` draws fresh entropy; a ``Random`` or ``Generator`` is shared, not copied.
    """

    def __init__(self, seed=None):
        if isinstance(seed, Random):
            seed = seed.generator
        if seed is not None and not isinstance(seed, (int, np.integer, np.random.Generator)):
            raise TypeError(f"seed must be an int, a numpy Generator or None; got {type(seed).__name__}")
        if isinstance(seed, (int, np.integer)) and seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed}")
        self.generator = np.random.default_rng(seed)

    def uniform(self, shape, low, high, *, backend: Backend, dtype):
        return backend.asarray(self.generator.uniform(low, high, shape), dtype)

    def normal(self, shape, std, *, backend: Backend, dtype):
        return backend.asarray(self.generator.normal(0.0, std, shape), dtype)

    def bernoulli(self, shape, p, *, backend: Backend, dtype):
        """0/1 values, 1 with probability ``p`` (dropout keep-masks): drawn on the host, sent as a
        1-byte boolean mask and cast on the device (an eighth of a float64 mask's traffic)."""
        keep = backend.asarray(self.generator.random(shape) < p)
        with backend.context():
            return backend.xp.astype(keep, backend.dtype(dtype))

    def permutation(self, n: int) -> np.ndarray:
        """A host permutation of ``range(n)`` (int64), to index batches with on any device."""
        return self.generator.permutation(n)

    @property
    def state(self) -> dict:
        """The generator's state, JSON-serialisable (for checkpoints)."""
        return self.generator.bit_generator.state

    @state.setter
    def state(self, value: dict):
        self.generator.bit_generator.state = value


# -- the default backend: an environment variable, a process-wide setting, a scoped override ------

_DEFAULT = contextvars.ContextVar("xpnet_backend", default=None)
_PROCESS_DEFAULT: list[Backend | None] = [None]


def get(name: str | Backend | Any = None, device: Any = None) -> Backend:
    """The backend called ``name`` (a :class:`Backend` is returned as is; an array gives the
    backend it lives on, as :func:`of`).

    ``None`` is the current default (see :func:`use`, :func:`set_default` and the ``XPNET_BACKEND``
    and ``XPNET_DEVICE`` environment variables; NumPy when nothing is set). ``"auto"`` is ``"cupy"``
    when a CUDA device answers, else ``"numpy"``. An unknown or unavailable name is a ``ValueError``
    listing what is available here.
    """
    if isinstance(name, Backend):
        return name if device is None else Backend(name.name, device)
    if name is None:
        current = _DEFAULT.get() or _PROCESS_DEFAULT[0]
        if current is None:
            current = _PROCESS_DEFAULT[0] = _from_environment()
        return current if device is None else Backend(current.name, device)
    if array_api_compat.is_array_api_obj(name):
        found = of(name)
        return found if device is None else Backend(found.name, device)
    if name == "auto":
        name = "cupy" if _importable("cupy") else "numpy"
    if not isinstance(name, str) or name not in _LIBRARIES:
        raise ValueError(
            f"backend must be 'auto' or one of {list(_LIBRARIES)}; got {name!r} "
            f"(available here: {available()})"
        )
    if not _importable(name):
        raise ValueError(f"backend {name!r} is not available here ({unavailable_reason(name)}: "
                         f"{_LIBRARIES[name].how}); available: {available()}")
    return _backend(name, device)


@functools.lru_cache(maxsize=32)
def _cached_backend(name: str, device) -> Backend:
    return Backend(name, device)


def _backend(name: str, device) -> Backend:
    if name != "cupy" and (device is None or isinstance(device, str)):
        return _cached_backend(name, device)  # CuPy's default is the current device: never cached
    return Backend(name, device)


def _from_environment() -> Backend:
    name = os.environ.get("XPNET_BACKEND") or "numpy"
    device = os.environ.get("XPNET_DEVICE") or None
    try:
        return get(name, device)
    except ValueError as err:
        raise ValueError(f"XPNET_BACKEND={name!r}: {err}") from None


def set_default(name, device=None) -> Backend:
    """Make ``name`` the default backend of this process; returns it."""
    backend = get(name, device)
    _PROCESS_DEFAULT[0] = backend
    return backend


@contextlib.contextmanager
def use(name, device=None):
    """Within the ``with`` block, ``name`` is the default backend (scoped to this thread/task)."""
    token = _DEFAULT.set(get(name, device))
    try:
        yield _DEFAULT.get()
    finally:
        _DEFAULT.reset(token)


def check_int(name: str, value, minimum: int, *, allow_none: bool = False) -> int | None:
    """``value`` as a Python int >= ``minimum``: any integral scalar (``np.int64(8)``), not a bool
    (``True`` is no batch size); ``None`` passes with ``allow_none``. ValueError otherwise.

    The check every count in xpnet goes through (layer sizes in :mod:`xpnet.layers`, ``epochs``,
    ``batch_size``, ... through :mod:`xpnet._validation`), so the same mistake gets the same
    message everywhere; here, beside :func:`is_finite_number`, as the lowest module both import."""
    if allow_none and value is None:
        return None
    try:
        number = None if isinstance(value, (bool, np.bool_)) else operator.index(value)
    except TypeError:
        number = None
    if number is None or number < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}{' or None' if allow_none else ''}, "
                         f"got {value!r}")
    return number


def is_finite_number(value) -> bool:
    """True for a real, finite Python or NumPy number (hyperparameter checks)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(value)
