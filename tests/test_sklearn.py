"""xpnet.sklearn: scikit-learn's own estimator checks, step-for-step equivalence with scikit-learn's
MLPs in float64, accuracy parity on four datasets in float32, pickling without device arrays."""

import functools
import importlib.util
import io
import pickle
import sys
from pathlib import Path

import array_api_compat
import numpy as np
import pytest

pytest.importorskip("sklearn", minversion="1.6")  # validate_data, __sklearn_tags__

from sklearn import datasets, neural_network  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils import estimator_checks  # noqa: E402
from sklearn.utils._testing import assert_allclose_dense_sparse  # noqa: E402

from xpnet.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# Short fits on purpose: scikit-learn (and xpnet) report them with ConvergenceWarnings.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """The networks here are tiny: torch's intra-op threads only add synchronisation, and on a
    busy machine its OpenMP workers spin waiting for cores (10x slower measured on 2 cores)."""
    torch = sys.modules.get("torch")  # imported by the backend fixture when it is torch
    before = torch.get_num_threads() if torch else None
    if torch:
        torch.set_num_threads(1)
    yield
    if torch:
        torch.set_num_threads(before)


# scikit-learn checks its own MLPs with max_iter=100; 50 epochs pass every check and halve the time.
CHECKED = [MLPClassifier(max_iter=50), MLPRegressor(max_iter=50)]


@estimator_checks.parametrize_with_checks(CHECKED)
def test_sklearn_estimator_checks(estimator, check, backend):
    """scikit-learn's estimator suite, no check excused, with the default dtype=None: networks in
    X's dtype, as scikit-learn's MLPs compute (float64 for the checks' data, float32 for their
    float32 data), which the checks' tolerances assume."""
    check(estimator.set_params(backend=backend))


def _float32_checks():
    for estimator in (MLPClassifier(max_iter=50, dtype="float32"),
                      MLPRegressor(max_iter=50, dtype="float32")):
        for instance, check in estimator_checks.estimator_checks_generator(estimator):
            yield pytest.param(instance, check, id=f"{type(instance).__name__}-{check.func.__name__}")


@pytest.mark.parametrize("estimator, check", list(_float32_checks()))
def test_sklearn_estimator_checks_float32(estimator, check, backend, monkeypatch):
    """The same suite with float32 networks whatever the data. The sample-weight equivalence checks
    compare weighted with repeated samples at rtol=1e-7, below float32 rounding after 50 epochs
    of different summation orders: they run at rtol=1e-5 (~100 float32 ulps) instead. The
    sample-order check's rtol=1e-7 is less than one float32 ulp (1.2e-7 relative below 1): XLA's
    CPU matmul (jax) rounds a row by one ulp differently at another position, so it runs at 4 ulps.
    """
    name = check.func.__name__
    if name.startswith("check_sample_weight_equivalence"):
        monkeypatch.setattr(estimator_checks, "assert_allclose_dense_sparse",
                            functools.partial(assert_allclose_dense_sparse, rtol=1e-5))
    if name == "check_methods_sample_order_invariance":
        monkeypatch.setattr(estimator_checks, "assert_allclose_dense_sparse",
                            functools.partial(assert_allclose_dense_sparse,
                                              rtol=4 * float(np.finfo(np.float32).eps)))
    check(estimator.set_params(backend=backend))


def test_tags_are_sklearns():
    assert MLPClassifier().__sklearn_tags__() == neural_network.MLPClassifier().__sklearn_tags__()
    assert MLPRegressor().__sklearn_tags__() == neural_network.MLPRegressor().__sklearn_tags__()


def test_parameters_and_defaults_are_sklearns():
    for ours, theirs in ((MLPClassifier, neural_network.MLPClassifier),
                         (MLPRegressor, neural_network.MLPRegressor)):
        params = ours().get_params()
        assert params.pop("backend") == "auto" and params.pop("dtype") is None
        assert params == theirs().get_params()


# -- step for step: float64 on any backend reproduces scikit-learn's training -----------------------

def _classification(n_classes=2, n=120, seed=0):
    return datasets.make_classification(n_samples=n, n_features=6, n_informative=4,
                                        n_classes=n_classes, random_state=seed)


def _multilabel():
    return datasets.make_multilabel_classification(n_samples=120, n_features=6, n_classes=3,
                                                   random_state=0)


def _regression(n_targets=1):
    X, y = datasets.make_regression(n_samples=120, n_features=6, n_targets=n_targets, noise=5.0,
                                    random_state=0)
    return X, y / y.std()


