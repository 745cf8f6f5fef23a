"""Saving and loading models: one zip file of JSON and ``.npy`` arrays, never pickle.

A model file is a zip archive holding

* ``xpnet.json``: the format name (``"xpnet"``) and version (1), the xpnet version that wrote
  it, the float ``dtype``, the ``architecture`` (``{"type": "Sequential", "config": {"layers":
  [...]}}``, each layer ``{"type": name, "config": {...}}``), ``params`` mapping each parameter
  key (``"0.W"``, ...) to an array reference, and optionally ``optimizer`` (the optimizer's
  ``state_dict()``), ``classes`` (``model.classes``: a classifier's labels) and ``extra``
  (anything JSON-serialisable: epoch, RNG state, history), and ``loss`` (``{"name", "from_logits"}``:
  the loss it was trained with, the default of ``evaluate``). A ``Standardize`` layer's mean and std
  are in its config.
* one ``.npy`` member per array (``params/0.W.npy``, ``optimizer/3.npy``, ``extra/5.npy``),
  written with ``allow_pickle=False``. An array reference is
  ``{"__ndarray__": member, "shape": [...], "dtype": name}``.

Writing is atomic: a temporary file in the target's directory is written, flushed, synced and
renamed over ``path``, so a failed save leaves any earlier file untouched. Loading rebuilds layers
only from the layer registry :data:`xpnet.layers.LAYERS`, each named by its class name with the
config keys its class declares, and ``Sequential`` (:func:`file_layers`; nothing named in a file
is imported or evaluated),
checks every name, shape, dtype and size against the architecture and against caps before
allocating, and turns every defect of the file into a ``ValueError`` naming the file.

>>> xpnet.io.save(model, "model.xpnet")                              # doctest: +SKIP
>>> model = xpnet.io.load("model.xpnet", backend="torch")            # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import reprlib
import signal
import stat
import tempfile
import threading
import zipfile
from typing import TYPE_CHECKING

import array_api_compat
import numpy as np

from . import backend as _backend
from . import losses as _losses
from .layers import LAYERS as _REGISTRY
from .layers import Sequential
from .losses import trained_loss

if TYPE_CHECKING:
    from .backend import Backend

__all__ = ["FORMAT", "FORMAT_VERSION", "file_layers", "load", "load_checkpoint", "save"]

FORMAT = "xpnet"
FORMAT_VERSION = 1
META = "xpnet.json"
MAX_ARRAY_BYTES = 2 * 1024**3  # all arrays together, uncompressed
MAX_DIM = 2**31
MAX_META_BYTES = 64 * 1024**2
_NPY_HEADER_BYTES = 65536  # slack allowed for each .npy member's header
_REF = "__ndarray__"

_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "float16", "float32", "float64"}
_REQUIRED = {"format", "format_version", "xpnet_version", "dtype", "architecture", "params"}
_OPTIONAL = {"optimizer", "extra", "classes", "loss"}
MAX_CLASSES = 1 << 20


def file_layers() -> dict[str, tuple[type, set]]:
    """The only layer classes a file can name: ``{class name: (class, config keys)}``, read from
    the layer registry when called, and ``Sequential``."""
    table = {cls.__name__: (cls, set(cls.config_keys)) for cls in _REGISTRY.values()}
    table["Sequential"] = (Sequential, {"layers"})
    return table


class _Invalid(ValueError):
    """A defect of the file being read (the caller adds the file name)."""


# -- save ---------------------------------------------------------------------------------------

def save(model, path, *, optimizer=None, extra=None) -> None:
    """Write ``model`` (and optionally optimizer state and ``extra``) to one file at ``path``.

    Parameters
    ----------
    model : Sequential
        Built only from registered layers (see :func:`file_layers`); its parameters must be
        finite.
    path : str or os.PathLike
        The file to write, exactly as given (no suffix is added); replaced atomically.
    optimizer : object with ``state_dict()``, dict or None
        Optimizer state ``{"name": str, "hyper": {...}, "step": int, "slots": {slot: {key:
        array}}}``; slot keys must be parameter keys of ``model``, with the parameter's shape.
    extra : dict or None
        Anything else for a checkpoint (epoch, RNG state, history): JSON values and arrays.

    Raises
    ------
    TypeError
        A layer that is not one of xpnet's, or state that is neither JSON nor arrays.
    ValueError
        Non-finite parameters or optimizer state, inconsistent optimizer slots, or more than
        :data:`MAX_ARRAY_BYTES` of arrays. Nothing is written then.
    """
    from . import __version__

    target = _target(path)  # before any work: a target that must be refused is refused first
    if type(model) is not Sequential:
        raise TypeError(f"save takes an xpnet.Sequential, got {type(model).__qualname__} "
                        "(wrap layers in xpnet.Sequential)")
    architecture = _architecture(model, ())
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "xpnet_version": __version__,
            "dtype": model.dtype, "architecture": architecture}
    meta["params"] = {key: _store(arrays, value, f"params/{key}.npy", f"parameter {key!r}",
                                  finite=True, dtype=model.dtype)
                      for key, value in model.params.items()}
    if model.classes is not None:
        meta["classes"] = _check_classes(model.classes, "cannot save: model.classes")
    loss = trained_loss(model)
    if loss is not None and type(loss) in _losses.LOSSES.values():  # so evaluate() knows it
        meta["loss"] = {"name": loss.name, "from_logits": bool(getattr(loss, "from_logits", False))}
    if optimizer is not None:
        state = optimizer.state_dict() if hasattr(optimizer, "state_dict") else optimizer
        meta["optimizer"] = _encode(state, "optimizer state", lambda value, where: _store(
            arrays, value, f"optimizer/{len(arrays)}.npy", where, finite=True))
        try:
            _check_optimizer(meta["optimizer"], {k: r["shape"] for k, r in meta["params"].items()})
        except _Invalid as err:
            raise ValueError(f"cannot save: {err}") from None
    if extra is not None:
        if not isinstance(extra, dict):
            raise TypeError(f"extra must be a dict, got {type(extra).__name__}")
        meta["extra"] = _encode(extra, "extra", lambda value, where: _store(
            arrays, value, f"extra/{len(arrays)}.npy", where, finite=False))
    total = sum(a.nbytes for a in arrays.values())
    if total > MAX_ARRAY_BYTES:
        raise ValueError(f"cannot save {total} bytes of arrays: the format holds at most "
                         f"{MAX_ARRAY_BYTES}")
    _write_atomic(target, json.dumps(meta, indent=1).encode("utf-8"), arrays)


def _loss_of(spec):
    """The loss a file names: ``{"name": "binary_crossentropy", "from_logits": bool}``."""
    if not isinstance(spec, dict) or set(spec) != {"name", "from_logits"} \
            or spec["name"] not in _losses.LOSSES or not isinstance(spec["from_logits"], bool):
        raise _Invalid(f"loss must be {{'name': one of {sorted(_losses.LOSSES)}, 'from_logits': "
                       f"bool}}, got {reprlib.repr(spec)}")
    cls = _losses.LOSSES[spec["name"]]
    return cls(from_logits=True) if spec["from_logits"] else cls()


def _check_classes(classes, where: str) -> list:
    """``classes`` as a JSON list of distinct labels (str, int or float); ``_Invalid`` otherwise."""
    if hasattr(classes, "tolist"):
        classes = classes.tolist()
    if not isinstance(classes, (list, tuple)) or not 2 <= len(classes) <= MAX_CLASSES or not all(
            type(c) in (str, int, float) for c in classes) or len(set(classes)) != len(classes):
        raise _Invalid(f"{where} must be a list of 2 to {MAX_CLASSES} distinct labels (str, int "
                       f"or float), got {reprlib.repr(classes)}")
    return list(classes)


def _architecture(layer, path: tuple) -> dict:
    """``{"type": ..., "config": ...}`` for a registry layer; ``TypeError`` for any other."""
    kind = type(layer).__name__
    table = file_layers()
    cls, keys = table.get(kind, (None, set()))
    if type(layer) is not cls:
        raise TypeError(f"cannot save layer {'.'.join(map(str, path))}: "
                        f"{type(layer).__qualname__} is not one of xpnet's layers "
                        f"{sorted(table)}, the only ones a model file can name")
    if kind == "Sequential":
        return {"type": kind, "config": {"layers": [
            _architecture(child, (*path, i)) for i, child in enumerate(layer.layers)]}}
    config = layer.config()
    if not set(config) <= keys:  # layers.py grew a constructor argument this module cannot load
        raise TypeError(f"cannot save {kind}: config keys {sorted(set(config) - keys)} are not "
                        "supported by xpnet.io")
    return {"type": kind, "config": config}


def _store(arrays: dict, value, member: str, where: str, *, finite: bool, dtype=None) -> dict:
    """Copy ``value`` to the host under ``member``; return its reference for the JSON."""
    host = _backend.to_numpy(value)
    host = np.asarray(host, dtype=host.dtype.newbyteorder("="))
    allowed = _DTYPES if dtype is None else {dtype}
    if host.dtype.name not in allowed:
        raise TypeError(f"{where}: arrays must have a dtype in {sorted(allowed)}, got {host.dtype}")
    if finite and host.dtype.kind == "f" and not np.isfinite(host).all():
        raise ValueError(f"{where} holds NaN or infinite values; the file could not be loaded")
    arrays[member] = host
    return {_REF: member, "shape": list(host.shape), "dtype": host.dtype.name}


def _encode(value, where: str, store):
    """``value`` as JSON values, each array replaced by ``store(array, where)``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or key == _REF:
                raise TypeError(f"{where}: keys must be strings other than {_REF!r}, got {key!r}")
            out[key] = _encode(item, f"{where}[{key!r}]", store)
        return out
    if isinstance(value, (list, tuple)):
        return [_encode(item, f"{where}[{i}]", store) for i, item in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if array_api_compat.is_array_api_obj(value):
        return store(value, where)
    raise TypeError(f"{where}: cannot save a {type(value).__name__}; use dicts, lists, str, int, "
                    "float, bool, None or arrays")


def _target(path) -> str:
    """The file ``save`` replaces: ``path``, or for a symbolic link the file it points to (the
    link stays a link). Refused, naming ``path``: a missing folder, a target that is not a
    regular file (a directory, ``/dev/full``, a pipe) and a read-only file, which stays as it is
    (root could otherwise replace it)."""
    path = os.fsdecode(path)  # a str, bytes or os.PathLike path, as load takes
    target = os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise ValueError(f"cannot save to {path}: it is not a regular file (a directory, device, "
                         "pipe or socket); give the path of a file")
    if mode is not None and not mode & 0o222:
        raise PermissionError(errno.EACCES, f"cannot save to {path}: the file is read-only "
                              "(make it writable to replace it)", path)
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"cannot save to {path}: the folder {directory} "
                                "does not exist", path)
    return target


