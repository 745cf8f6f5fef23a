"""xpnet.metrics on every backend: hand-computed cases, a brute-force AUC oracle, scikit-learn."""

import array_api_compat
import numpy as np
import pytest

from xpnet import metrics

CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "roc_auc")
REGRESSION = ("mse", "mae", "r2")


def value(backend, metric, y_true, y_pred, **kwargs):
    """``metric`` on backend copies of two NumPy inputs, checked to be a 0-D array of the backend
    on its device; returned as a float."""
    fn = metrics.get(metric)
    result = fn(backend.asarray(np.asarray(y_true)), backend.asarray(np.asarray(y_pred)), **kwargs)
    assert array_api_compat.array_namespace(result) is backend.xp
    assert tuple(result.shape) == ()
    assert array_api_compat.device(result) == backend.device
    return float(result)


def onehot(labels, k):
    return np.eye(k)[np.asarray(labels)]


# -- classification: hand-computed ----------------------------------------------------------------

def test_binary_accuracy_and_threshold(backend):
    y = np.array([0, 1, 1, 0])
    p = np.array([[0.2], [0.7], [0.4], [0.6]])  # predicted 0, 1, 0, 1
    assert value(backend, "accuracy", y, p) == pytest.approx(0.5)
    assert value(backend, "accuracy", y, p, threshold=0.35) == pytest.approx(0.75)  # 0, 1, 1, 1
    assert value(backend, "accuracy", y, p, threshold=0.7) == pytest.approx(0.75)  # 0.7 >= 0.7


@pytest.mark.parametrize("layout", ["int (m,), (m, 1)", "float (m, 1), (m, 1)", "int (m,), (m,)"])
def test_binary_precision_recall_f1(backend, layout):
    y = np.array([1, 1, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.1, 0.6, 0.2])  # predicted 1, 1, 0, 0, 1, 0: tp 2, fp 1, fn 2
    if layout.startswith("float"):
        y = y.astype(np.float64)[:, None]
    if layout.endswith("(m, 1)"):
        p = p[:, None]
    assert value(backend, "precision", y, p) == pytest.approx(2 / 3)
    assert value(backend, "recall", y, p) == pytest.approx(1 / 2)
    assert value(backend, "f1", y, p) == pytest.approx(4 / 7)  # 2·2 / (2·2 + 1 + 2)
    assert value(backend, "accuracy", y, p) == pytest.approx(3 / 6)


def test_binary_nothing_predicted_positive_scores_zero(backend):
    y, p = np.array([1, 0, 1]), np.array([0.1, 0.2, 0.3])
    assert value(backend, "precision", y, p) == 0.0
    assert value(backend, "recall", y, p) == 0.0
    assert value(backend, "f1", y, p) == 0.0


def _multiclass_case():
    y = np.array([0, 1, 2, 2, 1, 0])
    predicted = np.array([0, 2, 2, 2, 1, 1])
    scores = 0.1 + 0.7 * onehot(predicted, 3)  # rows: 0.8 on the predicted class
    return y, scores


@pytest.mark.parametrize("one_hot_target", [False, True])
def test_multiclass_macro_averages(backend, one_hot_target):
    y, scores = _multiclass_case()
    if one_hot_target:
        y = onehot(y, 3)
    # per class  tp  n_true  n_pred  precision  recall  f1
    #   0         1    2       1        1        1/2    2/3
    #   1         1    2       2       1/2       1/2    1/2
    #   2         2    2       3       2/3        1     4/5
    assert value(backend, "accuracy", y, scores) == pytest.approx(4 / 6)
    assert value(backend, "precision", y, scores) == pytest.approx((1 + 1 / 2 + 2 / 3) / 3)
    assert value(backend, "recall", y, scores) == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)
    assert value(backend, "f1", y, scores) == pytest.approx((2 / 3 + 1 / 2 + 4 / 5) / 3)


def test_macro_class_never_predicted_scores_zero(backend):
    y = np.array([0, 1, 2])
    scores = onehot([0, 1, 1], 3)  # class 2 is never predicted
    assert value(backend, "precision", y, scores) == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert value(backend, "recall", y, scores) == pytest.approx((1 + 1 + 0) / 3)
    assert value(backend, "f1", y, scores) == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_macro_skips_a_class_absent_from_both(backend):
    y = np.array([0, 1, 0, 1])
    scores = onehot([0, 1, 1, 1], 3)  # class 2 is neither true nor predicted: not averaged
    assert value(backend, "precision", y, scores) == pytest.approx((1 + 2 / 3) / 2)
    assert value(backend, "recall", y, scores) == pytest.approx((1 / 2 + 1) / 2)


