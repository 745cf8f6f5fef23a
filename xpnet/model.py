"""The model's verbs: what ``Sequential.fit/predict/evaluate/save/summary/export_onnx`` run.

:class:`xpnet.layers.Sequential` is a pure composition of layers (forward, parameters, devices);
its verbs are thin methods that call the functions here, through a hook this module installs in
:mod:`xpnet.layers` when it is imported (``import xpnet`` imports it). So ``layers`` imports
nothing from training, files or explanations, and this module, above them all, imports downward:
``train`` (and ``distributed`` for ``client=``), ``io``, ``explain`` and ``onnx``.

Each function takes the model first: ``xpnet.model.fit(model, X, y, loss=...)`` is
``model.fit(X, y, loss=...)``.
"""

from __future__ import annotations

import sys

from . import explain as _explain
from . import io as _io
from . import layers as _layers
from . import onnx as _onnx
from . import train as _train

__all__ = ["evaluate", "export_onnx", "fit", "predict", "save", "summary"]


def fit(model, X, y, *, loss, optimizer="adam", epochs=100, batch_size=32, validation_data=None,
        validation_split=0.0, shuffle=True, seed=None, callbacks=(), metrics=_layers.DEFAULT_METRICS,
        verbose=1, initial_epoch=0, client=None, **cluster_options):
    """Train ``model``; see :meth:`xpnet.Sequential.fit`. With ``client``, data-parallel on a Dask
    cluster (:func:`xpnet.distributed.fit`); else :func:`xpnet.train.fit`."""
    options = dict(loss=loss, optimizer=optimizer, epochs=epochs, batch_size=batch_size,
                   validation_data=validation_data, validation_split=validation_split,
                   shuffle=shuffle, seed=seed, callbacks=callbacks, metrics=metrics,
                   verbose=verbose, initial_epoch=initial_epoch)
    if client is None and cluster_options:
        raise TypeError(f"fit() got unexpected keyword arguments {sorted(cluster_options)} "
                        "(timeout= and worker_backend= go with client=)")
    if client is not None:
        from .distributed import fit as fit_on_cluster  # imports dask: only when asked for

        return fit_on_cluster(model, X, y, client=client, **options, **cluster_options)
    return _train.fit(model, X, y, **options)


def predict(model, X, batch_size=None):
    """``model``'s outputs for ``X``; see :meth:`xpnet.Sequential.predict`."""
    return _train.predict(model, X, batch_size)


def evaluate(model, X, y, *, loss=None, metrics=_layers.DEFAULT_METRICS, batch_size=None) -> dict:
    """``{"loss": float, metric: float, ...}``; see :meth:`xpnet.Sequential.evaluate`."""
    return _train.evaluate(model, X, y, loss=loss, metrics=metrics, batch_size=batch_size)


def save(model, path, *, optimizer=None, extra=None) -> None:
    """Write ``model`` to one file at ``path``; see :func:`xpnet.io.save`."""
    _io.save(model, path, optimizer=optimizer, extra=extra)


def summary(model) -> None:
    """Print :func:`xpnet.explain.summary` of ``model``."""
    print(_explain.summary(model))


def export_onnx(model, path, **kwargs) -> str:
    """Write ``model``'s inference as ONNX; see :func:`xpnet.onnx.export_onnx`."""
    return _onnx.export_onnx(model, path, **kwargs)


_layers._use_model(sys.modules[__name__])
