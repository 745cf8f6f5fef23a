"""Metrics: ``value = metric(y_true, y_pred)``, a 0-D array on the inputs' device (Array API only).

Every metric takes the targets and the model's outputs as the fit loop holds them and returns a 0-D
array on their device, of ``y_pred``'s floating dtype (``y_true``'s, or the device's default float
dtype, when ``y_pred`` holds integers). Turn it into a number with ``float(value)`` when you need
one: on a GPU that waits for the device, so do it once per epoch, not once per batch.

Classification metrics (:func:`accuracy`, :func:`precision`, :func:`recall`, :func:`f1`,
:func:`roc_auc`) read their inputs as follows::

    y_pred (m, 1) or (m,), floating   probability of class 1; predicted class = (p >= threshold)
    y_pred (m, k), k >= 2             class probabilities or scores; predicted class = argmax
    y_pred (m,), integer or bool      predicted class labels
    y_true (m, 1) or (m,)             class labels 0 .. k-1 (integer, or integer-valued floats)
    y_true (m, k)                     one-hot rows (or probabilities: the true class is the argmax)

With two classes, precision, recall, F1 and ROC AUC score the positive class 1 (scikit-learn's
``average="binary"``); with more, they are the unweighted mean over the classes present in
``y_true`` or ``y_pred`` (``average="macro"``; a class never predicted has precision 0, as
scikit-learn with ``zero_division=0``). ROC AUC with more than two classes is one-vs-rest, macro.

Regression metrics (:func:`mean_squared_error`, :func:`mean_absolute_error`, :func:`r2`) take
arrays of one shape, ``(m,)`` or ``(m, k)`` (``(m,)`` and ``(m, 1)`` are interchangeable), and
average uniformly over the ``k`` outputs, as scikit-learn's ``multioutput="uniform_average"``.

>>> from xpnet import metrics
>>> metrics.accuracy(y, model.predict(X))          # doctest: +SKIP
>>> metrics.get("f1")                              # doctest: +SKIP
<function f1 ...>
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Any

import array_api_compat

from .backend import on_device_of
from .functional import at_least

__all__ = [
    "METRICS", "accuracy", "f1", "get", "mean_absolute_error", "mean_squared_error", "precision",
    "r2", "recall", "roc_auc",
]


# -- shared checks ---------------------------------------------------------------------------------

def _shapes_error(name: str, y_true, y_pred, why: str) -> ValueError:
    return ValueError(f"{name}: y_true has shape {tuple(y_true.shape)} but y_pred has shape "
                      f"{tuple(y_pred.shape)}; {why}")


def _float_dtype(xp, y_true, y_pred, device):
    """y_pred's floating dtype, else y_true's, else the device's default floating dtype."""
    for A in (y_pred, y_true):
        if xp.isdtype(A.dtype, "real floating"):
            return A.dtype
    try:
        return xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]
    except AttributeError:  # a namespace without the inspection API
        return xp.asarray(0.0, device=device).dtype


def _setup(name: str, y_true, y_pred):
    """Namespace, device, result dtype and sample count ``m`` of a checked pair of inputs."""
    xp = array_api_compat.array_namespace(y_true, y_pred)
    for arg, A in (("y_true", y_true), ("y_pred", y_pred)):
        if A.ndim not in (1, 2):
            raise ValueError(f"{name}: {arg} must be 1-D (m,) or 2-D (m, k); got shape "
                             f"{tuple(A.shape)}")
    if y_true.shape[0] != y_pred.shape[0]:
        raise _shapes_error(name, y_true, y_pred, "they must have the same number of samples")
    m = y_pred.shape[0]
    if m == 0:
        raise ValueError(f"{name}: y_true and y_pred are empty (0 samples)")
    device = array_api_compat.device(y_pred)
    return xp, device, _float_dtype(xp, y_true, y_pred, device), m


# -- classification: labels, one-hot matrices, scores -------------------------------------------

