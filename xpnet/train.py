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
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import signal
import sys
import threading
import weakref

import array_api_compat
import numpy as np

from . import losses as _losses
from . import metrics as _metrics
from . import optim as _optim
from ._validation import check_X, check_y
from .backend import (
    LazyRows,
    Random,
    host_array,
    is_finite_number,
    is_memmap,
    on_model_device,
    to_numpy,
)
from .functional import log_softmax, sigmoid
from .grad import forward_and_backward
from .layers import Dropout
from .layers import n_outputs as _n_outputs


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss or gradient; the model keeps its last finite parameters.

    Attributes ``epoch`` and ``step`` (0-based) say where.
    """

    def __init__(self, message, *, epoch: int, step: int):
        super().__init__(message)
        self.epoch, self.step = epoch, step


class History:
    """What ``fit`` measured: ``history[name]`` is a list with one float per epoch.

    Names: ``"loss"``, each metric, and with validation data ``"val_loss"`` and ``"val_"`` + metric.
    """

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def append(self, epoch: int, logs: dict) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items())
        return f"History({len(self.epoch)} epochs: {last})"


# -- callbacks ------------------------------------------------------------------------------------


class Callback:
    """Hooks into ``fit``. ``model``, ``optimizer`` and ``history`` are set before training starts;
    set ``self.model.stop_training = True`` to stop after the current epoch.

    ``on_batch_end`` receives ``{"loss": 0-D array}`` (still on the device: ``float()`` it only if
    you must, it waits for the device); ``on_epoch_end`` receives the epoch's floats.
    """

    model = optimizer = history = None

    def on_train_begin(self, logs=None): ...

    def on_epoch_begin(self, epoch, logs=None): ...

    def on_batch_end(self, step, logs=None): ...

    def on_epoch_end(self, epoch, logs=None): ...

    def on_train_end(self, logs=None): ...


def _monitored(callback, logs):
    if callback.monitor not in logs:
        raise ValueError(f"{type(callback).__name__}: monitor={callback.monitor!r} is not measured; "
                         f"available: {sorted(logs)} (val_* needs validation data)")
    return logs[callback.monitor]


def _improves(mode, value, best, min_delta=0.0):
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _mode(mode, monitor):
    if mode == "auto":
        return "max" if any(s in monitor for s in ("acc", "auc", "f1", "precision", "recall", "r2")) \
            else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs;
    with ``restore_best_weights``, put back the parameters of the best epoch at the end."""

    def __init__(self, monitor="val_loss", patience=10, min_delta=0.0, mode="auto",
                 restore_best_weights=False):
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 0:
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        if not is_finite_number(min_delta) or min_delta < 0:
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, float(min_delta)
        self.mode = _mode(mode, monitor)
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.wait, self.best_params, self.stopped_epoch = None, 0, None, None

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(self, logs)
        if _improves(self.mode, value, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                xp = self.model.backend.xp
                self.best_params = {k: xp.asarray(v, copy=True) for k, v in self.model.params.items()}
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_params is not None:
            self.model._assign(self.best_params)


class ModelCheckpoint(Callback):
    """Save the model after each epoch to ``path`` (``"{epoch}"`` in it is replaced by the epoch
    number, counted from 1), with the optimizer state, epoch, random state and history, so that
    ``xpnet.resume`` continues exactly. ``save_best_only`` saves only when ``monitor`` improves."""

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        self.path, self.monitor, self.save_best_only = os.fspath(path), monitor, save_best_only
        self.mode = _mode(mode, monitor)

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        if self.save_best_only:
            value = _monitored(self, logs)
            if not _improves(self.mode, value, self.best):
                return
            self.best = value
        from . import io

        io.save(self.model, self.path.format(epoch=epoch + 1), optimizer=self.optimizer,
                extra=_resume_state(self.model, epoch, logs))


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of each epoch from ``schedule(epoch, base_lr)``
    (e.g. :class:`xpnet.optim.StepLR`), or, for a :class:`xpnet.optim.ReduceLROnPlateau`, after each
    epoch from ``monitor``."""

    def __init__(self, schedule, monitor="val_loss"):
        if not (callable(schedule) or hasattr(schedule, "update")):
            raise TypeError(f"schedule must be callable(epoch, base_lr) or have update(); got "
                            f"{type(schedule).__name__}")
        self.schedule, self.monitor = schedule, monitor

    def on_train_begin(self, logs=None):
        self.base_lr = self.optimizer.lr

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.schedule, "update"):
            self.optimizer.lr = float(self.schedule(epoch, self.base_lr))

    def on_epoch_end(self, epoch, logs=None):
        logs["lr"] = self.optimizer.lr
        if hasattr(self.schedule, "update"):
            self.optimizer.lr = self.schedule.update(_monitored(self, logs), self.optimizer.lr)


class CSVLogger(Callback):
    """Write one CSV row per epoch (``epoch`` and every logged value) to ``path``."""

    def __init__(self, path, append=False):
        self.path, self.append = os.fspath(path), append

    def on_train_begin(self, logs=None):
        self.file = open(self.path, "a" if self.append else "w", newline="")  # noqa: SIM115
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        if self.writer is None:
            self.writer = csv.DictWriter(self.file, ["epoch", *logs])
            if not self.append or self.file.tell() == 0:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch + 1, **logs})
        self.file.flush()

    def on_train_end(self, logs=None):
        self.file.close()


class _Progress(Callback):
    """A tqdm bar over epochs on a terminal (loss and metrics in its postfix), else a line per
    epoch; nothing with ``verbose=0``."""

    def __init__(self, verbose, epochs, initial_epoch):
        self.verbose, self.epochs, self.initial_epoch = verbose, epochs, initial_epoch
        self.bar = None
        if verbose == 1 and sys.stdout.isatty():
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=epochs, initial=initial_epoch, unit="epoch", dynamic_ncols=True)

    def on_epoch_end(self, epoch, logs=None):
        text = {k: f"{v:.4g}" for k, v in logs.items()}
        if self.bar is not None:
            self.bar.set_postfix(text, refresh=False)
            self.bar.update(1)
        elif self.verbose:
            width = len(str(self.epochs))
            print(f"epoch {epoch + 1:>{width}}/{self.epochs} - "
                  + " - ".join(f"{k} {v}" for k, v in text.items()), flush=True)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()


# -- the loop -------------------------------------------------------------------------------------


def _check_int(name, value, minimum, allow_none=False):
    if allow_none and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}{' or None' if allow_none else ''}, "
                         f"got {value!r}")


def _probabilities(model, loss, outputs, *, xp):
    """Probabilities from what the loss saw: logits when it works from logits (fused or not)."""
    head = _losses.fuse(model, loss)[1]
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
            for start in range(0, len(X), _CHUNK):  # validated once, a chunk at a time
                check_X(model, X[start:start + _CHUNK], name)
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
        perm_device = None if perm is None else self.backend.asarray(perm)
        for start in range(0, m, size):
            stop = min(start + size, m)
            if perm is None:
                X = self.X[start:stop, ...]
                X = self.backend.asarray(X, self.dtype) if self.streamed else X
                yield stop - start, X, self.y[start:stop, ...]
                continue
            rows = perm_device[start:stop]
            X = self.backend.asarray(self.X[perm[start:stop]], self.dtype) if self.streamed \
                else xp.take(self.X, rows, axis=0)
            yield stop - start, X, xp.take(self.y, rows, axis=0)


_CHUNK = 65536


def _split(X, y, fraction):
    """The last ``fraction`` of the rows as validation data (before any shuffling, as Keras)."""
    if not is_finite_number(fraction) or not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation_split must be a number in [0, 1), got {fraction!r}")
    X, y = host_array(X, "X", numeric=False), host_array(y, "y", numeric=False)
    m = X.shape[0]
    n_val = int(m * fraction)
    if not 0 < n_val < m:
        raise ValueError(f"validation_split={fraction} of {m} samples leaves an empty split")
    return (X[:m - n_val, ...], y[:m - n_val, ...]), (X[m - n_val:, ...], y[m - n_val:, ...])


def _metric_functions(metrics):
    if isinstance(metrics, str):
        metrics = (metrics,)
    return {(m if isinstance(m, str) else getattr(m, "__name__", repr(m))): _metrics.get(m)
            for m in metrics or ()}


@on_model_device
def fit(model, X, y, *, loss, optimizer="adam", epochs=100, batch_size=32, validation_data=None,
        validation_split=0.0, shuffle=True, seed=None, callbacks=(), metrics=("accuracy",),
        verbose=1, initial_epoch=0):
    """Train ``model`` on ``(X, y)``; see :meth:`xpnet.Sequential.fit`."""
    # -- everything is checked before anything changes --
    loss = _losses.get(loss)
    optimizer = _optim.get(optimizer)
    _check_int("epochs", epochs, 1)
    _check_int("batch_size", batch_size, 1, allow_none=True)
    _check_int("initial_epoch", initial_epoch, 0)
    if initial_epoch >= epochs:
        raise ValueError(f"initial_epoch ({initial_epoch}) must be smaller than epochs ({epochs})")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    metric_fns = _metric_functions(metrics)
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be xpnet Callback objects, got {type(cb).__name__}")
    random = seed if isinstance(seed, Random) else Random(seed)
    if array_api_compat.is_dask_array(X) and model.backend.name != "dask":
        if validation_split:
            raise ValueError("validation_split with a dask array X: pass validation_data instead")
        X, y = LazyRows(X), to_numpy(y)  # streamed like a memmap; the labels are small
    if validation_data is not None and validation_split:
        raise ValueError("give validation_data or validation_split, not both")
    if validation_split:
        (X, y), validation_data = _split(X, y, validation_split)
    n_out = _output_width(model, X)
    train = _Data(model, loss, X, y, n_out)
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        val = _Data(model, loss, *validation_data, n_out, name="X_val", y_name="y_val")

    # -- training --
    history = History()
    model.stop_training = False
    model.history = history
    model._fit_info = {"loss": loss, "random": random, "history": history}
    callbacks.append(_Progress(verbose, epochs, initial_epoch))
    for cb in callbacks:
        cb.model, cb.optimizer, cb.history = model, optimizer, history
    for cb in callbacks:
        cb.on_train_begin({})
    try:
        with _interrupts_at_step_boundaries() as check_interrupt:
            for epoch in range(initial_epoch, epochs):
                for cb in callbacks:
                    cb.on_epoch_begin(epoch, {})
                logs = _epoch(model, loss, optimizer, train, batch_size, shuffle, random, epoch,
                              metric_fns, callbacks, check_interrupt)
                if val is not None:
                    logs.update({f"val_{k}": v for k, v in
                                 _evaluate(model, loss, val, batch_size, metric_fns).items()})
                for cb in callbacks:
                    cb.on_epoch_end(epoch, logs)
                history.append(epoch, logs)
                check_interrupt()
                if model.stop_training:
                    break
    finally:
        for cb in callbacks:
            cb.on_train_end({})
    return history


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


def _resume_state(model, epoch, logs) -> dict:
    """What a checkpoint needs besides parameters and optimizer state to resume after ``epoch``."""
    info = model._fit_info
    history = {k: [*v, logs[k]] for k, v in info["history"].history.items()} or \
        {k: [v] for k, v in logs.items()}
    return {"epoch": epoch + 1, "loss": info["loss"].name, "history": history,
            "random_states": [r.state for r in _random_sources(model, info["random"])]}


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
           callbacks, check_interrupt):
    xp = model.backend.xp
    size = train.m if batch_size is None else batch_size
    snapshot = _snapshot(model, optimizer, random)
    network, head = _losses.fuse(model, loss)
    perm = random.permutation(train.m) if shuffle else None
    total, outputs, targets = 0.0, [], []
    compiled = _compiled_step(model, loss, optimizer)
    for step, (rows, X, Y) in enumerate(train.batches(size, perm)):
        if compiled is not None:
            pred, value = compiled(X, Y)
        else:
            pred, value, grads = forward_and_backward(network, head, X, Y, True)
            optimizer.step(model.params, grads)
            del grads  # before the next step makes its own
        total = total + value * rows
        if metric_fns:
            outputs.append(pred)
            targets.append(Y)
        for cb in callbacks:
            cb.on_batch_end(step, {"loss": value})
        check_interrupt()
    values = {"loss": total, "finite": _all_finite(model.params.values(), xp=xp)}
    if metric_fns:
        probs = _probabilities(model, loss, xp.concat(outputs, axis=0), xp=xp)
        Y = xp.concat(targets, axis=0)
        with _metrics.labels_checked():  # check_y has checked them: no device sync per metric
            values.update({name: fn(Y, probs) for name, fn in metric_fns.items()})
    logs = _floats(values, xp=xp)  # the epoch's one device sync
    logs["loss"] /= train.m
    finite = logs.pop("finite")
    if not (finite and math.isfinite(logs["loss"])):
        _replay_to_divergence(model, loss, optimizer, train, size, shuffle, random, epoch, snapshot)
    return logs


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
            optimizer._state[key] = {name: xp.zeros_like(p) for name in optimizer.slot_names}
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
            saved_params, saved_state = dict(net.params), opt._state
            net._assign(params)
            opt._state = {name: dict(slots) for name, slots in state.items()}
            try:
                network, head = _losses.fuse(net, loss)
                pred, value, grads = forward_and_backward(network, head, X, Y, True)
                new = dict(params)
                opt._step(new, grads, xp, k)
                return new, opt._state, pred, value
            finally:
                net._assign(saved_params)
                opt._state = saved_state

        cpu = getattr(backend.device, "platform", "cpu") == "cpu"  # XLA:CPU cannot donate
        per_model[key] = jax.jit(pure, donate_argnums=() if cpu else (0, 1))
    jitted, dtype = per_model[key], backend.dtype(model.dtype)

    def step(X, Y):
        optimizer.iterations += 1
        k = {name: xp.asarray(v, dtype=dtype, device=backend.device)
             for name, v in optimizer._scalars().items()}
        params, optimizer._state, pred, value = jitted(dict(model.params), optimizer._state, k,
                                                       X, Y)
        model._assign(params)
        return pred, value

    return step


def _walk(model):
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from _walk(layer)


def _all_finite(arrays, *, xp):
    """A 0-D boolean on the device: every element of every array is finite (no sync here)."""
    flags = [xp.all(xp.isfinite(a)) for a in arrays]
    return xp.all(xp.stack(flags)) if flags else True


def _floats(values: dict, *, xp) -> dict:
    """``{name: float}`` from 0-D device arrays (and plain numbers), copied to the host in one
    transfer: every ``float()`` of a device array waits for the device, so an epoch waits once,
    not once per value. The values are stacked in the dtype of the first one (the loss's)."""
    arrays = {k: v for k, v in values.items() if not isinstance(v, (bool, int, float))
              and tuple(getattr(v, "shape", (None,))) == ()}
    floats = {k: float(v) for k, v in values.items() if k not in arrays}
    if arrays:
        dtype = next(iter(arrays.values())).dtype
        host = to_numpy(xp.stack([xp.astype(v, dtype) for v in arrays.values()]))
        floats.update(zip(arrays, host.tolist(), strict=True))
    return {k: floats[k] for k in values}


def _params_finite(model) -> bool:
    xp = model.backend.xp
    return all(bool(xp.all(xp.isfinite(p))) for p in model.params.values())


def _snapshot(model, optimizer, random):
    xp = model.backend.xp
    return ({k: xp.asarray(v, copy=True) for k, v in model.params.items()},
            optimizer.state_dict(),  # a copy already
            [source.state for source in _random_sources(model, random)])


def _replay_to_divergence(model, loss, optimizer, train, size, shuffle, random, epoch, snapshot):
    """Restore the epoch's start and redo its steps one by one, checking each, up to the first
    non-finite loss or gradient; then raise DivergenceError, the last finite parameters kept."""
    params, opt_state, random_states = snapshot
    xp = model.backend.xp
    model._assign({k: xp.asarray(v, copy=True) for k, v in params.items()})
    optimizer.load_state_dict(opt_state)
    for source, state in zip(_random_sources(model, random), random_states, strict=True):
        source.state = state
    network, head = _losses.fuse(model, loss)
    perm = random.permutation(train.m) if shuffle else None
    for step, (_, X, Y) in enumerate(train.batches(size, perm)):
        _, value, grads = forward_and_backward(network, head, X, Y, True)
        bad = [k for k, g in grads.items() if not bool(xp.all(xp.isfinite(g)))]
        if not math.isfinite(float(value)) or bad:
            what = f"loss ({float(value)})" if not math.isfinite(float(value)) else \
                f"gradient of {bad[0]}"
            largest = float(xp.max(xp.abs(X)))
            hint = (f"unscaled inputs (max |X| = {largest:.3g}): standardise X"
                    if largest > 1e3 else f"a learning rate too high (lr={optimizer.lr:g})")
            raise DivergenceError(
                f"training diverged at epoch {epoch + 1}, step {step + 1}: non-finite {what}; "
                f"likely cause: {hint}. The model keeps its parameters from before this step.",
                epoch=epoch, step=step)
        before = {k: xp.asarray(v, copy=True) for k, v in model.params.items()}
        optimizer.step(model.params, grads)
        if not _params_finite(model):  # finite gradients, yet the update overflowed
            model._assign(before)
            raise DivergenceError(
                f"training diverged at epoch {epoch + 1}, step {step + 1}: the update made "
                f"parameters non-finite; likely cause: a learning rate too high "
                f"(lr={optimizer.lr:g})", epoch=epoch, step=step)
    raise AssertionError("a divergence seen in the epoch did not recur on replay")


def _evaluate(model, loss, data, batch_size, metric_fns):
    """Loss and metrics of ``model`` on validated ``data``: forward only, in batches."""
    xp = model.backend.xp
    network, head = _losses.fuse(model, loss)
    size = data.m if batch_size is None else max(batch_size, _CHUNK)
    total, outputs = 0.0, []
    for rows, X, Y in data.batches(size):
        pred = network.forward(X)[0]
        total = total + head(pred, Y)[0] * rows
        outputs.append(pred)
    values = {"loss": total}
    if metric_fns:
        probs = _probabilities(model, loss, xp.concat(outputs, axis=0), xp=xp)
        with _metrics.labels_checked():  # check_y has checked them: no device sync per metric
            values.update({name: fn(data.y, probs) for name, fn in metric_fns.items()})
    logs = _floats(values, xp=xp)  # one device sync
    logs["loss"] /= data.m
    return logs


@on_model_device
def evaluate(model, X, y, *, loss=None, metrics=("accuracy",), batch_size=None):
    """``{"loss": ..., metric: ...}`` of ``model`` on ``(X, y)``; ``loss`` defaults to the loss of
    the last ``fit``."""
    if loss is None:
        if getattr(model, "_fit_info", None) is None:
            raise ValueError("loss is required: the model has not been fitted")
        loss = model._fit_info["loss"]
    loss = _losses.get(loss)
    _check_int("batch_size", batch_size, 1, allow_none=True)
    metric_fns = _metric_functions(metrics)
    data = _Data(model, loss, X, y, _output_width(model, X))
    return _evaluate(model, loss, data, batch_size, metric_fns)


@on_model_device
def predict(model, X, batch_size=None):
    """The model's outputs for ``X`` on its backend (probabilities when it ends in
    Sigmoid/Softmax), in batches of ``batch_size`` rows (all at once by default)."""
    _check_int("batch_size", batch_size, 1, allow_none=True)
    if array_api_compat.is_dask_array(X) and model.backend.name != "dask":
        return _predict_blocks(model, X)
    streamed = is_memmap(X)
    X = X if streamed else check_X(model, X)
    m = len(X) if streamed else X.shape[0]
    size = m if batch_size is None else batch_size
    parts = []
    for start in range(0, m, size):
        chunk = X[start:min(start + size, m), ...]  # in-bounds: the standard leaves the rest open
        parts.append(model.forward(check_X(model, chunk) if streamed else chunk)[0])
    return parts[0] if len(parts) == 1 else model.backend.xp.concat(parts, axis=0)


def _predict_blocks(model, X):
    """``predict`` of a dask array: a lazy dask array of NumPy blocks, each row block computed on
    the model's backend when asked for (moved there once, checked like any ``X``); the whole
    array is never held at once."""
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (m, n_features), got a {X.ndim}-D dask array")
    X = X.rechunk({1: -1})  # each block: whole rows
    n_out = _n_outputs(model)
    if n_out is None:
        n_out = model.forward(model.backend.asarray(X[:1].compute(), model.dtype))[0].shape[1]
    dtype = np.dtype(model.dtype)

    def block(rows):
        return to_numpy(predict(model, rows)) if rows.shape[0] else np.empty((0, n_out), dtype)

    return X.map_blocks(block, dtype=dtype, chunks=(X.chunks[0], (n_out,)),
                        meta=np.empty((0, 0), dtype))


def resume(path, X, y, *, epochs, backend=None, **fit_options):
    """Continue a run from a :class:`ModelCheckpoint` file exactly where it stopped.

    Loads the model, the optimizer state, the random streams (shuffle and dropout) and the history
    saved at ``path``, then fits from the saved epoch up to ``epochs``; with the same data and
    options the result equals the uninterrupted run. Returns ``(model, history)``, the history
    covering every epoch from the first.
    """
    from .io import load_checkpoint

    model, optimizer_state, extra = load_checkpoint(path, backend)
    if optimizer_state is None or not isinstance(extra, dict) or "random_states" not in extra:
        raise ValueError(f"{os.fspath(path)} is not a training checkpoint (save it with "
                         "ModelCheckpoint)")
    random = Random()
    for source, state in zip(_random_sources(model, random), extra["random_states"], strict=True):
        source.state = state
    history = fit(model, X, y, loss=extra["loss"], optimizer=_optim.from_state_dict(optimizer_state),
                  epochs=epochs, initial_epoch=extra["epoch"], seed=random, **fit_options)
    for key, values in extra["history"].items():
        history.history[key] = [*values, *history.history.get(key, [])]
    history.epoch = [*range(extra["epoch"]), *history.epoch]
    return model, history
