"""Plots of training (extra ``plot``: matplotlib). Each function draws on ``ax`` (a new figure's
when ``None``) and returns the axes; :func:`training_report` writes the command's PNG.

- :func:`history`: loss (or any logged) curves per epoch.
- :func:`decision_boundary`: the predicted class over the plane of a two-feature ``X``.
- :func:`diagnostics`: per-layer gradient norms and saturated / dead units, over the epochs of a
  :class:`xpnet.diagnose.Diagnostics` callback, or per layer for one :class:`xpnet.diagnose.Report`.
"""

from __future__ import annotations

import numpy as np

from .backend import to_numpy


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure().add_subplot()


def history(history, ax=None, keys=("loss", "val_loss")):
    """Loss curves (or any logged ``keys``) per epoch from a :class:`xpnet.History`."""
    ax = _axes(ax)
    values = getattr(history, "history", history)
    for key in keys:
        if key in values:
            ax.plot(np.arange(1, len(values[key]) + 1), values[key], label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel(" / ".join(k for k in keys if k in values))
    ax.legend()
    ax.set_title("training history")
    return ax


def decision_boundary(model, X, y, ax=None, resolution=200):
    """The model's predicted class over the plane of a two-feature ``X``, with the points."""
    # to_numpy, not np.asarray: CuPy refuses implicit conversion to NumPy (TypeError)
    X, y = to_numpy(X).astype(np.float64), to_numpy(y).ravel()
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision_boundary needs X with 2 features, got shape {X.shape}")
    ax = _axes(ax)
    low, high = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * (high - low)
    u = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    v = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    U, V = np.meshgrid(u, v)
    P = to_numpy(model.predict(np.c_[U.ravel(), V.ravel()]))
    labels = (P[:, 0] > 0.5) if P.shape[1] == 1 else P.argmax(axis=1)
    ax.contourf(U, V, labels.reshape(U.shape).astype(float), alpha=0.3, cmap="coolwarm")
    ax.scatter(X[:, 0], X[:, 1], c=y, s=8, cmap="coolwarm", edgecolors="none")
    ax.set_title("decision boundary")
    return ax


def _records(source):
    """Per-epoch records from a Diagnostics callback or a Report (possibly empty), and the
    per-layer statistics of a Report."""
    records = getattr(source, "records", None)
    if records is None:
        records = getattr(source, "epochs", None)
        report = source
    else:
        report = getattr(source, "report", None)
    if records is None and not hasattr(source, "layers"):
        raise TypeError("diagnostics needs an xpnet.diagnose.Diagnostics callback or Report, got "
                        f"{type(source).__name__}")
    return list(records or []), list(getattr(report, "layers", None) or [])


def diagnostics(report_or_callback, ax=None):
    """Per-layer gradient norms (log scale, solid lines, left axis) and the fraction of saturated
    sigmoid/tanh outputs or dead ReLU units (dashed lines, right axis).

    Over the epochs for a :class:`xpnet.diagnose.Diagnostics` callback (or a Report holding its
    records); per layer, as bars, for a single :class:`xpnet.diagnose.Report`. Where no gradient
    was measured (a callback without data), the measured update-to-weight ratios are drawn instead.
    Returns the left axes.
    """
    records, layers = _records(report_or_callback)
    own = ax is None
    ax = _axes(ax)
    right = ax.twinx()
    if records:
        epochs = np.array([r["epoch"] + 1 for r in records])
        keys = sorted({k for r in records for k in r["layers"]}, key=_layer_order)
        stat = "grad_norm" if any(r["layers"].get(k, {}).get("grad_norm") is not None
                                  for r in records for k in keys) else "update_ratio"
        for i, key in enumerate(keys):  # one colour per layer, on both axes
            color = f"C{i % 10}"
            values = _series(records, key, stat)
            if np.isfinite(values).any():
                ax.plot(epochs, values, color=color,
                        label=f"{key} {'|grad|' if stat == 'grad_norm' else 'update/W'}")
            for frac in ("saturated", "dead"):
                values = _series(records, key, frac)
                if np.isfinite(values).any():
                    right.plot(epochs, values, color=color, linestyle="--", label=f"{key} {frac}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("gradient norm" if stat == "grad_norm" else "update / weight")
        ax.set_yscale("log")
        ax.set_title("diagnostics per epoch")
    else:
        dense = [s for s in layers if s.grad_norm is not None]
        positions = {s.index: i for i, s in enumerate(layers)}
        ax.bar([positions[s.index] for s in dense], [s.grad_norm for s in dense], width=0.6,
               label="|grad|", color="tab:blue")
        fractions = [s for s in layers if s.saturated is not None or s.dead is not None]
        right.bar([positions[s.index] for s in fractions],
                  [s.saturated if s.saturated is not None else s.dead for s in fractions],
                  width=0.6, color="tab:orange", alpha=0.7, label="saturated / dead")
        ax.set_xticks(range(len(layers)))
        ax.set_xticklabels([f"{s.index} {s.kind}" for s in layers], rotation=30, fontsize=8)
        if dense:
            ax.set_yscale("log")
        ax.set_ylabel("gradient norm")
        ax.set_title("diagnostics per layer")
    right.set_ylim(0.0, 1.05)
    right.set_ylabel("saturated / dead fraction")
    handles = [h for a in (ax, right) for h in a.get_legend_handles_labels()[0]]
    labels = [lab for a in (ax, right) for lab in a.get_legend_handles_labels()[1]]
    if handles:
        ax.legend(handles, labels, fontsize=7, loc="best")
    if own:
        ax.figure.tight_layout()
    return ax


def _layer_order(key):
    return [int(part) for part in str(key).split(".")]


def _series(records, key, stat):
    return np.array([np.nan if r["layers"].get(key, {}).get(stat) is None
                     else r["layers"][key][stat] for r in records], dtype=float)


def training_report(path, history_, model=None, X=None, y=None, diagnostics_=None):
    """A PNG at ``path``: loss curves, the decision boundary when X has two features, and the
    per-epoch diagnostics when a :class:`xpnet.diagnose.Diagnostics` callback is given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    two_d = X is not None and np.ndim(X) == 2 and np.shape(X)[1] == 2
    panels = 1 + two_d + (diagnostics_ is not None)
    fig, axes = plt.subplots(1, panels, figsize=(max(6.0, 5.5 * panels), 4.5))
    axes = np.atleast_1d(axes)
    history(history_, axes[0])
    if two_d:
        decision_boundary(model, X, y, axes[1])
    if diagnostics_ is not None:
        diagnostics(diagnostics_, axes[-1])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