@dataclass
class _Classes:
    """Class labels of one batch, as floats of the result dtype (exact for labels below 2**24).

    t, p : (m,) true and predicted labels in [0, k)
    S    : (m, k) scores, or (m,) the score of class 1 when y_pred was one probability column
    """

    xp: Any
    dtype: Any
    m: int
    k: int
    t: Any
    p: Any
    S: Any

    def one_hot(self, labels):
        """(m,) labels as an (m, k) 0/1 matrix of the result dtype, on the labels' device."""
        xp = self.xp
        classes = xp.arange(self.k, dtype=self.dtype, device=array_api_compat.device(labels))
        return xp.astype(labels[:, None] == classes[None, :], self.dtype)

    def scores(self, c: int):
        """(m,) scores of class ``c`` (higher means more likely)."""
        if self.S.ndim == 1:  # one probability column: P(class 1) = s, P(class 0) = 1 - s
            return self.S if c == 1 else -self.S
        return self.S[:, c]


def _flat(A, *, xp):
    return xp.reshape(A, (-1,)) if A.ndim == 2 else A


_LABELS_CHECKED = contextvars.ContextVar("xpnet_labels_checked", default=False)


@contextlib.contextmanager
def labels_checked():
    """Within the block, metrics trust their label arguments: ``fit`` and ``evaluate`` have
    validated them once at the boundary, and each check reads a flag back from the device."""
    token = _LABELS_CHECKED.set(True)
    try:
        yield
    finally:
        _LABELS_CHECKED.reset(token)


def _check_labels(name: str, arg: str, labels, k: int, *, xp):
    """``ValueError`` naming a value of ``labels`` (floats) that is not an integer in [0, k)."""
    if _LABELS_CHECKED.get():
        return
    bad = (labels < 0) | (labels >= k) | (labels != xp.round(labels))
    if bool(xp.any(bad)):
        first = float(labels[int(xp.argmax(xp.astype(bad, labels.dtype)))])
        raise ValueError(f"{name}: {arg} holds {first:g}, but class labels must be integers in "
                         f"[0, {k}) here ({k} classes)")


def _classes(name: str, y_true, y_pred, threshold: float) -> _Classes:
    """Read ``(y_true, y_pred)`` as class labels (see the module docstring for the conventions)."""
    xp, _, dtype, m = _setup(name, y_true, y_pred)
    if y_pred.ndim == 2 and y_pred.shape[1] >= 2:  # (m, k) class probabilities or scores
        k = y_pred.shape[1]
        p = xp.astype(xp.argmax(y_pred, axis=1), dtype)
        S = xp.astype(y_pred, dtype, copy=False)
    elif y_true.ndim == 2 and y_true.shape[1] >= 2:
        raise _shapes_error(name, y_true, y_pred, "a one-hot y_true (m, k) needs class "
                            "probabilities or scores y_pred of the same shape")
    elif xp.isdtype(y_pred.dtype, "real floating"):  # (m, 1) or (m,) probability of class 1
        k = 2
        S = _flat(y_pred, xp=xp)
        p = xp.astype(S >= threshold, dtype)
    else:  # (m,) or (m, 1) predicted labels
        k = None
        p = xp.astype(_flat(y_pred, xp=xp), dtype)
        S = None

    if y_true.ndim == 2 and y_true.shape[1] >= 2:  # one-hot (or probability) rows
        if tuple(y_true.shape) != tuple(y_pred.shape):
            raise _shapes_error(name, y_true, y_pred, "a one-hot y_true needs y_pred of the same "
                                "shape (m, k)")
        t = xp.astype(xp.argmax(y_true, axis=1), dtype)
    else:
        t = xp.astype(_flat(y_true, xp=xp), dtype)

    if k is None:  # labels on both sides: k = the largest label + 1 (one value copied to the host)
        largest = float(xp.max(xp.concat([t, p])))
        k = max(2, int(largest) + 1) if largest == largest and largest < 2**24 else 2
        _check_labels(name, "y_pred", p, k, xp=xp)
    _check_labels(name, "y_true", t, k, xp=xp)
    classes = _Classes(xp, dtype, m, k, t, p, S)
    if S is None:
        classes.S = p if k == 2 else classes.one_hot(p)
    return classes