CASES = {
    "adam-binary": (_classification, "MLPClassifier", {}),
    "adam-multiclass-logistic": (functools.partial(_classification, 3), "MLPClassifier",
                                 {"activation": "logistic", "alpha": 0.1}),
    "adam-multilabel-tanh": (_multilabel, "MLPClassifier", {"activation": "tanh", "batch_size": 32}),
    "sgd-nesterov-invscaling": (_classification, "MLPClassifier",
                                {"solver": "sgd", "learning_rate": "invscaling",
                                 "learning_rate_init": 0.5, "batch_size": 50}),
    "sgd-adaptive-early-stopping": (functools.partial(_classification, 3), "MLPClassifier",
                                    {"solver": "sgd", "learning_rate": "adaptive", "momentum": 0.5,
                                     "nesterovs_momentum": False, "early_stopping": True,
                                     "n_iter_no_change": 2, "max_iter": 40}),
    "sgd-no-momentum-no-shuffle": (_regression, "MLPRegressor",
                                   {"solver": "sgd", "momentum": 0.0, "shuffle": False,
                                    "learning_rate_init": 0.01}),
    "adam-two-targets-identity": (functools.partial(_regression, 2), "MLPRegressor",
                                  {"activation": "identity", "early_stopping": True}),
    "adam-poisson": (_regression, "MLPRegressor", {"loss": "poisson"}),
    "lbfgs-multiclass": (functools.partial(_classification, 3), "MLPClassifier", {"solver": "lbfgs"}),
    "lbfgs-regression": (_regression, "MLPRegressor", {"solver": "lbfgs", "alpha": 1.0}),
}


def _pair(case, backend, **extra):
    """Data, scikit-learn's estimator and ours (float64 on ``backend``) for a case of CASES."""
    make_data, name, params = CASES[case]
    X, y = make_data()
    if params.get("loss") == "poisson":
        y = np.abs(y)
    params = {"hidden_layer_sizes": (8, 5), "max_iter": 25, "random_state": 0, **params, **extra}
    return (X, y, getattr(neural_network, name)(**params),
            globals()[name](**params, dtype="float64", backend=backend))


def _assert_same_fit(theirs, ours):
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_
    assert ours.out_activation_ == theirs.out_activation_ and ours.n_layers_ == theirs.n_layers_
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-9)
    if getattr(theirs, "_optimizer", None) is not None:  # the rate scripts read, under its name
        assert ours._optimizer.learning_rate == pytest.approx(theirs._optimizer.learning_rate,
                                                              rel=1e-12)
    if hasattr(theirs, "loss_curve_"):
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
        assert (ours.validation_scores_ is None) == (theirs.validation_scores_ is None)
        if theirs.validation_scores_ is not None:
            np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-9)
    for mine, sk in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True):
        assert type(mine) is np.ndarray and mine.dtype == np.float64
        np.testing.assert_allclose(mine, sk, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("case", list(CASES))
def test_float64_training_is_sklearns_step_for_step(case, backend):
    """Same random_state, same initial weights, batches, updates and stopping: the same fit."""
    X, y, theirs, ours = _pair(case, backend)
    weighted = case in ("adam-binary", "sgd-adaptive-early-stopping", "lbfgs-regression")
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y)) if weighted else None
    theirs.fit(X, y, sample_weight=weights)
    ours.fit(X, y, sample_weight=weights)
    _assert_same_fit(theirs, ours)
    if hasattr(theirs, "predict_proba"):
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-7)
    else:
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y), rel=1e-9)


def test_partial_fit_and_warm_start_follow_sklearn(backend):
    X, y, theirs, ours = _pair("adam-binary", backend)
    for estimator in (theirs, ours):
        for start in range(0, 120, 40):
            estimator.partial_fit(X[start:start + 40], y[start:start + 40], classes=[0, 1])
    _assert_same_fit(theirs, ours)
    X, y, theirs, ours = _pair("sgd-no-momentum-no-shuffle", backend, warm_start=True,
                               max_iter=5)
    for estimator in (theirs, ours):
        estimator.fit(X, y).fit(X, y)
    _assert_same_fit(theirs, ours)


def test_stops_after_n_iter_no_change_without_improving_by_tol(backend):
    X, y, theirs, ours = _pair("adam-binary", backend, tol=0.05, n_iter_no_change=3,
                               max_iter=200)
    theirs.fit(X, y)
    ours.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ < 200
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        ours.set_params(tol=0.0, max_iter=5).fit(X, y)


