"""The fit loop: mini-batches, validation, metrics, callbacks, progress and divergence handling.

One epoch is: draw a permutation on the host (so the same seed shuffles the same way on every
backend), move it to the device once, then for each batch ``take`` the rows, run
:func:`xpnet.grad.loss_and_grads` and ``optimizer.step``. Losses stay on the device and become
Python floats once per epoch (on a GPU each conversion waits for the device).

A non-finite loss or gradient stops training with :class:`DivergenceError`. To find it without a
per-step device sync, the loop snapshots the parameters, optimizer state and random state at the
start of each epoch; when the epoch's losses show a non-finite value, it restores the snapshot and
replays the epoch step by step up to the last finite update, so the model keeps its last finite
parameters exactly.

What a run leaves behind is one :class:`xpnet.callbacks.FitState` (``model.fit_state``, handed to
each callback as ``callback.state``); the callbacks themselves live in :mod:`xpnet.callbacks`, and
their names stay importable from here.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import functools
import math
import operator
import os
import signal
import threading
import uuid
import warnings
import weakref

import array_api_compat
import numpy as np

from . import callbacks as _callbacks
from . import losses as _losses
from . import metrics as _metrics
from . import optim as _optim
from ._validation import check_flag, check_int, check_number, check_X, check_y, checked_X
from .backend import (
    Random,
    check_known_rows,
    host_array,
    is_finite_number,
    is_memmap,
    on_model_device,
    streamed,
    to_numpy,
)
from .callbacks import (  # noqa: F401 - the callbacks' names stay importable from here
    Callback,
    CSVLogger,
    EarlyStopping,
    FitState,
    History,
    LearningRateScheduler,
    ModelCheckpoint,
    _monitored,
    _Progress,
)
from .functional import log_softmax, sigmoid
from .grad import check_model, forward_and_backward, fuse
from .layers import DEFAULT_METRICS, Dropout
from .layers import n_inputs as _n_inputs
from .layers import n_outputs as _n_outputs

# A resumed run's earlier history, from resume() to the _train it starts (through model.fit,
# which may go to a Dask cluster): the run's checkpoints then hold every epoch from the first.
_RESUMED_HISTORY: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "xpnet_resumed_history", default=None)


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss or gradient; the model keeps its last finite parameters.

    Attributes ``epoch`` and ``step`` (0-based) say where.
    """

    def __init__(self, message, *, epoch: int, step: int):
        super().__init__(message)
        self.epoch, self.step = epoch, step


def save_checkpoint(model, path, *, extra=None) -> None:
    """Write a checkpoint of ``model`` as it stands during or after its last ``fit`` — e.g. after
    Ctrl-C (a ``KeyboardInterrupt`` at a step boundary) — that :func:`resume` continues from.

    The epoch recorded is the last completed one; steps taken in an interrupted epoch stay in the
    parameters and optimizer state, and resuming starts the next epoch from them (the run goes on,
    but is no longer step for step the uninterrupted one). ``extra``: more JSON values to keep.
    """
    from . import io

    state = getattr(model, "fit_state", None)
    if state is None:
        raise ValueError("save_checkpoint needs a model that has been trained with fit")
    io.save(model, path, optimizer=state.optimizer,
            extra={**(extra or {}), **state.resume_state(state.completed_epochs - 1)})


# -- the loop -------------------------------------------------------------------------------------


def _probabilities(model, loss, outputs, *, xp):
    """Probabilities from what the loss saw: logits when it works from logits (fused or not)."""
    head = fuse(model, loss)[1]
    if not getattr(head, "from_logits", False):
        return outputs
    if isinstance(head, _losses.BinaryCrossEntropy):
        return sigmoid(outputs, xp=xp)
    return xp.exp(log_softmax(outputs, xp=xp, axis=1))


class _Data:
    """Validated data on the model's device — or, for a NumPy memmap (data larger than device
    memory), on the host, moved to the device one batch at a time."""

    def __init__(self, model, loss, X, y, n_out, name="X", y_name="y"):
        self.backend, self.dtype = model.backend, model.dtype
        self.streamed = is_memmap(X)
        if self.streamed:
            _check_streamed(model, X, name)
            self.X, self.m = X, len(X)
        else:
            self.X = check_X(model, X, name)
            self.m = self.X.shape[0]
        self.y = check_y(model, loss, y, self.m, n_out, y_name)

    def batches(self, size, perm=None):
        """``(rows, X, y)`` per batch: in order, or in the order of the host permutation ``perm``."""
        xp, m = self.backend.xp, self.m
        if perm is None and size >= m and not self.streamed:
            yield m, self.X, self.y  # full batch in order: no copy
            return
        if self.streamed:
            yield from self._streamed(size, perm)
            return
        perm_device = None if perm is None else self.backend.asarray(perm)
        for start in range(0, m, size):
            stop = min(start + size, m)
            if perm is None:
                yield stop - start, self.X[start:stop, ...], self.y[start:stop, ...]
                continue
            rows = perm_device[start:stop]
            yield stop - start, xp.take(self.X, rows, axis=0), xp.take(self.y, rows, axis=0)

    def _streamed(self, size, perm):
        """A memmap's batches, each gathered on the host one batch ahead, on a worker thread, so
        that the disk reads of batch k + 1 overlap the device's work on batch k; then copied to
        the device here, where the model's device is current."""
        xp, m = self.backend.xp, self.m
        starts = range(0, m, size)
        perm_device = None if perm is None else self.backend.asarray(perm)

        def gather(start):
            index = slice(start, min(start + size, m)) if perm is None else perm[start:start + size]
            return _gather_rows(self.X, index)

        with concurrent.futures.ThreadPoolExecutor(1, "xpnet-prefetch") as pool:
            pending = pool.submit(gather, starts[0])
            for i, start in enumerate(starts):
                host = pending.result()
                if i + 1 < len(starts):
                    pending = pool.submit(gather, starts[i + 1])
                stop = min(start + size, m)
                Y = self.y[start:stop, ...] if perm is None else \
                    xp.take(self.y, perm_device[start:stop], axis=0)
                yield stop - start, self.backend.asarray(host, self.dtype), Y

    def steps(self, network, head, size, perm, keep_outputs):
        """Per training step ``(rows, value, grads, X)``: the loss and gradients of the next batch
        at the model's parameters as they are when the step is asked for. With ``keep_outputs``,
        :meth:`outputs` then gives the epoch's predictions and targets, in batch order."""
        self._outputs = [], []
        for rows, X, Y in self.batches(size, perm):
            pred, value, grads = forward_and_backward(network, head, X, Y, True)
            if keep_outputs:
                self._outputs[0].append(pred)
                self._outputs[1].append(Y)
            yield rows, value, grads, X
            # before the next batch is gathered and its gradients made: one of each alive at a time
            del X, Y, pred, grads

    def compiled_steps(self, step, size, perm, keep_outputs):
        """:meth:`steps` with a compiled ``step(X, Y) -> (pred, value)`` that also updates the
        parameters (the jax backend): ``(rows, value, None, X)`` per step."""
        self._outputs = [], []
        for rows, X, Y in self.batches(size, perm):
            pred, value = step(X, Y)
            if keep_outputs:
                self._outputs[0].append(pred)
                self._outputs[1].append(Y)
            yield rows, value, None, X
            del X, Y, pred  # as in steps

    def outputs(self):
        """``(pred, Y)`` of the last :meth:`steps` run with ``keep_outputs``, concatenated."""
        xp = self.backend.xp
        (outputs, targets), self._outputs = self._outputs, ([], [])
        return xp.concat(outputs, axis=0), xp.concat(targets, axis=0)

    def forward(self, network, head, size):
        """``(loss sum, outputs, targets)`` over all rows in order: forward only."""
        total, outputs = 0.0, []
        for rows, X, Y in self.batches(size):
            pred = network.forward(X)[0]
            total = total + head(pred, Y)[0] * rows
            outputs.append(pred)
        return total, self.backend.xp.concat(outputs, axis=0), self.y


