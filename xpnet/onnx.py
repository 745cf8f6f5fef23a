"""ONNX export by tracing the model's own forward pass: no second implementation of any layer.

ndonnx is an Array API library whose arrays record operations into an ONNX graph. Registered as
an xpnet backend (immutable arrays), a copy of the model moved onto it runs the very ``forward``
code that trains on NumPy, CuPy or torch, on a symbolic input of shape ``(N, n_features)``; the
recorded graph is the exported model. Inference then runs in ONNX Runtime (C++, C#, JavaScript,
phones, databases) with no xpnet and no Python.

>>> xpnet.export_onnx(model, "model.onnx")                                 # doctest: +SKIP
>>> import onnxruntime as ort                                              # doctest: +SKIP
>>> ort.InferenceSession("model.onnx").run(None, {"X": X32})[0]            # == model.predict(X)

Needs ``pip install xpnet[onnx]`` (ndonnx and onnx; onnxruntime to run the file).
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np

from . import backend as _backend
from .layers import Dense, Sequential, n_inputs, n_outputs

__all__ = ["export_onnx"]

_NAME = "ndonnx"  # the backend name ndonnx is registered under (on first export)


def _ndonnx():
    try:
        import ndonnx
    except ImportError:
        raise ImportError("ONNX export needs ndonnx and onnx: pip install 'xpnet[onnx]'") from None
    return ndonnx


@contextlib.contextmanager
def _registered(ndonnx):
    """ndonnx as a backend for the export only: left registered, it would be "available" for
    training (check_backends, the test fixtures), which a graph-building library cannot do."""
    if _NAME in _backend._LIBRARIES:  # registered by the user: theirs to keep
        yield
        return
    _backend.register(_NAME, ndonnx, writeable=False)
    try:
        yield
    finally:
        del _backend._LIBRARIES[_NAME]
        _backend._importable.cache_clear()
        _backend._cached_backend.cache_clear()


def export_onnx(model, path, *, preprocessing=None, classes=None) -> str:
    """Write ``model``'s inference (``model.predict``) as an ONNX file at ``path``.

    Parameters
    ----------
    model : Sequential
        The model (any backend, float32 or float64: the graph keeps its dtype).
    path : str or path-like
        Where to write the ``.onnx`` file (atomically: a temporary file, then a rename).
    preprocessing : dict, optional
        ``{"mean": [...], "std": [...]}`` applied to the input first, ``(X − mean) / std``
        (what ``xpnet train`` records; ``xpnet export`` passes it).
    classes : list, optional
        Class labels: a second output ``"label"`` holds the predicted label of each row
        (``classes[argmax]``; for one sigmoid output ``classes[p > 0.5]``).

    Returns
    -------
    str
        ``path``. The graph has input ``"X"`` of shape ``(N, n_features)`` (any batch size) in the
        model's dtype, and output ``"Y"``, the output of ``model.predict``.

    Raises
    ------
    TypeError
        A layer whose forward pass uses something ndonnx cannot record, naming the layer and the
        operation.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be an xpnet Sequential, got {type(model).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, got {type(path).__name__}")
    n_in = n_inputs(model)
    if n_in is None:
        raise ValueError("model: the number of input features is unknown (its first "
                         "parameterised layer is not Dense); export a model that starts with Dense")
    ndx = _ndonnx()
    with _registered(ndx):
        proto = _trace(model, ndx, n_in, preprocessing, classes)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".xpnet-onnx-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(proto.SerializeToString())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return os.fspath(path)


def _trace(model, ndx, n_in, preprocessing, classes):
    """The ONNX ModelProto of ``model``'s inference, recorded by running it on ndonnx arrays."""
    dtype = model.dtype
    traced = model.copy().to(_NAME)
    X = ndx.argument(shape=("N", n_in), dtype=getattr(ndx, dtype))
    Y = X
    if preprocessing is not None:
        mean = np.asarray(preprocessing["mean"], dtype=dtype).reshape(-1)
        std = np.asarray(preprocessing["std"], dtype=dtype).reshape(-1)
        if mean.shape != (n_in,) or std.shape != (n_in,):
            raise ValueError(f"preprocessing: mean and std must have {n_in} values, got "
                             f"{mean.shape[0]} and {std.shape[0]}")
        Y = (Y - ndx.asarray(mean)) / ndx.asarray(std)
    for i, layer in enumerate(traced.layers):
        try:
            Y = _forward(layer, Y, ndx)
        except Exception as err:
            raise TypeError(f"layer {i} ({type(layer).__name__}) cannot be traced to ONNX: "
                            f"{type(err).__name__}: {err}") from err
    outputs = {"Y": Y}
    if classes is not None:
        labels = ndx.asarray(np.asarray([str(c) for c in classes]))
        width = n_outputs(model) or Y.shape[1]  # a traced shape may be unknown (None)
        index = ndx.astype(Y[:, 0] > 0.5, ndx.int64) if width == 1 and len(classes) == 2 \
            else ndx.argmax(Y, axis=1)
        outputs["label"] = ndx.take(labels, index)
    return ndx.build({"X": X}, outputs)


def _forward(layer, X, ndx):
    """``layer``'s inference on the traced ``X`` (N, n), with the width a Dense leaves unknown
    stated again.

    ndonnx records ``X @ W`` inside an If node (its workaround for onnxruntime's MatMul on
    zero-sized inputs), and ONNX shape inference gives that node's output no static shape:
    ``(None, None)``. Dense's ``+ b`` broadcast the width back, so only a bias-free Dense left it
    unknown, and the next Dense, which checks its input's width, refused it. A Reshape to
    ``(-1, n_out)`` restores it (a no-op at run time). A nested Sequential is traced layer by
    layer, as its own forward chains them, so a bias-free Dense inside one is restored too.
    """
    if isinstance(layer, Sequential):
        for inner in layer.layers:
            X = _forward(inner, X, ndx)
        return X
    Y = layer.forward(X)[0]
    if isinstance(layer, Dense) and Y.shape[-1] is None:
        Y = ndx.reshape(Y, (-1, layer.n_out))
    return Y