# -- behaviour -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_network_dtype_follows_X_unless_forced(name, backend):
    """dtype=None trains in X's float dtype (other dtypes in float64), as scikit-learn; later
    data are converted to the fitted dtype; "float32"/"float64" force theirs."""
    X, y = _classification()
    estimator = globals()[name](hidden_layer_sizes=(4,), max_iter=2, random_state=0,
                                backend=backend)

    def dtypes(fitted):  # of the parameters and of the outputs, for float64 X
        outputs = fitted.predict(X) if name == "MLPRegressor" else fitted.predict_proba(X)
        return {w.dtype for w in fitted.coefs_ + fitted.intercepts_} | {outputs.dtype}

    for data, expected in ((X.astype(np.float32), np.float32), (X, np.float64),
                           (np.round(X * 10).astype(np.int64), np.float64)):
        assert dtypes(estimator.fit(data, y)) == {np.dtype(expected)}
    estimator.set_params(warm_start=True).fit(X.astype(np.float32), y)  # stays float64
    assert dtypes(estimator) == {np.dtype(np.float64)}
    for forced in ("float32", "float64"):
        for data in (X.astype(np.float32), X):
            assert dtypes(clone(estimator).set_params(dtype=forced).fit(data, y)) == {np.dtype(forced)}


def test_string_labels_multilabel_and_the_device_network(backend):
    X, y = _classification(3)
    labels = np.array(["cat", "dog", "emu"])[y]
    clf = MLPClassifier((16,), max_iter=30, random_state=0, backend=backend,
                        dtype="float32").fit(X, labels)
    assert list(clf.classes_) == ["cat", "dog", "emu"] and set(clf.predict(X)) <= set(labels)
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 3 and clf.n_layers_ == 3
    assert all(type(w) is np.ndarray and w.dtype == np.float32 for w in clf.coefs_ + clf.intercepts_)
    assert str(clf._network().backend) == str(backend)  # trained and predicting on the backend under test
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 3) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-5)
    X, Y = _multilabel()
    clf = MLPClassifier((16,), max_iter=30, random_state=0, backend=backend).fit(X, Y)
    theirs = neural_network.MLPClassifier((16,), max_iter=30, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.predict(X).shape == Y.shape
    assert np.mean(clf.predict(X) == theirs.predict(X)) > 0.98  # float32 against float64


def test_binary_probabilities_stay_positive_when_saturated(backend):
    clf = MLPClassifier(hidden_layer_sizes=(1,), activation="identity", max_iter=1,
                        backend=backend).partial_fit([[1.0], [-1.0]], [1, 0], classes=[0, 1])
    clf.coefs_, clf.intercepts_ = [np.ones((1, 1))] * 2, [np.zeros(1)] * 2  # logit z = x
    proba = clf.predict_proba(np.array([[40.0], [-40.0]]))
    # σ(40) rounds to 1 in float32; the other column is σ(−40) ≈ 4e-18, not 1 − σ(40) = 0
    np.testing.assert_allclose(proba, [[np.exp(-40.0), 1.0], [1.0, np.exp(-40.0)]], rtol=1e-5)
    np.testing.assert_allclose(clf.predict_log_proba(np.array([[40.0]])), [[-40.0, 0.0]], atol=1e-5)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_bad_parameters_fail_as_in_sklearn(backend):
    X, y = _classification()
    with pytest.raises(ValueError, match="'activation' parameter"):
        MLPClassifier(activation="softmax", backend=backend).fit(X, y)
    with pytest.raises(ValueError, match="backend must be"):
        MLPClassifier(backend="nope", max_iter=1).fit(X, y)
    with pytest.raises(AttributeError, match="partial_fit"):
        getattr(MLPClassifier(solver="lbfgs"), "partial_fit")  # noqa: B009 (hasattr is False)
    with pytest.raises(ValueError, match="does not support early_stopping"):
        MLPRegressor(early_stopping=True, backend=backend).partial_fit(X, y * 1.0)
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        MLPRegressor(solver="sgd", learning_rate_init=10.0, max_iter=50, random_state=0,
                     backend=backend).fit(X * 1e3, y * 1e3)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_divergence_under_early_stopping_keeps_the_best_parameters(backend):
    """scikit-learn's issue 29504: with early stopping a diverging fit does not raise; the
    diverged epochs score NaN and the best parameters are kept — scikit-learn's, to rounding."""
    X, y = datasets.load_iris(return_X_y=True)
    params = {"hidden_layer_sizes": 100, "activation": "identity", "solver": "sgd",
              "learning_rate_init": 1.0, "max_iter": 20, "early_stopping": True, "random_state": 0}
    theirs = neural_network.MLPRegressor(**params).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="diverged at epoch 6.*best validation score"):
        ours = MLPRegressor(**params, backend=backend).fit(X, y)
    n = ours.n_iter_  # scikit-learn trains on through NaN epochs; xpnet stops at the first
    assert len(ours.validation_scores_) == len(ours.loss_curve_) == n
    assert all(type(score) is float for score in ours.validation_scores_)
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_[:n], rtol=1e-9)
    assert np.isnan(ours.validation_scores_[-1]) and np.isnan(ours.loss_)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_, rel=1e-9)
    for mine, sk in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True):
        np.testing.assert_allclose(mine, sk, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)