def _confusion(c: _Classes):
    """Per-class counts ``(tp, n_true, n_pred)``, each (k,): true positives, true and predicted
    samples of each class."""
    xp = c.xp
    T, P = c.one_hot(c.t), c.one_hot(c.p)
    return xp.sum(T * P, axis=0), xp.sum(T, axis=0), xp.sum(P, axis=0)


def _average(name: str, c: _Classes, score, n_true, n_pred, average):
    """Reduce the per-class ``score`` (k,) to a 0-D array (see the module docstring)."""
    xp = c.xp
    if average is None:
        average = "binary" if c.k == 2 else "macro"
    if average == "binary":
        if c.k != 2:
            raise ValueError(f"{name}: average='binary' needs two classes, got {c.k}; "
                             "use average='macro'")
        return score[1]
    if average != "macro":
        raise ValueError(f"{name}: average must be None, 'binary' or 'macro'; got {average!r}")
    present = xp.astype((n_true + n_pred) > 0, c.dtype)  # classes seen in y_true or y_pred
    return xp.sum(score * present) / xp.sum(present)


def _ratio(num, den, *, xp):
    """num / den, and 0 where den == 0 (then num == 0 too): scikit-learn's zero_division=0."""
    return num / at_least(den, 1.0, xp=xp)


# -- classification metrics ------------------------------------------------------------------------

@on_device_of(1)
def accuracy(y_true, y_pred, *, threshold: float = 0.5):
    """Fraction of samples whose predicted class is the true class.

    Parameters
    ----------
    y_true : array, shape (m,), (m, 1) or (m, k)
        Class labels 0 .. k-1, or one-hot rows.
    y_pred : array, shape (m,), (m, 1) or (m, k)
        Probability of class 1 (one column), class probabilities or scores (k columns), or
        integer predicted labels (see the module docstring).
    threshold : float
        A probability ``p >= threshold`` predicts class 1 (one-column ``y_pred`` only).

    Returns
    -------
    array, shape ()
        In [0, 1], on the inputs' device.
    """
    c = _classes("accuracy", y_true, y_pred, threshold)
    return c.xp.sum(c.xp.astype(c.t == c.p, c.dtype)) / c.m


@on_device_of(1)
def precision(y_true, y_pred, *, threshold: float = 0.5, average=None):
    """Precision ``tp / (tp + fp)``: the fraction of predictions of a class that are right.

    Parameters
    ----------
    y_true, y_pred, threshold
        As in :func:`accuracy`.
    average : {None, "binary", "macro"}
        ``"binary"``: class 1 only; ``"macro"``: unweighted mean over the classes present in
        ``y_true`` or ``y_pred``; ``None`` (default): ``"binary"`` for two classes, else
        ``"macro"``. A class never predicted scores 0.

    Returns
    -------
    array, shape ()
        In [0, 1], on the inputs' device.
    """
    c = _classes("precision", y_true, y_pred, threshold)
    tp, n_true, n_pred = _confusion(c)
    return _average("precision", c, _ratio(tp, n_pred, xp=c.xp), n_true, n_pred, average)


@on_device_of(1)
def recall(y_true, y_pred, *, threshold: float = 0.5, average=None):
    """Recall ``tp / (tp + fn)``: the fraction of the samples of a class that are found.

    Parameters are those of :func:`precision`; a class absent from ``y_true`` scores 0.

    Returns
    -------
    array, shape ()
        In [0, 1], on the inputs' device.
    """
    c = _classes("recall", y_true, y_pred, threshold)
    tp, n_true, n_pred = _confusion(c)
    return _average("recall", c, _ratio(tp, n_true, xp=c.xp), n_true, n_pred, average)


