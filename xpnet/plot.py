"""Plots of training (extra ``plot``: matplotlib). Each function draws on ``ax`` (a new figure's
when ``None``) and returns the axes; :func:`training_report` writes the command's PNG."""

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
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y).ravel()
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


def training_report(path, history_, model=None, X=None, y=None):
    """A PNG at ``path``: loss curves, and the decision boundary when X has two features."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    two_d = X is not None and np.ndim(X) == 2 and np.shape(X)[1] == 2
    fig, axes = plt.subplots(1, 2 if two_d else 1, figsize=(11 if two_d else 6, 4.5))
    axes = np.atleast_1d(axes)
    history(history_, axes[0])
    if two_d:
        decision_boundary(model, X, y, axes[1])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