_CHUNK = 65536
_STREAM_BYTES = 1 << 23  # host-streamed data is checked and moved to the device 8 MiB at a time


def _gather_rows(X, index):
    """Rows ``index`` (a slice or host indices) of a memmap, read into memory."""
    return np.asarray(X[index])


def _stream_rows(X) -> int:
    """Rows of the host-streamed ``X`` that make one transfer of about :data:`_STREAM_BYTES`."""
    return max(1, _STREAM_BYTES // max(1, X.dtype.itemsize * math.prod(X.shape[1:])))


def _check_streamed(model, X, name):
    """Validate a memmap a block of rows at a time (never all of it in memory); the first block
    is checked even when there are no rows, so an empty memmap is refused as "X is empty"."""
    rows = _stream_rows(X) if X.ndim == 2 else 1  # any other shape fails on one row
    for start in range(0, max(len(X), 1), rows):
        checked_X(model, X[start:start + rows], name, start)  # on the host: no device copy


def _split(X, y, fraction):
    """The last ``fraction`` of the rows as validation data (before any shuffling, as Keras).

    A memmap stays a memmap (its slices are views of the file), so it is still streamed."""
    check_number("validation_split", fraction, "a number in [0, 1)", lambda v: 0.0 <= v < 1.0)
    X = X if is_memmap(X) else host_array(X, "X", numeric=False)
    y = y if is_memmap(y) else host_array(y, "y", numeric=False)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"validation_split needs arrays of samples; got X of shape "
                         f"{tuple(X.shape)} and y of shape {tuple(y.shape)}")
    check_known_rows(X)
    m = X.shape[0]
    n_val = int(m * fraction)
    if not 0 < n_val < m:
        raise ValueError(f"validation_split={fraction} of {m} samples leaves an empty split")
    return (X[:m - n_val, ...], y[:m - n_val, ...]), (X[m - n_val:, ...], y[m - n_val:, ...])


def _check_monitors(callbacks, metric_fns, validation) -> None:
    """A monitor that will not be measured is refused before training, not after an epoch (by
    then a CSVLogger has truncated its file and the model has changed). Only when every callback
    is xpnet's: one of the user's may add its own values to the logs."""
    if any(type(cb).__module__ != _callbacks.__name__ for cb in callbacks):
        return
    names = ["loss", *metric_fns]
    logged = [*names, *(f"val_{n}" for n in names if validation)]
    logged += ["lr"] if any(isinstance(cb, LearningRateScheduler) for cb in callbacks) else []
    for cb in callbacks:
        monitors = isinstance(cb, EarlyStopping) or (
            isinstance(cb, ModelCheckpoint) and cb.save_best_only) or (
            isinstance(cb, LearningRateScheduler) and hasattr(cb.schedule, "update"))
        if monitors:
            _monitored(cb, dict.fromkeys(logged))


def _names(metrics):
    return (metrics,) if isinstance(metrics, str) else tuple(metrics or ())


def _labels(y):
    """The class labels of a target (integer labels, 0/1 columns or one-hot rows), read on the
    host (a dask target on the dask backend is still lazy here)."""
    y = to_numpy(y)
    y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    return set((y.argmax(axis=1) if y.ndim == 2 else y).tolist())


def _check_metric_targets(metric_fns, data, n_out, name) -> None:
    """Refuse, before training, metrics the targets cannot give (they failed after an epoch):
    a regression metric on class labels, ROC AUC where a class has no sample."""
    regression = [m for m, fn in metric_fns.items() if fn in _metrics.REGRESSION]
    if regression and data.y.ndim == 1 and n_out > 1:
        raise ValueError(f"metrics {regression} compare the outputs with targets of their shape, "
                         f"but {name} holds class labels for {n_out} outputs; use a classification "
                         "metric ('accuracy', 'f1', ...), or one-hot targets")
    if _metrics.roc_auc in metric_fns.values() and not data.streamed:  # (a memmap: not read)
        present = sorted(int(c) for c in _labels(data.y))
        if len(present) < max(2, n_out):
            raise ValueError(f"metric 'roc_auc' is not defined on {name}: it holds only class(es) "
                             f"{present} of {max(2, n_out)} (every class needs positive and "
                             "negative rows)")


