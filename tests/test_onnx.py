"""ONNX export: the model's own forward pass traced through ndonnx, run in ONNX Runtime."""

import numpy as np
import pytest
from layer_examples import between

import xpnet
from xpnet import Dense, Layer, Sequential, Standardize
from xpnet.cli import main
from xpnet.layers import LAYERS

pytest.importorskip("ndonnx")
ort = pytest.importorskip("onnxruntime")

TOL = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-12, "atol": 1e-14}}


def _run(path, X):
    return ort.InferenceSession(str(path)).run(None, {"X": X})


def _with(layer_type, backend, dtype):
    """A small model holding one registered layer (between two Dense layers), or a nested
    Sequential."""
    kw = {"backend": backend, "dtype": dtype}
    if layer_type == "sequential":
        return Sequential(Dense(3, 4, **kw), Sequential(Dense(4, 4, **kw), xpnet.Tanh()),
                          Dense(4, 2, **kw))
    if layer_type == "standardize":  # first, as the command builds it: the raw features in
        return Sequential(Standardize([0.5, -1.0, 2.0], [2.0, 0.5, 3.0], **kw), Dense(3, 4, **kw),
                          Dense(4, 2, **kw))
    return between(layer_type, backend, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layer_type", [*sorted(LAYERS), "sequential"])
def test_every_builtin_layer_exports_and_onnxruntime_agrees_with_predict(backend, tmp_path,
                                                                         layer_type, dtype):
    model = _with(layer_type, backend, dtype)
    path = model.export_onnx(tmp_path / "m.onnx")
    for m in (1, 9):  # any batch size: the batch dimension is symbolic
        X = np.random.default_rng(m).normal(size=(m, 3)).astype(dtype)
        (Y,) = _run(path, X)
        assert Y.dtype == np.dtype(dtype) and Y.shape == (m, 2)
        np.testing.assert_allclose(Y, xpnet.to_numpy(model.predict(X)), **TOL[dtype])


_BIAS_FREE = {  # name -> the layers of a model with a bias-free Dense that is not the last layer
    "then_dense": lambda kw: [Dense(3, 4, bias=False, seed=1, **kw), Dense(4, 2, seed=2, **kw)],
    "then_relu": lambda kw: [Dense(3, 4, bias=False, seed=1, **kw), xpnet.ReLU(),
                             Dense(4, 2, seed=2, **kw)],
    "then_sigmoid": lambda kw: [Dense(3, 4, bias=False, seed=1, **kw), xpnet.Sigmoid(),
                                Dense(4, 2, seed=2, **kw)],
    "in_the_middle": lambda kw: [Dense(3, 5, seed=1, **kw), xpnet.Tanh(),
                                 Dense(5, 4, bias=False, seed=2, **kw), xpnet.ReLU(),
                                 Dense(4, 2, seed=3, **kw)],
    "nested": lambda kw: [Dense(3, 4, seed=1, **kw),
                          Sequential(Dense(4, 5, bias=False, seed=2, **kw), Dense(5, 4, seed=3, **kw)),
                          xpnet.Tanh(), Dense(4, 2, bias=False, seed=4, **kw)],
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(_BIAS_FREE))
def test_bias_free_dense_before_another_layer_exports(backend, tmp_path, name, dtype):
    """ndonnx's ``X @ W`` has no static width (it hides the MatMul in an If node); a bias, by
    broadcasting, gave it back, so only a bias-free Dense followed by a Dense failed to trace."""
    model = Sequential(*_BIAS_FREE[name]({"backend": backend, "dtype": dtype}))
    path = model.export_onnx(tmp_path / "m.onnx")
    for m in (1, 9):
        X = np.random.default_rng(m).normal(size=(m, 3)).astype(dtype)
        (Y,) = _run(path, X)
        assert Y.dtype == np.dtype(dtype) and Y.shape == (m, 2)
        np.testing.assert_allclose(Y, xpnet.to_numpy(model.predict(X)), **TOL[dtype])


def test_softmax_classifier_with_labels_and_preprocessing(tmp_path):
    model = xpnet.mlp([3, 5, 3], activation="relu", output="softmax", seed=0)
    mean, std = np.array([1.0, -2.0, 0.5]), np.array([2.0, 0.5, 3.0])
    path = xpnet.export_onnx(model, tmp_path / "m.onnx", classes=["a", "b", "c"],
                             preprocessing={"mean": mean, "std": std})
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    Y, labels = _run(path, X)
    P = xpnet.to_numpy(model.predict((X - mean) / std))
    np.testing.assert_allclose(Y, P, **TOL["float32"])
    assert list(labels) == [["a", "b", "c"][i] for i in P.argmax(axis=1)]


class _Normed(Layer):
    """Divides by the global norm: xp.linalg, which ndonnx does not have."""

    def forward(self, X, training=False):
        import array_api_compat

        xp = array_api_compat.array_namespace(X)
        return X / xp.linalg.vector_norm(X), None


def test_a_layer_that_cannot_be_traced_is_named_with_the_operation(tmp_path):
    model = Sequential(Dense(3, 2, dtype="float32", backend="numpy"), _Normed())
    with pytest.raises(TypeError, match=r"layer 1 \(_Normed\) cannot be traced to ONNX: .*linalg"):
        model.export_onnx(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_cli_export_of_a_cli_trained_model(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2)) * [10.0, 0.1] + [5.0, -3.0]
    y = (X[:, 0] > 5.0).astype(int)
    data = tmp_path / "d.csv"
    data.write_text("u,v,label\n" + "".join(f"{a},{b},{c}\n" for (a, b), c in zip(X, y, strict=True)))
    model_file, onnx_file, out = tmp_path / "m.xpnet", tmp_path / "m.onnx", tmp_path / "p.csv"
    assert main(["train", str(data), "--epochs", "5", "--quiet", "--plot", "", "--out",
                 str(model_file)]) == 0
    assert main(["export", str(model_file), str(onnx_file)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["predict", str(model_file), str(data), "--out", str(out)]) == 0
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
    P, labels = _run(onnx_file, X.astype(np.float32))
    assert list(labels) == [r[0] for r in rows]
    np.testing.assert_allclose(P[:, 0], [float(r[1]) for r in rows], atol=1e-6)


@pytest.mark.filterwarnings("ignore::UserWarning")  # ConvergenceWarning: few iterations on purpose
@pytest.mark.parametrize("n_classes", [2, 3])
def test_sklearn_classifier_exports_probabilities_and_labels(backend, tmp_path, n_classes):
    sk = pytest.importorskip("xpnet.sklearn")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = np.array(["ant", "bee", "cat"][:n_classes])[rng.integers(0, n_classes, 60)]
    est = sk.MLPClassifier(hidden_layer_sizes=(7,), max_iter=20, random_state=0, backend=backend,
                           dtype="float64").fit(X, y)
    Y, labels = _run(est.export_onnx(tmp_path / "e.onnx"), X)
    P = est.predict_proba(X)
    np.testing.assert_allclose(Y, P[:, 1:] if n_classes == 2 else P, **TOL["float64"])
    assert list(labels) == list(est.predict(X))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_sklearn_regressor_exports_predictions(backend, tmp_path):
    sk = pytest.importorskip("xpnet.sklearn")
    X = np.random.default_rng(1).normal(size=(40, 3))
    est = sk.MLPRegressor(hidden_layer_sizes=(5,), max_iter=30, random_state=0, backend=backend,
                          dtype="float32").fit(X, X @ [1.0, -2.0, 0.5])
    (Y,) = _run(est.export_onnx(tmp_path / "r.onnx"), X.astype(np.float32))
    np.testing.assert_allclose(Y[:, 0], est.predict(X), **TOL["float32"])


def test_export_leaves_the_backend_set_as_it_was(tmp_path):
    before = xpnet.backend.available()
    xpnet.mlp([2, 3, 1], seed=0).export_onnx(tmp_path / "m.onnx")
    assert xpnet.backend.available() == before and "ndonnx" not in before


def _skl2onnx_of_the_same_weights(est, X, y):
    """scikit-learn's own MLP carrying ``est``'s weights, converted by skl2onnx (float32)."""
    skl2onnx = pytest.importorskip("skl2onnx", reason="skl2onnx (xpnet[test-onnx]) is not "
                                   "installed: the comparison with scikit-learn's converter needs it")
    from sklearn import neural_network

    theirs = getattr(neural_network, type(est).__name__)(
        hidden_layer_sizes=est.hidden_layer_sizes, activation=est.activation, max_iter=1,
        random_state=0).fit(X, y)  # the structure (layers, classes_, output activation)
    assert theirs.out_activation_ == est.out_activation_
    theirs.coefs_ = [np.asarray(w, np.float64) for w in est.coefs_]
    theirs.intercepts_ = [np.asarray(b, np.float64) for b in est.intercepts_]
    options = {id(theirs): {"zipmap": False}} if hasattr(theirs, "classes_") else None
    proto = skl2onnx.to_onnx(theirs, X[:1].astype(np.float32), options=options)
    session = ort.InferenceSession(proto.SerializeToString())
    return theirs, session.run(None, {session.get_inputs()[0].name: X.astype(np.float32)})


@pytest.mark.filterwarnings("ignore::UserWarning")  # ConvergenceWarning: few iterations on purpose
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_estimator_export_agrees_with_skl2onnx_on_the_same_weights(backend, tmp_path, kind):
    """``estimator.export_onnx`` (traced from xpnet's forward pass) and skl2onnx's converter of
    scikit-learn's MLP with the same weights (an independent implementation) give the same
    outputs in onnxruntime: probabilities and labels, or predictions."""
    sk = pytest.importorskip("xpnet.sklearn")
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 4))
    if kind == "regression":
        y = X @ [1.0, -2.0, 0.5, 0.0]
        est = sk.MLPRegressor(hidden_layer_sizes=(6, 5), activation="tanh", max_iter=30,
                              random_state=0, backend=backend, dtype="float32").fit(X, y)
    else:
        y = np.array(["ant", "bee", "cat"])[rng.integers(0, 2 if kind == "binary" else 3, 50)]
        est = sk.MLPClassifier(hidden_layer_sizes=(7,), max_iter=30, random_state=0,
                               backend=backend, dtype="float32").fit(X, y)
    theirs, outputs = _skl2onnx_of_the_same_weights(est, X, y)
    ours = _run(est.export_onnx(tmp_path / "ours.onnx"), X.astype(np.float32))
    if kind == "regression":
        np.testing.assert_allclose(ours[0][:, 0], outputs[0].reshape(-1), **TOL["float32"])
        return
    labels, probabilities = outputs
    np.testing.assert_allclose(ours[0], probabilities[:, 1:] if kind == "binary" else probabilities,
                               **TOL["float32"])
    assert list(ours[1]) == list(labels) == list(theirs.predict(X.astype(np.float32)))
