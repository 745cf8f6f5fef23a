"""One implementation, every backend: run the same training steps everywhere and compare.

:func:`check_backends` copies a model to every available backend in float64, gives each copy the
same initial parameters, runs the same plain SGD steps on the same batches (the batch order and
any dropout masks are drawn on the host from one seed) and reports, per step, the largest absolute
difference from NumPy in the loss, the gradients and the parameters::

    >>> print(xpnet.check_backends(model, X, y, loss="binary_crossentropy", steps=5))  # doctest: +SKIP
    check_backends: 5 SGD steps (lr 0.1, full batch) in float64 from the same parameters, vs numpy
      step  backend           |dloss|   max|dgrad|  max|dparam|
      ...

In float64 the differences are rounding (about 1e-16 per operation): anything above 1e-9 means
one backend computes something different.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import backend as _backend
from . import losses as _losses
from ._validation import check_int, check_number, check_X, check_y
from .backend import Random, to_numpy
from .grad import loss_and_grads
from .layers import Sequential
from .layers import n_outputs as _n_outputs

__all__ = ["ParityReport", "check_backends"]

REFERENCE = "numpy"


@dataclass
class ParityReport:
    """What :func:`check_backends` found.

    Attributes
    ----------
    reference : str
        The backend everything is compared with (``"numpy"``).
    backends : list of str
        The backends compared (``"name:device"``), the reference excluded.
    steps, lr, batch_size, dtype
        What was run.
    losses : dict
        ``backend -> [loss before step 1, ..., before step n]`` (the reference included).
    diffs : dict
        ``backend -> [{"loss": float, "grads": float, "params": float}, ...]``, one dict per step:
        the largest absolute difference from the reference in the loss, in any gradient entry and
        in any parameter entry after the update.
    skipped : dict
        ``backend -> reason`` for backends that could not run (e.g. no float64 support).
    """

    reference: str
    backends: list[str]
    steps: int
    lr: float
    batch_size: int | None
    dtype: str
    losses: dict = field(default_factory=dict)
    diffs: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)

    def worst(self, backend: str | None = None) -> dict:
        """The largest difference over the steps, per quantity (``{"loss", "grads", "params"}``),
        for one backend or for all."""
        names = [backend] if backend is not None else list(self.diffs)
        out = {"loss": 0.0, "grads": 0.0, "params": 0.0}
        for name in names:
            for step in self.diffs[name]:
                for key in out:
                    out[key] = max(out[key], step[key])
        return out

    @property
    def max_diff(self) -> float:
        """The largest difference of any kind, on any backend, at any step."""
        return max(self.worst().values(), default=0.0)

    def __str__(self) -> str:
        batch = "full batch" if self.batch_size is None else f"batch {self.batch_size}"
        lines = [f"check_backends: {self.steps} SGD steps (lr {self.lr:g}, {batch}) in {self.dtype} "
                 f"from the same parameters, compared with {self.reference}"]
        if not self.diffs:
            lines.append("  no other backend available here: nothing to compare")
        else:
            width = max(len(n) for n in self.diffs)
            lines.append(f"  {'step':<5} {'backend':<{width}}  {'|dloss|':>9}  {'max|dgrad|':>10}  "
                         f"{'max|dparam|':>11}")
            for name, rows in self.diffs.items():
                for i, d in enumerate(rows):
                    lines.append(f"  {i + 1:<5} {name:<{width}}  {d['loss']:>9.2e}  "
                                 f"{d['grads']:>10.2e}  {d['params']:>11.2e}")
            lines.append("  largest: " + ", ".join(f"{n} {max(self.worst(n).values()):.2e}"
                                                   for n in self.diffs))
        for name, why in self.skipped.items():
            lines.append(f"  skipped {name}: {why}")
        return "\n".join(lines)


def _label(b) -> str:
    device = _backend.device_id(b.device)
    if "Device('" in device:  # array_api_strict.Device('device1') -> device1
        device = device.split("'")[1]
    return f"{b.name}:{device}"


def _run(model, target, loss, X, y, *, steps, lr, batch_size, seed, params, dtype):
    """Losses, gradients and parameters of ``steps`` SGD steps on ``target``, as NumPy arrays."""
    with target.context():  # the steps below are hand-written array math: on its device
        return _steps(model, target, loss, X, y, steps=steps, lr=lr, batch_size=batch_size,
                      seed=seed, params=params, dtype=dtype)


def _steps(model, target, loss, X, y, *, steps, lr, batch_size, seed, params, dtype):
    copy = model.copy()
    copy.to(target, dtype=dtype)
    copy.load_params(params)
    X = check_X(copy, X)
    n_out = _n_outputs(copy) or copy.forward(X[0:1, :])[0].shape[1]
    y = check_y(copy, loss, y, X.shape[0], n_out)
    xp, m = target.xp, X.shape[0]
    size = m if batch_size is None else min(batch_size, m)
    random, order, position = Random(seed), None, m
    out = []
    for _ in range(steps):
        if size == m:
            Xb, yb = X, y
        else:
            if position + size > m:  # a new epoch: a new host permutation, the same everywhere
                order, position = random.permutation(m), 0
            rows = target.asarray(order[position:position + size])
            position += size
            Xb, yb = xp.take(X, rows, axis=0), xp.take(y, rows, axis=0)
        value, grads = loss_and_grads(copy, loss, Xb, yb, training=True)
        params = copy.params  # assignment writes through: works on immutable arrays (JAX) too
        for key in params:
            params[key] = params[key] - lr * grads[key]
        # copies: to_numpy may share memory with the device array, which the next step updates
        out.append((float(value), {k: to_numpy(g).copy() for k, g in grads.items()},
                    {k: to_numpy(p).copy() for k, p in copy.params.items()}))
    return out


def _max_abs(a: dict, b: dict) -> float:
    worst = 0.0
    for key, value in a.items():
        diff = abs(value.astype("float64") - b[key].astype("float64"))
        worst = max(worst, float(diff.max(initial=0.0)))
    return worst


def check_backends(model, X, y, loss=None, steps: int = 5, *, lr: float = 0.1, batch_size=None,
                   backends=None, seed: int = 0, dtype: str = "float64") -> ParityReport:
    """Run the same SGD steps on every backend from the same state and compare with NumPy.

    Parameters
    ----------
    model : Sequential
        Not changed: each backend trains its own copy.
    X, y : array-like
        Data as for ``fit``.
    loss : Loss or str
        Default: the loss of the model's last fit, else binary cross-entropy after a Sigmoid,
        cross-entropy after a Softmax, mean squared error otherwise.
    steps : int
        SGD steps ``p -= lr * grad`` to run.
    lr : float
    batch_size : int or None
        ``None``: full batch; else mini-batches in an order drawn on the host from ``seed``.
    backends : sequence of str or Backend, optional
        Default: every backend available here. NumPy is always run, as the reference.
    dtype : str
        ``"float64"`` (default) or ``"float32"``.

    Returns
    -------
    ParityReport
        ``str()`` prints a table; ``report.max_diff`` is the largest difference found.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"check_backends needs an xpnet Sequential model, got {type(model).__name__}")
    steps, lr = check_int("steps", steps, 1), check_number("lr", lr)
    batch_size = check_int("batch_size", batch_size, 1, allow_none=True)
    dtype = _backend.dtype_name(dtype)
    if loss is None:
        loss = _losses.default_for(model)
    loss = _losses.get(loss)
    X = _backend.host_array(X, "X") if not _is_device_array(X) else to_numpy(X)
    y = _backend.host_array(y, "y") if not _is_device_array(y) else to_numpy(y)
    targets = [_backend.get(b) for b in (backends if backends is not None else _backend.available())]
    reference = _backend.get(REFERENCE)
    params = {k: to_numpy(v).astype(dtype) for k, v in model.params.items()}
    options = dict(steps=steps, lr=float(lr), batch_size=batch_size, seed=seed, params=params,
                   dtype=dtype)
    base = _run(model, reference, loss, X, y, **options)
    report = ParityReport(_label(reference), [], steps, float(lr), batch_size, dtype)
    report.losses[_label(reference)] = [v for v, _, _ in base]
    for target in targets:
        name = _label(target)
        if target == reference or name in report.diffs:
            continue
        try:
            run = _run(model, target, loss, X, y, **options)
        except (TypeError, ValueError, RuntimeError) as err:
            report.skipped[name] = str(err)
            continue
        report.backends.append(name)
        report.losses[name] = [v for v, _, _ in run]
        report.diffs[name] = [{"loss": abs(a[0] - b[0]), "grads": _max_abs(a[1], b[1]),
                               "params": _max_abs(a[2], b[2])} for a, b in zip(run, base, strict=True)]
    return report


def _is_device_array(x) -> bool:
    import array_api_compat

    return array_api_compat.is_array_api_obj(x) and not array_api_compat.is_numpy_array(x)