def _warn_unrepresentative(fraction, y_train, y_val) -> None:
    """Warn when the held-out rows cannot measure the classifier: one class, or unseen ones."""
    train, val = _labels(y_train), _labels(y_val)
    if len(val) == 1:
        why = f"hold only class {next(iter(val))!r}: are the rows sorted by class?"
    elif val - train:
        why = (f"hold classes {sorted(val - train)} that the training rows lack (rare classes, "
               "or rows sorted by class)")
    else:
        return
    warnings.warn(f"validation_split={fraction}: the validation rows (the last {100 * fraction:g}% "
                  f"of the rows, as given) {why}; validation scores then measure little. Shuffle "
                  "X and y first, or pass validation_data", UserWarning, stacklevel=4)


def _metric_functions(metrics, loss):
    """``{name: function}`` of ``metrics`` for ``loss``: the default accuracy only where the loss
    classifies (not with MSE, nor a custom loss, which may not); a classification metric asked
    for with MSE refused (it scored a silent 0.0: the targets are not class labels)."""
    classifies = isinstance(loss, (_losses.BinaryCrossEntropy, _losses.CrossEntropy))
    if metrics is DEFAULT_METRICS and not classifies:
        return {}
    regression = isinstance(loss, _losses.MeanSquaredError)  # a custom loss: used as given
    if isinstance(metrics, str):
        metrics = (metrics,)
    fns = {(m if isinstance(m, str) else getattr(m, "__name__", repr(m))): _metrics.get(m)
           for m in metrics or ()}
    wrong = [name for name, fn in fns.items() if fn in _metrics.CLASSIFICATION]
    if wrong and regression:
        raise ValueError(f"metrics {wrong} score class labels, but loss={loss.name!r} does not "
                         "train a classifier; for a regression use 'mse', 'mae' or 'r2'")
    return fns


@on_model_device
def fit(model, X, y, *, loss, optimizer="adam", epochs=100, batch_size=32, validation_data=None,
        validation_split=0.0, shuffle=True, seed=None, callbacks=(),
        metrics=DEFAULT_METRICS,
        verbose=1, initial_epoch=0):
    """Train ``model`` on ``(X, y)``; see :meth:`xpnet.Sequential.fit`."""
    # -- everything is checked before anything changes --
    loss, optimizer, metric_fns, callbacks, random, epochs, batch_size, initial_epoch, shuffle = \
        _options(loss, optimizer, epochs, batch_size, initial_epoch, shuffle, verbose, metrics,
                 callbacks, seed)
    check_model(model, loss)
    if validation_data is not None and validation_split:
        raise ValueError("give validation_data or validation_split, not both")
    if validation_split:  # a dask X is split lazily, then streamed (below) as a memmap is
        (X, y), validation_data = _split(X, y, validation_split)
        validation_data = streamed(model.backend, *validation_data)
    X, y = streamed(model.backend, X, y)
    if validation_split:
        if isinstance(loss, (_losses.BinaryCrossEntropy, _losses.CrossEntropy)):
            _warn_unrepresentative(validation_split, y, validation_data[1])
    n_out = _output_width(model, X)
    train = _Data(model, loss, X, y, n_out)
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        val = _Data(model, loss, *streamed(model.backend, *validation_data), n_out,
                    name="X_val", y_name="y_val")
    for data, name in ((train, "y"), (val, "y_val")):
        if data is not None:
            _check_metric_targets(metric_fns, data, n_out, name)
    _check_monitors(callbacks, metric_fns, val is not None)
    options = {"batch_size": batch_size, "shuffle": shuffle, "validation_split": validation_split,
               "validation_data": validation_data is not None and not validation_split,
               "metrics": list(metric_fns) if all(isinstance(m, str) for m in _names(metrics))
               else None}
    return _train(model, loss, optimizer, train, val, epochs=epochs, batch_size=batch_size,
                  shuffle=shuffle, random=random, metric_fns=metric_fns, callbacks=callbacks,
                  verbose=verbose, initial_epoch=initial_epoch, options=options)


def _options(loss, optimizer, epochs, batch_size, initial_epoch, shuffle, verbose, metrics,
             callbacks, seed):
    """fit's options checked and resolved: ``(loss, optimizer, metric_fns, callbacks, random,
    epochs, batch_size, initial_epoch, shuffle)``."""
    loss = _losses.get(loss)
    optimizer = _optim.get(optimizer)
    epochs = check_int("epochs", epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1, allow_none=True)
    initial_epoch = check_int("initial_epoch", initial_epoch, 0)
    if initial_epoch >= epochs:
        raise ValueError(f"initial_epoch ({initial_epoch}) must be smaller than epochs ({epochs})")
    shuffle = check_flag("shuffle", shuffle)
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    metric_fns = _metric_functions(metrics, loss)
    if isinstance(callbacks, (Callback, str)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"callbacks must be a list of xpnet Callback objects, got "
                        f"{type(callbacks).__name__}" + (f": pass [{type(callbacks).__name__}(...)]"
                                                         if isinstance(callbacks, Callback) else ""))
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be xpnet Callback objects, got {type(cb).__name__}")
    random = seed if isinstance(seed, Random) else Random(seed)
    return loss, optimizer, metric_fns, callbacks, random, epochs, batch_size, initial_epoch, shuffle


def _train(model, loss, optimizer, train, val, *, epochs, batch_size, shuffle, random, metric_fns,
           callbacks, verbose, initial_epoch, options=None):
    """The epochs, on checked options and validated data (``_Data`` or one with its methods);
    ``options``: what a checkpoint records for :func:`resume` to train on the same way."""
    if optimizer._pending is not None:  # loaded state: moved to the model's backend, checked
        optimizer._adopt(model.params)
    optimizer._check_fits(model.params)  # live state made for another model: refused
    prior = _RESUMED_HISTORY.get() or {}
    _RESUMED_HISTORY.set(None)  # for this run only, not for a fit a callback may start
    history = History()
    state = FitState(loss, optimizer, history, epochs, initial_epoch, options=options or {},
                     random_sources=_random_sources(model, random), prior_history=prior)
    model.fit_state, model.history = state, history
    model.stop_training = False  # Keras's spelling of state.stop_training, read after each epoch
    callbacks.append(_Progress(verbose, epochs, initial_epoch))
    for cb in callbacks:
        cb.model, cb.optimizer, cb.history, cb.state = model, optimizer, history, state
    for cb in callbacks:
        cb.on_train_begin({})
    snapshot = _Snapshot()
    try:
        with _interrupts_at_step_boundaries() as check_interrupt:
            for epoch in range(initial_epoch, epochs):
                state.epoch = epoch
                for cb in callbacks:
                    cb.on_epoch_begin(epoch, {})
                with _quiet_numerics():
                    logs = _epoch(model, loss, optimizer, train, batch_size, shuffle, random,
                                  epoch, metric_fns, callbacks, check_interrupt, snapshot)
                    if val is not None:
                        logs.update({f"val_{k}": v for k, v in
                                     _evaluate(model, loss, val, batch_size, metric_fns).items()})
                if any(isinstance(cb, LearningRateScheduler) for cb in callbacks):
                    logs["lr"] = optimizer.lr  # before any callback reads the logs, whatever the order
                for cb in callbacks:
                    cb.on_epoch_end(epoch, logs)
                history.append(epoch, logs)
                check_interrupt()
                if state.stop_training or model.stop_training:
                    state.stop_training = model.stop_training = True
                    break
    finally:
        snapshot.close()
        for cb in callbacks:
            cb.on_train_end({})
    return history