def _pickled_arrays(obj):
    """Pickle ``obj``; the libraries of the arrays in the stream (``{"numpy"}``: host arrays only)."""
    seen = set()

    class Spy(pickle.Pickler):
        def persistent_id(self, item):
            if array_api_compat.is_array_api_obj(item) and not isinstance(item, type):
                seen.add(type(item).__module__.partition(".")[0])

    Spy(io.BytesIO()).dump(obj)
    return seen


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_pickles_without_device_arrays_and_resumes_exactly(solver, backend):
    X, y = _classification()
    clf = MLPClassifier((8,), solver=solver, max_iter=5, random_state=0, backend=backend)
    clf.fit(X, y)
    assert _pickled_arrays(clf) == {"numpy"}  # coefs_, Adam's moments, ...: no device array
    copy = pickle.loads(pickle.dumps(clf))
    assert "_model" not in copy.__dict__  # the device network is rebuilt on first use
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)  # optimizer moments and step count travelled as NumPy arrays
    for a, b in zip(clf.coefs_, copy.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)


def test_assigned_weights_are_used():
    X, y = _regression()
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0, backend="numpy")
    reg.fit(X, y)
    reg.coefs_ = [np.zeros_like(w) for w in reg.coefs_]
    np.testing.assert_allclose(reg.predict(X), reg.intercepts_[-1][0], rtol=1e-6)


def test_coefs_edited_in_place_are_the_model_as_in_sklearn(backend):
    """In scikit-learn coefs_ is the model: arrays edited in place, or one array of the list
    replaced, are what predict, warm start and partial_fit use. The device network was cached on
    the list objects, so it predicted and trained on from the old weights (a pickled copy did not)."""
    X, y, theirs, ours = _pair("adam-binary", backend, max_iter=5, warm_start=True)

    def edit(estimator):
        estimator.coefs_[0] *= 2.0  # in place
        estimator.intercepts_[-1][:] = 0.5
        estimator.coefs_[1] = -estimator.coefs_[1]  # one array of the list replaced

    for estimator in (theirs, ours):
        edit(estimator.fit(X, y))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-7)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(ours)).predict_proba(X),
                               theirs.predict_proba(X), rtol=1e-7)
    for estimator in (theirs, ours):
        edit(estimator.fit(X, y))  # warm start from the edited weights
        estimator.partial_fit(X, y)
    _assert_same_fit(theirs, ours)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_batch_whose_weights_sum_to_zero_fails_as_in_sklearn(early_stopping, backend):
    """scikit-learn's loss raises numpy.average's ZeroDivisionError; xpnet's divided by zero and
    raised a divergence blamed on the learning rate, or, with early stopping, returned an
    untrained model with loss_curve_ == [nan]."""
    X, y, theirs, ours = _pair("adam-binary", backend, batch_size=16, early_stopping=early_stopping)
    weights = np.zeros(len(y))
    weights[::30] = 1.0  # 4 weighted rows: most batches of 16 weigh nothing
    for estimator in (theirs, ours):
        with pytest.raises(ZeroDivisionError, match="Weights sum to zero"):
            estimator.fit(X, y, sample_weight=weights)