@on_device_of(1)
def f1(y_true, y_pred, *, threshold: float = 0.5, average=None):
    """F1 score ``2 tp / (2 tp + fp + fn)``, the harmonic mean of precision and recall.

    Parameters are those of :func:`precision`; the macro average is the mean of the per-class F1
    scores (as scikit-learn), not the F1 of the mean precision and recall.

    Returns
    -------
    array, shape ()
        In [0, 1], on the inputs' device.
    """
    c = _classes("f1", y_true, y_pred, threshold)
    tp, n_true, n_pred = _confusion(c)
    return _average("f1", c, _ratio(2.0 * tp, n_true + n_pred, xp=c.xp), n_true, n_pred, average)


def _binary_auc(s, t, *, xp, dtype):
    """Area under the ROC curve of scores ``s`` (m,) for 0/1 labels ``t`` (m,), by Mann–Whitney.

    Notes
    -----
    ::

        order  = argsort(s);  s', t' = s[order], t[order]    sorted scores and their labels
        lo, hi = searchsorted(s', s', "left"/"right")        tied scores occupy ranks lo+1 .. hi
        rank   = (lo + hi + 1) / 2                          1-based, ties averaged
        AUC    = (sum(rank[t' == 1]) − n1 (n1 + 1) / 2) / (n1 n0)

    The rank sum is kept doubled, in integers, so it is exact; only the last division is in
    floating point. Searching the sorted copy (rather than ``s``, which may be a strided column)
    keeps both searchsorted arguments contiguous.
    """
    order = xp.argsort(s)
    srt = xp.take(s, order)
    lo = xp.searchsorted(srt, srt, side="left")
    hi = xp.searchsorted(srt, srt, side="right")
    positive = xp.astype(xp.take(t, order), lo.dtype)
    twice_rank_sum = xp.sum((lo + hi + 1) * positive)
    n1 = xp.sum(positive)
    n0 = s.shape[0] - n1
    twice_u = twice_rank_sum - n1 * (n1 + 1)
    return xp.astype(twice_u, dtype) / (2.0 * xp.astype(n1 * n0, dtype))


@on_device_of(1)
def roc_auc(y_true, y_pred):
    """Area under the ROC curve: the probability that a random positive scores above a random
    negative (ties count one half).

    Parameters
    ----------
    y_true : array, shape (m,), (m, 1) or (m, k)
        Class labels 0 .. k-1, or one-hot rows.
    y_pred : array, shape (m,), (m, 1) or (m, k)
        Scores: probability of class 1 (one column) or per-class probabilities or scores (k
        columns; with k = 2, column 1 scores the positive class). Integer labels are accepted as
        (coarse) scores.

    Returns
    -------
    array, shape ()
        In [0, 1], on the inputs' device: with two classes, the AUC of class 1; with more, the
        unweighted mean of the one-vs-rest AUCs (scikit-learn's ``multi_class="ovr"``,
        ``average="macro"``).

    Raises
    ------
    ValueError
        When a class scored has no positive or no negative sample in ``y_true``: its AUC is not
        defined (as in scikit-learn).
    """
    c = _classes("roc_auc", y_true, y_pred, 0.5)
    xp = c.xp
    T = c.one_hot(c.t)
    n_pos = xp.sum(T, axis=0)
    undefined = (n_pos == 0) | (n_pos == c.m)
    if bool(xp.any(undefined)):
        present = [i for i in range(c.k) if float(n_pos[i]) > 0]
        raise ValueError(f"roc_auc: y_true holds only class(es) {present} of {c.k}; ROC AUC is not "
                         "defined unless every class has both positive and negative samples")
    if c.k == 2:
        return _binary_auc(c.scores(1), T[:, 1], xp=xp, dtype=c.dtype)
    total = _binary_auc(c.scores(0), T[:, 0], xp=xp, dtype=c.dtype)
    for i in range(1, c.k):
        total = total + _binary_auc(c.scores(i), T[:, i], xp=xp, dtype=c.dtype)
    return total / c.k


# -- regression metrics ----------------------------------------------------------------------------