def _quiet_numerics():
    """NumPy's overflow and invalid-value warnings inside the loop: a non-finite result is the
    loop's business (it raises DivergenceError, which explains it), not a stray warning printed
    before that error. Other backends do not warn."""
    return np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")


@contextlib.contextmanager
def _interrupts_at_step_boundaries():
    """Ctrl-C (SIGINT) during training takes effect at the next step boundary, as a
    KeyboardInterrupt, so it never lands halfway through an in-place parameter update.

    Yields ``check()``, called between steps. Outside the main thread signals cannot be handled,
    and Python's default behaviour stays.
    """
    pending = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return

    def check():
        if pending:
            pending.clear()
            raise KeyboardInterrupt("training interrupted; the model is as after the last step")

    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def _output_width(model, X) -> int:
    n_out = _n_outputs(model)
    if n_out is None:  # a custom last layer: ask the model
        first = X[0:1] if is_memmap(X) else check_X(model, X)[0:1, :]
        n_out = model.forward(model.backend.asarray(first, model.dtype))[0].shape[1]
    return n_out


def _random_sources(model, random):
    """Every random stream a training epoch draws from: the shuffle's and each Dropout's."""
    layers, sources = list(getattr(model, "layers", ())), [random]
    while layers:
        layer = layers.pop()
        layers.extend(getattr(layer, "layers", ()))
        if isinstance(getattr(layer, "random", None), Random):
            sources.append(layer.random)
    return sources


def _epoch(model, loss, optimizer, train, batch_size, shuffle, random, epoch, metric_fns,
           callbacks, check_interrupt, snapshot):
    xp = model.backend.xp
    size = train.m if batch_size is None else batch_size
    snapshot.take(model, optimizer, _random_sources(model, random))
    network, head = fuse(model, loss)
    perm = _permutation(random, train.m, size, shuffle)
    total = 0.0
    compiled = _compiled_step(model, loss, optimizer) if isinstance(train, _Data) else None
    steps = train.compiled_steps(compiled, size, perm, bool(metric_fns)) if compiled is not None \
        else train.steps(network, head, size, perm, bool(metric_fns))
    lazy = array_api_compat.is_dask_namespace(xp)
    step = -1  # counted by hand: enumerate would hold the last step's tuple while the next is made
    for rows, value, grads, X in steps:
        step += 1
        if grads is not None:  # the compiled step has updated the parameters already
            optimizer.step(model.params, grads)
        del grads, X  # before the next step makes its own
        if lazy:
            value = _persist(model, optimizer, value)
        total = total + value * rows
        for cb in callbacks:
            cb.on_batch_end(step, {"loss": value})
        check_interrupt()
    # the parameters and the optimizer state: see _state_arrays
    values = {"loss": total, "finite": _all_finite(_state_arrays(model, optimizer), xp=xp)}
    if metric_fns:
        outputs, Y = train.outputs()
        probs = _probabilities(model, loss, outputs, xp=xp)
        with _metrics.labels_checked():  # check_y has checked them: no device sync per metric
            values.update({name: fn(Y, probs) for name, fn in metric_fns.items()})
    logs = _floats(values, xp=xp)  # the epoch's one device sync
    logs["loss"] /= train.m
    finite = logs.pop("finite")
    if not (finite and math.isfinite(logs["loss"])):
        _replay_to_divergence(model, loss, optimizer, train, size, shuffle, random, epoch, snapshot)
    return logs


def _persist(model, optimizer, value):
    """Dask's arrays are graphs: each step's update is a graph over the last step's parameters, so
    without this the n-th step recomputes all n - 1 before it (training time quadratic in the
    steps, each fit slower than the last). Computed after each step (``dask.persist``), the
    parameters, the optimizer state and the step's loss are their values, and the next step's
    graph is that step alone."""
    import dask

    params, state = dict(model.params), optimizer._state
    arrays = [*params.values(), *(a for slots in state.values() for a in slots.values()), value]
    done = iter(dask.persist(*arrays))
    model._assign({key: next(done) for key in params})
    optimizer._state = {key: {name: next(done) for name in slots} for key, slots in state.items()}
    return next(done)


def _permutation(random, m, size, shuffle):
    """The epoch's host permutation of the ``m`` rows, or None: unshuffled, or one full batch,
    which is the same batch in any order (no draw, and no gather of the rows in a new order)."""
    return random.permutation(m) if shuffle and size < m else None


def _state_arrays(model, optimizer) -> list:
    """Every array a step updates: the parameters and the optimizer's state (Adam's ``m``, ``v``).

    A ``v = g * g`` that overflows to inf leaves the loss and the parameters finite and every
    later update exactly 0, so the state is checked as well as the parameters."""
    slots = optimizer._state.values() if optimizer._pending is None else ()
    return [*_param_arrays(model), *(a for per_key in slots for a in per_key.values())]


def _param_arrays(model) -> list:
    """``list(model.params.values())``, without building a Sequential's flat dict of named
    parameters (a few µs a call: twice an epoch, a tiny network's budget)."""
    layers = getattr(model, "layers", None)
    if layers is None:
        return list(model.params.values())
    return [a for layer in layers for a in layer.params.values()]


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {key: jitted step}