def test_a_shared_random_state_is_drawn_as_in_sklearn(backend):
    """scikit-learn shuffles at every epoch, even when one batch holds all the rows (120 here),
    where xpnet's fit loop needs no order: a RandomState instance was left in another state, and
    the next fit drawing from it (initial weights, validation split) differed from scikit-learn's."""
    X, y, theirs, ours = _pair("adam-binary", backend, early_stopping=True, max_iter=10)
    draws = []
    for estimator in (theirs, ours):
        random_state = np.random.RandomState(0)
        estimator.set_params(random_state=random_state).fit(X, y).fit(X, y)
        draws.append(random_state.randint(2**31))
    assert draws[0] == draws[1]
    _assert_same_fit(theirs, ours)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_lbfgs_on_overflowing_data_warns_as_in_sklearn(backend):
    """L-BFGS-B's line search tries weights that overflow; scikit-learn evaluates them (NaN) and
    SciPy stops with a ConvergenceWarning after 0 iterations, where xpnet's load_params refused
    them ("params['0.W'] holds NaN or infinite values")."""
    X, y, theirs, ours = _pair("lbfgs-regression", backend)
    for estimator in (theirs, ours):
        with pytest.warns(ConvergenceWarning, match=r"after 0 iteration\(s\) \(status=2\):\nABNORMAL"):
            estimator.fit(X * 1e100, y)
    assert ours.n_iter_ == theirs.n_iter_ == 0
    for mine, sk in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True):
        np.testing.assert_allclose(mine, sk, rtol=1e-12)


def test_onnx_export_gives_a_label_only_for_single_label_classifiers(backend, tmp_path):
    """A multi-label target with two labels has classes_ == [0, 1], as a binary one: its export
    had a "label" output, one class per row, which means nothing for it."""
    pytest.importorskip("ndonnx")
    ort = pytest.importorskip("onnxruntime")
    X, Y = datasets.make_multilabel_classification(n_samples=60, n_features=4, n_classes=2,
                                                   random_state=0)
    for y, outputs in ((Y, ["Y"]), (Y[:, 0], ["Y", "label"])):
        clf = MLPClassifier((5,), max_iter=5, random_state=0, backend=backend).fit(X, y)
        session = ort.InferenceSession(clf.export_onnx(tmp_path / "clf.onnx"))
        assert [output.name for output in session.get_outputs()] == outputs
        P = clf.predict_proba(X)  # multi-label: one column per label; binary: p(classes_[1])
        np.testing.assert_allclose(session.run(None, {"X": X})[0], P if y.ndim == 2 else P[:, 1:],
                                   rtol=1e-9)


# -- accuracy parity on datasets that ship with scikit-learn ------------------------------------------

def _load_benchmark(name):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"xpnet_benchmarks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The parity protocol of the README's table (datasets, split), run here with its quick settings
# (parity.QUICK: one hidden layer of 32, 60 epochs), not the full-length defaults.
parity = _load_benchmark("sklearn_parity")


@pytest.mark.parametrize("name", list(parity.DATASETS))
def test_accuracy_parity_with_sklearn(name, backend):
    """Mean test score (accuracy, or R² for diabetes) over three seeds within one point of
    scikit-learn's, the xpnet network in float32."""
    scores = {"xpnet": [], "sklearn": []}
    estimator = parity.DATASETS[name][1]
    for seed in range(3):
        X_train, X_test, y_train, y_test = parity.split(name, seed)
        for library, cls, extra in (("xpnet", globals()[estimator],
                                     {"backend": backend, "dtype": "float32"}),
                                    ("sklearn", getattr(neural_network, estimator), {})):
            model = cls(**parity.QUICK, random_state=seed, **extra).fit(X_train, y_train)
            scores[library].append(model.score(X_test, y_test))
    ours, theirs = np.mean(scores["xpnet"]), np.mean(scores["sklearn"])
    assert abs(ours - theirs) <= 0.01, scores
    assert theirs > (0.25 if name == "diabetes" else 0.95)


def test_partial_fit_goes_on_after_set_params_moves_the_model_to_another_backend():
    """The Adam state follows the estimator to a new backend (set_params(backend=...), e.g. from
    a GPU back to the CPU) and partial_fit continues as it would have where it was; it failed
    on the state made on the first backend."""
    from xpnet.sklearn import MLPClassifier

    X, y = datasets.make_classification(n_samples=64, n_features=4, random_state=0)
    moved, stayed = (MLPClassifier((5,), max_iter=5, random_state=0).fit(X, y) for _ in range(2))
    moved.set_params(backend="array_api_strict")
    for est in (moved, stayed):
        est.partial_fit(X, y)
    assert moved.n_iter_ == stayed.n_iter_ == 1
    np.testing.assert_allclose(moved.predict_proba(X), stayed.predict_proba(X), rtol=1e-12)