def test_average_keyword(backend):
    y = np.array([1, 1, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.1, 0.6, 0.2])  # class 0: tp 1, n_pred 3; class 1: tp 2, n_pred 3
    assert value(backend, "precision", y, p, average="binary") == pytest.approx(2 / 3)
    assert value(backend, "precision", y, p, average="macro") == pytest.approx((1 / 3 + 2 / 3) / 2)
    y3, scores = _multiclass_case()
    with pytest.raises(ValueError, match="average='binary' needs two classes"):
        value(backend, "precision", y3, scores, average="binary")
    with pytest.raises(ValueError, match="average must be"):
        value(backend, "recall", y, p, average="micro")


def test_two_column_scores_are_binary(backend):
    y = np.array([1, 1, 1, 1, 0, 0])
    p1 = np.array([0.9, 0.8, 0.3, 0.1, 0.6, 0.2])
    P = np.stack([1 - p1, p1], axis=1)
    assert value(backend, "precision", y, P) == pytest.approx(2 / 3)
    assert value(backend, "roc_auc", y, P) == pytest.approx(value(backend, "roc_auc", y, p1))


def test_integer_predictions_are_labels(backend):
    y, scores = _multiclass_case()
    labels = np.argmax(scores, axis=1)
    for name in ("accuracy", "precision", "recall", "f1"):
        assert value(backend, name, y, labels) == pytest.approx(value(backend, name, y, scores))
    yb, pb = np.array([1, 1, 0, 0]), np.array([1, 0, 0, 1])
    assert value(backend, "precision", yb, pb) == pytest.approx(1 / 2)  # binary: class 1 only


def test_roc_auc_hand_cases(backend):
    y = np.array([0, 0, 1, 1])
    assert value(backend, "roc_auc", y, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert value(backend, "roc_auc", y, np.array([[0.1], [0.2], [0.3], [0.4]])) == 1.0
    assert value(backend, "roc_auc", y, np.array([0.4, 0.3, 0.2, 0.1])) == 0.0
    assert value(backend, "roc_auc", y, np.full(4, 0.5)) == pytest.approx(0.5)
    # ties count one half: pairs (pos, neg) = (.5, .5) ½, (.5, .2) 1, (.9, .5) 1, (.9, .2) 1
    tied = value(backend, "roc_auc", np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.2, 0.9]))
    assert tied == pytest.approx(3.5 / 4)


def _auc_by_pairs(t, s):
    """Brute-force AUC: the fraction of (positive, negative) pairs ranked right, ties ½."""
    d = s[t == 1][:, None] - s[t == 0][None, :]
    return float(np.mean((d > 0) + 0.5 * (d == 0)))


@pytest.mark.parametrize("seed", range(3))
def test_roc_auc_matches_pairwise_oracle(backend, seed):
    rng = np.random.default_rng(seed)
    m, k = 40, 4
    y = np.concatenate([np.arange(k), rng.integers(0, k, m - k)])  # every class present
    S = rng.integers(0, 6, (m, k)) / 5.0  # coarse scores: many ties
    expected = np.mean([_auc_by_pairs(y == c, S[:, c]) for c in range(k)])
    assert value(backend, "roc_auc", y, S) == pytest.approx(expected, rel=1e-12)
    assert value(backend, "roc_auc", onehot(y, k), S) == pytest.approx(expected, rel=1e-12)
    yb = (y % 2)[:, None].astype(np.float64)
    assert value(backend, "roc_auc", yb, S[:, :1]) == pytest.approx(
        _auc_by_pairs(yb[:, 0], S[:, 0]), rel=1e-12)


def test_roc_auc_needs_both_classes(backend):
    with pytest.raises(ValueError, match="only class"):
        value(backend, "roc_auc", np.ones(4, dtype=np.int64), np.array([0.1, 0.2, 0.3, 0.4]))
    y = np.array([0, 1, 0, 1])  # class 2 of 3 has no sample
    with pytest.raises(ValueError, match=r"class\(es\) \[0, 1\] of 3"):
        value(backend, "roc_auc", y, np.full((4, 3), 1 / 3))


