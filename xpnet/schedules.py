"""Learning-rate schedules: the learning rate as a function of the epoch.

Per-epoch functions of the epoch, ``lr = schedule(epoch, base_lr)`` (:class:`StepLR`,
:class:`ExponentialLR`, :class:`CosineAnnealingLR`), or, for :class:`ReduceLROnPlateau`, a small
state machine fed one metric per epoch: ``lr = plateau.update(val_loss, lr)``. They change
``optimizer.lr`` between epochs through :class:`xpnet.LearningRateScheduler`; the names are also
importable from :mod:`xpnet.optim`, where they lived first.

The number checks below are shared with :mod:`xpnet.optim` (which imports this module, never the
other way round).
"""

from __future__ import annotations

import math
from numbers import Integral

from . import backend as _backend

# -- argument checks ------------------------------------------------------------------------------


def _number(name: str, value, expected: str, ok) -> float:
    """``value`` as a Python float when it is a finite number satisfying ``ok``; else ValueError."""
    if not _backend.is_finite_number(value) or not ok(float(value)):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def _integer(name: str, value, minimum: int) -> int:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _non_negative(name, value):
    return _number(name, value, "a finite number >= 0", lambda v: v >= 0.0)


def _positive(name, value):
    return _number(name, value, "a finite number > 0", lambda v: v > 0.0)


# -- schedules -----------------------------------------------------------------------------------


class Schedule:
    """Base class: ``schedule(epoch, base_lr) -> lr``, a pure function of the epoch (from 0)."""

    def __call__(self, epoch: int, base_lr: float) -> float:
        return self._lr(_integer("epoch", epoch, 0), _non_negative("base_lr", base_lr))

    def _lr(self, epoch: int, base_lr: float) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class StepLR(Schedule):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    ``lr(epoch) = base_lr · gamma ** (epoch // step_size)``, as ``torch.optim.lr_scheduler.StepLR``.
    """

    def __init__(self, step_size: int, gamma: float = 0.1):
        self.step_size = _integer("step_size", step_size, 1)
        self.gamma = _positive("gamma", gamma)

    def _lr(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(Schedule):
    """Multiply the learning rate by ``gamma`` every epoch.

    ``lr(epoch) = base_lr · gamma ** epoch``, as ``torch.optim.lr_scheduler.ExponentialLR``.
    """

    def __init__(self, gamma: float):
        self.gamma = _positive("gamma", gamma)

    def _lr(self, epoch, base_lr):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(Schedule):
    """Cosine annealing from ``base_lr`` at epoch 0 to ``eta_min`` at epoch ``T_max``.

    ``lr(epoch) = eta_min + (base_lr − eta_min) · (1 + cos(π · epoch / T_max)) / 2``, PyTorch's
    closed form; past ``T_max`` the cosine continues (back up to ``base_lr`` at ``2 · T_max``).
    """

    def __init__(self, T_max: int, eta_min: float = 0.0):  # noqa: N803 (PyTorch's name)
        self.T_max = _integer("T_max", T_max, 1)
        self.eta_min = _non_negative("eta_min", eta_min)

    def _lr(self, epoch, base_lr):
        cosine = (1.0 + math.cos(math.pi * epoch / self.T_max)) / 2.0
        return self.eta_min + (base_lr - self.eta_min) * cosine


class ReduceLROnPlateau:
    """Reduce the learning rate when a metric stops improving (PyTorch's rule, Keras' names).

    Parameters
    ----------
    factor : float
        Multiplier in (0, 1) applied to the learning rate on a plateau.
    patience : int
        Epochs without improvement tolerated: the rate is cut on the ``patience + 1``-th
        consecutive one (as PyTorch; Keras cuts one epoch earlier).
    min_delta : float
        An improvement must beat the best value so far by more than this (absolute) amount.
    cooldown : int
        Epochs after a cut during which bad epochs are not counted.
    min_lr : float
        The rate is never cut below this.
    mode : {"min", "max"}
        Whether the metric should decrease (a loss) or increase (an accuracy).

    Examples
    --------
    >>> plateau = ReduceLROnPlateau(factor=0.5, patience=1)
    >>> lr = 0.1
    >>> for val_loss in [1.0, 0.9, 0.95, 0.93, 0.8]:
    ...     lr = plateau.update(val_loss, lr)
    >>> lr
    0.05
    """

    def __init__(self, factor: float = 0.1, patience: int = 10, min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0, mode: str = "min"):
        self.factor = _number("factor", factor, "a number in (0, 1)", lambda v: 0.0 < v < 1.0)
        self.patience = _integer("patience", patience, 0)
        self.min_delta = _non_negative("min_delta", min_delta)
        self.cooldown = _integer("cooldown", cooldown, 0)
        self.min_lr = _non_negative("min_lr", min_lr)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.mode = mode
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def update(self, metric: float, lr: float) -> float:
        """Record this epoch's ``metric``; return the learning rate for the next epoch.

        A NaN metric counts as no improvement.
        """
        metric, lr = float(metric), _non_negative("lr", lr)
        if self.mode == "min":
            improved = metric < self.best - self.min_delta
        else:
            improved = metric > self.best + self.min_delta
        if improved:
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            lr = min(lr, max(lr * self.factor, self.min_lr))  # never raised to min_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return lr

    def __repr__(self) -> str:
        return (f"ReduceLROnPlateau(factor={self.factor}, patience={self.patience}, "
                f"min_delta={self.min_delta}, cooldown={self.cooldown}, min_lr={self.min_lr}, "
                f"mode={self.mode!r})")


__all__ = ["CosineAnnealingLR", "ExponentialLR", "ReduceLROnPlateau", "Schedule", "StepLR"]