def _compiled_step(model, loss, optimizer):
    """On the jax backend, ``step(X, Y) -> (pred, value)``: one whole training step (forward,
    the hand-written backward closures, the loss, the optimizer update) compiled by ``jax.jit``,
    with the parameters, the optimizer state and the step's coefficients (learning rate, bias
    corrections) as inputs and outputs, so one compilation serves every step. None elsewhere, for
    a model with Dropout (its masks are host random numbers, drawn per step) and for optimizers
    other than xpnet's own (their updates may read Python state a trace would freeze)."""
    if model.backend.name != "jax" or type(optimizer) not in _optim.OPTIMIZERS.values() \
            or any(isinstance(layer, Dropout) and layer.rate for layer in _walk(model)):
        return None
    import jax

    xp, backend = model.backend.xp, model.backend
    if optimizer._pending is not None:  # loaded state (resume): adopted eagerly, once
        optimizer._adopt(model.params)
    for key, p in model.params.items():  # state made before the trace: one pytree structure
        if key not in optimizer._state:
            optimizer._state[key] = optimizer._new_state(p, xp=xp)
    per_model = _COMPILED.setdefault(model, {})
    # The trace depends on the optimizer's class and fixed hyperparameters only (the learning rate
    # is an input): a later fit with an equal optimizer reuses the compiled step.
    fixed = tuple((k, v) for k, v in optimizer.hyper.items() if k != "lr")
    key = (type(optimizer), fixed, repr(loss), type(loss))
    holder = per_model.setdefault("optimizer", [None])
    holder[0] = weakref.ref(optimizer)  # the optimizer whose state the trace reads and writes
    if key not in per_model:
        model_ref = weakref.ref(model)

        def pure(params, state, k, X, Y):
            net, opt = model_ref(), holder[0]()
            # the trace sets the model's parameters and the optimizer's state and coefficients
            # to tracers: each put back after, or they leak (model.copy() would meet them)
            saved_params, saved_state, saved_k = dict(net.params), opt._state, vars(opt).get("_k")
            net._assign(params)
            opt._state = {name: dict(slots) for name, slots in state.items()}
            try:
                network, head = fuse(net, loss)
                pred, value, grads = forward_and_backward(network, head, X, Y, True)
                new = dict(params)
                opt._step(new, grads, xp, k)
                return new, opt._state, pred, value
            finally:
                net._assign(saved_params)
                opt._state, opt._k = saved_state, saved_k

        per_model[key] = jax.jit(pure, donate_argnums=(0, 1) if _donates(backend) else ())
    jitted = per_model[key]

    def step(X, Y):
        optimizer.iterations += 1
        # the coefficients as Python floats: jit takes them as weak-typed scalars (traced, so one
        # compilation serves every value; weak, so they take the parameters' dtype), with none
        # of the ~40 µs each that making a 0-D jax array on the host costs
        params, optimizer._state, pred, value = jitted(dict(model.params), optimizer._state,
                                                       optimizer._scalars(), X, Y)
        model._assign(params)
        return pred, value

    return step


def _donates(backend) -> bool:
    """Whether the compiled step donates the parameters' and the optimizer state's buffers (JAX on
    an accelerator; XLA:CPU cannot donate): a donated array is deleted by the next step."""
    return backend.name == "jax" and getattr(backend.device, "platform", "cpu") != "cpu"


def _walk(model):
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from _walk(layer)


_JITTED: dict = {}  # name -> a jax.jit of one of this module's functions, made on first use


def _all_finite(arrays, *, xp):
    """A 0-D boolean on the device: every element of every array is finite (no sync here). On
    JAX, :func:`_all_finite_of` compiled (one dispatch instead of three eager operations of tens
    of µs each; traced once per list of shapes)."""
    if arrays and array_api_compat.is_jax_array(arrays[0]):
        if "all_finite" not in _JITTED:
            import jax

            _JITTED["all_finite"] = jax.jit(functools.partial(_all_finite_of, xp=xp))
        return _JITTED["all_finite"](list(arrays))
    return _all_finite_of(arrays, xp=xp)


def _all_finite_of(arrays, *, xp):
    """:func:`_all_finite`, written once for every backend.

    Small arrays of one dtype (together at most :data:`_JOIN_ELEMENTS`) are joined into one
    vector and checked once: on NumPy each check costs ~2 µs however small its array, and a tiny
    network has six. Other flags are joined with ``&`` rather than ``all(stack(flags))``: on NumPy
    each ``&`` of two bool scalars costs ~0.1 µs where the stack costs ~10 µs."""
    if len(arrays) > 1 and all(a.dtype == arrays[0].dtype for a in arrays) \
            and sum(math.prod(a.shape) for a in arrays) <= _JOIN_ELEMENTS:
        arrays = [xp.concat(arrays, axis=None)]  # flattened and joined in one call
    flags = [xp.all(xp.isfinite(a)) for a in arrays]
    return functools.reduce(operator.and_, flags) if flags else True


_JOIN_ELEMENTS = 1 << 14  # joined for one finiteness check: a copy that costs less than the checks


def _floats(values: dict, *, xp) -> dict:
    """``{name: float}`` from 0-D device arrays (and plain numbers), copied to the host in one
    transfer: every ``float()`` of a device array waits for the device, so an epoch waits once,
    not once per value. The values are stacked in the dtype of the first one (the loss's).
    NumPy values are on the host already: read directly, with no stack."""
    arrays = {k: v for k, v in values.items() if not isinstance(v, (bool, int, float, np.generic))
              and tuple(getattr(v, "shape", (None,))) == () and type(v) is not np.ndarray}
    floats = {k: float(v) for k, v in values.items() if k not in arrays}
    if arrays and all(array_api_compat.is_jax_array(v) for v in arrays.values()):
        import jax  # one transfer of them all, without the eager casts and stack (each ~40 µs)

        floats.update(zip(arrays, map(float, jax.device_get(list(arrays.values()))), strict=True))
    elif arrays:
        dtype = next(iter(arrays.values())).dtype
        host = to_numpy(xp.stack([xp.astype(v, dtype) for v in arrays.values()]))
        floats.update(zip(arrays, host.tolist(), strict=True))
    return {k: floats[k] for k in values}