def _write_atomic(path: str, meta: bytes, arrays: dict) -> None:
    """Write the archive to a temporary file beside ``path``, sync it, rename it onto ``path``.

    The temporary file is ``.NAME.PID.XXXXXXXX.tmp``: it is removed when the save fails or is
    interrupted (an exception, Ctrl-C or SIGTERM), and a save that finds one left by a process
    that no longer exists (killed with SIGKILL, or by a power cut) removes it."""
    directory, name = os.path.split(path)
    mode = _file_mode(path)
    _remove_stale_temp_files(directory, name)
    with _cleanup_on_sigterm():
        _write_temp_and_rename(path, directory, name, mode, meta, arrays)
    with contextlib.suppress(OSError, AttributeError):  # make the rename durable (POSIX only)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_temp_and_rename(path, directory, name, mode, meta, arrays):
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}.", suffix=".tmp",
                                   dir=directory)
    except OSError as err:  # name the user's path, not the hidden temporary file
        raise type(err)(err.errno, f"cannot save to {path}: cannot create a file in "
                        f"{directory}: {err.strerror}", path) from None
    try:
        with os.fdopen(fd, "wb") as file:
            with zipfile.ZipFile(file, "w") as archive:
                archive.writestr(_info(META, zipfile.ZIP_DEFLATED), meta)
                for member, host in arrays.items():
                    with archive.open(_info(member, zipfile.ZIP_STORED), "w",
                                      force_zip64=True) as f:
                        np.lib.format.write_array(f, host, allow_pickle=False)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _Terminated(BaseException):
    """SIGTERM arrived during a save: unwinds it (removing the temporary file), then the signal
    is delivered again with its default action."""