def _outputs(name: str, y_true, y_pred):
    """Both arrays as (m, k) of the result dtype; (m,) and (m, 1) are interchangeable."""
    xp, _, dtype, m = _setup(name, y_true, y_pred)
    st, sp = tuple(y_true.shape), tuple(y_pred.shape)
    if st != sp and {st, sp} != {(m,), (m, 1)}:
        raise _shapes_error(name, y_true, y_pred, "they must have the same shape")
    Yt = xp.reshape(xp.astype(y_true, dtype, copy=False), (m, -1))
    Yp = xp.reshape(xp.astype(y_pred, dtype, copy=False), (m, -1))
    return xp, Yt, Yp


@on_device_of(1)
def mean_squared_error(y_true, y_pred):
    """Mean of ``(y_pred − y_true)²`` over every element (``"mse"``).

    Parameters
    ----------
    y_true, y_pred : array, shape (m,) or (m, k)
        Targets and predictions.

    Returns
    -------
    array, shape ()
    """
    xp, Yt, Yp = _outputs("mean_squared_error", y_true, y_pred)
    E = Yp - Yt
    return xp.mean(E * E)


@on_device_of(1)
def mean_absolute_error(y_true, y_pred):
    """Mean of ``|y_pred − y_true|`` over every element (``"mae"``).

    Parameters
    ----------
    y_true, y_pred : array, shape (m,) or (m, k)
        Targets and predictions.

    Returns
    -------
    array, shape ()
    """
    xp, Yt, Yp = _outputs("mean_absolute_error", y_true, y_pred)
    return xp.mean(xp.abs(Yp - Yt))


@on_device_of(1)
def r2(y_true, y_pred):
    """Coefficient of determination ``1 − SS_res / SS_tot``, averaged uniformly over outputs.

    Parameters
    ----------
    y_true, y_pred : array, shape (m,) or (m, k), m >= 2
        Targets and predictions.

    Returns
    -------
    array, shape ()
        1 for a perfect fit, 0 for predicting the mean, negative for worse. An output whose target
        is constant (SS_tot = 0) scores 1 when predicted exactly, else 0 (scikit-learn's
        ``force_finite=True``).

    Notes
    -----
    ::

        SS_res = sum((Y − P)², axis=0)             Y, P (m, k);  SS_res, SS_tot (k,)
        SS_tot = sum((Y − mean(Y, axis=0))², axis=0)
        r2     = mean(1 − SS_res / SS_tot)
    """
    xp, Yt, Yp = _outputs("r2", y_true, y_pred)
    if Yt.shape[0] < 2:
        raise ValueError("r2: needs at least 2 samples; got 1")
    E = Yp - Yt
    D = Yt - xp.mean(Yt, axis=0, keepdims=True)
    ss_res, ss_tot = xp.sum(E * E, axis=0), xp.sum(D * D, axis=0)
    ones, zeros = xp.ones_like(ss_tot), xp.zeros_like(ss_tot)
    defined = ss_tot > 0
    score = xp.where(defined, 1.0 - ss_res / xp.where(defined, ss_tot, ones),
                     xp.where(ss_res == 0, ones, zeros))
    return xp.mean(score)


# -- registry --------------------------------------------------------------------------------------

METRICS = {
    "accuracy": accuracy,
    "precision": precision,
    "recall": recall,
    "f1": f1,
    "roc_auc": roc_auc,
    "mse": mean_squared_error,
    "mae": mean_absolute_error,
    "r2": r2,
}


CLASSIFICATION = frozenset({accuracy, precision, recall, f1, roc_auc})  # they score class labels
REGRESSION = frozenset({mean_squared_error, mean_absolute_error, r2})  # targets shaped as outputs


def get(metric):
    """The metric function called ``metric`` (one of :data:`METRICS`), or ``metric`` itself when it
    is callable (``f(y_true, y_pred) -> 0-D array``)."""
    if callable(metric):
        return metric
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"metric must be a callable or one of {list(METRICS)}; got {metric!r}")
    return METRICS[metric]