def _finite(model, optimizer) -> bool:
    xp = model.backend.xp
    return bool(_all_finite(_state_arrays(model, optimizer), xp=xp))


_SPILL_BYTES = 1 << 20  # an epoch snapshot larger than this goes to a temporary file


_FLOAT_BYTES: dict = {}


def _float_bytes(dtype, xp) -> int:
    """Bytes per element of a real floating dtype, 0 for any other (cached per dtype)."""
    key = (type(dtype), dtype)  # array-api-strict's dtypes warn when compared with NumPy's
    if key not in _FLOAT_BYTES:
        _FLOAT_BYTES[key] = xp.finfo(dtype).bits // 8 if xp.isdtype(dtype, "real floating") else 0
    return _FLOAT_BYTES[key]


class _Snapshot:
    """What a replay of the epoch starts from: the parameters, the optimizer state and the random
    states at the epoch's start. One per ``fit``, taken again at each epoch's start (:meth:`take`).

    Up to :data:`_SPILL_BYTES`, the arrays are kept where they are, joined into one flat copy by
    one ``concat`` (a tiny network's epoch is one step, and on NumPy a copy per array costs more
    than its share of the step), or copied one by one when their dtypes differ. A larger snapshot
    (Adam's state is twice the parameters: a copy of both is 3x the parameters) is written, one
    array at a time and with no copy on the CPU, to an unnamed temporary file, rewritten each
    epoch and read back only by a replay after a divergence: training then holds no second copy
    of its state, on the CPU or on a GPU, at the price of one sequential write per epoch (W2:
    7.7 MiB, a few ms an epoch).
    """

    def __init__(self):
        self.file, self.flat, self.spilled = None, None, False
        self.arrays, self.pieces = [], None  # the last flat snapshot's state arrays, as joined

    def take(self, model, optimizer, sources):
        xp, arrays = model.backend.xp, _state_arrays(model, optimizer)
        self.random = [source.state for source in sources]
        if self.pieces is not None and len(arrays) == len(self.arrays) \
                and all(a is b for a, b in zip(arrays, self.arrays, strict=True)):
            # the same arrays as last epoch, updated in place: the same layout, joined again
            self.flat = xp.concat(self.pieces, axis=None)
            self.optimizer.update(hyper=optimizer.hyper, step=optimizer.iterations)
            return
        self.flat, self.spilled, self.arrays, self.pieces = None, False, arrays, None
        if sum(math.prod(a.shape) * _float_bytes(a.dtype, xp) for a in arrays) > _SPILL_BYTES:
            try:
                if self.file is None:
                    import tempfile

                    self.file = tempfile.TemporaryFile(prefix="xpnet-epoch-snapshot-")
                self.file.seek(0)
                self._keep(model, optimizer, self._write)
                self.file.truncate()
                self.spilled = True
                return
            except OSError:  # no writable temporary directory, a full disk: copies in memory
                self.close()
        if model.backend.writeable and optimizer._pending is None \
                and all(a.dtype == arrays[0].dtype for a in arrays):
            pieces, offsets = [], [0]  # joined below, in the order kept

            def keep(x):
                pieces.append(x)
                offsets.append(offsets[-1] + math.prod(x.shape))
                return offsets[-2], tuple(x.shape)

            self._keep(model, optimizer, keep)
            self.flat = xp.concat(pieces, axis=None) if pieces else None
            self.pieces = pieces or None
        elif not model.backend.writeable and not _donates(model.backend):
            # JAX's and Dask's arrays never change: the arrays themselves are the snapshot (on
            # JAX each eager copy costs tens of µs; a one-step epoch's whole compiled step ~100)
            self._keep(model, optimizer, lambda x: x)
        else:  # mixed dtypes, or loaded optimizer state not yet adopted (host arrays)
            self._keep(model, optimizer, lambda x: xp.asarray(x, copy=True))

    def close(self):
        if self.file is not None:
            self.file.close()
        self.file, self.arrays, self.pieces = None, [], None

    def _keep(self, model, optimizer, keep):
        self.params = [keep(v) for v in _param_arrays(model)]  # in model.params's order
        self.optimizer = optimizer._state_dict(keep)

    def _write(self, x):
        host = np.ascontiguousarray(to_numpy(x))
        self.file.write(host.reshape(-1).view(np.uint8))  # from the array's own buffer
        return host.shape, host.dtype

    def _slice(self, ref, xp):
        start, shape = ref
        return xp.asarray(xp.reshape(self.flat[start:start + math.prod(shape)], shape), copy=True)

    def restore(self, model, optimizer, sources):
        """Put the model, the optimizer and the random sources back as they were."""
        xp, read = model.backend.xp, lambda x: xp.asarray(x, copy=True)
        if self.spilled:
            self.file.seek(0)
            read = self._read
        elif self.flat is not None:
            read = functools.partial(self._slice, xp=xp)
        params = dict(zip(model.params, map(read, self.params), strict=True))  # as written
        slots = {s: {k: read(v) for k, v in per_key.items()}
                 for s, per_key in self.optimizer["slots"].items()}
        model._assign({k: model.backend.asarray(v) for k, v in params.items()})
        optimizer.load_state_dict({**self.optimizer, "slots": slots})  # host arrays are adopted
        for source, state in zip(sources, self.random, strict=True):
            source.state = state

    def _read(self, ref):
        shape, dtype = ref
        host = np.empty(shape, dtype)
        self.file.readinto(host.reshape(-1).view(np.uint8))
        return host