@contextlib.contextmanager
def _cleanup_on_sigterm():
    """Within the block, SIGTERM unwinds like Ctrl-C, so the temporary file is removed; then the
    process ends by the signal as it would have. Only where SIGTERM has its default action (a
    handler of the program's own raises through the save, which cleans up then) and in the main
    thread (signals cannot be handled elsewhere)."""
    if threading.current_thread() is not threading.main_thread() \
            or getattr(signal, "SIGTERM", None) is None \
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def terminate(signum, frame):
        raise _Terminated

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)  # ends the process
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _remove_stale_temp_files(directory: str, name: str) -> None:
    """Remove ``.NAME.PID.XXXXXXXX.tmp`` files of saves to ``name`` whose process is gone."""
    if os.name != "posix":
        return
    prefix, own = f".{name}.", re.compile(r"(\d+)\.[a-z0-9_]{8}\.tmp")
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            match = own.fullmatch(entry.name[len(prefix):]) if entry.name.startswith(prefix) \
                else None
            if match is None or not entry.is_file(follow_symlinks=False):
                continue
            pid = int(match.group(1))
            try:
                os.kill(pid, 0)
                continue  # a live process (or one we may not signal) owns it
            except ProcessLookupError:
                pass
            except (PermissionError, OverflowError, OSError):
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _info(member: str, compression: int) -> zipfile.ZipInfo:
    """A member with a fixed timestamp, so the same model always gives the same bytes."""
    info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    return info


