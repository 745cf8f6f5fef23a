"""Small datasets to try networks on: seeded 2-D toy problems, and a CSV reader.

Every generator returns ``(X, y)`` as NumPy arrays on the host, ``X`` float64 of shape ``(n, 2)``
and ``y`` int64 of shape ``(n,)``; pass them to ``model.fit``, which moves them to the model's
backend. The same ``seed`` gives the same arrays on every machine (one
:func:`numpy.random.default_rng` stream per call). Classes are balanced: with ``c`` classes, each
has ``n // c`` or ``n // c + 1`` samples. Rows are shuffled (except ``xor(4)``).

>>> from xpnet import datasets
>>> X, y = datasets.two_moons(200, noise=0.1, seed=0)
>>> X.shape, X.dtype, y.shape, y.dtype
((200, 2), dtype('float64'), (200,), dtype('int64'))
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np

__all__ = ["circles", "load_csv", "spirals", "two_moons", "xor"]


# -- argument checks -------------------------------------------------------------------------------

def _check_count(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _check_noise(value, name: str = "noise") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def _class_sizes(n: int, n_classes: int) -> list[int]:
    """Balanced class sizes: the first ``n % n_classes`` classes get one sample more."""
    return [n // n_classes + (c < n % n_classes) for c in range(n_classes)]


def _finish(rng: np.random.Generator, X: np.ndarray, y: np.ndarray, noise: float, shuffle=True):
    """Shuffle the rows, add Gaussian noise of standard deviation ``noise``, fix the dtypes."""
    if shuffle:
        order = rng.permutation(len(y))
        X, y = X[order], y[order]
    if noise > 0:
        X = X + rng.normal(0.0, noise, size=X.shape)
    return np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(y, dtype=np.int64)


# -- generators ------------------------------------------------------------------------------------

def two_moons(n: int = 1000, noise: float = 0.1, seed=None):
    """Two interleaving half circles (the geometry of ``sklearn.datasets.make_moons``).

    Parameters
    ----------
    n : int
        Number of samples, >= 1; class 0 (upper moon) gets ``n // 2``, class 1 (lower moon) the
        other ``n - n // 2`` (as scikit-learn).
    noise : float
        Standard deviation of the Gaussian noise added to every coordinate, >= 0.
    seed : int, numpy.random.Generator or None
        Seed of the random stream (shuffle and noise); ``None`` draws fresh entropy.

    Returns
    -------
    X : numpy.ndarray, float64, shape (n, 2)
    y : numpy.ndarray, int64, shape (n,)
        0 for the upper moon ``(cos t, sin t)``, 1 for the lower moon
        ``(1 − cos t, 0.5 − sin t)``, ``t`` evenly spaced in [0, π].
    """
    n = _check_count(n, "n")
    noise = _check_noise(noise)
    rng = np.random.default_rng(seed)
    n_upper = n // 2
    n_lower = n - n_upper
    t_upper = np.linspace(0.0, np.pi, n_upper)
    t_lower = np.linspace(0.0, np.pi, n_lower)
    X = np.concatenate([
        np.stack([np.cos(t_upper), np.sin(t_upper)], axis=1),
        np.stack([1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)], axis=1),
    ])
    y = np.repeat([0, 1], [n_upper, n_lower])
    return _finish(rng, X, y, noise)


def circles(n: int = 1000, noise: float = 0.05, factor: float = 0.5, seed=None):
    """A circle inside another (the geometry of ``sklearn.datasets.make_circles``).

    Parameters
    ----------
    n : int
        Number of samples, >= 1; class 0 (outer circle) gets ``n // 2``, class 1 (inner circle)
        the other ``n - n // 2`` (as scikit-learn).
    noise : float
        Standard deviation of the Gaussian noise added to every coordinate, >= 0.
    factor : float
        Radius of the inner circle relative to the outer one (radius 1), in [0, 1).
    seed : int, numpy.random.Generator or None
        Seed of the random stream (shuffle and noise); ``None`` draws fresh entropy.

    Returns
    -------
    X : numpy.ndarray, float64, shape (n, 2)
        Points evenly spaced in angle on each circle, centred at the origin.
    y : numpy.ndarray, int64, shape (n,)
        0 for the outer circle, 1 for the inner one.
    """
    n = _check_count(n, "n")
    noise = _check_noise(noise)
    if isinstance(factor, bool) or not isinstance(factor, (int, float, np.integer, np.floating)):
        raise TypeError(f"factor must be a number, got {type(factor).__name__}")
    if not 0 <= factor < 1:
        raise ValueError(f"factor must be in [0, 1), got {factor}")
    rng = np.random.default_rng(seed)
    n_outer = n // 2
    n_inner = n - n_outer
    t_outer = np.linspace(0.0, 2 * np.pi, n_outer, endpoint=False)
    t_inner = np.linspace(0.0, 2 * np.pi, n_inner, endpoint=False)
    X = np.concatenate([
        np.stack([np.cos(t_outer), np.sin(t_outer)], axis=1),
        float(factor) * np.stack([np.cos(t_inner), np.sin(t_inner)], axis=1),
    ])
    y = np.repeat([0, 1], [n_outer, n_inner])
    return _finish(rng, X, y, noise)


_XOR_CORNERS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
_XOR_LABELS = np.array([0, 1, 1, 0])


def xor(n: int = 4, noise: float = 0.0, seed=None):
    """The XOR problem on the corners of the unit square ``[0, 1]²``.

    Parameters
    ----------
    n : int
        Number of samples, >= 1. ``n = 4`` (the default) gives the four points ``(0, 0)``,
        ``(0, 1)``, ``(1, 0)``, ``(1, 1)`` in that order, labelled 0, 1, 1, 0. A larger ``n``
        cycles through the corners (each gets ``n // 4`` or ``n // 4 + 1`` points; the classes
        differ by at most 2) and shuffles the rows.
    noise : float
        Standard deviation of the Gaussian noise added to every coordinate, >= 0 (0: the points
        are exactly the corners).
    seed : int, numpy.random.Generator or None
        Seed of the random stream (shuffle and noise); ``None`` draws fresh entropy.

    Returns
    -------
    X : numpy.ndarray, float64, shape (n, 2)
        Points at (or, with noise, around) the corners ``(a, b)``, ``a, b ∈ {0, 1}``.
    y : numpy.ndarray, int64, shape (n,)
        ``a XOR b`` of each point's corner.
    """
    n = _check_count(n, "n")
    noise = _check_noise(noise)
    rng = np.random.default_rng(seed)
    corner = np.arange(n) % 4
    return _finish(rng, _XOR_CORNERS[corner], _XOR_LABELS[corner], noise, shuffle=n > 4)


def spirals(n: int = 1000, n_classes: int = 2, noise: float = 0.1, seed=None):
    """Interleaved spiral arms, one per class.

    Parameters
    ----------
    n : int
        Number of samples, >= ``n_classes``; each class gets ``n // n_classes`` or one more.
    n_classes : int
        Number of arms (classes), >= 2.
    noise : float
        Standard deviation of the Gaussian noise added to every coordinate, >= 0 (the arms reach
        radius 1, and neighbouring arms are ``1 / n_classes`` apart).
    seed : int, numpy.random.Generator or None
        Seed of the random stream (shuffle and noise); ``None`` draws fresh entropy.

    Returns
    -------
    X : numpy.ndarray, float64, shape (n, 2)
        Arm ``c`` is ``r (cos θ, sin θ)`` with ``r`` evenly spaced in [0.05, 1] and
        ``θ = 2π c / n_classes + 2π r`` (one turn, arms rotated evenly about the origin).
    y : numpy.ndarray, int64, shape (n,)
        The arm of each point, ``0 .. n_classes - 1``.
    """
    n_classes = _check_count(n_classes, "n_classes", 2)
    n = _check_count(n, "n", n_classes)
    noise = _check_noise(noise)
    rng = np.random.default_rng(seed)
    sizes = _class_sizes(n, n_classes)
    parts = []
    for c, size in enumerate(sizes):
        r = np.linspace(0.05, 1.0, size)
        theta = 2 * np.pi * c / n_classes + 2 * np.pi * r
        parts.append(r[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1))
    y = np.repeat(np.arange(n_classes), sizes)
    return _finish(rng, np.concatenate(parts), y, noise)


# -- CSV -------------------------------------------------------------------------------------------

def _parse_number(text: str, where: str) -> int | float:
    """A CSV field as an int (when written as one) or a finite float; else ``ValueError``."""
    text = text.strip()
    if not text:
        raise ValueError(f"{where}: missing value")
    try:
        value = int(text)
    except ValueError:
        pass
    else:
        if -(2**63) <= value < 2**63:  # else: read as a float (and refused if not finite)
            return value
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {text!r} is not a finite number")
    return value


def load_csv(path, target=-1, *, delimiter: str = ","):
    """Read a table with a header row: one column is the target, the others numeric features.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file (UTF-8; a byte-order mark is ignored). Its first row names the columns; blank
        lines are skipped.
    target : str, int or None
        The target column: its name, or its index (negative counts from the end; the default,
        -1, is the last column). ``None``: no target, every column is a feature and y is None.
    delimiter : str
        The field separator (one character).

    Returns
    -------
    X : numpy.ndarray, float64, shape (m, n_features)
        Every column but the target, in file order.
    y : numpy.ndarray, shape (m,)
        The target column: int64 when every value is an integer (``3`` or ``3.0``), float64 when
        every value is a number, else the labels as strings (``"setosa"``, ...: a column in which
        no value is a number).
    feature_names : list of str
        The names of X's columns.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        No header, no data rows, no feature column, duplicate column names, an unknown target
        (the message lists the columns), a row with the wrong number of fields, or a value that
        is missing or not a finite number: the message names the file, the line (1-based, as an
        editor counts) and the column, e.g. ``data.csv, line 17, column 'x2': 'abc' is not a
        number``.
    """
    name = os.fspath(path)
    with open(name, newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file, delimiter=delimiter)
        header = next(reader, None)
        if header is None or not any(field.strip() for field in header):
            raise ValueError(f"{name}: no header row (the file is empty); the first row must "
                             "name the columns")
        columns = [field.strip() for field in header]
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise ValueError(f"{name}: duplicate column names {duplicates} in the header")
        j = None if target is None else _target_index(name, columns, target)
        features = [i for i in range(len(columns)) if i != j]
        if not features:
            raise ValueError(f"{name}: no feature columns; the only column is the target "
                             f"{columns[j]!r}")

        rows, targets = [], []
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line
            line = reader.line_num
            if len(fields) != len(columns):
                raise ValueError(f"{name}, line {line}: {len(fields)} fields, but the header has "
                                 f"{len(columns)} columns {columns}")
            rows.append([_parse_number(fields[i], f"{name}, line {line}, column {columns[i]!r}")
                         for i in features])
            if j is not None:
                targets.append((fields[j].strip(), line))
    if not rows:
        raise ValueError(f"{name}: no data rows after the header")
    if j is not None:
        targets = _target_values(targets, f"{name}, column {columns[j]!r}")
        if isinstance(targets[0], str):
            return np.asarray(rows, dtype=np.float64), np.asarray(targets), \
                [columns[i] for i in features]

    X = np.asarray(rows, dtype=np.float64)
    if j is None:
        return X, None, [columns[i] for i in features]
    integral = all(-(2**63) <= v < 2**63 and float(v).is_integer() for v in targets)
    y = np.asarray(targets, dtype=np.int64 if integral else np.float64)
    return X, y, [columns[i] for i in features]


def _target_values(fields: list, where: str) -> list:
    """The target's values: numbers, or text labels when no value is a number."""
    numbers = []
    for text, _ in fields:
        try:
            numbers.append(_parse_number(text, where))
        except ValueError:
            numbers.append(None)
    if all(v is None for v in numbers) and all(text for text, _ in fields):
        return [text for text, _ in fields]  # class labels
    for (text, line), value in zip(fields, numbers, strict=True):
        if value is None:  # a number column with a bad field: say where
            _parse_number(text, f"{where.split(', column')[0]}, line {line}, column"
                                f"{where.split(', column')[1]}")
    return numbers


def _target_index(name: str, columns: list[str], target) -> int:
    if isinstance(target, str):
        if target not in columns:
            raise ValueError(f"{name}: target {target!r} is not a column; columns are {columns}")
        return columns.index(target)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if not -len(columns) <= target < len(columns):
            raise ValueError(f"{name}: target index {target} is out of range for "
                             f"{len(columns)} columns {columns}")
        return int(target) % len(columns)
    raise TypeError(f"target must be a column name (str) or index (int), got {target!r}")