def _replay_to_divergence(model, loss, optimizer, train, size, shuffle, random, epoch, snapshot):
    """Restore the epoch's start and redo its steps one by one, checking each, up to the first
    non-finite loss or gradient; then raise DivergenceError, the last finite parameters kept."""
    xp = model.backend.xp
    snapshot.restore(model, optimizer, _random_sources(model, random))
    network, head = fuse(model, loss)
    perm = _permutation(random, train.m, size, shuffle)
    for step, (_, value, grads, X) in enumerate(train.steps(network, head, size, perm, False)):
        bad = [k for k, g in grads.items() if not bool(xp.all(xp.isfinite(g)))]
        if not math.isfinite(float(value)) or bad:
            what = f"loss ({float(value)})" if not math.isfinite(float(value)) else \
                f"gradient of {bad[0]}"
            largest = 0.0 if X is None else float(xp.max(xp.abs(X)))  # None: on a cluster
            hint = (f"unscaled inputs (max |X| = {largest:.3g}): standardise X"
                    if largest > 1e3 else f"a learning rate too high (lr={optimizer.lr:g})")
            raise DivergenceError(
                f"training diverged at epoch {epoch + 1}, step {step + 1}: non-finite {what}; "
                f"likely cause: {hint}. The model keeps its parameters from before this step.",
                epoch=epoch, step=step)
        before = {k: xp.asarray(v, copy=True) for k, v in model.params.items()}
        state_before = optimizer.state_dict()
        optimizer.step(model.params, grads)
        if not _finite(model, optimizer):  # finite gradients, yet the update overflowed
            params_bad = not bool(_all_finite(list(model.params.values()), xp=xp))
            model._assign(before)
            optimizer.load_state_dict(state_before)
            largest = max(float(xp.max(xp.abs(g))) for g in grads.values())
            what = "parameters" if params_bad else \
                f"optimizer state (gradients up to {largest:.3g} overflow its running averages)"
            raise DivergenceError(
                f"training diverged at epoch {epoch + 1}, step {step + 1}: the update made the "
                f"{what} non-finite; likely cause: a learning rate too high (lr={optimizer.lr:g}) "
                "or unscaled inputs. The model and optimizer keep their state from before this "
                "step.", epoch=epoch, step=step)
    raise AssertionError("a divergence seen in the epoch did not recur on replay")


def _evaluate(model, loss, data, batch_size, metric_fns):
    """Loss and metrics of ``model`` on validated ``data``: forward only, in batches."""
    xp = model.backend.xp
    network, head = fuse(model, loss)
    size = data.m if batch_size is None else max(batch_size, _CHUNK)
    if data.streamed:  # a memmap is never brought into memory whole
        size = min(size, _stream_rows(data.X))
    total, outputs, Y = data.forward(network, head, size)
    values = {"loss": total}
    if metric_fns:
        probs = _probabilities(model, loss, outputs, xp=xp)
        with _metrics.labels_checked():  # check_y has checked them: no device sync per metric
            values.update({name: fn(Y, probs) for name, fn in metric_fns.items()})
    logs = _floats(values, xp=xp)  # one device sync
    logs["loss"] /= data.m
    return logs


@on_model_device
def evaluate(model, X, y, *, loss=None, metrics=DEFAULT_METRICS, batch_size=None):
    """``{"loss": ..., metric: ...}`` of ``model`` on ``(X, y)``; ``loss`` defaults to the loss of
    the last ``fit`` (or, for a loaded model, the one its file names)."""
    if loss is None:
        loss = _losses.trained_loss(model)
        if loss is None:
            raise ValueError("loss is required: the model has not been fitted (nor loaded from a "
                             "file that names its loss)")
    loss = _losses.get(loss)
    check_model(model, loss)
    batch_size = check_int("batch_size", batch_size, 1, allow_none=True)
    metric_fns = _metric_functions(metrics, loss)
    X, y = streamed(model.backend, X, y)  # a dask X: block by block, never whole
    data = _Data(model, loss, X, y, _output_width(model, X))
    return _evaluate(model, loss, data, batch_size, metric_fns)


@on_model_device
def predict(model, X, batch_size=None):
    """The model's outputs for ``X`` on its backend (probabilities when it ends in
    Sigmoid/Softmax), in batches of ``batch_size`` rows (all at once by default; a memmap in
    batches of about 8 MiB at most, so that it is streamed as in ``fit``; a dask array lazily,
    block by block)."""
    batch_size = check_int("batch_size", batch_size, 1, allow_none=True)
    if array_api_compat.is_dask_array(X) and model.backend.name != "dask":
        return _predict_blocks(model, X)
    streamed = is_memmap(X)
    # a memmap's shape and emptiness first, then each chunk's values as it is moved
    first = check_X(model, X[:1] if streamed else X)
    X = X if streamed else first
    m = X.shape[0]
    size = m if batch_size is None else batch_size
    if streamed:
        size = min(size, _stream_rows(X))
    parts = []
    for start in range(0, m, size):
        chunk = X[start:min(start + size, m), ...]  # in-bounds: the standard leaves the rest open
        parts.append(model.forward(check_X(model, chunk, first_row=start) if streamed else chunk)[0])
    return parts[0] if len(parts) == 1 else model.backend.xp.concat(parts, axis=0)


def _predict_blocks(model, X):
    """``predict`` of a dask array: a lazy dask array of NumPy blocks, each row block computed on
    the model's backend when asked for (moved there once, checked like any ``X``); the whole
    array is never held at once."""
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (m, n_features), got a {X.ndim}-D dask array")
    # what the array's metadata tells is checked now, not when its blocks are computed
    n_in = _n_inputs(model)
    if n_in is not None and X.shape[1] != n_in:
        raise ValueError(f"X has {X.shape[1]} columns but the model takes {n_in} inputs")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold numbers (int, float or bool); got dtype {X.dtype}")
    X = X.rechunk({1: -1})  # each block: whole rows
    n_out = _n_outputs(model)
    if n_out is None:
        n_out = model.forward(model.backend.asarray(X[:1].compute(), model.dtype))[0].shape[1]
    dtype = np.dtype(model.dtype)

    def block(rows, block_info=None):
        if not rows.shape[0]:
            return np.empty((0, n_out), dtype)
        # a bad value is named by its row of X (block sizes unknown: by its block and row there)
        (start, _), _ = block_info[0]["array-location"]
        name, first = ("X", start) if not math.isnan(start) else \
            (f"X.blocks[{block_info[0]['chunk-location'][0]}]", 0)
        with model.backend.context():
            return to_numpy(model.forward(check_X(model, rows, name, first))[0])

    # named, not tokenized: dask would pickle the model (its device arrays) to hash ``block``
    return X.map_blocks(block, dtype=dtype, chunks=(X.chunks[0], (n_out,)),
                        meta=np.empty((0, 0), dtype), name=f"xpnet-predict-{uuid.uuid4().hex}")