def _file_mode(path: str) -> int:
    """The permissions of the file being replaced, else those a plain ``open`` would give."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


# -- load ---------------------------------------------------------------------------------------

def load(path: str | os.PathLike, backend: str | Backend | None = None, *,
         max_bytes: int = MAX_ARRAY_BYTES) -> Sequential:
    """The model saved at ``path``, on ``backend`` (``None``: the current default backend).

    A file saved from any backend loads on any other; parameters keep their saved dtype.

    Parameters
    ----------
    path : str or os.PathLike
        A model file written by :func:`save`.
    backend : str, Backend or None
        Where the model goes.
    max_bytes : int
        The memory budget of the file's arrays (uncompressed), by default :data:`MAX_ARRAY_BYTES`
        (2 GiB, the most the format holds). A file declaring more is refused before any array is
        read; loading allocates each array once (the model is built from the file's arrays, never
        initialised first), so an untrusted file cannot make ``load`` take much more than
        ``max_bytes``.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is truncated, corrupt, not an xpnet model file, of an unsupported format version,
        inconsistent with its architecture, over ``max_bytes``, or carries a pickle; or ``path``
        is a directory or another non-regular file. The message names the file and the defect.
        Nothing in the file is ever executed.
    """
    return load_checkpoint(path, backend, max_bytes=max_bytes)[0]


def load_checkpoint(path, backend=None, *, max_bytes=MAX_ARRAY_BYTES) -> tuple:
    """``(model, optimizer_state, extra)`` saved at ``path`` (see :func:`save` and :func:`load`).

    ``optimizer_state`` is the saved ``state_dict()`` with its arrays on ``backend`` (``None`` when
    no optimizer was saved); ``extra`` is the saved dict with its arrays as NumPy arrays (or
    ``None``). Errors are those of :func:`load`.
    """
    target = _backend.get(backend)
    name = os.fspath(path)
    if type(max_bytes) is not int or max_bytes < 0:
        raise ValueError(f"max_bytes must be an int >= 0, got {max_bytes!r}")
    _check_regular(name, os.stat(name).st_mode)  # FileNotFoundError stays itself
    with open(path, "rb") as file:
        _check_regular(name, os.fstat(file.fileno()).st_mode)  # swapped since the stat
        try:
            meta, arrays = _read(file, max_bytes)
        except _Invalid as err:
            raise ValueError(f"{name}: {err}") from None
        except zipfile.BadZipFile as err:
            raise ValueError(f"{name}: not a valid zip archive: truncated, damaged or not an "
                             f"xpnet model file ({err})") from None
        except Exception as err:  # any other defect of the bytes: never let it escape as such
            raise ValueError(f"{name}: corrupt xpnet model file ({type(err).__name__}: {err})") \
                from err
    try:
        model = _model(meta, arrays, target)
    except _Invalid as err:
        raise ValueError(f"{name}: {err}") from None
    optimizer = None if meta.get("optimizer") is None else _walk(
        meta["optimizer"], "optimizer", lambda ref, where: target.asarray(arrays[ref[_REF]]))
    extra = None if meta.get("extra") is None else _walk(
        meta["extra"], "extra", lambda ref, where: arrays[ref[_REF]])
    return model, optimizer, extra


def _check_regular(name: str, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise ValueError(f"{name} is a directory, not an xpnet model file")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{name} is not a regular file (a device, pipe or socket), not an xpnet "
                         "model file")


def _read(file, max_bytes: int = MAX_ARRAY_BYTES) -> tuple[dict, dict]:
    """The checked ``xpnet.json`` and every array it references (NumPy, checked)."""
    with zipfile.ZipFile(file) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        if len(infos) != len(archive.infolist()):
            raise _Invalid("the archive has duplicate member names")
        if META not in infos:
            raise _Invalid(f"not an xpnet model file (no {META} in the archive)")
        if infos[META].file_size > MAX_META_BYTES:
            raise _Invalid(f"{META} is larger than {MAX_META_BYTES} bytes")
        with archive.open(META) as f:
            raw = f.read(MAX_META_BYTES + 1)
        if len(raw) > MAX_META_BYTES:
            raise _Invalid(f"{META} is larger than {MAX_META_BYTES} bytes")
        try:
            meta = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise _Invalid(f"{META} is not valid JSON: {err}") from None
        refs = _check_meta(meta, max_bytes)
        missing = sorted(set(refs) - set(infos))
        unexpected = sorted(set(infos) - set(refs) - {META})
        if missing or unexpected:
            raise _Invalid(f"the archive's arrays do not match {META}: missing {missing}, "
                           f"unexpected {unexpected}")
        for member, (shape, dtype, _) in refs.items():
            if infos[member].file_size > _nbytes(shape, dtype) + _NPY_HEADER_BYTES:
                raise _Invalid(f"{member} is larger than a {dtype.name} array of shape {shape}")
        return meta, {member: _read_npy(archive, member, *ref) for member, ref in refs.items()}


def _check_meta(meta, max_bytes: int = MAX_ARRAY_BYTES) -> dict:
    """Check the JSON's schema; return ``{member: (shape, dtype, must_be_finite)}``."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _Invalid(f"not an xpnet model file ({META} does not name the format {FORMAT!r})")
    version = meta["format_version"] if "format_version" in meta else None
    if type(version) is not int:
        raise _Invalid(f"format_version must be an int, got {reprlib.repr(version)}")
    if version != FORMAT_VERSION:
        hint = "; upgrade xpnet" if version > FORMAT_VERSION else ""
        raise _Invalid(f"unsupported format version {version}: this xpnet reads version "
                       f"{FORMAT_VERSION}{hint}")
    missing, unknown = sorted(_REQUIRED - set(meta)), sorted(set(meta) - _REQUIRED - _OPTIONAL)
    if missing or unknown:
        raise _Invalid(f"{META}: missing keys {missing}, unknown keys {unknown}")
    if not isinstance(meta["xpnet_version"], str):
        raise _Invalid("xpnet_version must be a string")
    dtype = meta["dtype"]
    if dtype not in _backend.FLOAT_DTYPES:
        raise _Invalid(f"dtype must be one of {list(_backend.FLOAT_DTYPES)}, "
                       f"got {reprlib.repr(dtype)}")
    if not isinstance(meta["params"], dict):
        raise _Invalid("params must map parameter keys to arrays")
    for key in ("optimizer", "extra"):
        if not isinstance(meta.get(key), (dict, type(None))):
            raise _Invalid(f"{key} must be an object or null")
    if meta.get("classes") is not None:
        _check_classes(meta["classes"], "classes")
    if meta.get("loss") is not None:
        _loss_of(meta["loss"])
    refs: dict = {}
    for key, ref in meta["params"].items():
        _check_ref(ref, f"parameter {key!r}", refs, finite=True, dtype=dtype)
    if meta.get("optimizer") is not None:
        _walk(meta["optimizer"], "optimizer", lambda r, w: _check_ref(r, w, refs, finite=True))
        _check_optimizer(meta["optimizer"], {k: r["shape"] for k, r in meta["params"].items()})
    _walk(meta.get("extra"), "extra", lambda r, w: _check_ref(r, w, refs, finite=False))
    total = sum(_nbytes(shape, dt) for shape, dt, _ in refs.values())
    if total > MAX_ARRAY_BYTES:
        raise _Invalid(f"the arrays declare {total} bytes, more than the limit {MAX_ARRAY_BYTES}")
    if total > max_bytes:
        raise _Invalid(f"the arrays declare {total} bytes, more than max_bytes={max_bytes} "
                       "(load(..., max_bytes=...) raises the budget)")
    return refs