# -- regression: hand-computed --------------------------------------------------------------------

def test_regression_single_output(backend):
    y = np.array([3.0, -0.5, 2.0, 7.0])
    p = np.array([2.5, 0.0, 2.0, 8.0])
    assert value(backend, "mse", y, p) == pytest.approx(0.375)  # (.25 + .25 + 0 + 1) / 4
    assert value(backend, "mae", y, p) == pytest.approx(0.5)
    # SS_res = 1.5; mean(y) = 2.875, SS_tot = 29.1875
    assert value(backend, "r2", y, p) == pytest.approx(1 - 1.5 / 29.1875)
    for name in REGRESSION:  # (m,) and (m, 1) are interchangeable
        assert value(backend, name, y[:, None], p) == pytest.approx(value(backend, name, y, p))
        assert value(backend, name, y, p[:, None]) == pytest.approx(value(backend, name, y, p))


def test_regression_multi_output_is_uniform_average(backend):
    Y = np.array([[0.5, 1.0], [-1.0, 1.0], [7.0, -6.0]])
    P = np.array([[0.0, 2.0], [-1.0, 2.0], [8.0, -5.0]])
    assert value(backend, "mse", Y, P) == pytest.approx((0.25 + 0 + 1 + 1 + 1 + 1) / 6)
    assert value(backend, "mae", Y, P) == pytest.approx((0.5 + 0 + 1 + 1 + 1 + 1) / 6)
    ss_res = ((Y - P) ** 2).sum(axis=0)
    ss_tot = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
    assert value(backend, "r2", Y, P) == pytest.approx(np.mean(1 - ss_res / ss_tot))


def test_r2_constant_target(backend):
    y = np.array([[2.0, 1.0], [2.0, 2.0], [2.0, 3.0]])
    exact = np.array([[2.0, 1.0], [2.0, 2.0], [2.0, 3.0]])
    off = np.array([[2.5, 1.0], [2.0, 2.0], [2.0, 3.0]])
    assert value(backend, "r2", y, exact) == 1.0  # constant column predicted exactly: 1
    assert value(backend, "r2", y, off) == pytest.approx(0.5)  # constant column missed: 0


def test_regression_integer_inputs_give_float(backend):
    y, p = np.array([1, 2, 3]), np.array([1, 2, 5])
    result = metrics.mean_squared_error(backend.asarray(y), backend.asarray(p))
    assert backend.xp.isdtype(result.dtype, "real floating")
    assert float(result) == pytest.approx(4 / 3)


# -- dtypes, devices, errors ----------------------------------------------------------------------

@pytest.mark.parametrize("name", CLASSIFICATION + REGRESSION)
def test_result_keeps_the_float32_dtype_of_y_pred(backend, name):
    rng = np.random.default_rng(0)
    if name in REGRESSION:
        y, p = rng.normal(size=(10, 2)), rng.normal(size=(10, 2)).astype(np.float32)
    else:
        y, p = np.arange(10) % 3, rng.random((10, 3)).astype(np.float32)
    result = metrics.get(name)(backend.asarray(y), backend.asarray(p))
    assert result.dtype == backend.xp.float32
    assert array_api_compat.device(result) == backend.device


@pytest.mark.parametrize("name", CLASSIFICATION + REGRESSION)
def test_shape_mismatch_names_both_shapes(backend, name):
    fn = metrics.get(name)
    with pytest.raises(ValueError, match=r"\(5,\).*\(4, 3\)"):
        fn(backend.asarray(np.zeros(5)), backend.asarray(np.zeros((4, 3))))
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(4, 3\)"):
        fn(backend.asarray(np.zeros((4, 2))), backend.asarray(np.zeros((4, 3))))
    with pytest.raises(ValueError, match="empty"):
        fn(backend.asarray(np.zeros(0)), backend.asarray(np.zeros(0)))
    with pytest.raises(ValueError, match=r"y_pred must be 1-D .* \(2, 2, 2\)"):
        fn(backend.asarray(np.zeros(2)), backend.asarray(np.zeros((2, 2, 2))))


def test_one_hot_target_with_one_column_prediction_is_refused(backend):
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 1\)"):
        metrics.accuracy(backend.asarray(onehot([0, 1, 2, 0], 3)),
                         backend.asarray(np.zeros((4, 1))))