def resume(path, X, y, *, epochs, backend=None, **fit_options):
    """Continue a run from a :class:`ModelCheckpoint` file exactly where it stopped.

    Loads the model, the optimizer state, the random streams (shuffle and dropout), the history
    and the options ``fit`` ran with (``batch_size``, ``shuffle``, ``validation_split``,
    ``metrics``) saved at ``path``, then fits from the saved epoch up to ``epochs``; with the same
    data the result equals the uninterrupted run. Options given here replace the saved ones;
    ``loss``, ``optimizer``, ``seed`` and ``initial_epoch`` are the checkpoint's and cannot be
    given. A run that had ``validation_data`` needs it again. Returns ``(model, history)``, the
    history covering every epoch from the first. With ``client=`` (and dask arrays) it continues
    on a Dask cluster, as :func:`xpnet.distributed.fit`.
    """
    from .io import load_checkpoint

    name = os.fspath(path)
    fixed = sorted({"loss", "optimizer", "seed", "initial_epoch"} & set(fit_options))
    if fixed:
        raise ValueError(f"resume: {', '.join(fixed)} cannot be given: the checkpoint {name} "
                         "holds the loss, the optimizer and its state, the random streams and "
                         "the epoch it continues from")
    model, optimizer_state, extra = load_checkpoint(path, backend)
    name = os.fspath(path)
    if optimizer_state is None or not isinstance(extra, dict) or "random_states" not in extra:
        raise ValueError(f"{name} is not a training checkpoint (save it with ModelCheckpoint)")
    random = Random()
    _restore_checkpoint(name, model, random, extra)
    epochs = check_int("epochs", epochs, 1)
    if extra["epoch"] >= epochs:
        raise ValueError(f"the run is already complete: {name} already holds {extra['epoch']} "
                         f"epochs, and epochs={epochs}; give the total number of epochs to reach")
    try:
        optimizer = _optim.from_state_dict(optimizer_state)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name}: damaged checkpoint: optimizer state: {err}") from None
    stored = dict(extra.get("fit_options") or {})
    if stored.pop("validation_data", False) and "validation_data" not in fit_options:
        raise ValueError(f"{name} was written by a run with validation_data: pass the same "
                         "validation_data= to resume")
    options = {k: v for k, v in stored.items() if v is not None}
    if "validation_data" in fit_options:
        options.pop("validation_split", None)
    options.update(fit_options)
    loss = _checkpoint_loss(name, extra["loss"])
    token = _RESUMED_HISTORY.set(extra["history"])  # so checkpoints of this run hold every epoch
    try:  # model.fit, not fit: ``client=`` among the options resumes on a Dask cluster
        history = model.fit(X, y, loss=loss, optimizer=optimizer, epochs=epochs,
                            initial_epoch=extra["epoch"], seed=random, **options)
    finally:
        _RESUMED_HISTORY.reset(token)
    for key, values in extra["history"].items():
        history.history[key] = [*values, *history.history.get(key, [])]
    history.epoch = [*range(extra["epoch"]), *history.epoch]
    return model, history


_FIT_OPTIONS = {  # what a checkpoint records of fit's options, and the values each may take
    "batch_size": lambda v: v is None or (type(v) is int and v >= 1),
    "shuffle": lambda v: isinstance(v, bool),
    "validation_split": lambda v: is_finite_number(v) and 0 <= v < 1,
    "validation_data": lambda v: isinstance(v, bool),
    "metrics": lambda v: v is None or (isinstance(v, list) and all(
        isinstance(m, str) and m in _metrics.METRICS for m in v)),
}


def _checkpoint_loss(name, saved) -> _losses.Loss:
    """The loss a checkpoint records: a name (older files) or ``{"name", "from_logits"}``."""
    if isinstance(saved, dict) and set(saved) == {"name", "from_logits"} \
            and saved["name"] in _losses.LOSSES and isinstance(saved["from_logits"], bool):
        options = {"from_logits": True} if saved["from_logits"] else {}
        return _losses.LOSSES[saved["name"]](**options)
    if isinstance(saved, str) and saved in _losses.LOSSES:
        return _losses.get(saved)
    raise ValueError(f"{name}: damaged checkpoint: loss must be one of {sorted(_losses.LOSSES)} "
                     f"or {{'name': ..., 'from_logits': bool}}, got {saved!r:.100}")


def _restore_checkpoint(name, model, random, extra) -> None:
    """Check what a checkpoint adds to a model file (epoch, loss, history, random streams) and
    set the random streams; a defect is a ValueError naming the file and the field, and nothing
    is set then."""
    def bad(field, expected):
        return ValueError(f"{name}: damaged checkpoint: {field} must be {expected}, got "
                          f"{extra.get(field)!r:.100}")

    epoch = extra.get("epoch")
    if type(epoch) is not int or epoch < 1:
        raise bad("epoch", "an int >= 1")
    _checkpoint_loss(name, extra.get("loss"))
    options = extra.get("fit_options", {})
    if not isinstance(options, dict) or set(options) - set(_FIT_OPTIONS) or not all(
            ok(options[key]) for key, ok in _FIT_OPTIONS.items() if key in options):
        raise bad("fit_options", f"a dict of {sorted(_FIT_OPTIONS)} with fit's types")
    history = extra.get("history")
    if not isinstance(history, dict) or not all(
            isinstance(values, list) and len(values) == epoch
            and all(is_finite_number(v) or (isinstance(v, float) and math.isnan(v))
                    for v in values) for values in history.values()):
        raise bad("history", f"a dict of lists of {epoch} numbers (one per epoch)")
    sources, states = _random_sources(model, random), extra.get("random_states")
    if not isinstance(states, list) or len(states) != len(sources):
        raise bad("random_states", f"a list of {len(sources)} generator states (the shuffle's "
                  "and each Dropout's)")
    for i, state in enumerate(states):
        try:
            Random().state = state  # numpy checks it; a throwaway, so nothing is set on failure
        except (TypeError, ValueError, KeyError, OverflowError) as err:
            raise ValueError(f"{name}: damaged checkpoint: random_states[{i}] is not a random "
                             f"generator state ({err})") from None
    for source, state in zip(sources, states, strict=True):
        source.state = state