def _check_ref(ref, where: str, refs: dict, *, finite: bool, dtype=None) -> dict:
    """Check one array reference and record it in ``refs``."""
    if not isinstance(ref, dict) or set(ref) != {_REF, "shape", "dtype"}:
        raise _Invalid(f"{where} must be an array reference {{{_REF!r}: member, 'shape': [...], "
                       f"'dtype': name}}, got {reprlib.repr(ref)}")
    member, shape, name = ref[_REF], ref["shape"], ref["dtype"]
    if not isinstance(member, str) or member == META or member in refs:
        raise _Invalid(f"{where}: invalid or repeated member name {reprlib.repr(member)}")
    if not isinstance(shape, list) or len(shape) > 32 or not all(
            type(n) is int and 0 <= n <= MAX_DIM for n in shape):
        raise _Invalid(f"{where}: shape must be a list of at most 32 ints in [0, 2**31], "
                       f"got {reprlib.repr(shape)}")
    allowed = _DTYPES if dtype is None else {dtype}
    if not isinstance(name, str) or name not in allowed:
        raise _Invalid(f"{where}: dtype must be one of {sorted(allowed)}, got {reprlib.repr(name)}")
    refs[member] = (tuple(shape), np.dtype(name), finite)
    return ref


def _check_optimizer(state, shapes: dict) -> None:
    """The documented parts of an optimizer state: a name, a step, slots keyed like the params."""
    if not isinstance(state, dict) or not isinstance(state.get("name"), str):
        raise _Invalid("optimizer state must be a dict with a 'name' string")
    step = state.get("step", 0)
    if type(step) is not int or step < 0:
        raise _Invalid(f"optimizer state: step must be a non-negative int, got {step!r}")
    slots = state.get("slots", {})
    if not isinstance(slots, dict) or not all(isinstance(s, dict) for s in slots.values()):
        raise _Invalid("optimizer state: slots must map slot names to {parameter key: array}")
    for slot, entries in slots.items():
        for key, ref in entries.items():
            if key not in shapes:
                raise _Invalid(f"optimizer slot {slot!r} has an entry for {key!r}, which is not "
                               f"a parameter of the model {sorted(shapes)}")
            if not (isinstance(ref, dict) and _REF in ref) or ref["shape"] != shapes[key]:
                raise _Invalid(f"optimizer slot {slot!r}[{key!r}] must be an array of shape "
                               f"{tuple(shapes[key])}, like the parameter")