@pytest.mark.parametrize("bad", [2, -1, 0.5])
def test_bad_labels_are_named(backend, bad):
    y = np.array([0, 1, bad, 1], dtype=np.float64)
    with pytest.raises(ValueError, match=f"y_true holds {bad:g}"):
        metrics.accuracy(backend.asarray(y), backend.asarray(np.full((4, 1), 0.5)))
    y3 = np.array([0, 1, 2, 3 if bad == 2 else bad])  # 3 classes: 3 is out of range
    with pytest.raises(ValueError, match="class labels must be integers in \\[0, 3\\)"):
        metrics.f1(backend.asarray(y3), backend.asarray(np.full((4, 3), 1 / 3)))


def test_r2_needs_two_samples(backend):
    with pytest.raises(ValueError, match="at least 2 samples"):
        metrics.r2(backend.asarray(np.ones(1)), backend.asarray(np.ones(1)))


def test_get():
    assert metrics.get("mse") is metrics.mean_squared_error
    assert metrics.get("mae") is metrics.mean_absolute_error
    for name in CLASSIFICATION + REGRESSION:
        assert callable(metrics.get(name))

    def custom(y_true, y_pred):
        return y_pred

    assert metrics.get(custom) is custom
    with pytest.raises(ValueError, match="accuracy.*roc_auc.*r2"):
        metrics.get("auc")
    with pytest.raises(ValueError, match="one of"):
        metrics.get(None)


# -- scikit-learn as an independent oracle --------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_classification_matches_sklearn(backend, seed):
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    m = 60
    y = rng.integers(0, 4, m)
    Z = rng.normal(size=(m, 4))
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    pred = P.argmax(axis=1)
    assert value(backend, "accuracy", y, P) == pytest.approx(skm.accuracy_score(y, pred))
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("f1", skm.f1_score)):
        expected = fn(y, pred, average="macro", zero_division=0)
        assert value(backend, name, y, P) == pytest.approx(expected), name
    assert value(backend, "roc_auc", y, P) == pytest.approx(
        skm.roc_auc_score(y, P, multi_class="ovr", average="macro"))

    yb = rng.integers(0, 2, m)
    p = np.round(rng.random(m), 1)[:, None]  # ties
    predb = (p[:, 0] >= 0.5).astype(int)
    assert value(backend, "accuracy", yb, p) == pytest.approx(skm.accuracy_score(yb, predb))
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("f1", skm.f1_score)):
        expected = fn(yb, predb, zero_division=0)
        assert value(backend, name, yb[:, None].astype(float), p) == pytest.approx(expected), name
    assert value(backend, "roc_auc", yb, p) == pytest.approx(skm.roc_auc_score(yb, p[:, 0]))


@pytest.mark.parametrize("shape", [(30,), (30, 3)])
def test_regression_matches_sklearn(backend, shape):
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    Y = rng.normal(size=shape)
    P = Y + rng.normal(scale=0.5, size=shape)
    assert value(backend, "mse", Y, P) == pytest.approx(skm.mean_squared_error(Y, P))
    assert value(backend, "mae", Y, P) == pytest.approx(skm.mean_absolute_error(Y, P))
    assert value(backend, "r2", Y, P) == pytest.approx(skm.r2_score(Y, P))


def test_no_hard_coded_float64():
    """On array_api_strict's "no_float64" device (float64 refused, as on Apple GPUs), every metric
    works in float32, even from integer inputs."""
    from xpnet import backend as B

    if "array_api_strict" not in B.available():
        pytest.skip("array_api_strict is not installed")
    strict = B.get("array_api_strict", "no_float64")
    rng = np.random.default_rng(0)
    y = np.arange(12) % 3
    P = rng.random((12, 3)).astype(np.float32)
    cases = {name: (y, P) for name in CLASSIFICATION}
    cases.update({name: (P, P[::-1].copy()) for name in REGRESSION})
    cases["labels"] = (y, y[::-1].copy())
    for name, (y_true, y_pred) in cases.items():
        fn = metrics.get(name if name != "labels" else "f1")
        result = fn(strict.asarray(y_true), strict.asarray(y_pred))
        assert result.dtype == strict.xp.float32, name
        assert array_api_compat.device(result) == strict.device, name
