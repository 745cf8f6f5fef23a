"""Callbacks into ``fit``, the history it records, and the state a fit run leaves behind.

``fit`` builds one :class:`FitState` per run, puts it in ``model.fit_state`` and hands it to every
callback as ``callback.state``: the loss, the optimizer, the :class:`History`, the epoch counters,
the stop flag and the options the run trains with. Everything that reads a run afterwards
(:func:`xpnet.train.save_checkpoint`, :class:`xpnet.Diagnostics`, ``evaluate``'s default loss,
the command line) reads it there.

The callbacks here are xpnet's own: :class:`EarlyStopping`, :class:`ModelCheckpoint`,
:class:`LearningRateScheduler`, :class:`CSVLogger`, and the progress bar ``fit(verbose=...)``
adds. They are also importable from :mod:`xpnet.train` and :mod:`xpnet`.
"""

from __future__ import annotations

import csv
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from . import io
from ._validation import check_flag, check_int, check_number

__all__ = ["CSVLogger", "Callback", "EarlyStopping", "FitState", "History",
           "LearningRateScheduler", "ModelCheckpoint"]


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



@dataclass(eq=False)
class FitState:
    """What one ``fit`` run leaves behind: ``model.fit_state`` after (and during) the run, and
    ``callback.state`` for each of its callbacks.

    Attributes
    ----------
    loss : xpnet.losses.Loss
        The loss the run trains on (``evaluate`` and :func:`xpnet.diagnose` default to it).
    optimizer : xpnet.optim.Optimizer
        The optimizer, with its state (a checkpoint saves it).
    history : History
        The epochs run so far: ``history.history[name]`` has one float per epoch.
    epochs : int
        The run stops before epoch ``epochs`` (0-based), as ``fit(epochs=...)``.
    initial_epoch : int
        The first epoch of the run (not 0 when it resumes a checkpoint).
    epoch : int
        The epoch running (set before ``on_epoch_begin``), or the last one run;
        ``initial_epoch - 1`` before the first.
    stop_training : bool
        Set it to stop after the current epoch. ``model.stop_training = True``, Keras's spelling,
        works too: the loop reads both after each epoch and then sets both.
    options : dict
        ``batch_size``, ``shuffle``, ``validation_split``, ``validation_data`` (bool) and
        ``metrics`` (names, or None): what a checkpoint records so that :func:`xpnet.resume` trains
        the same way.
    random_sources : list of xpnet.backend.Random
        Every random stream an epoch draws from: the shuffle's first, then each Dropout's.
    prior_history : dict
        For a resumed run, the checkpoint's history of the earlier epochs (``name -> list``);
        checkpoints of this run carry it on, so they hold every epoch from the first.
    """

    loss: Any
    optimizer: Any
    history: History
    epochs: int
    initial_epoch: int = 0
    epoch: int | None = None
    stop_training: bool = False
    options: dict = field(default_factory=dict)
    random_sources: list = field(default_factory=list)
    prior_history: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.epoch is None:
            self.epoch = self.initial_epoch - 1

    @property
    def completed_epochs(self) -> int:
        """Epochs completed, counted from the first epoch of the whole run (a resumed run's
        included): the epoch a checkpoint of the run as it stands continues from."""
        return self.history.epoch[-1] + 1 if self.history.epoch else self.initial_epoch

    def resume_state(self, epoch: int, logs: dict | None = None) -> dict:
        """What a checkpoint needs besides the parameters and the optimizer state to resume after
        ``epoch`` (``logs``: that epoch's, not yet in the history): JSON values."""
        history = {k: list(v) for k, v in self.prior_history.items()}
        for k, v in self.history.history.items():
            history.setdefault(k, []).extend(v)
        for k, v in (logs or {}).items():
            history.setdefault(k, []).append(v)
        loss = self.loss
        return {"epoch": epoch + 1, "history": history,
                "loss": {"name": loss.name,
                         "from_logits": bool(getattr(loss, "from_logits", False))},
                "random_states": [r.state for r in self.random_sources],
                "fit_options": self.options}