def _walk(tree, where: str, on_ref):
    """``tree`` (JSON values) with every array reference replaced by ``on_ref(ref, where)``."""
    if isinstance(tree, dict):
        if _REF in tree:
            return on_ref(tree, where)
        return {key: _walk(item, f"{where}[{key!r}]", on_ref) for key, item in tree.items()}
    if isinstance(tree, list):
        return [_walk(item, f"{where}[{i}]", on_ref) for i, item in enumerate(tree)]
    return tree


def _nbytes(shape: tuple, dtype: np.dtype) -> int:
    n = dtype.itemsize
    for d in shape:
        n *= d
    return n


def _read_npy(archive, member: str, shape: tuple, dtype: np.dtype, finite: bool) -> np.ndarray:
    """One ``.npy`` member, its header checked against the JSON before any data is read."""
    fmt = np.lib.format
    try:
        with archive.open(member) as f:
            version = fmt.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise _Invalid(f"{member}: unsupported .npy version {version}")
            read_header = fmt.read_array_header_1_0 if version == (1, 0) \
                else fmt.read_array_header_2_0
            got_shape, _, got_dtype = read_header(f)
            if got_dtype != dtype or got_shape != shape:
                raise _Invalid(f"{member} holds a {got_dtype} array of shape {got_shape}, but "
                               f"{META} declares {dtype.name} {shape}")
            f.seek(0)
            array = fmt.read_array(f, allow_pickle=False)
            if f.read(1):
                raise _Invalid(f"{member} has bytes after its array")
    except _Invalid:
        raise
    except Exception as err:
        raise _Invalid(f"{member} is not a valid .npy array ({type(err).__name__}: {err})") \
            from None
    if finite and dtype.kind == "f":
        flat, block = array.reshape(-1), 1 << 20  # a block at a time: no mask as large as the array
        if not all(np.isfinite(flat[i:i + block]).all() for i in range(0, flat.size, block)):
            raise _Invalid(f"{member} holds NaN or infinite values")
    return array


def _model(meta: dict, arrays: dict, target) -> Sequential:
    """Rebuild the architecture on ``target`` and load the checked parameters into it."""
    spec, dtype = meta["architecture"], meta["dtype"]
    declared = {key: tuple(ref["shape"]) for key, ref in meta["params"].items()}
    if not isinstance(spec, dict) or spec.get("type") != "Sequential":
        raise _Invalid("the architecture must be {'type': 'Sequential', 'config': {...}}")
    stored = {key: arrays[ref[_REF]] for key, ref in meta["params"].items()}
    model = _build(spec, (), declared, target, dtype, stored)
    have = model.params
    if set(have) != set(declared):
        raise _Invalid(f"parameters do not match the architecture: {META} lists "
                       f"{sorted(declared)}, the architecture has {sorted(have)}")
    model.to(target, dtype)  # the parameters are there already: the backend and dtype set
    model.classes = meta.get("classes")
    if meta.get("loss") is not None:
        model._saved_loss = _loss_of(meta["loss"])
    return model


def _build(spec, path: tuple, declared: dict, target, dtype: str, stored: dict):
    """The layer ``spec`` describes, built only from :func:`file_layers`."""
    where = f"layer {'.'.join(map(str, path))}" if path else "the model"
    if len(path) > 32:
        raise _Invalid(f"{where}: Sequential layers are nested more than 32 deep")
    if not isinstance(spec, dict) or set(spec) != {"type", "config"} \
            or not isinstance(spec["config"], dict):
        raise _Invalid(f"{where}: expected {{'type': name, 'config': {{...}}}}, "
                       f"got {reprlib.repr(spec)}")
    kind, config = spec["type"], spec["config"]
    table = file_layers()
    if not isinstance(kind, str) or kind not in table:
        raise _Invalid(f"{where}: unknown layer type {reprlib.repr(kind)}; a model file can "
                       f"name only {sorted(table)}")
    cls, keys = table[kind]
    if not set(config) <= keys:
        raise _Invalid(f"{where} ({kind}): unknown config keys {sorted(set(config) - keys)}; "
                       f"expected {sorted(keys)}")
    if kind == "Sequential":
        if not isinstance(config.get("layers"), list):
            raise _Invalid(f"{where} (Sequential): config must have a list 'layers'")
        return Sequential(*(_build(child, (*path, i), declared, target, dtype, stored)
                            for i, child in enumerate(config["layers"])))
    kwargs = dict(config)
    prefix = "".join(f"{i}." for i in path)
    if kind == "Dense":
        # built from the file's checked arrays: weights about to be replaced are never
        # initialised, so loading holds each array once
        _check_dense(config, prefix, declared, where)
        kwargs.update(init=lambda shape, **_: target.move(stored[prefix + "W"], dtype),
                      bias=False, backend=target, dtype=dtype)
    try:
        layer = cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise _Invalid(f"{where} ({kind}): {err}") from None
    if kind == "Dense" and config.get("bias", True):
        layer.params["b"] = target.move(stored[prefix + "b"], dtype)
    return layer


def _check_dense(config: dict, prefix: str, declared: dict, where: str) -> None:
    """Compare a Dense layer's parameter shapes with the file's before allocating them."""
    n_in, n_out, bias = config.get("n_in"), config.get("n_out"), config.get("bias", True)
    if not isinstance(bias, bool):
        raise _Invalid(f"{where} (Dense): bias must be true or false, got {reprlib.repr(bias)}")
    if not all(type(n) is int and n >= 1 for n in (n_in, n_out)):
        return  # Dense() itself rejects these before allocating, with its own message
    needed = {prefix + "W": (n_in, n_out)} | ({prefix + "b": (n_out,)} if bias else {})
    for key, shape in needed.items():
        if declared.get(key) != shape:
            found = f"shape {declared[key]}" if key in declared else "no such parameter"
            raise _Invalid(f"{where} is Dense({n_in}, {n_out}) and needs parameter {key!r} of "
                           f"shape {shape}; the file has {found}")