# -- callbacks ------------------------------------------------------------------------------------


class Callback:
    """Hooks into ``fit``. ``model``, ``optimizer``, ``history`` and ``state`` (the run's
    :class:`FitState`) are set before training starts; set ``self.state.stop_training = True``
    (or, as in Keras, ``self.model.stop_training = True``) to stop after the current epoch.

    ``on_batch_end`` receives ``{"loss": 0-D array}`` (still on the device: ``float()`` it only if
    you must, it waits for the device); ``on_epoch_end`` receives the epoch's floats.
    """

    model = optimizer = history = state = None

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
        patience = check_int("patience", patience, 0)
        min_delta = check_number("min_delta", min_delta)
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = _mode(mode, monitor)
        self.restore_best_weights = check_flag("restore_best_weights", restore_best_weights)

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
            self.state.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_params is not None:
            self.model._assign(self.best_params)


class ModelCheckpoint(Callback):
    """Save the model after each epoch to ``path`` (``"{epoch}"`` in it is replaced by the epoch
    number, counted from 1), with the optimizer state, epoch, random state, history and fit
    options, so that ``xpnet.resume`` continues exactly. ``save_best_only`` saves only when
    ``monitor`` improves; ``extra`` (JSON values) is saved beside them.

    ``path`` is checked when the callback is built, as :func:`xpnet.io.save` checks it (its folder
    exists; it is not a directory or a read-only file), so a bad one stops ``fit`` before any
    training, not after the first epoch."""

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto", *,
                 extra=None):
        self.path, self.monitor = os.fsdecode(path), monitor
        try:  # a bad pattern is refused here, not after the first epoch
            self.path.format(epoch=1)
        except (KeyError, IndexError, ValueError, TypeError, AttributeError) as err:
            raise ValueError(f"path may contain only {{epoch}} as a field, got {self.path!r} "
                             f"({type(err).__name__}: {err})") from None
        try:  # io.save's own check of the destination, now: not after an epoch has trained
            io._target(self.path.format(epoch=1))
        except OSError as err:
            raise type(err)(err.errno, f"ModelCheckpoint path: {err.strerror}", err.filename) from None
        except ValueError as err:
            raise ValueError(f"ModelCheckpoint path: {err}") from None
        self.save_best_only = check_flag("save_best_only", save_best_only)
        self.mode = _mode(mode, monitor)
        if extra is not None and not isinstance(extra, dict):
            raise TypeError(f"extra must be a dict, got {type(extra).__name__}")
        self.extra = dict(extra or {})
        io._encode(self.extra, "extra", lambda value, where: None)  # what save refuses, refused now

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        if self.save_best_only:
            value = _monitored(self, logs)
            if not _improves(self.mode, value, self.best):
                return
            self.best = value
        io.save(self.model, self.path.format(epoch=epoch + 1), optimizer=self.optimizer,
                extra={**self.extra, **self.state.resume_state(epoch, logs)})


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
            lr = self.schedule(epoch, self.base_lr)
            try:
                self.optimizer.lr = float(lr)
            except (TypeError, ValueError):  # "could not convert string to float" names nothing
                raise ValueError(f"schedule(epoch={epoch}, base_lr={self.base_lr:g}) must return "
                                 f"the learning rate, a finite number >= 0; got {lr!r}") from None

    def on_epoch_end(self, epoch, logs=None):
        logs["lr"] = self.optimizer.lr
        if hasattr(self.schedule, "update"):
            self.optimizer.lr = self.schedule.update(_monitored(self, logs), self.optimizer.lr)


class CSVLogger(Callback):
    """Write one CSV row per epoch (``epoch`` and every logged value) to ``path``."""

    def __init__(self, path, append=False):
        self.path, self.append = os.fspath(path), check_flag("append", append)

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
